"""The import registry (app.imports): one row per import attempt, whatever its outcome."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.rows
from psycopg.types.json import Jsonb

from orchestration.exports.sources import Source


def start(
    conn: psycopg.Connection,
    *,
    user_id: int,
    source: Source,
    partition_key: str | None,
    run_id: str | None,
) -> int:
    """Insert a 'running' row and commit it, so a failed import still leaves its trace."""
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
    conn.commit()
    assert row is not None
    return int(row[0])


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
