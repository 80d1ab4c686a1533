"""Records decoded straight into typed structs: the common case, validated in C.

A slice of Spotify's records nearly always has only known keys with the expected types. msgspec
decodes such a slice into one struct per record, checking keys, types, nulls and int range as it
goes; what is left is checked per slice: the timestamps' shape with one regex over all of them, the
time window on the slice's extremes.
Anything else — an unknown key (it goes to `extra`), a wrong type, a value out of range — makes
`typed_rows` answer None, and the caller builds that slice record by record with RowBuilder, which
words the error exactly as before. So this path only ever accepts what RowBuilder accepts, with the
same rows.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from functools import cache
from operator import attrgetter
from typing import Annotated, Any

import msgspec

from orchestration.imports.reading.formats import (
    EPOCH_MS_ABOVE,
    PERSONAL_KEYS,
    PYTHON_TYPES,
    TIME_FORMATS,
    TIMESTAMP_PATTERNS,
    ExportFormat,
    Kind,
    time_window,
)

Row = tuple[Any, ...]
_INT64 = msgspec.Meta(ge=-(2**63), le=2**63 - 1)
_NON_NEGATIVE_INT64 = msgspec.Meta(ge=0, le=2**63 - 1)


@cache
def _decoder(fmt: ExportFormat, scalar_personal: bool = False) -> msgspec.json.Decoder[Any]:
    fields: list[tuple[str, Any, Any]] = []
    for f in fmt.fields:
        kind: Any = PYTHON_TYPES[f.kind]
        if f.kind is Kind.INT:
            kind = Annotated[int, _NON_NEGATIVE_INT64 if f.non_negative else _INT64]
        fields.append((f.key, kind, msgspec.NODEFAULT) if f.required else (f.key, kind | None, None))
    # Personal keys Spotify writes are read over unparsed, and never stored; `scalar_personal` takes only
    # the strings (or nulls) Spotify writes there, so a record holds no nesting at all.
    fields += [
        (key, str | bool | None, None) if scalar_personal else (key, msgspec.Raw, msgspec.Raw())
        for key in sorted(PERSONAL_KEYS)
    ]
    record = msgspec.defstruct(
        f"{fmt.name}_record", fields, kw_only=True, forbid_unknown_fields=True, gc=False, omit_defaults=False
    )
    return msgspec.json.Decoder(list[record])  # type: ignore[valid-type]


class TypedRows:
    """Turns one slice (the text of a JSON list of records) into rows, or None when it needs RowBuilder."""

    def __init__(self, fmt: ExportFormat, scalar_personal: bool = False) -> None:
        self._decode = _decoder(fmt, scalar_personal).decode
        self._width = len(fmt.fields)
        earliest, latest = time_window()
        self._ts = attrgetter(fmt.time_field.key)
        one = TIMESTAMP_PATTERNS[fmt.time_field.kind].pattern.removesuffix(r"\Z")
        self._all_ts = re.compile(f"(?:{one}\n)*{one}").fullmatch
        # The export's own text format compares like the time it denotes (as in RowBuilder).
        self._ts_range = tuple(t.strftime(TIME_FORMATS[fmt.time_field.kind]) for t in (earliest, latest))
        self._epoch_range = (earliest.timestamp(), latest.timestamp())
        self._epochs: list[Callable[[Any], Any]] = [attrgetter(f.key) for f in fmt.fields if f.epoch]

    def rows(self, text: bytes, first_record_no: int) -> list[Row] | None:
        try:
            records = self._decode(text)
        except msgspec.ValidationError:
            return None
        if not records:
            return []
        stamps = list(map(self._ts, records))
        joined = "\n".join(stamps)
        if joined.count("\n") != len(stamps) - 1 or not self._all_ts(joined):
            return None
        if min(stamps) < self._ts_range[0] or max(stamps) > self._ts_range[1]:
            return None
        for epoch in self._epochs:
            if not self._epochs_in_window([v for v in map(epoch, records) if v]):
                return None
        width = self._width
        astuple = msgspec.structs.astuple
        return [(n, *astuple(r)[:width], None) for n, r in enumerate(records, first_record_no)]

    def _epochs_in_window(self, values: list[int]) -> bool:
        """RowBuilder's rule for every value: seconds, or milliseconds above EPOCH_MS_ABOVE, in the window.

        Seconds and milliseconds are each monotonic, so each range is checked at its two ends.
        """
        if not values:
            return True
        values.sort()
        split = bisect_right(values, EPOCH_MS_ABOVE)
        lo, hi = self._epoch_range
        seconds, millis = values[:split], values[split:]
        return all(lo <= s[0] <= hi and lo <= s[-1] <= hi for s in [seconds] if s) and all(
            lo <= m[0] / 1000 <= hi and lo <= m[-1] / 1000 <= hi for m in [millis] if m
        )
