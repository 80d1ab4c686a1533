"""The parsing caps' scanner (orchestration/imports/reading/guard.py): its fast path for flat records agrees with
its exact token scanner on every state, whatever the chunking; the caps trip where they should."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import pytest

from orchestration.demo.synthetic_export import records
from orchestration.imports.reading.guard import MAX_NUMBER_DIGITS, GuardedReader, RecordLimitError

START = datetime(2020, 1, 1, tzinfo=UTC)
TRICKY = [
    {"ts": "2020-01-01T00:00:00Z", "ms_played": 1, "name": 'a "quoted" [Live] {x} \\ back\\\\slash\\', "x": "é\n"},
    {"ts": "2020-01-01T00:00:00Z", "ms_played": 2, "name": '}{]["\\"\\\\"', "n": -12.5e3, "t": True, "f": None},
    {"ts": "2020-01-01T00:00:00Z", "ms_played": 10**40, "name": "1" * 400, "big": 10**300},
]
NESTED = [{"ts": "2020-01-01T00:00:00Z", "nested": {"a": [1, 2, {"b": "c"}]}, "e": {}, "l": []}]


class ExactOnly(GuardedReader):
    def _scan_flat(self, chunk: bytes) -> bool:
        return False


def state(g: GuardedReader) -> tuple[Any, ...]:
    return (
        g.depth,
        g.in_string,
        g.escape,
        g.string_bytes if g.in_string else None,
        g.in_scalar,
        g.scalar_digits if g.in_scalar else None,
        g.item_start,
        g.records,
    )


def states(cls: type[GuardedReader], data: bytes, sizes: list[int]) -> list[tuple[Any, ...]]:
    g = cls(io.BytesIO(data), "f.json", max_depth=32, max_string_bytes=1 << 18, max_record_bytes=1 << 20)
    seen, k = [], 0
    while g.read(sizes[k % len(sizes)]):
        seen.append(state(g))
        k += 1
    return seen


def pretty(items: list[Any], **options: Any) -> bytes:
    return json.dumps(items, **options).encode()


DOCUMENTS = {
    "synthetic, pretty": pretty(list(islice(records(400, 3, START), 400)), indent=2, ensure_ascii=False),
    "synthetic, compact": pretty(list(islice(records(400, 4, START), 400)), separators=(",", ":")),
    "escapes and brackets in strings": pretty(TRICKY * 60, indent=1),
    "escapes, ASCII only": pretty(TRICKY * 60, ensure_ascii=True),
    "backslash runs": pretty([{"ts": "x", "n": "\\" * i + '"' * (i % 3)} for i in range(300)]),
    "nested records": pretty(NESTED * 100, indent=2),
}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_fast_path_agrees_with_the_exact_scanner(name: str) -> None:
    data = DOCUMENTS[name]
    rng = random.Random(name)
    for trial in range(6):
        sizes = [65536] if trial == 0 else [rng.choice([1, 2, 3, 7, 64, 100, 1000, 4096]) for _ in range(9)]
        fast, exact = states(GuardedReader, data, sizes), states(ExactOnly, data, sizes)
        assert fast == exact, f"chunk sizes {sizes}"
    assert exact[-1][0] == 0 and exact[-1][-1] == len(json.loads(data)), "every record counted, the list closed"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[" * 40 + b"]" * 40, "record 1: nested deeper than 32 levels (IMPORT_MAX_DEPTH)"),
        (b'[{"a": 1}, {"a": "' + b"x" * 300_000 + b'"}]', "record 2: a string longer than 262,144 bytes"),
        (b'[{"a": 1}, {"a": 1}, {' + b'"k": 0, ' * 200_000 + b"}]", "record 3: a record larger than 1,048,576"),
        (b'[{"a": ' + b"9" * (MAX_NUMBER_DIGITS + 1) + b"}]", f"more than {MAX_NUMBER_DIGITS:,} digits"),
        (b"[" + b"1" * (MAX_NUMBER_DIGITS + 1) + b"]", "record 1: a number with more than"),
    ],
)
def test_caps_trip_before_the_bytes_past_them_are_handed_on(data: bytes, message: str) -> None:
    for chunk in (65536, 1000, 7):
        g = GuardedReader(io.BytesIO(data), "f.json", max_depth=32, max_string_bytes=1 << 18, max_record_bytes=1 << 20)
        handed_on = 0
        with pytest.raises(RecordLimitError, match=message.replace("(", r"\(").replace(")", r"\)")):
            while block := g.read(chunk):
                handed_on += len(block)
        assert handed_on < len(data)


def test_within_the_caps_nothing_trips() -> None:
    data = pretty([{"ts": "x", "deep": json.loads("[" * 29 + "]" * 29), "s": "x" * (1 << 18), "n": 10**999}])
    g = GuardedReader(io.BytesIO(data), "f.json", max_depth=32, max_string_bytes=1 << 18, max_record_bytes=1 << 20)
    while g.read(4096):
        pass
    assert (g.depth, g.records) == (0, 1)
