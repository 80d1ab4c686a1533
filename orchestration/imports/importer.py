"""One export import: a ZIP, a JSON file or a folder, for one user, in one transaction.

This is the pure core the Dagster asset, the CLI, the tests and the benchmark all call.
An import lands whole or not at all; its registry row records the outcome either way.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg

from orchestration import users
from orchestration.config import get_settings
from orchestration.db import connect, ensure_schema
from orchestration.imports import registry
from orchestration.imports.parser_process import ParsingAhead, ParsingProcess
from orchestration.imports.parsing import (
    BATCH_ROWS,
    Advanced,
    Batch,
    FileEnd,
    FileSkipped,
    FileStart,
    Message,
    parse_in_thread,
)
from orchestration.imports.raw_checks import raw_id_floors
from orchestration.imports.raw_writer import FileLoad, RawWriter, prepare_session
from orchestration.imports.reading.errors import ExportError, NoHistoryError
from orchestration.imports.reading.formats import FORMATS, FORMATS_BY_NAME, ExportFormat
from orchestration.imports.reading.reader import diagnose, open_history_file
from orchestration.imports.reading.sources import Limits, Skipped, Source, describe, scan


class Progress(Protocol):
    """Where an import reports how far it is (a terminal bar, Dagster logs, nothing)."""

    def started(self, total_bytes: int, files: int) -> None: ...
    def advanced(self, nbytes: int) -> None: ...
    def file_done(self, name: str, format_name: str | None, records: int) -> None: ...


class NoProgress:
    def started(self, total_bytes: int, files: int) -> None:
        pass

    def advanced(self, nbytes: int) -> None:
        pass

    def file_done(self, name: str, format_name: str | None, records: int) -> None:
        pass


class ImportFailedError(Exception):
    """The import did not land. The message is for people; nothing was written to raw tables."""

    def __init__(self, message: str, import_id: int | None = None) -> None:
        super().__init__(message)
        self.import_id = import_id


@dataclass
class FileSummary:
    name: str
    format: str
    generation: str | None
    variant: str
    table: str
    records: int
    inserted: int
    duplicates: int


@dataclass
class ImportResult:
    import_id: int
    user: str
    user_id: int
    source: str
    source_kind: str
    sha256: str
    records: int
    inserted: int
    duplicates: int
    formats: dict[str, int]
    tables: dict[str, dict[str, int]]
    files: list[FileSummary]
    skipped_files: list[dict[str, str]]
    min_ts: datetime | None
    max_ts: datetime | None
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    raw_id_floors: dict[str, int] = field(default_factory=dict)
    """Each table's highest raw_id before the import wrote: its rows lie above (raw_checks.raw_id_floors)."""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["min_ts"] = self.min_ts.isoformat() if self.min_ts else None
        data["max_ts"] = self.max_ts.isoformat() if self.max_ts else None
        return data


def import_path(
    path: Path,
    user_name: str,
    *,
    conn: psycopg.Connection | None = None,
    limits: Limits | None = None,
    progress: Progress | None = None,
    partition_key: str | None = None,
    run_id: str | None = None,
    ahead: ParsingAhead | None = None,
) -> ImportResult:
    """Import everything at `path` for `user_name`. Raises ImportFailedError (or UserError).

    `ahead`: a parsing process already started for this file (the CLI's, see ParsingAhead), used if it fits.
    """
    own_conn = conn is None
    conn = conn or connect()
    try:
        ensure_schema()
        return _import(
            conn,
            path,
            user_name,
            limits or Limits.from_settings(),
            progress or NoProgress(),
            partition_key,
            run_id,
            ahead or ParsingAhead(),
        )
    finally:
        if own_conn:
            conn.close()


def _import(
    conn: psycopg.Connection,
    path: Path,
    user_name: str,
    limits: Limits,
    progress: Progress,
    partition_key: str | None,
    run_id: str | None,
    ahead: ParsingAhead,
) -> ImportResult:
    user = users.get(conn, user_name)
    try:
        source = describe(path)
    except ExportError as exc:
        raise ImportFailedError(str(exc)) from exc
    import_id = registry.start(conn, user_id=user.user_id, source=source, partition_key=partition_key, run_id=run_id)
    try:
        return _run(conn, import_id, user, source, limits, progress, ahead)
    finally:
        with contextlib.suppress(psycopg.Error):  # a broken connection has let go of the lock already
            registry.release(conn, import_id)


def _run(
    conn: psycopg.Connection,
    import_id: int,
    user: users.User,
    source: Source,
    limits: Limits,
    progress: Progress,
    ahead: ParsingAhead,
) -> ImportResult:
    started = time.perf_counter()
    try:
        with conn.transaction():
            prepare_session(conn, user.user_id)
            floors = raw_id_floors(conn, [fmt.table for fmt in FORMATS])
            scan(source, limits)
            files, loads = _load(conn, user.user_id, import_id, source, limits, progress, ahead)
            result = _summarize(import_id, user, source, files, loads, floors, time.perf_counter() - started)
            registry.succeed(conn, import_id, _registry_summary(result))
        return result
    except BaseException as exc:
        message = str(exc) if isinstance(exc, ExportError) else _unexpected(exc)
        try:
            registry.fail(conn, import_id, message, {"seconds": round(time.perf_counter() - started, 3)})
        except psycopg.Error:
            conn.rollback()
        if isinstance(exc, Exception):
            raise ImportFailedError(message, import_id) from exc
        raise


