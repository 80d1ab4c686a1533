"""Bulk loading of export rows into the raw tables, inside the caller's transaction.

A row's identity is (user, time, record_hash, occurrence): record_hash hashes every stored field (a
generated column, computed by Postgres), occurrence is the how-many-th identical record it is within its
file. So a byte-identical duplicate inside one file is kept (occurrence 2: the file really says it
twice), while the same record arriving again — in a re-import or another file — inserts nothing.

Rows arrive in batches (parsing.py) and take one of two ways:

* **Straight in** (the common case: a first import, or new files of a later one): a batch the parsing
  side could number (its `span`) goes straight into the raw table by COPY when the user has no stored row
  in its span: then none of its records can be stored already, and its identical records are all in it.
  That is the cheap way for Postgres: one COPY, no stage, no INSERT ... SELECT.
* **Through the stage**: otherwise the batch is COPYed into a temporary stage table, with the file's next
  batches until the next slice (below), and moved into the raw table by one set-based INSERT, which
  numbers identical records and leaves out the ones already stored (an anti-join). The file's rows that
  went straight in count as its earlier slices.

A file is moved from the stage in slices of SLICE_ROWS rows, so its inserting overlaps the parsing of the
rest instead of following it. Occurrences then count on across slices: the keys (time, record_hash) of
a file's earlier slices are kept in a temporary table, and a slice's numbering starts after them.

Imports of one user are serialized by an advisory lock, so the span check and the anti-join cannot race
with another import (cheaper than ON CONFLICT, and the unique index still guards the invariant).

The rows arrive as COPY text from the importer's parsing side (parsing.py), which runs beside this
writer, so Python's JSON parsing and Postgres' inserting overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from orchestration.imports.parsing import copy_line, refused
from orchestration.imports.reading.errors import ExportError
from orchestration.imports.reading.formats import ExportFormat

RAW_WRITE_LOCK = 0x5907
"""Advisory lock class serializing every writer of a user's raw rows (the second key is the user id)."""
SLICE_ROWS = 50_000
"""A file with more rows than this is moved into the raw table slice by slice."""


@dataclass
class FileLoad:
    """What loading one source file did."""

    staged: int
    inserted: int
    min_ts: datetime | None
    max_ts: datetime | None

    @property
    def duplicates(self) -> int:
        return self.staged - self.inserted

    def plus(self, later: FileLoad) -> FileLoad:
        """This and a later slice of the same file."""
        times = [t for t in (self.min_ts, self.max_ts, later.min_ts, later.max_ts) if t is not None]
        return FileLoad(
            self.staged + later.staged,
            self.inserted + later.inserted,
            min(times) if times else None,
            max(times) if times else None,
        )


def lock_user_raw_rows(conn: psycopg.Connection, user_id: int) -> None:
    """Serialize this transaction with every other one writing raw rows of the user, until it ends.

    dbt's incremental stream model finds a user's new rows by raw_id: that only works when the
    user's raw_ids grow in commit order, so every writer of raw rows (imports, Spotify polls and
    backfills) takes this lock before inserting.
    """
    conn.execute("select pg_advisory_xact_lock(%s, %s)", (RAW_WRITE_LOCK, user_id))


def prepare_session(conn: psycopg.Connection, user_id: int) -> None:
    """Transaction-local setup: one import per user at a time, timestamps parsed as UTC."""
    lock_user_raw_rows(conn, user_id)
    # Account-data times have no zone marker; they are UTC.
    conn.execute("set local timezone = 'UTC'")
    # Room for the per-file sort that numbers identical records, so it stays in memory.
    conn.execute("set local work_mem = '64MB'")


def stage_table(fmt: ExportFormat) -> sql.Identifier:
    return sql.Identifier(f"stage_{fmt.table}")


def create_stage(conn: psycopg.Connection, fmt: ExportFormat) -> None:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(f.column), sql.SQL(f.kind.sql_type)) for f in fmt.fields
    )
    conn.execute(
        sql.SQL(
            "create temp table if not exists {} (record_no integer, {}, extra jsonb, batch_occurrence integer)"
            " on commit drop"
        ).format(stage_table(fmt), columns)
    )


def file_keys_table(fmt: ExportFormat) -> sql.Identifier:
    return sql.Identifier(f"keys_{fmt.table}")


def create_file_keys(conn: psycopg.Connection, fmt: ExportFormat) -> None:
    """The keys of a sliced file's earlier slices (emptied per file), for counting occurrences on."""
    table = file_keys_table(fmt)
    ts = sql.Identifier(fmt.time_field.column)
    conn.execute(
        sql.SQL("create temp table if not exists {} ({} timestamptz, record_hash bigint) on commit drop").format(
            table, ts
        )
    )
    conn.execute(
        sql.SQL("create index if not exists {} on pg_temp.{} ({})").format(
            sql.Identifier(f"keys_{fmt.table}_ts"), table, ts
        )
    )


