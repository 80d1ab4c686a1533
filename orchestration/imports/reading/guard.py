"""Caps on what one export file can make the parser hold: nesting depth, string length, record size.

ijson keeps, for every open nesting level, the full path prefix of that level ("item.item.item…"), so
its memory grows with the square of the depth: a 400 kB file of `[` nested 200 000 deep asks for about
100 GB. yajl also buffers a whole string or number before handing it over, and a record is built whole.
So every byte is scanned here on its way to the parser, and reading stops at the first cap exceeded,
before the parser has seen the bytes that exceed it.

Most chunks hold nothing but flat records (Spotify's only shape). They are checked with a handful of
C-speed bytes operations: escape pairs masked, everything but quotes and brackets deleted, the rest
compared with the flat shape `}{}{}…{`. Any other chunk goes through an exact token scanner.
"""

from __future__ import annotations

import re
from typing import Protocol

from orchestration.imports.reading.errors import InvalidFileError

MAX_NUMBER_DIGITS = 1000
"""Digits in one number. Not a setting: ijson (3.6, yajl2_c) crashes the process on an integer longer than
Python's int conversion limit (4300 digits); Spotify's longest numbers have 13."""

_STRUCTURAL = b'"[]{}'
_DELIMITERS = frozenset(b' \t\r\n,:[]{}"')
_DIGITS = b"0123456789"
_NOT_DIGITS = bytes(b for b in range(256) if b not in _DIGITS)
_DIGITS_AS_ZERO = bytes.maketrans(_DIGITS, b"0" * 10)
# A number with more digits than the cap has a run of more than a third of them (sign, point, exponent
# split it in at most three): chunks without such a run need no closer look at their numbers.
_LONG_DIGIT_RUN = b"0" * (MAX_NUMBER_DIGITS // 3 + 1)
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in _STRUCTURAL)
_GAP = b" \t\r\n,"
_CHUNK = 64 * 1024

_SKIP = re.compile(rb"[ \t\r\n,:]*+")
_STRING_BODY = re.compile(rb'(?:[^"\\]++|\\[\s\S])*+')
_SCALAR = re.compile(rb'[^ \t\r\n,:\[\]{}"]++')
_OPEN, _CLOSE, _QUOTE = frozenset(b"[{"), frozenset(b"]}"), ord('"')


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class RecordLimitError(InvalidFileError):
    """A record past one of the parsing caps (IMPORT_MAX_DEPTH, _STRING_BYTES, _RECORD_BYTES)."""


