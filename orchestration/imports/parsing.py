"""The importer's parsing side: reads a source's files and turns their rows into COPY text.

It runs beside the writer (raw_writer.py), which owns the database transaction, and speaks to it only
through the messages below, in this order: per file a FileStart, its Batches and a FileEnd, or one
FileSkipped; Advanced whenever bytes were read; Failed ends the stream with the parsing side's error.

Where it runs is the transport's business: in a thread for small sources (`parse_in_thread`), in a
child process for large ones (parser_process.py), so that Python's parsing and the writer's
database work do not take turns on one interpreter lock. Rows are encoded into COPY text here, on
the parsing side, so the writer only passes bytes on.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter

import psycopg
from psycopg._copy_base import format_row_text  # psycopg's own (C) COPY row encoder; no public name yet
from psycopg.adapt import Transformer

from orchestration.imports.reading.errors import ExportError, LimitExceededError
from orchestration.imports.reading.formats import TIME_FORMATS, ExportFormat
from orchestration.imports.reading.reader import NotHistory, Row, diagnose, open_history_file
from orchestration.imports.reading.sources import Limits, Source

BATCH_ROWS = 5_000
"""Rows per Batch: one COPY each."""
PLAIN_TIME_WIDTH = {kind: len(datetime(2000, 1, 1).strftime(pattern)) for kind, pattern in TIME_FORMATS.items()}
"""Length of a time in the export's own format, without fractions of a second."""
ADVANCE_BYTES = 1 << 20
"""Bytes read are reported in steps of at least this much, so progress costs few messages."""
QUEUE_BATCHES = 32
"""Batches waiting for the writer, at most (about 1 MB each): enough to parse on while a large file's slice
is moved into the raw table, and the bound on memory."""


@dataclass(frozen=True)
class FileStart:
    name: str
    format_name: str
    generation: str | None
    variant: str


@dataclass(frozen=True)
class Batch:
    data: bytes
    """Rows as COPY text: (record_no, *format columns, extra, occurrence)."""
    rows: int
    span: tuple[str, str] | None = None
    """The batch's earliest and latest time when it may go straight into the raw table (see `straight_in`);
    each row's occurrence is then its how-many-th identical record in the batch, else 0 (unknown)."""


@dataclass(frozen=True)
class FileEnd:
    name: str
    records: int


@dataclass(frozen=True)
class FileSkipped:
    name: str
    reason: str


@dataclass(frozen=True)
class Advanced:
    nbytes: int


@dataclass(frozen=True)
class Failed:
    error: BaseException


Message = FileStart | Batch | FileEnd | FileSkipped | Advanced | Failed
Send = Callable[[Message], None]


def parse_source(source: Source, limits: Limits, send: Send) -> None:
    """Read every entry of a scanned source and send what it holds. Raises ExportError for bad input."""
    progress = _Progress(send)
    total = 0
    for entry in source.entries:
        try:
            history = open_history_file(entry, progress.advanced, limits)
        except NotHistory as why:
            progress.flush()
            send(FileSkipped(entry.name, f"not listening history: {why}"))
            continue
        send(FileStart(entry.name, history.format.name, history.generation, history.variant))
        budget = limits.max_records - total
        count = 0
        batch: list[Row] = []
        for row in history.rows:
            count += 1
            if count > budget:
                raise LimitExceededError(
                    f"{entry.name}: more than {limits.max_records:,} records in this import (IMPORT_MAX_RECORDS)"
                )
            batch.append(row)
            if len(batch) == BATCH_ROWS:
                send(batched(history.format, entry.name, batch))
                batch = []
        if batch:
            send(batched(history.format, entry.name, batch))
        total += count
        progress.flush()
        send(FileEnd(entry.name, count))


def batched(fmt: ExportFormat, file_name: str, rows: list[Row]) -> Batch:
    """The rows as a Batch: with their occurrences and span when they may go straight in.

    A row's occurrence ends its line; it is written in bulk (each line ends in 1, or 0), then the few
    repeated records are mended, so the common case costs no Python per row.
    """
    data = encode(fmt, file_name, rows)
    plan = straight_in(fmt, rows)
    if plan is None:
        return Batch(data.replace(b"\n", b"\t0\n"), len(rows))
    span, repeats = plan
    data = data.replace(b"\n", b"\t1\n")
    if repeats:
        lines = data.split(b"\n")
        for i, n in repeats.items():
            lines[i] = b"%s\t%d" % (lines[i][:-2], n)
        data = b"\n".join(lines)
    return Batch(data, len(rows), span)


