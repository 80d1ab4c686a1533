"""The import registry (app.imports): one row per import attempt, whatever its outcome.

A 'running' row is held by its import: the importing connection keeps a session advisory lock on the
row (taken before the row is committed) until the import ends. A process that dies — killed, out of
memory, a lost machine — loses its connection and with it the lock, so whoever finds a 'running' row
whose lock can be taken knows its import is gone, and marks it failed: "interrupted". The next import
does that at its start, and the `interrupted_runs` sensor does it (also for Spotify syncs) when Dagster
reports a run failed or canceled.
"""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.rows
from psycopg.types.json import Jsonb

from orchestration.imports.reading.sources import Source


def start(
    conn: psycopg.Connection,
    *,
    user_id: int,
    source: Source,
    partition_key: str | None,
    run_id: str | None,
) -> int:
    """Insert a 'running' row and commit it, so a failed import still leaves its trace.

    Rows of dead imports are marked interrupted first; the new row's lock is taken before its commit,
    so no other import ever sees it running and unlocked.
    """
    sweep_interrupted(conn)
    row = conn.execute(
        """
        insert into app.imports
            (user_id, partition_key, dagster_run_id, source_name, source_path, source_kind,
             sha256, size_bytes, status, skipped_files)
        values (%s, %s, %s, %s, %s, %s, %s, %s, 'running', %s)
        returning import_id
        """,
        (
            user_id,
            partition_key,
            run_id,
            source.path.name,
            str(source.path),
            source.kind,
            source.sha256,
            source.size_bytes,
            Jsonb([s.as_dict() for s in source.skipped]),
        ),
    ).fetchone()
    assert row is not None
    conn.execute("select pg_advisory_lock(%s, %s)", (IMPORT_LOCK, row[0]))
    conn.commit()
    return int(row[0])


IMPORT_LOCK = 0x1A9
"""Advisory lock class of running imports (key: import_id), held by the importing session."""
INTERRUPTED = "interrupted"


def release(conn: psycopg.Connection, import_id: int) -> None:
    """The import has ended (its row says how): let go of the row."""
    conn.execute("select pg_advisory_unlock(%s, %s)", (IMPORT_LOCK, import_id))
    conn.commit()


def sweep_interrupted(conn: psycopg.Connection) -> list[int]:
    """Mark failed ("interrupted") every 'running' import whose session is gone; returns their ids."""
    running = [i for (i,) in conn.execute("select import_id from app.imports where status = 'running'")]
    conn.commit()
    gone = []
    for import_id in running:
        row = conn.execute("select pg_try_advisory_lock(%s, %s)", (IMPORT_LOCK, import_id)).fetchone()
        conn.commit()
        free = row is not None and row[0]
        if free:
            gone += _interrupt(conn, "import_id = %s", import_id)
            release(conn, import_id)
    return gone


def mark_run_interrupted(conn: psycopg.Connection, run_id: str) -> dict[str, int]:
    """A Dagster run ended (failed, canceled) with its import or Spotify sync still 'running': mark them
    failed ("interrupted"). Returns how many rows of each table changed."""
    imports = _interrupt(conn, "dagster_run_id = %s", run_id)
    syncs = conn.execute(
        """
        update app.spotify_syncs set status = 'failed', error = %s, finished_at = clock_timestamp()
        where dagster_run_id = %s and status = 'running'
        """,
        (INTERRUPTED, run_id),
    ).rowcount
    conn.commit()
    return {"imports": len(imports), "spotify_syncs": syncs}


def _interrupt(conn: psycopg.Connection, where: str, value: object) -> list[int]:
    rows = conn.execute(
        f"""
        update app.imports set status = 'failed', error = '{INTERRUPTED}', finished_at = clock_timestamp()
        where {where} and status = 'running'
        returning import_id
        """,
        (value,),
    ).fetchall()
    return [int(i) for (i,) in rows]


def succeed(conn: psycopg.Connection, import_id: int, summary: dict[str, Any]) -> None:
    """Mark the import done. Called inside the data transaction so both commit together."""
    conn.execute(
        """
        update app.imports set
            status = 'succeeded', formats = %(formats)s, files = %(files)s, skipped_files = %(skipped)s,
            records = %(records)s, inserted = %(inserted)s, duplicates = %(duplicates)s,
            min_ts = %(min_ts)s, max_ts = %(max_ts)s, timings = %(timings)s, finished_at = clock_timestamp()
        where import_id = %(import_id)s
        """,
        {
            "import_id": import_id,
            "formats": Jsonb(summary["formats"]),
            "files": Jsonb(summary["files"]),
            "skipped": Jsonb(summary["skipped_files"]),
            "records": summary["records"],
            "inserted": summary["inserted"],
            "duplicates": summary["duplicates"],
            "min_ts": summary["min_ts"],
            "max_ts": summary["max_ts"],
            "timings": Jsonb(summary["timings"]),
        },
    )


def fail(conn: psycopg.Connection, import_id: int, error: str, timings: dict[str, float]) -> None:
    conn.execute(
        """
        update app.imports set status = 'failed', error = %s, timings = %s, finished_at = clock_timestamp()
        where import_id = %s
        """,
        (error, Jsonb(timings), import_id),
    )
    conn.commit()


def latest(conn: psycopg.Connection, user_id: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            """
            select i.import_id, u.name as user_name, i.source_name, i.source_kind, i.status, i.records,
                   i.inserted, i.duplicates, i.formats, i.min_ts, i.max_ts, i.error, i.started_at,
                   i.finished_at
            from app.imports i join app.users u using (user_id)
            where %(user_id)s::integer is null or i.user_id = %(user_id)s
            order by i.started_at desc, i.import_id desc
            limit %(limit)s
            """,
            {"user_id": user_id, "limit": limit},
        ).fetchall()


def source_path_of_partition(conn: psycopg.Connection, partition_key: str) -> str | None:
    """The file the latest import of this Dagster partition read (re-imports launched from the UI)."""
    row = conn.execute(
        "select source_path from app.imports where partition_key = %s order by started_at desc limit 1",
        (partition_key,),
    ).fetchone()
    return None if row is None else str(row[0])


def import_of_run(conn: psycopg.Connection, run_id: str) -> dict[str, Any] | None:
    """The registry row a Dagster run wrote (the CLI's summary of an import run)."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            """
            select import_id, dagster_run_id as run_id, source_name, status, records, inserted, duplicates,
                   formats, skipped_files, files, min_ts, max_ts, error,
                   extract(epoch from finished_at - started_at)::float as seconds
            from app.imports where dagster_run_id = %s order by import_id desc limit 1
            """,
            (run_id,),
        ).fetchone()
