"""An import or sync whose process died reads failed ("interrupted"), not 'running' forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psycopg
from export_files import extended_records, write_json
from stored import registry_rows, run_cli, user_id

from orchestration.db import connect
from orchestration.defs.runs.sensors import interrupted_runs_sensors
from orchestration.imports import registry
from orchestration.imports.importer import import_path
from orchestration.imports.raw_writer import RAW_WRITE_LOCK
from orchestration.imports.reading.sources import describe
from orchestration.spotify import storage

HISTORY = "Streaming_History_Audio_2020_0.json"
IMPORT = (
    "import sys; from pathlib import Path; from orchestration.imports.importer import import_path; "
    "import_path(Path(sys.argv[1]), sys.argv[2])"
)


def wait_for(condition, what: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_import_is_marked_interrupted_by_the_next_one(
    tmp_path: Path, conn: psycopg.Connection, user: str
) -> None:
    path = write_json(tmp_path / HISTORY, extended_records(50))
    watcher = connect(autocommit=True)
    # Hold the user's raw-write lock: the import in the child registers itself, then waits for it mid-way.
    conn.execute("select pg_advisory_xact_lock(%s, %s)", (RAW_WRITE_LOCK, user_id(conn, user)))
    child = subprocess.Popen([sys.executable, "-c", IMPORT, str(path), user], env=dict(os.environ))
    try:
        waiting = wait_for(
            lambda: watcher.execute(
                "select pid from pg_stat_activity where wait_event_type = 'Lock' and query like %s",
                ("%pg_advisory_xact_lock%",),
            ).fetchone(),
            "the import to wait for the lock",
        )
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        assert [(s, e) for _, s, e, *_ in registry_rows(watcher, user)] == [("running", None)]
    finally:
        child.kill()
        conn.rollback()  # the dead import's server process gets the lock, finds no client and ends
    wait_for(
        lambda: watcher.execute("select count(*) = 0 from pg_stat_activity where pid = %s", waiting).fetchone()[0],
        "the killed import's session to end",
    )

    result = import_path(path, user)

    assert result.inserted == 50
    assert [(s, e) for _, s, e, *_ in registry_rows(watcher, user)] == [("failed", "interrupted"), ("succeeded", None)]
    listing = run_cli("imports", "--user", user)
    assert listing.returncode == 0, listing.stderr
    assert "failed" in listing.stdout and "interrupted" in listing.stdout
    watcher.close()


def test_a_running_import_is_not_taken_for_a_dead_one(tmp_path: Path, conn: psycopg.Connection, user: str) -> None:
    """While an import runs (its session alive), another import leaves its row alone."""
    path = write_json(tmp_path / HISTORY, extended_records(5))
    conn.execute("select pg_advisory_xact_lock(%s, %s)", (RAW_WRITE_LOCK, user_id(conn, user)))
    child = subprocess.Popen([sys.executable, "-c", IMPORT, str(path), user], env=dict(os.environ))
    try:
        with connect(autocommit=True) as other:
            (running,) = wait_for(lambda: registry_rows(other, user), "the import to register")
            swept = registry.sweep_interrupted(other)
            assert running[0] not in swept
            assert [s for _, s, *_ in registry_rows(other, user)] == ["running"]
    finally:
        conn.rollback()
    assert child.wait(timeout=120) == 0
    assert [s for _, s, *_ in registry_rows(conn, user)] == ["succeeded"]


@dg.op
def dies() -> None:
    raise RuntimeError("the run's process went away")


@dg.job
def doomed() -> None:
    dies()


def unfinished_rows(conn: psycopg.Connection, user: str, tmp_path: Path, run_id: str) -> tuple[int, int]:
    """An import and a Spotify sync recorded by the run, both left 'running' (as a killed run leaves them)."""
    uid = user_id(conn, user)
    import_id = registry.start(
        conn, user_id=uid, source=describe(write_json(tmp_path / HISTORY, [])), partition_key=None, run_id=run_id
    )
    registry.release(conn, import_id)
    sync = storage.start_sync(conn, user_id=uid, kind="poll", partition_key=None, run_id=run_id)
    conn.commit()
    return import_id, sync.sync_id


def statuses(conn: psycopg.Connection, import_id: int, sync_id: int) -> list[tuple[str, str | None]]:
    conn.commit()
    return [
        conn.execute("select status, error from app.imports where import_id = %s", (import_id,)).fetchone(),
        conn.execute("select status, error from app.spotify_syncs where sync_id = %s", (sync_id,)).fetchone(),
    ]  # type: ignore[list-item]


def test_the_sensor_marks_the_rows_of_a_failed_run(tmp_path: Path, conn: psycopg.Connection, user: str) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = doomed.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    import_id, sync_id = unfinished_rows(conn, user, tmp_path, result.run_id)
    other_import, other_sync = unfinished_rows(conn, user, tmp_path / "other", "another-run")
    failed = next(s for s in interrupted_runs_sensors if s.name == "interrupted_runs_failed")
    context = dg.build_run_status_sensor_context(
        sensor_name=failed.name,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),  # type: ignore[arg-type]
    )

    failed(context)  # type: ignore[call-arg]

    assert statuses(conn, import_id, sync_id) == [("failed", "interrupted")] * 2
    assert statuses(conn, other_import, other_sync) == [("running", None)] * 2, "another run's rows stay"


def test_the_sensor_marks_the_rows_of_a_canceled_run(tmp_path: Path, conn: psycopg.Connection, user: str) -> None:
    instance = dg.DagsterInstance.ephemeral()
    run = instance.create_run_for_job(job_def=doomed)
    instance.report_run_canceled(run)
    (entry,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_CANCELED)
    import_id, sync_id = unfinished_rows(conn, user, tmp_path, run.run_id)
    canceled = next(s for s in interrupted_runs_sensors if s.name == "interrupted_runs_canceled")
    context = dg.build_run_status_sensor_context(
        sensor_name=canceled.name,
        dagster_event=entry.dagster_event,  # type: ignore[arg-type]
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run.run_id),  # type: ignore[arg-type]
    )

    canceled(context)  # type: ignore[call-arg]

    assert statuses(conn, import_id, sync_id) == [("failed", "interrupted")] * 2