def insert_from_stage_sql(fmt: ExportFormat, sliced: bool = False) -> sql.Composed:
    """Move the stage into the raw table; `sliced`: the stage holds one slice of a file (see above)."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in fmt.columns)
    ts = sql.Identifier(fmt.time_field.column)
    keys = file_keys_table(fmt)
    # Occurrences already numbered in the file's earlier slices (their keys in the slice's time span).
    earlier = sql.SQL(
        """,
        earlier as (
            select {ts}, record_hash, count(*) as n from pg_temp.{keys}
            where {ts} between (select lo from bounds) and (select hi from bounds)
            group by {ts}, record_hash
        ),
        kept as (insert into pg_temp.{keys} select {ts}, record_hash from staged)"""
    ).format(ts=ts, keys=keys)
    numbered = sql.SQL(
        "select s.*, row_number() over (partition by {ts}, record_hash order by record_no)"
        " + coalesce(e.n, 0) as occurrence from staged s left join earlier e using ({ts}, record_hash)"
        if sliced
        else "select *, row_number() over (partition by {ts}, record_hash order by record_no) as occurrence from staged"
    ).format(ts=ts)
    # The anti-join is bounded to the file's time span so it reads only that slice of the index.
    return sql.SQL(
        """
        with staged as (
            select record_no, {cols}, extra,
                   hash_record_extended(row({cols}, extra), 0) as record_hash
            from pg_temp.{stage}
        ),
        bounds as (select count(*) as n, min({ts}) as lo, max({ts}) as hi from staged){earlier},
        numbered as ({numbered}),
        inserted as (
            insert into raw.{table}
                (user_id, import_id, source_file, record_no, occurrence, {cols}, extra)
            select %(user_id)s, %(import_id)s, %(source_file)s, record_no, occurrence, {cols}, extra
            from numbered n
            where not exists (
                select 1 from raw.{table} r
                where r.user_id = %(user_id)s
                  and r.{ts} between (select lo from bounds) and (select hi from bounds)
                  and r.{ts} = n.{ts} and r.record_hash = n.record_hash and r.occurrence = n.occurrence
            )
            returning 1
        )
        select n, (select count(*) from inserted), lo, hi from bounds
        """
    ).format(
        cols=cols,
        stage=stage_table(fmt),
        table=sql.Identifier(fmt.table),
        ts=ts,
        earlier=earlier if sliced else sql.SQL(""),
        numbered=numbered,
    )


def copy_sql(fmt: ExportFormat) -> sql.Composed:
    """COPY a batch into the stage (its occurrences, numbered by the parsing side or 0, are not used there)."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in fmt.columns)
    return sql.SQL("copy pg_temp.{} (record_no, {}, extra, batch_occurrence) from stdin").format(stage_table(fmt), cols)