def straight_in(fmt: ExportFormat, rows: list[Row]) -> tuple[tuple[str, str], dict[int, int]] | None:
    """The span, and the rows that repeat an earlier one with their occurrence, if the batch may skip the
    stage (else None).

    The writer sends such a batch straight into the raw table when the user has no stored row in its span:
    then none of its records can be stored already, and its identical records (which share their time)
    are all in the batch. Only batches whose times all have the export's plain shape qualify (no fractions
    of seconds): that text compares like the time it denotes and equal times are equal text, so the span
    is right and identical records are found by comparing rows. Rows with unknown keys (`extra`) go through
    the stage, where jsonb decides what is identical.
    """
    stamps = list(map(itemgetter(1 + fmt.fields.index(fmt.time_field)), rows))
    # Every time here has passed its pattern, so none is shorter than the plain shape: equal sums, all plain.
    if not stamps or sum(map(len, stamps)) != PLAIN_TIME_WIDTH[fmt.time_field.kind] * len(stamps):
        return None
    if list(map(itemgetter(-1), rows)).count(None) != len(rows):
        return None
    return (min(stamps), max(stamps)), _repeats(rows, stamps)


def _repeats(rows: list[Row], stamps: list[str]) -> dict[int, int]:
    """Rows identical to an earlier one, with their occurrence (2, 3 …); identical records share their
    time, so only rows of shared times are compared."""
    if len(set(stamps)) == len(stamps):
        return {}
    shared = {t for t, n in Counter(stamps).items() if n > 1}
    seen: dict[Row, int] = {}
    repeats = {}
    for i in (i for i, t in enumerate(stamps) if t in shared):
        key = rows[i][1:]  # everything but record_no
        seen[key] = n = seen.get(key, 0) + 1
        if n > 1:
            repeats[i] = n
    return repeats


def copy_line(values: tuple[object, ...]) -> bytes:
    """One row of COPY text (with its newline)."""
    line = bytearray()
    format_row_text(values, Transformer(), line)
    return bytes(line)


def encode(fmt: ExportFormat, file_name: str, rows: list[Row]) -> bytes:
    """Rows as COPY text. What psycopg cannot encode (a NUL in a string) is pinned to its record."""
    transformer = Transformer()
    data = bytearray()
    try:
        for row in rows:
            format_row_text(row, transformer, data)
    except psycopg.DataError as exc:
        raise diagnose(fmt, file_name, rows) or refused(file_name, exc) from exc
    return bytes(data)


def refused(file_name: str, exc: psycopg.DataError) -> ExportError:
    """The words for a record the database refused, when diagnose() cannot say which."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ExportError(f"{file_name}: the database refused a record: {first_line}")


class _Progress:
    """Bytes read, sent on in steps of ADVANCE_BYTES (and at each file's end)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._pending = 0

    def advanced(self, nbytes: int) -> None:
        self._pending += nbytes
        if self._pending >= ADVANCE_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._send(Advanced(self._pending))
            self._pending = 0


class Mailbox:
    """Messages from the parsing side to the writer, in order; `put` waits while QUEUE_BATCHES batches wait.

    Only batches count: progress and file messages are small, and counting them would shrink the room
    left for rows (a large file sends several Advanced per batch).
    """

    def __init__(self) -> None:
        self._messages: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        self._room = threading.Semaphore(QUEUE_BATCHES)

    def put(self, message: Message | None) -> None:
        if isinstance(message, Batch):
            self._room.acquire()
        self._messages.put(message)

    def get(self, timeout: float | None = None) -> Message | None:
        """The next message; raises queue.Empty after `timeout` seconds without one."""
        message = self._messages.get(timeout=timeout)
        if isinstance(message, Batch):
            self._room.release()
        return message

    def discard_until(self, done: Callable[[], bool]) -> None:
        """Drop messages until done(): a sender waiting for room gets it, and sees it has been stopped."""
        while not done():
            with contextlib.suppress(queue.Empty):
                self.get(timeout=0.05)


class _Stopped(Exception):
    """The writer has stopped listening."""


@contextlib.contextmanager
def parse_in_thread(source: Source, limits: Limits) -> Iterator[Iterator[Message]]:
    """The source's messages, parsed on a thread of this process (for small sources: nothing to start)."""
    messages = Mailbox()
    stopped = threading.Event()

    def send(message: Message) -> None:
        if stopped.is_set():
            raise _Stopped
        messages.put(message)

    def run() -> None:
        try:
            parse_source(source, limits, send)
            messages.put(None)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the writer's thread
            if not stopped.is_set():
                messages.put(Failed(exc))

    thread = threading.Thread(target=run, name="import-parser", daemon=True)
    thread.start()
    try:
        yield received(messages.get)
    finally:
        stopped.set()
        messages.discard_until(lambda: not thread.is_alive())
        thread.join()


def received(get: Callable[[], Message | None]) -> Iterator[Message]:
    """Messages until the end of the stream; the parsing side's error is raised here."""
    while (message := get()) is not None:
        if isinstance(message, Failed):
            raise message.error
        yield message
