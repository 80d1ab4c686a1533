"""The assets and jobs that load the raw tables (imports, polls, top-list snapshots), apart from dbt.

They never start dbt (each run checks its own rows), so the CLI runs them from these definitions
alone: no dbt manifest read and no dagster-dbt / dbt-core import (≈ 2 s of a CLI import's start-up).
The code location (orchestration/definitions.py) holds the same objects beside the dbt assets.
"""

import dagster as dg

from orchestration.defs.imports.assets import import_export_file
from orchestration.defs.imports.jobs import import_export_job
from orchestration.defs.shared.keys import app_tables
from orchestration.defs.spotify.assets import api_recently_played, spotify_top_items, top_app_tables
from orchestration.defs.spotify.jobs import spotify_sync_job, spotify_top_job
from orchestration.imports.importer import NoProgress
from orchestration.imports.parser_process import ParsingAhead

LOAD_ASSETS: list[dg.AssetsDefinition | dg.AssetSpec] = [
    *app_tables,
    *top_app_tables,
    import_export_file,
    api_recently_played,
    spotify_top_items,
]
LOAD_JOBS = [import_export_job, spotify_sync_job, spotify_top_job]
# What the import asset gets in runs the CLI did not start; the CLI's in-process runs swap in a terminal
# progress bar and the parsing process it started ahead (parser_process.ParsingAhead).
LOAD_RESOURCES = {"import_progress": NoProgress(), "import_parsing_ahead": ParsingAhead()}


def load_job_definitions() -> dg.Definitions:
    """The load jobs alone, for the CLI's in-process imports, polls and snapshots: the same jobs as the
    code location's (tests/dbt/test_dbt_dagster.py compares them)."""
    return dg.Definitions(assets=LOAD_ASSETS, jobs=LOAD_JOBS, resources=LOAD_RESOURCES)