def _load(
    conn: psycopg.Connection,
    user_id: int,
    import_id: int,
    source: Source,
    limits: Limits,
    progress: Progress,
    ahead: ParsingAhead,
) -> tuple[list[FileSummary], dict[str, FileLoad]]:
    progress.started(source.total_bytes, len(source.entries))
    writer = RawWriter(conn, user_id, import_id, lambda fmt, name: _diagnose_file(source, limits, fmt, name))
    files: list[FileSummary] = []
    loads: dict[str, FileLoad] = {}
    current: FileSummary | None = None
    with _parser(source, limits, ahead) as messages:
        for message in messages:
            match message:
                case Batch(data, rows, span):
                    writer.write(data, rows, span)
                case Advanced(nbytes):
                    progress.advanced(nbytes)
                case FileStart(name, format_name, generation, variant):
                    fmt = FORMATS_BY_NAME[format_name]
                    current = FileSummary(name, fmt.name, generation, variant, fmt.table, 0, 0, 0)
                    writer.begin_file(fmt, name)
                case FileEnd(name, records):
                    assert current is not None and current.name == name
                    loads[name] = load = writer.end_file()
                    current.records, current.inserted, current.duplicates = records, load.inserted, load.duplicates
                    files.append(current)
                    progress.file_done(name, current.format, records)
                case FileSkipped(name, reason):
                    source.skipped.append(Skipped(name, reason))
                    progress.file_done(name, None, 0)
    if sum(f.records for f in files) == 0:
        skipped = "; ".join(f"{s.name} ({s.reason})" for s in source.skipped[:20]) or "nothing readable"
        raise NoHistoryError(f"{source.path.name}: no listening history found. Skipped: {skipped}")
    return files, loads


def _parser(
    source: Source, limits: Limits, ahead: ParsingAhead
) -> contextlib.AbstractContextManager[Iterator[Message]]:
    """Large sources are parsed by a child process, small ones on a thread (no process to start); a process
    started ahead for this very file is used whatever its size."""
    if (process := ahead.take(source, limits)) is not None:
        return process
    if source.total_bytes >= get_settings().import_parser_process_bytes:
        return ParsingProcess(source, limits)
    return parse_in_thread(source, limits)


def _diagnose_file(source: Source, limits: Limits, fmt: ExportFormat, name: str) -> ExportError | None:
    """The record of file `name` the database refused (it is read again: this runs only after an error)."""
    entry = next(e for e in source.entries if e.name == name)
    rows = open_history_file(entry, None, limits).rows
    while batch := list(itertools.islice(rows, BATCH_ROWS)):
        if (found := diagnose(fmt, name, batch)) is not None:
            return found
    return None


def _summarize(
    import_id: int,
    user: users.User,
    source: Source,
    files: list[FileSummary],
    loads: dict[str, FileLoad],
    raw_id_floors: dict[str, int],
    seconds: float,
) -> ImportResult:
    formats: dict[str, int] = {}
    tables: dict[str, dict[str, int]] = {}
    for f in files:
        formats[f.format] = formats.get(f.format, 0) + f.records
        t = tables.setdefault(f.table, {"records": 0, "inserted": 0, "duplicates": 0})
        t["records"] += f.records
        t["inserted"] += f.inserted
        t["duplicates"] += f.duplicates
    times = [t for load in loads.values() for t in (load.min_ts, load.max_ts) if t is not None]
    records = sum(f.records for f in files)
    inserted = sum(f.inserted for f in files)
    return ImportResult(
        import_id=import_id,
        user=user.name,
        user_id=user.user_id,
        source=source.path.name,
        source_kind=source.kind,
        sha256=source.sha256,
        records=records,
        inserted=inserted,
        duplicates=records - inserted,
        formats=formats,
        tables=tables,
        files=files,
        skipped_files=[s.as_dict() for s in source.skipped],
        min_ts=min(times) if times else None,
        max_ts=max(times) if times else None,
        seconds=round(seconds, 3),
        timings={"seconds": round(seconds, 3), "records_per_second": round(records / max(seconds, 1e-9))},
        raw_id_floors=raw_id_floors,
    )


def _registry_summary(result: ImportResult) -> dict[str, Any]:
    return {
        "formats": result.formats,
        "files": [asdict(f) for f in result.files],
        "skipped_files": result.skipped_files,
        "records": result.records,
        "inserted": result.inserted,
        "duplicates": result.duplicates,
        "min_ts": result.min_ts,
        "max_ts": result.max_ts,
        "timings": result.timings,
    }


def _unexpected(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"unexpected error: {type(exc).__name__}: {exc}"
