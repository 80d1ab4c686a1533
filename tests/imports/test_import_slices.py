"""The fast import paths (issue 12): files read whole, slices parsed by msgspec, typed records, large
files moved in slices.

Each is checked against what it replaces: the exact path (ijson, record by record) for the rows a
file gives (and the errors it words), and an unsliced load for what lands in the raw table.
"""

from __future__ import annotations

import dataclasses
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
from export_files import extended_record, write_json

from orchestration import users
from orchestration.imports import parsing, raw_writer
from orchestration.imports.importer import import_path
from orchestration.imports.reading import reader, slices, whole
from orchestration.imports.reading.errors import ExportError
from orchestration.imports.reading.guard import GuardedReader
from orchestration.imports.reading.sources import Entry, Limits

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


PATHS = ("whole", "streamed", "exact")


def _rows(path: Path, how: str, monkeypatch: pytest.MonkeyPatch, limits: Limits = LIMITS) -> list[tuple[Any, ...]]:
    """The rows of `path` read whole, streamed in slices, or by the exact path."""
    entry = Entry(path.name, path.stat().st_size, lambda: path.open("rb"))
    if how == "exact":
        return list(reader._open_exact(entry, None, limits, strict=True).rows)
    monkeypatch.setattr(reader, "WHOLE_FILE_BYTES", whole.WHOLE_FILE_BYTES if how == "whole" else 0)
    return list(reader.open_history_file(entry, limits=limits).rows)


