"""The one Dagster code location: `dagster dev -m orchestration.definitions` or workspace.yaml."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.dbt import dbt_models, dbt_resource, refresh_marts_job, refresh_marts_sensor
from orchestration.defs.imports import app_tables, import_export_file, import_export_job, inbox_sensor
from orchestration.defs.interrupted_runs import interrupted_runs_sensors
from orchestration.defs.spotify import api_recently_played, spotify_app_tables, spotify_sensor, spotify_sync_job
from orchestration.loading.importer import NoProgress

defs = dg.Definitions(
    assets=[*app_tables, *spotify_app_tables, import_export_file, api_recently_played, dbt_models],
    jobs=[import_export_job, refresh_marts_job, spotify_sync_job],
    sensors=[inbox_sensor, refresh_marts_sensor, spotify_sensor, *interrupted_runs_sensors],
    # The CLI swaps in a terminal progress bar for its in-process runs.
    resources={"import_progress": NoProgress(), "dbt": dbt_resource},
)
