"""Run Dagster jobs in this process, on the shared instance (CLI commands use this).

The run is recorded in the same Postgres-backed instance the UI reads, with its logs and
materializations; only the terminal progress bar is swapped in as a resource.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.db import connect
from orchestration.defs.imports import export_files, import_run_config, partition_key_for
from orchestration.exports.errors import ExportError
from orchestration.exports.sources import describe
from orchestration.instance import get_instance
from orchestration.loading.importer import Progress

# The terminal shows a progress bar and one error line; the full log is in the UI.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class ImportRunError(Exception):
    def __init__(self, message: str, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


def run_import(path: Path, user: str, progress: Progress) -> dict[str, Any]:
    """Import `path` for `user` as a run of the import_export job; returns its registry row."""
    from orchestration.definitions import defs

    try:
        source = describe(path)
    except ExportError as exc:
        raise ImportRunError(str(exc)) from exc
    partition_key = partition_key_for(user, source)
    instance = get_instance()
    if not instance.has_dynamic_partition(export_files.name, partition_key):
        instance.add_dynamic_partitions(export_files.name, [partition_key])
    job = defs.resolve_job_def("import_export")
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        run_config={**import_run_config(source.path), **QUIET_CONSOLE},
        resources={"import_progress": progress},
        tags={"spotify_history/user": user, "spotify_history/trigger": "cli"},
        raise_on_error=False,
    )
    row = _registry_row(result.run_id)
    if not result.success:
        message = (row or {}).get("error") or _failure_message(result)
        raise ImportRunError(message, result.run_id)
    if row is None:
        raise ImportRunError("the run succeeded but recorded no import", result.run_id)
    return row


def _registry_row(run_id: str) -> dict[str, Any] | None:
    import psycopg.rows

    with connect() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(
            """
            select import_id, dagster_run_id as run_id, source_name, status, records, inserted, duplicates,
                   formats, skipped_files, files, min_ts, max_ts, error,
                   extract(epoch from finished_at - started_at)::float as seconds
            from app.imports where dagster_run_id = %s order by import_id desc limit 1
            """,
            (run_id,),
        ).fetchone()
    return row


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            return event.step_failure_data.error.message.strip()
    return "the import run failed (see the run's logs in the Dagster UI)"


def run_refresh(full_refresh: bool = False) -> dict[str, Any]:
    """dbt build through the `refresh_marts` job; returns what it built and how its tests went."""
    import time

    from orchestration.definitions import defs

    instance = get_instance()
    job = defs.resolve_job_def("refresh_marts")
    started = time.monotonic()
    result = job.execute_in_process(
        instance=instance,
        run_config={"ops": {"dbt_models": {"config": {"full_refresh": full_refresh}}}, **QUIET_CONSOLE},
        tags={"spotify_history/trigger": "cli"},
        raise_on_error=False,
    )
    checks = result.get_asset_check_evaluations()
    failed_checks = sorted(f"{c.asset_key.to_user_string()}: {c.check_name}" for c in checks if not c.passed)
    summary = {
        "run_id": result.run_id,
        "success": result.success,
        "seconds": round(time.monotonic() - started, 1),
        "models": len(result.get_asset_materialization_events()),
        "tests": len(checks),
        "failed_tests": failed_checks,
        "error": None if result.success else _failure_message(result),
    }
    return summary


class SpotifyRunError(Exception):
    def __init__(self, message: str, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


def run_spotify_sync(user: str, mode: str = "poll") -> dict[str, Any]:
    """A poll (or initial sync) of `user` as a run of the spotify_sync job; returns its registry row."""
    import psycopg.rows

    from orchestration.definitions import defs
    from orchestration.defs.spotify import partition_key, spotify_users, sync_run_config, utc_today

    instance = get_instance()
    if not instance.has_dynamic_partition(spotify_users.name, user):
        instance.add_dynamic_partitions(spotify_users.name, [user])
    result = defs.resolve_job_def("spotify_sync").execute_in_process(
        instance=instance,
        partition_key=partition_key(user, utc_today()),
        run_config={**sync_run_config(mode), **QUIET_CONSOLE},
        tags={"spotify_history/user": user, "spotify_history/trigger": "cli"},
        raise_on_error=False,
    )
    with connect() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(
            """
            select sync_id, kind, status, requests, fetched, inserted, gap_detected, stop_reason, error,
                   newest_played_at, started_at, finished_at
            from app.spotify_syncs where dagster_run_id = %s order by sync_id desc limit 1
            """,
            (result.run_id,),
        ).fetchone()
    if not result.success:
        message = (row or {}).get("error") or _failure_message(result)
        raise SpotifyRunError(message, result.run_id)
    if row is None:
        raise SpotifyRunError("the run succeeded but recorded no sync", result.run_id)
    return {**row, "run_id": result.run_id}
