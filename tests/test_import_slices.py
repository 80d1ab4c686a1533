"""The fast import path (issue 12): slices parsed by msgspec, typed records, large files moved in slices.

Each is checked against what it replaces: the exact path (ijson, record by record) for the rows a
file gives, and an unsliced load for what lands in the raw table.
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from support import extended_record, write_json

from orchestration import users
from orchestration.exports import reader, slices
from orchestration.exports.guard import GuardedReader
from orchestration.exports.sources import Entry, Limits
from orchestration.loading import raw_writer
from orchestration.loading.importer import import_path

LIMITS = Limits.from_settings()


def _all_slices(doc: bytes, slice_bytes: int, chunk: int = 7) -> list[Any]:
    guarded = GuardedReader(io.BytesIO(doc), "f.json", 32, 256 * 1024, 1024 * 1024)
    guarded._chunk = chunk  # cuts at every possible place
    return [item for text in slices.record_slices(guarded, slice_bytes) for item in slices.decode(text)]


def test_slices_give_the_items_of_the_whole_list() -> None:
    rng = random.Random(3)
    records = [
        {"a": i, "s": 'x"]}{\\' * rng.randrange(4), "f": 1.5, "n": [1, {"b": None}], "e": 1e5} for i in range(300)
    ]
    for indent in (None, 3):
        doc = json.dumps(records, indent=indent).encode()
        want = json.loads(doc, parse_float=Decimal)
        for slice_bytes in (1, 50, 333, 10_000):
            assert _all_slices(doc, slice_bytes) == want


@pytest.mark.parametrize(
    "doc",
    [
        b'[{"a":1},]',
        b'[,{"a":1}]',
        b'[{"a":1},,{"a":2}]' + b" " * 100,
        b'[{"a":1},' + b" " * 300 + b',{"a":2}]',
        b'[{"a":1} {"a":2}]',
        b'[{"a":1}, ' + b" " * 500 + b"]",
        b'[{"a":1}, {"a":2}',
    ],
)
def test_slices_refuse_what_is_not_one_json_list(doc: bytes) -> None:
    """Cutting never turns invalid JSON into valid slices (a comma too many at a cut, one missing)."""
    with pytest.raises((msgspec.DecodeError, slices.SliceError)):
        _all_slices(doc, 16)


def _rows(path: Path, exact: bool) -> list[tuple[Any, ...]]:
    entry = Entry(path.name, path.stat().st_size, lambda: path.open("rb"))
    if exact:
        return list(reader._open_exact(entry, None, LIMITS, strict=True).rows)
    return list(reader.open_history_file(entry, limits=LIMITS).rows)


def test_fast_path_rows_equal_the_exact_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Typed slices, slices built record by record (extras, personal keys) and the first slice alike."""
    monkeypatch.setattr(slices, "SLICE_BYTES", 2_000)
    records: list[dict[str, Any]] = []
    for i in range(400):
        record = extended_record(f"2021-05-{1 + i % 28:02d}T12:{i % 60:02d}:00Z", 1000 + i)
        if i % 97 == 5:
            record["dj_mode"] = {"level": 2.50, "big": 10**30, "tags": ["ü"]}  # extra: kept as written
        if i % 89 == 7:
            record.update(username="listener", ip_addr="192.0.2.1", ip_addr_v6="2001:db8::1")
        if i % 53 == 0:
            record["offline_timestamp"] = 1_600_000_000_000 if i % 2 else 1_600_000_000
        records.append(record)
    path = write_json(tmp_path / "Streaming_History_Audio_2021.json", records)

    fast = _rows(path, exact=False)
    assert fast == _rows(path, exact=True)
    assert len(fast) == 400
    assert not any("listener" in str(row) or "192.0.2.1" in str(row) for row in fast)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"ms_played": -5}, "record 301: field 'ms_played' is negative (-5)"),
        ({"ts": "2005-12-31T23:59:59Z"}, "record 301: field 'ts' is '2005-12-31T23:59:59Z', outside the times"),
        ({"offline_timestamp": 99}, "record 301: field 'offline_timestamp' is 99, outside the times"),
        ({"ms_played": True}, "record 301: field 'ms_played' must be an integer, got a boolean"),
    ],
)
def test_a_bad_record_deep_in_a_file_is_named_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: dict[str, Any], message: str
) -> None:
    monkeypatch.setattr(slices, "SLICE_BYTES", 2_000)
    records = [extended_record(f"2021-05-01T12:{i % 60:02d}:00Z", 1000 + i) for i in range(400)]
    records[300].update(bad)
    path = write_json(tmp_path / "endsong_0.json", records)
    errors = []
    for exact in (False, True):
        with pytest.raises(reader.InvalidFileError) as caught:
            _rows(path, exact)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert message in errors[0]


def test_a_large_file_moved_in_slices_stores_what_one_move_stores(
    tmp_path: Path, conn: psycopg.Connection, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Identical records in different slices keep counting on; a re-import inserts nothing."""
    record = extended_record("2021-05-01T12:00:00Z")
    records = [extended_record(f"2021-05-02T10:{i // 60:02d}:{i % 60:02d}Z", 100_000 + i) for i in range(200)]
    for at in (3, 40, 41, 120, 199):  # the same record in several slices, twice in one
        records.insert(at, record)
    path = write_json(tmp_path / "endsong_0.json", records)
    whole = f"{user}-whole"
    users.add(conn, whole, "UTC")
    conn.commit()
    unsliced = import_path(path, whole)

    monkeypatch.setattr(raw_writer, "BATCH_ROWS", 7)
    monkeypatch.setattr(raw_writer, "SLICE_ROWS", 20)
    sliced = import_path(path, user)
    again = import_path(path, user)

    assert (sliced.records, sliced.inserted, sliced.duplicates) == (205, 205, 0)
    assert (sliced.min_ts, sliced.max_ts) == (unsliced.min_ts, unsliced.max_ts)
    assert (again.inserted, again.duplicates) == (0, 205)
    identity = "record_no, ts, record_hash, occurrence"
    stored = {
        name: conn.execute(
            f"select {identity} from raw.extended_streams where user_id = %s order by record_no",
            (users.get(conn, name).user_id,),
        ).fetchall()
        for name in (whole, user)
    }
    assert stored[user] == stored[whole]
    assert Counter(occ for *_, occ in stored[user]) == {1: 201, 2: 1, 3: 1, 4: 1, 5: 1}
