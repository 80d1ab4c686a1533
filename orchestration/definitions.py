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
from orchestration.defs.imports.assets import import_export_file
from orchestration.defs.imports.jobs import import_export_job
from orchestration.defs.imports.sensors import inbox_sensor
from orchestration.defs.keys import app_tables
from orchestration.defs.runs.sensors import interrupted_runs_sensors
from orchestration.defs.spotify.assets import api_recently_played
from orchestration.defs.spotify.jobs import spotify_sync_job
from orchestration.defs.spotify.sensors import spotify_sensor
from orchestration.defs.spotify.top import spotify_top_items, spotify_top_job, spotify_top_sensor, top_app_tables
from orchestration.loading.importer import NoProgress

# The assets and jobs that load the raw tables: they never start dbt (their checks are their own).
LOAD_ASSETS: list[dg.AssetsDefinition | dg.AssetSpec] = [
    *app_tables,
    *top_app_tables,
    import_export_file,
    api_recently_played,
    spotify_top_items,
]
LOAD_JOBS = [import_export_job, spotify_sync_job, spotify_top_job]


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or get_settings()
    project = dbt_project(settings)
    prepare_if_dev(project)  # under `dagster dev` only: re-parse the models when they changed
    dbt = dbt_models(project)
    return dg.Definitions(
        assets=[*LOAD_ASSETS, dbt],
        jobs=[*LOAD_JOBS, refresh_marts_job(dbt)],
        sensors=[
            inbox_sensor(settings),
            refresh_marts_sensor(dbt),
            spotify_sensor(settings),
            spotify_top_sensor,
            *interrupted_runs_sensors,
        ],
        # The CLI swaps in a terminal progress bar for its in-process runs.
        resources={"import_progress": NoProgress(), "dbt": dbt_resource(project)},
    )


def load_job_definitions() -> dg.Definitions:
    """The load jobs alone, for the CLI's in-process imports, polls and snapshots: the same jobs as in
    build_definitions(), without reading the dbt manifest (≈ 300 dbt assets and checks to build)."""
    return dg.Definitions(assets=LOAD_ASSETS, jobs=LOAD_JOBS, resources={"import_progress": NoProgress()})


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
