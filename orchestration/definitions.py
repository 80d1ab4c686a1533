"""The one Dagster code location: `dagster dev -m orchestration.definitions` or workspace.yaml.

Importing this module builds nothing: Dagster calls `defs()` when it loads the code location, so
settings are read then (not frozen at import), and loading runs no subprocess and opens no database
connection. The dbt manifest it reads is prepared beforehand (orchestration/defs/dbt/project.py).
"""

from __future__ import annotations

import dagster as dg

from orchestration.config import Settings, get_settings
from orchestration.defs.dbt.assets import dbt_models, dbt_resource
from orchestration.defs.dbt.jobs import refresh_marts_job
from orchestration.defs.dbt.project import dbt_project, prepare_if_dev
from orchestration.defs.dbt.sensors import refresh_marts_sensor
from orchestration.defs.imports.sensors import inbox_sensor
from orchestration.defs.load_jobs import LOAD_ASSETS, LOAD_JOBS, LOAD_RESOURCES
from orchestration.defs.maintenance.backups import backup_job, backup_schedule
from orchestration.defs.maintenance.pruning import prune_job, prune_schedule
from orchestration.defs.runs.sensors import interrupted_runs_sensors
from orchestration.defs.spotify.sensors import spotify_sensor, spotify_top_sensor


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or get_settings()
    project = dbt_project(settings)
    prepare_if_dev(project)  # under `dagster dev` only: re-parse the models when they changed
    dbt = dbt_models(project)
    return dg.Definitions(
        assets=[*LOAD_ASSETS, dbt],
        jobs=[*LOAD_JOBS, refresh_marts_job(dbt), backup_job, prune_job],
        schedules=[backup_schedule(settings), prune_schedule(settings)],
        sensors=[
            inbox_sensor(settings),
            refresh_marts_sensor(dbt),
            spotify_sensor(settings),
            spotify_top_sensor,
            *interrupted_runs_sensors,
        ],
        resources={**LOAD_RESOURCES, "dbt": dbt_resource(project)},
    )


def pools(definitions: dg.Definitions) -> set[str]:
    """The concurrency pools the definitions' steps claim ("dbt", "spotify")."""
    return {
        asset.op.pool
        for asset in definitions.assets or []
        if isinstance(asset, dg.AssetsDefinition) and asset.is_executable and asset.op.pool
    }


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
