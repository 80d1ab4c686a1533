"""The registry of marts builds (app.marts_builds): what each dbt build did, for ops.latest_job_runs.

The dbt asset calls record_marts_build when a build ends, successful or not. Counts come from
dbt's run_results.json (absent when dbt failed before running anything).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestration.db import connect

MAX_ERROR_CHARS = 2000
FAILED = ("error", "fail", "runtime error")


def build_counts(run_results: Path | None) -> dict[str, int]:
    """Models built, data tests run, and nodes that failed or errored, from run_results.json."""
    counts = {"models": 0, "tests": 0, "failures": 0}
    if run_results is None or not run_results.is_file():
        return counts
    try:
        results: list[dict[str, Any]] = json.loads(run_results.read_text()).get("results", [])
    except (OSError, ValueError):
        return counts
    for r in results:
        kind = str(r.get("unique_id", "")).split(".", 1)[0]
        if kind == "model" and r.get("status") == "success":
            counts["models"] += 1
        elif kind == "test":
            counts["tests"] += 1
        if r.get("status") in FAILED:
            counts["failures"] += 1
    return counts


def record_marts_build(
    run_id: str | None,
    full_refresh: bool,
    started_at: datetime,
    run_results: Path | None,
    error: str | None = None,
) -> int:
    """Insert one app.marts_builds row; returns its build_id."""
    counts = build_counts(run_results)
    status = "failed" if error or counts["failures"] else "succeeded"
    with connect(autocommit=True) as conn:
        row = conn.execute(
            """
            insert into app.marts_builds
                (dagster_run_id, full_refresh, status, models, tests, failures, error, started_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s)
            returning build_id
            """,
            (
                run_id,
                full_refresh,
                status,
                counts["models"],
                counts["tests"],
                counts["failures"],
                error[:MAX_ERROR_CHARS] if error else None,
                started_at,
            ),
        ).fetchone()
    assert row is not None
    return int(row[0])
