"""The import_export job: one run imports one file (one partition of export_files)."""

from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.defs.imports.assets import RAW_EXPORT_KEYS, export_files

import_export_job = dg.define_asset_job(
    "import_export",
    selection=dg.AssetSelection.assets(*RAW_EXPORT_KEYS.values()),
    partitions_def=export_files,
    description="Import one privacy-export file into the raw tables.",
)


def import_run_config(path: Path) -> dict[str, Any]:
    return {"ops": {"import_export_file": {"config": {"path": str(path)}}}}
