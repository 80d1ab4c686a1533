"""A JSON list cut into slices of whole records, each to be parsed at once by msgspec.

Parsing a slice of a few MB in C costs a fraction of what ijson spends building the same records one
event at a time, and memory stays flat: only one slice and its records are held.

The cuts come from the guard (guard.py), which already tracks where each top-level item begins: a
slice ends where the last item it could not finish begins. Each slice must be a list's body that
ends in exactly one comma, so the slices parse to the same items as the whole file would, and a
file that is not valid JSON fails in some slice (the caller then reads it with the exact parser).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgspec

from orchestration.imports.reading.guard import GuardedReader

SLICE_BYTES = 2 * 1024 * 1024
FIRST_SLICE_BYTES = 64 * 1024
"""The first slice is small: its records find the format and are built one by one (RowBuilder)."""
_WHITESPACE = b" \t\r\n"
# Non-integer numbers as Decimal, as ijson gives them: records and their `extra` come out alike.
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


class SliceError(ValueError):
    """A slice that is not a list body ending in one comma (so the file is not a valid list)."""


def record_slices(guarded: GuardedReader, slice_bytes: int | None = None) -> Iterator[bytes]:
    """The JSON list `guarded` reads (from its `[` on) as JSON lists of a slice of its items each.

    Raises SliceError for what cannot be cut into lists (not JSON) and RecordLimitError for a cap
    exceeded; a slice itself may still be invalid JSON (decode() raises msgspec.DecodeError).
    """
    slice_bytes = slice_bytes or SLICE_BYTES
    limit = min(slice_bytes, FIRST_SLICE_BYTES)
    data = guarded.read()
    if data[:1] != b"[":
        raise SliceError("not a JSON list")
    pending = bytearray(data[1:])
    sliced = False
    while data:
        data = guarded.read()
        pending += data
        if len(pending) < limit:
            continue
        if guarded.item_start is None:
            # Between items: a run of whitespace is as good as one space (a file may hold gigabytes of it).
            del pending[len(pending.rstrip(_WHITESPACE)) + 1 :]
            if len(pending) < 2 * slice_bytes or not pending.rstrip(_WHITESPACE).endswith(b","):
                if len(pending) > 4 * slice_bytes + (1 << 20):
                    raise SliceError("no place to cut")  # items that are no records
                continue
            cut = len(pending)  # only whole items: cut after them
        else:
            cut = len(pending) - (guarded.offset - guarded.item_start)  # where the unfinished item begins
        body = bytes(pending[:cut]).rstrip(_WHITESPACE)
        if not body:
            continue
        if not body.endswith(b","):
            raise SliceError("no comma before a record")
        if not body[:-1].strip(_WHITESPACE):
            raise SliceError("a comma without a record")
        yield b"[" + body[:-1] + b"]"
        del pending[:cut]
        sliced = True
        limit = slice_bytes
    if sliced and pending.lstrip(_WHITESPACE).startswith(b"]"):
        raise SliceError("a comma without a record")  # after a comma, an item must follow
    yield b"[" + pending  # the rest: up to the list's closing `]`


def decode(text: bytes) -> Any:
    """A slice's items as Python values (records as dicts), as ijson would give them."""
    return _DECODER.decode(text)
