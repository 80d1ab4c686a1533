"""The registry of marts builds (app.marts_builds): what each dbt build did, for ops.latest_job_runs.

The dbt asset records a build when it starts (status `running`) and completes the row when it ends,
successful or not, so marts.job_runs (a view over the app tables) lists a build while it runs and as
soon as it has ended. Counts come from dbt's run_results.json (absent when dbt failed before running
anything).
"""

from __future__ import annotations

import json
from collections.abc import Callable
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


INTERRUPTED = "the build ended without recording its end (its process stopped)"


def start_marts_build(
    run_id: str | None, full_refresh: bool, started_at: datetime, run_is_over: Callable[[str], bool]
) -> int:
    """Insert the running build's app.marts_builds row before dbt starts; returns its build_id.

    Builds run one at a time (pool "dbt"), so a row another run left `running` is one whose process
    stopped before it could record the end: it is marked failed when its Dagster run is over
    (`run_is_over(dagster_run_id)`), so it does not read as running for ever.
    """
    with connect(autocommit=True) as conn:
        stale = conn.execute(
            "select build_id, dagster_run_id from app.marts_builds where status = 'running'"
        ).fetchall()
        for build_id, other_run in stale:
            if other_run is None or (other_run != run_id and run_is_over(other_run)):
                conn.execute(
                    "update app.marts_builds set status = 'failed', error = %s, finished_at = now() "
                    "where build_id = %s and status = 'running'",
                    (INTERRUPTED, build_id),
                )
        row = conn.execute(
            """
            insert into app.marts_builds (dagster_run_id, full_refresh, status, started_at)
            values (%s, %s, 'running', %s)
            returning build_id
            """,
            (run_id, full_refresh, started_at),
        ).fetchone()
    assert row is not None
    return int(row[0])


def finish_marts_build(build_id: int, run_results: Path | None, error: str | None = None) -> None:
    """Complete the build's row when dbt has ended, successful or not: status, counts, error."""
    counts = build_counts(run_results)
    status = "failed" if error or counts["failures"] else "succeeded"
    with connect(autocommit=True) as conn:
        conn.execute(
            """
            update app.marts_builds
            set status = %s, models = %s, tests = %s, failures = %s, error = %s, finished_at = now()
            where build_id = %s
            """,
            (
                status,
                counts["models"],
                counts["tests"],
                counts["failures"],
                error[:MAX_ERROR_CHARS] if error else None,
                build_id,
            ),
        )