def copy_straight_in_sql(fmt: ExportFormat) -> sql.Composed:
    """COPY a batch into the raw table itself: its columns, then the ones `straight_in_tail` adds to each row."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in fmt.columns)
    return sql.SQL("copy raw.{} (record_no, {}, extra, occurrence, user_id, import_id, source_file) from stdin").format(
        sql.Identifier(fmt.table), cols
    )


def straight_in_tail(user_id: int, import_id: int, source_file: str) -> bytes:
    """What ends each row of a batch sent straight in: its user, import and file, as COPY text."""
    return b"\t" + copy_line((user_id, import_id, source_file))


def span_sql(fmt: ExportFormat) -> sql.Composed:
    """A batch's span as Postgres reads it, whether the user has a stored row in it, and the user's
    highest raw_id so far (the rows of a straight run are the ones above it)."""
    return sql.SQL(
        "select %(lo)s::timestamptz, %(hi)s::timestamptz, exists ("
        " select 1 from raw.{table} where user_id = %(user_id)s"
        " and {ts} between %(lo)s::timestamptz and %(hi)s::timestamptz),"
        " (select coalesce(max(raw_id), 0) from raw.{table} where user_id = %(user_id)s)"
    ).format(table=sql.Identifier(fmt.table), ts=sql.Identifier(fmt.time_field.column))


def keys_of_run_sql(fmt: ExportFormat) -> sql.Composed:
    """The keys of the rows a straight run sent in (the user's rows above its floor): earlier slices of its file."""
    return sql.SQL(
        "insert into pg_temp.{keys} select {ts}, record_hash from raw.{table}"
        " where user_id = %(user_id)s and raw_id > %(floor)s"
    ).format(keys=file_keys_table(fmt), ts=sql.Identifier(fmt.time_field.column), table=sql.Identifier(fmt.table))


class RawWriter:
    """Loads the COPY text of one import's files: begin_file, write…, end_file per file.

    It runs on the thread that owns the connection; the parsing side (parsing.py) runs beside it.
    `diagnose(fmt, file)` words a record the database refused, given the file it is in.
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        user_id: int,
        import_id: int,
        diagnose: Callable[[ExportFormat, str], ExportError | None],
    ) -> None:
        self._conn = conn
        self._params: dict[str, Any] = {"user_id": user_id, "import_id": import_id}
        self._diagnose = diagnose
        self._staged_formats: set[str] = set()
        self._fmt: ExportFormat | None = None
        self._file = ""
        self._tail = b""
        self._unsliced = 0  # rows of the current file in the stage, not yet moved into the raw table
        self._run_floor: int | None = None  # in a straight run: the user's highest raw_id before it
        self._keys_kept = False  # the keys table holds the current file's earlier slices
        self._done: FileLoad | None = None  # what the current file's earlier parts did

    def begin_file(self, fmt: ExportFormat, source_file: str) -> None:
        self._fmt = fmt
        self._file = source_file
        self._tail = straight_in_tail(self._params["user_id"], self._params["import_id"], source_file)
        self._unsliced = 0
        self._run_floor = None
        self._keys_kept = False
        self._done = None

    def write(self, data: bytes, rows: int, span: tuple[str, str] | None) -> None:
        """Load a batch (COPY text, see parsing.Batch): straight in if it may, else into the stage.

        Straight in only while the stage is empty: then every earlier row of the file is in the raw table,
        where the span check sees it. A file that had to stage goes straight in again after its next slice.
        """
        fmt = self._current()
        try:
            if span is not None and self._unsliced == 0:
                params = {**self._params, "lo": span[0], "hi": span[1]}
                lo, hi, taken, floor = self._conn.execute(span_sql(fmt), params).fetchone()  # type: ignore[misc]
                if not taken:
                    if self._run_floor is None:
                        self._run_floor = floor
                    self._copy(copy_straight_in_sql(fmt), data.replace(b"\n", self._tail))
                    self._add(FileLoad(rows, rows, lo, hi))
                    return
            self._prepare_stage(fmt)
            self._copy(copy_sql(fmt), data)
        except psycopg.DataError as exc:
            raise self._diagnose(fmt, self._file) or refused(self._file, exc) from exc
        self._unsliced += rows
        if self._unsliced >= SLICE_ROWS:
            self._add(self._flush(fmt))
            self._unsliced = 0

    def end_file(self) -> FileLoad:
        """Move what is staged into the raw table; what loading the whole file did."""
        fmt = self._current()
        if self._unsliced:
            self._add(self._flush(fmt))
        return self._done or FileLoad(0, 0, None, None)

    def _current(self) -> ExportFormat:
        if self._fmt is None:
            raise RuntimeError("RawWriter: rows before begin_file")
        return self._fmt

    def _copy(self, statement: sql.Composed, data: bytes) -> None:
        with self._conn.cursor() as cur, cur.copy(statement) as copy:
            copy.write(data)

    def _add(self, load: FileLoad) -> None:
        self._done = load if self._done is None else self._done.plus(load)

    def _prepare_stage(self, fmt: ExportFormat) -> None:
        """The stage exists; the straight run that just ended (if one did) counts as earlier slices."""
        if fmt.name not in self._staged_formats:
            create_stage(self._conn, fmt)
            self._staged_formats.add(fmt.name)
        if self._run_floor is not None:
            if not self._keys_kept:
                self._keep_keys(fmt)
            self._conn.execute(keys_of_run_sql(fmt), {**self._params, "floor": self._run_floor})
            self._run_floor = None

    def _keep_keys(self, fmt: ExportFormat) -> None:
        """An empty keys table for the current file's earlier slices."""
        create_file_keys(self._conn, fmt)
        self._conn.execute(sql.SQL("truncate pg_temp.{}").format(file_keys_table(fmt)))
        self._keys_kept = True

    def _flush(self, fmt: ExportFormat) -> FileLoad:
        """Move the stage into the raw table: a slice of a file that has (or may have) more than one."""
        sliced = self._done is not None or self._unsliced >= SLICE_ROWS
        if sliced and not self._keys_kept:
            self._keep_keys(fmt)
        with self._conn.cursor() as cur:
            cur.execute(insert_from_stage_sql(fmt, sliced), {**self._params, "source_file": self._file})
            staged, inserted, min_ts, max_ts = cur.fetchone()  # type: ignore[misc]
            cur.execute(sql.SQL("truncate pg_temp.{}").format(stage_table(fmt)))
        return FileLoad(int(staged), int(inserted), min_ts, max_ts)
