"""The import_export job: one run imports one file (one partition of export_files)."""

from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.defs.imports.assets import export_files, import_export_file

import_export_job = dg.define_asset_job(
    "import_export",
    # The import's own checks only: a dbt test on the raw tables (dbt source tests become checks of these
    # assets) would start a dbt process in every import run and read the whole table.
    selection=dg.AssetSelection.assets(import_export_file).without_checks()
    | dg.AssetSelection.checks(*import_export_file.check_keys),
    partitions_def=export_files,
    description="Import one privacy-export file into the raw tables.",
)


def import_run_config(path: Path) -> dict[str, Any]:
    return {"ops": {"import_export_file": {"config": {"path": str(path)}}}}
