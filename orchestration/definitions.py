"""The one Dagster code location: `dagster dev -m orchestration.definitions` or workspace.yaml."""

from __future__ import annotations

import dagster as dg

from orchestration.defs.imports import import_export_file, import_export_job, inbox_sensor
from orchestration.loading.importer import NoProgress

defs = dg.Definitions(
    assets=[import_export_file],
    jobs=[import_export_job],
    sensors=[inbox_sensor],
    # The CLI swaps in a terminal progress bar for its in-process runs.
    resources={"import_progress": NoProgress()},
)
