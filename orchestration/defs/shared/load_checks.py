"""A load run's check of its own rows (orchestration/imports/raw_checks.py) as a Dagster check result.

Imports, polls and top-list snapshots each check what they wrote inside their run, so no load run
starts a dbt process for tests on the raw tables.
"""

import dagster as dg

from orchestration.db import connect
from orchestration.imports.raw_checks import LOADED_TABLES, check_load


def load_check_result(
    check_name: str,
    table: str,
    load_id: int,
    user_id: int,
    expected: int,
    asset_key: dg.AssetKey | None = None,
    above_raw_id: int | None = None,
) -> dg.AssetCheckResult:
    with connect() as conn:
        found = check_load(conn, table, load_id, user_id, expected, above_raw_id)
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=found.passed,
        description=found.description(),
        metadata={LOADED_TABLES[table][0]: load_id, "expected": expected, "stored": found.stored},
    )
