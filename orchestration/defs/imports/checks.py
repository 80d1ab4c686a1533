"""The import run's asset checks: each raw table holds exactly the rows the import reported.

Checked on the import's own rows (orchestration/imports/raw_checks.py), inside the import run: no
dbt process, a cost that follows the import's size rather than the table's.
"""

from collections.abc import Iterator

import dagster as dg

from orchestration.defs.shared.load_checks import load_check_result
from orchestration.imports.importer import ImportResult
from orchestration.imports.reading.formats import FORMATS

ROWS_CHECK = "import_rows_stored"


def check_specs(keys: dict[str, dg.AssetKey]) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            ROWS_CHECK,
            asset=keys[fmt.name],
            description="The rows this import wrote are all there: as many as it reported inserted, all of its "
            "user, every end time between 2006 and a day after loading.",
        )
        for fmt in FORMATS
    ]


def check_results(result: ImportResult, keys: dict[str, dg.AssetKey]) -> Iterator[dg.AssetCheckResult]:
    for fmt in FORMATS:
        expected = result.tables.get(fmt.table, {}).get("inserted", 0)
        floor = result.raw_id_floors.get(fmt.table)
        yield load_check_result(
            ROWS_CHECK, fmt.table, result.import_id, result.user_id, expected, keys[fmt.name], floor
        )
