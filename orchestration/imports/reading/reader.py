"""Streaming reader for one export JSON file: detect its format, validate and yield raw rows.

The file is parsed a slice of whole records at a time (msgspec, slices.py), so memory does not grow
with file size; whatever the slices do not take is read again by the exact path (ijson, one record at
a time), which has the last word on errors.
A row is the tuple the raw table's COPY expects: (record_no, *format fields, extra_json).
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, Protocol

import ijson

from orchestration.imports.reading.errors import ExportError, InvalidFileError
from orchestration.imports.reading.formats import (
    EPOCH_MS_ABOVE,
    EXTENDED,
    PYTHON_TYPES,
    TIME_FORMATS,
    TIMESTAMP_PATTERNS,
    ExportFormat,
    Kind,
    detect,
    extended_generation,
    file_variant,
    is_personal,
    looks_like_history_file,
    time_window,
)
from orchestration.imports.reading.guard import GuardedReader, RecordLimitError
from orchestration.imports.reading.slices import decode as slice_items
from orchestration.imports.reading.slices import record_slices
from orchestration.imports.reading.sources import Entry, Limits
from orchestration.imports.reading.typed import Row, TypedRows
from orchestration.imports.reading.whole import WHOLE_FILE_BYTES, whole_rows

_PEEK = 64 * 1024
_WHOLE_READ = 1 << 20
_BOM = b"\xef\xbb\xbf"


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass
class HistoryFile:
    """A detected listening-history file, ready to stream its rows once."""

    entry: Entry
    format: ExportFormat
    generation: str | None
    variant: str
    rows: Iterator[Row]


class NotHistory(Exception):
    """The file is valid but not listening history; the reason is shown in the skipped list."""


def open_history_file(
    entry: Entry, on_bytes: Callable[[int], None] | None = None, limits: Limits | None = None
) -> HistoryFile:
    """Detect the format from the first record. Raises NotHistory or ExportError.

    Files whose names say they are listening history are never skipped: any problem with them
    is an error, because skipping one would silently lose plays. Every byte passes the parsing
    caps (guard.py) before a streaming parser sees it; a file read whole is parsed by msgspec first (in
    C, its memory bounded by the file's size) and held to the same caps by its records' sizes.

    A file up to WHOLE_FILE_BYTES is read into memory and parsed at once when it is certain to give
    what streaming gives (whole.py); otherwise, and for larger files, it is parsed in slices of whole
    records by msgspec (record_slices). Whatever that fast path does not accept — a JSON error, a cap
    exceeded, anything unexpected — is read again from the start by the exact path (ijson, one record
    at a time), which decides what happens and words the error: the fast paths never accept what the
    exact one refuses, and never change a message.
    """
    strict = looks_like_history_file(entry.name)
    limits = limits or Limits.from_settings()
    if entry.size <= WHOLE_FILE_BYTES:
        data = read_whole(entry, on_bytes)
        history = _open_streamed(Entry(entry.name, len(data), lambda: io.BytesIO(data)), None, limits, strict)
        rows = whole_rows(history.format, data, limits)
        if rows is not None:
            history.rows = iter(rows)
        return history
    return _open_streamed(entry, on_bytes, limits, strict)


def read_whole(entry: Entry, on_bytes: Callable[[int], None] | None) -> bytes:
    """The file's bytes, read as every path reads (progress reported, read errors as ExportError).

    Reading stops past the size the file had when the import began (a ZIP member cannot grow: its reader
    refuses more bytes than its header declares), so memory stays bounded whatever the file turns into.
    """
    parts = []
    counting = _Counting(entry.opener(), on_bytes)
    try:
        while data := counting.read(_WHOLE_READ):
            if counting.count > entry.size:
                raise ExportError(f"{entry.name}: the file grew while it was being read; import it again")
            parts.append(data)
    finally:
        counting.close()
    return b"".join(parts)


def _open_streamed(entry: Entry, on_bytes: Callable[[int], None] | None, limits: Limits, strict: bool) -> HistoryFile:
    """The format from the first slice, the rows from the slices (or from the exact path)."""
    stream = entry.opener()
    counting = _Counting(stream, on_bytes)
    try:
        guarded = _guarded(entry, counting, limits, strict)
        slices = record_slices(guarded)
        try:
            items = slice_items(next(slices))
        except Exception:
            stream.close()
            return _open_exact(entry, counting.resume(), limits, strict)
        first = _check_first(entry, items[0] if items else None, strict)
    except BaseException:
        stream.close()
        raise
    fmt, generation = _format_of(entry, first, strict)
    rows = _fast_rows(entry, fmt, items, slices, stream, counting, limits, strict)
    return HistoryFile(entry, fmt, generation, file_variant(entry.name), rows)


def _open_exact(
    entry: Entry, on_bytes: Callable[[int], None] | None, limits: Limits, strict: bool, skip: int = 0
) -> HistoryFile:
    """The exact path: ijson, one record at a time; the first `skip` rows are read but not yielded."""
    stream = entry.opener()
    try:
        items = ijson.items(_guarded(entry, _Counting(stream, on_bytes), limits, strict), "item")
        try:
            first = next(items, None)
        except ijson.JSONError as exc:
            _not_history(entry, f"not valid JSON ({_short(exc)})", strict)
        except RecordLimitError as exc:
            if strict:
                raise
            raise NotHistory(str(exc).removeprefix(f"{entry.name}: ")) from exc
        first = _check_first(entry, first, strict)
    except BaseException:
        stream.close()
        raise
    fmt, generation = _format_of(entry, first, strict)
    rows = _rows(entry.name, fmt, first, items, stream)
    if skip:
        rows = itertools.islice(rows, skip, None)
    return HistoryFile(entry, fmt, generation, file_variant(entry.name), rows)


def _guarded(entry: Entry, reader: Readable, limits: Limits, strict: bool) -> GuardedReader:
    """The file's bytes from its opening `[` on, through the parsing caps; refuses what is no list."""
    head = _skip_bom_and_space(reader, entry.name)
    if head is None:
        _not_history(entry, "empty file", strict)
    first_char = head[:1]
    if first_char == b"{":
        _not_history(entry, "a JSON object, not a list of plays", strict)
    if first_char != b"[":
        _not_history(entry, "not valid JSON", strict)
    return GuardedReader(
        _Prepend(head, reader),
        entry.name,
        max_depth=limits.max_depth,
        max_string_bytes=limits.max_string_bytes,
        max_record_bytes=limits.max_record_bytes,
    )


def _check_first(entry: Entry, first: Any, strict: bool) -> dict[str, Any]:
    if first is None:
        _not_history(entry, "an empty list", strict)
    if not isinstance(first, dict):
        _not_history(entry, f"a list of {type(first).__name__} values, not of records", strict)
    return first


def _format_of(entry: Entry, first: dict[str, Any], strict: bool) -> tuple[ExportFormat, str | None]:
    keys = set(first)
    fmt = detect(keys)
    if fmt is None:
        shown = ", ".join(sorted(k for k in keys if not is_personal(k))[:8]) or "(none)"
        _not_history(entry, f"records have no listening-history keys (keys: {shown})", strict)
    return fmt, extended_generation(keys) if fmt is EXTENDED else None


def _not_history(entry: Entry, reason: str, strict: bool) -> NoReturn:
    if strict:
        raise InvalidFileError(entry.name, f"{reason}; expected a JSON list of listening-history records")
    raise NotHistory(reason)


def _fast_rows(
    entry: Entry,
    fmt: ExportFormat,
    items: list[Any],
    slices: Iterator[bytes],
    stream: Any,
    counting: _Counting,
    limits: Limits,
    strict: bool,
) -> Iterator[Row]:
    """Rows from the slices: typed (TypedRows), else record by record (RowBuilder), else the exact path.

    The first slice (already decoded to find the format) and any slice TypedRows does not take are
    built record by record; a slice that is not valid JSON, or a cap exceeded, hands the file over
    to the exact path, which skips the rows already yielded.
    """
    builder = RowBuilder(fmt, entry.name)
    typed = TypedRows(fmt)
    record_no = 0
    try:
        while True:
            for record in items:
                record_no += 1
                if type(record) is not dict:
                    raise InvalidFileError(
                        entry.name, f"expected a record (JSON object), got {_json_type(record)}", record_no
                    )
                yield builder.build(record, record_no)
            try:
                text = next(slices)
                rows = typed.rows(text, record_no + 1)
                if rows is None:
                    items = slice_items(text)
                    continue
            except StopIteration:
                return
            except Exception:
                break
            items = []
            record_no += len(rows)
            yield from rows
    finally:
        stream.close()
    exact = _open_exact(entry, counting.resume(), limits, strict, skip=record_no)
    yield from exact.rows


def _rows(name: str, fmt: ExportFormat, first: dict[str, Any], rest: Iterator[Any], stream: Any) -> Iterator[Row]:
    builder = RowBuilder(fmt, name)
    record_no = 1
    try:
        yield builder.build(first, 1)
        while True:
            try:
                record = next(rest)
            except StopIteration:
                return
            except ijson.IncompleteJSONError as exc:
                raise InvalidFileError(name, f"truncated or invalid JSON ({_short(exc)})", record_no + 1) from exc
            except ijson.JSONError as exc:
                raise InvalidFileError(name, f"invalid JSON ({_short(exc)})", record_no + 1) from exc
            record_no += 1
            if type(record) is not dict:
                raise InvalidFileError(name, f"expected a record (JSON object), got {_json_type(record)}", record_no)
            yield builder.build(record, record_no)
    finally:
        stream.close()


class RowBuilder:
    """Turns a record into a raw row, validating it on the way.

    Validation is cached by shape: a file's records nearly all share one key order and one
    pattern of types, so the per-record cost is a couple of tuple lookups.
    """

    def __init__(self, fmt: ExportFormat, file_name: str) -> None:
        self.fmt = fmt
        self.file_name = file_name
        self._keys = fmt.keys
        self._extras_by_shape: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._valid_types: set[tuple[type, ...]] = set()
        self._ts_index = fmt.fields.index(fmt.time_field)
        self._ts_pattern = TIMESTAMP_PATTERNS[fmt.time_field.kind]
        earliest, latest = time_window()
        self._window = (earliest, latest)
        # The export's own text format compares like the time it denotes: no parsing per record.
        self._ts_range = tuple(t.strftime(TIME_FORMATS[fmt.time_field.kind]) for t in (earliest, latest))
        self._epoch_range = (earliest.timestamp(), latest.timestamp())
        self._non_negative = tuple(i for i, f in enumerate(fmt.fields) if f.non_negative)
        self._epochs = tuple(i for i, f in enumerate(fmt.fields) if f.epoch)

    def build(self, record: dict[str, Any], record_no: int) -> Row:
        shape = tuple(record)
        extras = self._extras_by_shape.get(shape)
        if extras is None:
            extras = self._learn_shape(shape, record_no)
        values: tuple[Any, ...] = tuple(map(record.get, self._keys))
        if tuple(map(type, values)) not in self._valid_types:
            self._check_types(values, record_no)
        ts = values[self._ts_index]  # a non-null string: the type check above guarantees it
        if not self._ts_pattern.match(ts):
            key = self._keys[self._ts_index]
            raise InvalidFileError(self.file_name, f"field {key!r} is not a valid timestamp: {ts!r}", record_no)
        if not self._ts_range[0] <= ts <= self._ts_range[1]:
            self._refuse_time(self._ts_index, ts, record_no)
        for i in self._non_negative:
            if values[i] is not None and values[i] < 0:
                key = self._keys[i]
                raise InvalidFileError(
                    self.file_name, f"field {key!r} is negative ({values[i]}); Spotify never writes that", record_no
                )
        for i in self._epochs:
            if values[i]:  # 0 and null: unknown
                seconds = values[i] / 1000 if values[i] > EPOCH_MS_ABOVE else values[i]
                if not self._epoch_range[0] <= seconds <= self._epoch_range[1]:
                    self._refuse_time(i, values[i], record_no)
        extra = json.dumps({k: record[k] for k in extras}, default=str, ensure_ascii=False) if extras else None
        return (record_no, *values, extra)

    def _refuse_time(self, index: int, value: object, record_no: int) -> NoReturn:
        earliest, latest = self._window
        raise InvalidFileError(
            self.file_name,
            f"field {self._keys[index]!r} is {value!r}, outside the times Spotify writes: from "
            f"{earliest:%Y-%m-%d} to one day after now ({latest:%Y-%m-%d %H:%M} UTC)",
            record_no,
        )

    def _learn_shape(self, shape: tuple[str, ...], record_no: int) -> tuple[str, ...]:
        present = set(shape)
        missing = [f.key for f in self.fmt.fields if f.required and f.key not in present]
        if missing:
            raise InvalidFileError(
                self.file_name, f"missing required field(s) {', '.join(map(repr, missing))}", record_no
            )
        known = set(self._keys)
        extras = tuple(k for k in shape if k not in known and not is_personal(k))
        self._extras_by_shape[shape] = extras
        return extras

    def _check_types(self, values: tuple[Any, ...], record_no: int) -> None:
        for f, value in zip(self.fmt.fields, values, strict=True):
            if value is None:
                if f.required:
                    raise InvalidFileError(self.file_name, f"field {f.key!r} must not be null", record_no)
                continue
            expected = PYTHON_TYPES[f.kind]
            if type(value) is not expected:
                raise InvalidFileError(
                    self.file_name,
                    f"field {f.key!r} must be {_describe(expected)}, got {_json_type(value)} {_preview(value)}",
                    record_no,
                )
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                raise InvalidFileError(self.file_name, f"field {f.key!r} is out of range: {value}", record_no)
        self._valid_types.add(tuple(map(type, values)))


def diagnose(fmt: ExportFormat, file_name: str, rows: list[Row]) -> InvalidFileError | None:
    """Find the record Postgres refused in a batch of rows (the slow path, run only after an error).

    The hot path checks shapes and types; what only the database notices — impossible dates,
    NUL characters — is pinned to its file, record and field here.
    """
    for row in rows:
        record_no, values = row[0], row[1:-1]
        for f, value in zip(fmt.fields, values, strict=True):
            if isinstance(value, str) and "\x00" in value:
                return InvalidFileError(file_name, f"field {f.key!r} contains a NUL character", record_no)
            if f.kind in TIMESTAMP_PATTERNS and not _is_real_time(value, f.kind):
                return InvalidFileError(file_name, f"field {f.key!r} is not a valid timestamp: {value!r}", record_no)
    return None


def _is_real_time(value: str, kind: Kind) -> bool:
    try:
        if kind is Kind.TS_ISO:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            datetime.strptime(value, "%Y-%m-%d %H:%M")
    except ValueError:
        return False
    return True


def _describe(t: type) -> str:
    return {str: "a string", int: "an integer", bool: "true, false or null"}.get(t, t.__name__)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return "a number"


def _preview(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _skip_bom_and_space(reader: Readable, name: str) -> bytes | None:
    """Read until the first non-space byte; returns the buffered head (None for an empty file)."""
    head = b""
    while True:
        chunk = reader.read(_PEEK)
        if not chunk:
            return None if not head.strip() else head
        head += chunk
        if head.startswith(_BOM):
            head = head[len(_BOM) :]
        stripped = head.lstrip()
        if stripped:
            return stripped
        head = b""


class _Counting:
    """Counts bytes read (for the progress bar) from a binary stream."""

    def __init__(self, stream: Any, on_bytes: Callable[[int], None] | None) -> None:
        self._stream = stream
        self._on_bytes = on_bytes
        self.count = 0

    def resume(self) -> Callable[[int], None] | None:
        """For a second reading of the same file: reports only the bytes beyond those reported here."""
        on_bytes, seen = self._on_bytes, self.count
        if on_bytes is None:
            return None

        def report(nbytes: int) -> None:
            nonlocal seen
            if nbytes > seen:
                on_bytes(nbytes - seen)
            seen = max(0, seen - nbytes)

        return report

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._stream.read(size)
        except ExportError:
            raise
        except OSError as exc:
            raise ExportError(f"read error: {exc}") from exc
        self.count += len(data)
        if self._on_bytes is not None and data:
            self._on_bytes(len(data))
        return data

    def close(self) -> None:
        self._stream.close()


class _Prepend:
    """A reader that first returns `head`, then the rest of `reader`."""

    def __init__(self, head: bytes, reader: Readable) -> None:
        self._head = head
        self._reader = reader

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                data, self._head = self._head, b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._reader.read(size)
