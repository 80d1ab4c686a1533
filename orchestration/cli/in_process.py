"""Run Dagster jobs in this process, on the shared instance (CLI commands use this).

The run is recorded in the same Postgres-backed instance the UI reads, with its logs and
materializations; only the terminal progress bar is swapped in as a resource.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.db import connect
from orchestration.defs.imports.assets import export_files, partition_key_for
from orchestration.defs.imports.jobs import import_run_config
from orchestration.imports import registry
from orchestration.imports.importer import Progress
from orchestration.imports.parser_process import ParsingAhead
from orchestration.imports.reading.errors import ExportError
from orchestration.imports.reading.sources import describe
from orchestration.instance import get_instance

# The terminal shows a progress bar and one error line; the full log is in the UI.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class RunError(Exception):
    """A run started from the CLI failed (or could not start); run_id names it in the Dagster UI."""

    def __init__(self, message: str, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


def load_job(name: str) -> dg.JobDefinition:
    """A job that loads raw tables (import_export, spotify_sync, spotify_top_snapshot), for a run in this
    process: built without the dbt manifest, which none of them uses."""
    from orchestration.defs.load_jobs import load_job_definitions

    return load_job_definitions().resolve_job_def(name)


def load_definitions() -> dg.Definitions:
    """The code location's definitions, for a run in this process (after preparing the dbt manifest)."""
    from orchestration.definitions import defs
    from orchestration.defs.dbt.project import prepare_manifest

    prepare_manifest()  # a fresh clone, or models edited since the last parse
    return defs()


def run_import(path: Path, user: str, progress: Progress, ahead: ParsingAhead | None = None) -> dict[str, Any]:
    """Import `path` for `user` as a run of the import_export job; returns its registry row.

    `ahead`: a parsing process the caller started for `path` (the run's import takes it if it fits).
    """
    try:
        source = describe(path)
    except ExportError as exc:
        raise RunError(str(exc)) from exc
    partition_key = partition_key_for(user, source)
    instance = get_instance()
    if not instance.has_dynamic_partition(export_files.name, partition_key):
        instance.add_dynamic_partitions(export_files.name, [partition_key])
    job = load_job("import_export")
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        run_config={**import_run_config(source.path), **QUIET_CONSOLE},
        resources={"import_progress": progress, "import_parsing_ahead": ahead or ParsingAhead()},
        tags={"spotify_history/user": user, "spotify_history/trigger": "cli"},
        raise_on_error=False,
    )
    with connect() as conn:
        row = registry.import_of_run(conn, result.run_id)
    if not result.success:
        message = (row or {}).get("error") or _failure_message(result)
        raise RunError(message, result.run_id)
    if row is None:
        raise RunError("the run succeeded but recorded no import", result.run_id)
    return row


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            return event.step_failure_data.error.message.strip()
    return "the import run failed (see the run's logs in the Dagster UI)"


def run_refresh(full_refresh: bool = False) -> dict[str, Any]:
    """dbt build through the `refresh_marts` job; returns what it built and how its tests went."""
    import time

    job = load_definitions().resolve_job_def("refresh_marts")
    instance = get_instance()
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


def run_spotify_sync(user: str, mode: str = "poll") -> dict[str, Any]:
    """A poll (or initial sync) of `user` as a run of the spotify_sync job; returns its registry row."""
    from orchestration.defs.spotify.jobs import sync_run_config
    from orchestration.defs.spotify.partitions import partition_key, spotify_users, utc_today
    from orchestration.spotify.storage import sync_of_run

    job = load_job("spotify_sync")
    instance = get_instance()
    if not instance.has_dynamic_partition(spotify_users.name, user):
        instance.add_dynamic_partitions(spotify_users.name, [user])
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key(user, utc_today()),
        run_config={**sync_run_config(mode), **QUIET_CONSOLE},
        tags={"spotify_history/user": user, "spotify_history/trigger": "cli"},
        raise_on_error=False,
    )
    with connect() as conn:
        row = sync_of_run(conn, result.run_id)
    if not result.success:
        message = (row or {}).get("error") or _failure_message(result)
        raise RunError(message, result.run_id)
    if row is None:
        raise RunError("the run succeeded but recorded no sync", result.run_id)
    return {**row, "run_id": result.run_id}


def run_top_snapshot(user: str) -> dict[str, Any]:
    """A snapshot of `user`'s top lists as a run of the spotify_top_snapshot job; returns its registry row."""
    from orchestration.defs.spotify.jobs import TOP_JOB_NAME
    from orchestration.defs.spotify.partitions import spotify_users
    from orchestration.spotify.top import snapshot_of_run

    job = load_job(TOP_JOB_NAME)
    instance = get_instance()
    if not instance.has_dynamic_partition(spotify_users.name, user):
        instance.add_dynamic_partitions(spotify_users.name, [user])
    result = job.execute_in_process(
        instance=instance,
        partition_key=user,
        run_config=QUIET_CONSOLE,
        tags={"spotify_history/user": user, "spotify_history/trigger": "cli"},
        raise_on_error=False,
    )
    with connect() as conn:
        row = snapshot_of_run(conn, result.run_id)
    if not result.success:
        raise RunError((row or {}).get("error") or _failure_message(result), result.run_id)
    if row is None:
        raise RunError("the run succeeded but recorded no snapshot", result.run_id)
    return {**row, "run_id": result.run_id}