def _read_whole(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, for each file read from now on, whether it was parsed whole (True) or left to streaming."""
    taken: list[bool] = []

    def spy(*args: Any) -> Any:
        rows = whole.whole_rows(*args)
        taken.append(rows is not None)
        return rows

    monkeypatch.setattr(reader, "whole_rows", spy)
    return taken


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

    fast = _rows(path, "streamed", monkeypatch)
    assert fast == _rows(path, "exact", monkeypatch)
    assert len(fast) == 400
    assert not any("listener" in str(row) or "192.0.2.1" in str(row) for row in fast)


def _typical_records() -> list[dict[str, Any]]:
    """What Spotify writes: personal keys, nulls, podcasts, identical records, escapes and non-ASCII text."""
    records: list[dict[str, Any]] = []
    for i in range(300):
        record = extended_record(f"2021-06-{1 + i % 28:02d}T08:{i % 60:02d}:{i % 7:02d}Z", 1000 + i)
        record["master_metadata_track_name"] = f'Lied "{i}" \\ für dich\n\t ♫ 𝄞'
        if i % 10 == 3:
            record.update(username="listener", ip_addr_decrypted="192.0.2.1", user_agent_decrypted=None)
        if i % 11 == 0:
            record.update(
                master_metadata_track_name=None, spotify_track_uri=None, episode_name="Ep", episode_show_name="Show"
            )
        records.append(record)
    records.insert(120, dict(records[40]))  # the same record twice
    return records


def test_a_file_read_whole_gives_the_rows_of_the_other_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_json(tmp_path / "Streaming_History_Audio_2021.json", _typical_records())
    taken = _read_whole(monkeypatch)
    rows = {how: _rows(path, how, monkeypatch) for how in PATHS}
    assert taken == [True]  # then streamed (WHOLE_FILE_BYTES 0): no whole reading tried
    assert rows["whole"] == rows["streamed"] == rows["exact"]
    assert len(rows["whole"]) == 301
    assert not any("listener" in str(row) or "192.0.2.1" in str(row) for row in rows["whole"])

    with_bom = tmp_path / "endsong_1.json"
    with_bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert _rows(with_bom, "whole", monkeypatch) == rows["exact"]
    assert taken[-1] is True


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda r: r.update(username={"nested": [[1]]}), id="a personal key holding a list"),
        pytest.param(lambda r: r.update(ip_addr_decrypted=12), id="a personal key holding a number"),
        pytest.param(lambda r: r.update(dj_mode=True), id="an unknown key (kept in extra)"),
        pytest.param(lambda r: r.update(ms_played=2**63), id="a number past int64 (refused by both)"),
    ],
)
def test_whole_reading_leaves_to_streaming_what_it_cannot_vouch_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Any
) -> None:
    records = _typical_records()
    change(records[200])
    path = write_json(tmp_path / "Streaming_History_Audio_2021.json", records)
    taken = _read_whole(monkeypatch)
    outcome = []
    for how in ("whole", "exact"):
        try:
            outcome.append(_rows(path, how, monkeypatch))
        except reader.InvalidFileError as exc:
            outcome.append(str(exc))
    assert outcome[0] == outcome[1]
    assert taken == [False]


@pytest.mark.parametrize(
    ("cap", "message"),
    [
        ("max_record_bytes", "larger than"),
        ("max_string_bytes", "longer than"),
    ],
)
def test_a_record_past_a_cap_is_refused_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cap: str, message: str
) -> None:
    """A file whose records all parse still goes to the caps' checks: the errors are the exact path's."""
    records = _typical_records()
    records[250]["master_metadata_album_album_name"] = "A" * 3000
    path = write_json(tmp_path / "Streaming_History_Audio_2021.json", records)
    limits = dataclasses.replace(LIMITS, **{cap: 2500})
    taken = _read_whole(monkeypatch)
    errors = []
    for how in PATHS:
        with pytest.raises(reader.InvalidFileError) as caught:
            _rows(path, how, monkeypatch, limits)
        errors.append(str(caught.value))
    assert taken == [False]
    assert errors[0] == errors[1] == errors[2]
    assert message in errors[0]


def test_only_files_up_to_the_size_limit_are_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays flat in file size: a larger file streams, whatever it holds."""
    path = write_json(tmp_path / "endsong_0.json", _typical_records())
    size = path.stat().st_size
    assert whole.WHOLE_FILE_BYTES <= 16 * 1024 * 1024
    taken = _read_whole(monkeypatch)
    for limit in (size, size - 1):
        monkeypatch.setattr(reader, "WHOLE_FILE_BYTES", limit)
        entry = Entry(path.name, size, lambda: path.open("rb"))
        assert len(list(reader.open_history_file(entry, limits=LIMITS).rows)) == 301
    assert taken == [True]


def test_a_file_that_grows_while_read_whole_is_refused() -> None:
    """Memory stays bounded: reading stops past the size the file had when the import began."""
    doc = json.dumps([extended_record("2021-05-01T12:00:00Z")]).encode()
    entry = Entry("endsong_0.json", len(doc) - 1, lambda: io.BytesIO(doc))
    with pytest.raises(ExportError, match="grew while it was being read"):
        reader.open_history_file(entry, limits=LIMITS)


def test_deep_nesting_past_the_first_slice_is_refused_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """msgspec stops deep nesting with a RecursionError: the whole reading leaves it to the exact path."""
    head = json.dumps(_typical_records()).encode()[:-1]  # past the first slice the format is read from
    nested = b'{"ts": "2021-06-01T08:00:00Z", "ms_played": 1, "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    path = tmp_path / "Streaming_History_Audio_2021.json"
    path.write_bytes(head + b", " + nested + b"]")
    taken = _read_whole(monkeypatch)
    errors = []
    for how in PATHS:
        with pytest.raises(reader.InvalidFileError) as caught:
            _rows(path, how, monkeypatch)
        errors.append(str(caught.value))
    assert taken == [False]
    assert errors[0] == errors[1] == errors[2]
    assert "record 302" in errors[0] and "IMPORT_MAX_DEPTH" in errors[0]


def test_a_file_read_whole_reports_its_bytes_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The progress bar sees every byte once, whether the whole reading keeps the rows or streaming does."""
    for name, change in (("endsong_0.json", None), ("endsong_1.json", {"dj_mode": 1})):
        records = _typical_records()
        if change:
            records[10].update(change)
        path = write_json(tmp_path / name, records)
        seen: list[int] = []
        entry = Entry(path.name, path.stat().st_size, lambda path=path: path.open("rb"))
        rows = list(reader.open_history_file(entry, seen.append, LIMITS).rows)
        assert len(rows) == 301
        assert sum(seen) == path.stat().st_size


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
    for how in PATHS:
        with pytest.raises(reader.InvalidFileError) as caught:
            _rows(path, how, monkeypatch)
        errors.append(str(caught.value))
    assert errors[0] == errors[1] == errors[2]
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

    monkeypatch.setattr(parsing, "BATCH_ROWS", 7)
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