class GuardedReader:
    """A reader that checks the JSON it passes on against the caps; raises RecordLimitError.

    Records are the items of the top-level list, numbered from 1 as in every other import error.
    """

    def __init__(self, reader: Readable, name: str, max_depth: int, max_string_bytes: int, max_record_bytes: int):
        self._reader = reader
        self._name = name
        self._max_depth = max_depth
        self._max_string = max_string_bytes
        self._max_record = max_record_bytes
        # Chunks no longer than the string and record caps: whatever lies wholly inside one is within them.
        self._chunk = max(1, min(_CHUNK, max_string_bytes, max_record_bytes))
        self.depth = 0
        self.in_string = False
        self.escape = False  # the chunk ended inside a string, right after a backslash
        self.in_scalar = False  # the chunk ended inside a number or literal
        self.scalar_digits = 0  # of the open number, so far
        self.string_bytes = 0  # of the open string, so far
        self.item_start: int | None = None  # offset where the open top-level record began
        self.records = 0  # top-level records begun
        self.offset = 0  # of the next chunk

    def read(self, size: int = -1, /) -> bytes:
        if size == 0:
            return b""  # ijson asks for 0 bytes to learn whether the stream is binary
        data = self._reader.read(self._chunk if size < 0 else min(size, self._chunk))
        if data:
            if not self._scan_flat(data):
                self._scan_exact(data)
            self.offset += len(data)
            if self.item_start is not None and self.offset - self.item_start > self._max_record:
                self._fail_record()
        return data

    # -- the common case --------------------------------------------------------------------------

    def _scan_flat(self, chunk: bytes) -> bool:
        """Account for a chunk of flat records; False (nothing changed) when it is anything else.

        Not seen here: a string, number or literal as a top-level item between two records in the
        chunk (not a record: the reader refuses it when it gets there); the record count can lag by those.
        """
        if self.escape or self._max_depth < 2 or (self.in_scalar and self.depth == 1):
            return False
        if b"\\" in chunk:
            # Escaped quotes and backslashes become two neutral bytes: positions stay, quotes are real.
            chunk = chunk.replace(b"\\\\", b"__").replace(b'\\"', b"__")
            if chunk.endswith(b"\\"):
                return False
        n = len(chunk)
        if _LONG_DIGIT_RUN in chunk.translate(_DIGITS_AS_ZERO):
            return False
        reduced = chunk.translate(None, _NOT_STRUCTURAL)
        start = 0
        scalar_digits = self.scalar_digits
        if self.in_scalar:  # a number or literal inside a record goes on
            start = _token_end(chunk)
            scalar_digits += _digits(chunk[:start])
            if start == n or scalar_digits > MAX_NUMBER_DIGITS:
                return False
        elif self.in_string:
            first = chunk.find(b'"')
            if first < 0 or self.string_bytes + first > self._max_string:
                return False
            start = first + 1
            reduced = reduced[1 + reduced.index(b'"') :]
        ends_in_string = reduced.count(b'"') % 2 == 1
        end = n
        if ends_in_string:
            end = chunk.rfind(b'"')
            reduced = reduced[: reduced.rfind(b'"')]
        elif chunk[-1] not in _DELIMITERS:
            end = _token_start(chunk)  # a number or literal goes on in the next chunk
            if end <= start:
                return False
        shape = reduced.replace(b'""', b"")  # strings without brackets in them: the usual ones
        closes_first = shape.startswith(b"}")
        opens_last = shape.endswith(b"{")
        middle = shape[closes_first : len(shape) - opens_last]
        if not (self.depth == 1 and not closes_first) and not (self.depth == 2 and (closes_first or not shape)):
            return False  # the flat shape starts between records, or inside one
        if middle != b"{}" * (len(middle) // 2):
            return False  # nesting, lists, brackets inside strings, the top-level list's ends
        depth = 2 if opens_last else (1 if shape else self.depth)
        if depth == 1 and (end < n or (not shape and chunk.translate(None, _GAP))):
            return False  # a top-level scalar, not a record
        if closes_first:
            assert self.item_start is not None
            record_end = self.offset + chunk.index(b"}", start) + 1
            if record_end - self.item_start > self._max_record:
                return False
        # Every `{` here opens a record; the one left open is the last.
        self.records += shape.count(b"{")
        if opens_last:
            self.item_start = self.offset + chunk.rfind(b"{", start, end)
        elif closes_first or shape:
            self.item_start = None
        self.depth = depth
        self.in_string = ends_in_string
        if ends_in_string:
            self.string_bytes = n - end - 1
        self.in_scalar = end < n and not ends_in_string
        self.scalar_digits = _digits(chunk[end:]) if self.in_scalar else 0
        return True

    # -- everything else, byte by byte (by token) --------------------------------------------------

    def _scan_exact(self, chunk: bytes) -> None:
        n = len(chunk)
        i = 0
        if self.in_scalar:
            i = self._scalar(chunk, 0)
        while i < n:
            if self.in_string:
                if self.escape:
                    self.escape = False
                    i += 1
                    self.string_bytes += 1
                    continue
                j = _STRING_BODY.match(chunk, i).end()  # type: ignore[union-attr]
                self.string_bytes += j - i
                if self.string_bytes > self._max_string:
                    self._fail_string()
                if j == n:
                    return
                if chunk[j] != _QUOTE:  # a backslash, the last byte of the chunk
                    self.escape = True
                    self.string_bytes += 1
                    return
                self.in_string = False
                i = j + 1
                if self.depth == 1:
                    self._end_item(self.offset + i)
                continue
            i = _SKIP.match(chunk, i).end()  # type: ignore[union-attr]
            if i == n:
                return
            byte = chunk[i]
            if byte == _QUOTE:
                self._begin_item(i)
                self.in_string = True
                self.string_bytes = 0
                i += 1
            elif byte in _OPEN:
                self._begin_item(i)
                self.depth += 1
                if self.depth > self._max_depth:
                    self._fail(f"nested deeper than {self._max_depth} levels (IMPORT_MAX_DEPTH)")
                i += 1
            elif byte in _CLOSE:
                self.depth -= 1
                i += 1
                if self.depth == 1:
                    self._end_item(self.offset + i)
            else:
                self._begin_item(i)
                self.scalar_digits = 0
                i = self._scalar(chunk, i)

    def _scalar(self, chunk: bytes, i: int) -> int:
        """Read a number or literal (or its continuation) from i; returns where it ends."""
        match = _SCALAR.match(chunk, i)
        j = i if match is None else match.end()
        self.scalar_digits += _digits(chunk[i:j])
        if self.scalar_digits > MAX_NUMBER_DIGITS:
            self._fail(f"a number with more than {MAX_NUMBER_DIGITS:,} digits")
        self.in_scalar = j == len(chunk)
        if not self.in_scalar and self.depth == 1:
            self._end_item(self.offset + j)
        return j

    def _begin_item(self, index: int) -> None:
        if self.depth == 1 and self.item_start is None:
            self.records += 1
            self.item_start = self.offset + index

    def _end_item(self, end: int) -> None:
        if self.item_start is not None and end - self.item_start > self._max_record:
            self._fail_record()
        self.item_start = None

    def _fail_string(self) -> None:
        self._fail(f"a string longer than {self._max_string:,} bytes (IMPORT_MAX_STRING_BYTES)")

    def _fail_record(self) -> None:
        self._fail(f"a record larger than {self._max_record:,} bytes (IMPORT_MAX_RECORD_BYTES)")

    def _fail(self, message: str) -> None:
        raise RecordLimitError(self._name, message, self.records or None)


def _digits(token: bytes) -> int:
    return len(token.translate(None, _NOT_DIGITS))


def _token_end(chunk: bytes) -> int:
    """Where the number or literal that starts the chunk ends."""
    i = 0
    while i < len(chunk) and chunk[i] not in _DELIMITERS:
        i += 1
    return i


def _token_start(chunk: bytes) -> int:
    """Where the number or literal that ends the chunk starts."""
    i = len(chunk)
    while i > 0 and chunk[i - 1] not in _DELIMITERS:
        i -= 1
    return i
