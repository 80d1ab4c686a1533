"""Bad input never changes the raw tables: it fails with a message naming the file and the problem,
and the import registry keeps the failed attempt."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from export_files import EXTENDED_FOLDER, extended_record, extended_records, symlink_info, write_json, write_zip
from stored import raw_snapshot, registry_rows, stored_counts

from orchestration.config import get_settings
from orchestration.imports.importer import ImportFailedError, import_path
from orchestration.imports.reading.sources import Limits

HISTORY = "Streaming_History_Audio_2020_0.json"
SECOND = "Streaming_History_Audio_2020_1.json"
DEFAULT_LIMITS = Limits(
    max_archive_bytes=1 << 30,
    max_uncompressed_bytes=1 << 32,
    max_compression_ratio=200.0,
    max_entries=1000,
    max_records=1_000_000,
    max_depth=32,
    max_string_bytes=256 * 1024,
    max_record_bytes=1024 * 1024,
)


NOW = datetime.now(UTC)
TWO_DAYS_AHEAD = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")


def account_music(*records: dict[str, object]) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        good = {"endTime": "2020-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1}
        return write_json(tmp_path / "StreamingHistory_music_0.json", [good, *({**good, **r} for r in records)])

    return build


def capped(**caps: float) -> Limits:
    return dataclasses.replace(DEFAULT_LIMITS, **caps)


def history_text(records: list[dict]) -> str:
    return json.dumps(records, indent=2)


def write_history(tmp_path: Path, text: str | bytes, name: str = HISTORY) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def with_record(index: int, **fields: object) -> Callable[[Path], Path]:
    """Five valid records, record `index` (1-based) changed; `None` values remove the key."""

    def build(tmp_path: Path) -> Path:
        records = extended_records(5)
        record = records[index - 1]
        record.update(fields)
        records[index - 1] = {k: v for k, v in record.items() if v is not None}
        return write_json(tmp_path / HISTORY, records)

    return build


def truncated(tmp_path: Path) -> Path:
    text = history_text(extended_records(4))
    cut = text.rindex('"ms_played"')  # inside record 4
    return write_history(tmp_path, text[:cut])


def zip_bomb(tmp_path: Path) -> Path:
    payload = b"[" + b" " * (3 << 20) + b"]"  # 3 MB of spaces: compresses about 1000x
    return write_zip(tmp_path / "bomb.zip", {f"{EXTENDED_FOLDER}/{HISTORY}": payload})


def big_history_zip(tmp_path: Path) -> Path:
    """Real-looking records, over 1 MB: they compress well, but far less than a zip bomb."""
    payload = history_text(extended_records(3000)).encode()
    assert len(payload) > 1 << 20
    return write_zip(tmp_path / "export.zip", {f"{EXTENDED_FOLDER}/{HISTORY}": payload})


def zip_entry(name: str) -> Callable[[Path], Path]:
    def build(tmp_path: Path) -> Path:
        return write_zip(tmp_path / "export.zip", {name: history_text(extended_records(2)).encode()})

    return build


def symlink_only(tmp_path: Path) -> Path:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(symlink_info(f"{EXTENDED_FOLDER}/{HISTORY}"), "/etc/passwd")
    return path


def nested_zip_only(tmp_path: Path) -> Path:
    inner = write_zip(tmp_path / "inner.zip", {HISTORY: history_text(extended_records(2)).encode()})
    return write_zip(tmp_path / "outer.zip", {"my_spotify_data.zip": inner.read_bytes()})


def not_a_zip(tmp_path: Path) -> Path:
    return write_history(tmp_path, "this is a text file, not an archive\n", name="my_spotify_data.zip")


def second_file_bad(tmp_path: Path) -> Path:
    good = history_text(extended_records(3000))
    bad = extended_records(5, day="2020-03-02")
    bad[1]["ms_played"] = "123"
    return write_zip(
        tmp_path / "export.zip",
        {
            f"{EXTENDED_FOLDER}/{HISTORY}": good.encode(),
            f"{EXTENDED_FOLDER}/{SECOND}": history_text(bad).encode(),
        },
    )


def many_zip_entries(tmp_path: Path) -> Path:
    entries = {f"{EXTENDED_FOLDER}/Streaming_History_Audio_2020_{i}.json": b"[]" for i in range(3)}
    return write_zip(tmp_path / "export.zip", entries)


@dataclass(frozen=True)
class Bad:
    build: Callable[[Path], Path]
    expected: tuple[str, ...]
    """Texts the error message must contain: the file, the record where it applies, the problem."""
    limits: Limits = DEFAULT_LIMITS


CASES = {
    "zip bomb": Bad(zip_bomb, (HISTORY, "zip bomb", "expands")),
    "ratio above a lowered cap": Bad(
        big_history_zip,
        (HISTORY, "IMPORT_MAX_COMPRESSION_RATIO"),
        capped(max_compression_ratio=3.0),
    ),
    "uncompressed size above the cap": Bad(
        zip_entry(f"{EXTENDED_FOLDER}/{HISTORY}"),
        ("export.zip", "IMPORT_MAX_UNCOMPRESSED_BYTES"),
        capped(max_uncompressed_bytes=1000),
    ),
    "path with ..": Bad(zip_entry(f"../{HISTORY}"), (f"../{HISTORY}", "outside the archive")),
    "absolute path": Bad(zip_entry(f"/tmp/{HISTORY}"), (f"/tmp/{HISTORY}", "absolute path")),
    "symlink as the only entry": Bad(symlink_only, (HISTORY, "symbolic link")),
    "nested zip as the only entry": Bad(nested_zip_only, ("my_spotify_data.zip", "nested archive")),
    "truncated JSON": Bad(truncated, (HISTORY, "record 4", "truncated")),
    "not JSON": Bad(lambda p: write_history(p, "ts,ms_played\n2020-01-01,5\n"), (HISTORY, "not valid JSON")),
    "JSON object": Bad(
        lambda p: write_history(p, json.dumps(extended_record("2020-01-01T00:00:00Z"))),
        (HISTORY, "JSON object"),
    ),
    "list of numbers": Bad(lambda p: write_history(p, "[1, 2, 3]"), (HISTORY, "int values")),
    "wrong field type": Bad(with_record(3, ms_played="123"), (HISTORY, "record 3", "'ms_played'", "integer")),
    "empty file": Bad(lambda p: write_history(p, ""), (HISTORY, "empty")),
    "only unknown keys": Bad(
        lambda p: write_json(p / HISTORY, [{"foo": 1, "bar": "x"}, {"foo": 2, "bar": "y"}]),
        (HISTORY, "no listening-history keys"),
    ),
    "more records than allowed": Bad(
        with_record(1),
        (HISTORY, "more than 3 records", "IMPORT_MAX_RECORDS"),
        capped(max_records=3),
    ),
    "more entries than allowed": Bad(many_zip_entries, ("export.zip", "IMPORT_MAX_ENTRIES"), capped(max_entries=2)),
    "archive larger than allowed": Bad(
        zip_entry(HISTORY),
        ("export.zip", "IMPORT_MAX_ARCHIVE_BYTES"),
        capped(max_archive_bytes=100),
    ),
    "invalid timestamp": Bad(with_record(2, ts="yesterday"), (HISTORY, "record 2", "'ts'", "timestamp")),
    "impossible date": Bad(with_record(2, ts="2020-02-30T10:00:00Z"), (HISTORY, "record 2", "'ts'", "timestamp")),
    "NUL character in a text field": Bad(
        with_record(2, master_metadata_track_name="nul\u0000byte"),
        (HISTORY, "record 2", "'master_metadata_track_name'"),
    ),
    "ISO time in an account-data file": Bad(
        lambda p: write_json(
            p / "StreamingHistory_music_0.json",
            [
                {"endTime": "2020-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1},
                {"endTime": "2020-01-01T10:01:00Z", "artistName": "A", "trackName": "T", "msPlayed": 1},
            ],
        ),
        ("StreamingHistory_music_0.json", "record 2", "'endTime'", "timestamp"),
    ),
    "missing required field": Bad(with_record(2, ms_played=None), (HISTORY, "record 2", "missing", "'ms_played'")),
    "null required field": Bad(
        lambda p: write_json(
            p / HISTORY,
            [
                extended_record("2020-01-01T00:00:00Z"),
                extended_record("2020-01-01T00:05:00Z", ms_played=None),
            ],
        ),
        (HISTORY, "record 2", "'ms_played'", "null"),
    ),
    "negative ms_played": Bad(with_record(3, ms_played=-5), (HISTORY, "record 3", "'ms_played'", "negative")),
    "negative msPlayed": Bad(
        account_music({"msPlayed": -1}), ("StreamingHistory_music_0.json", "record 2", "'msPlayed'", "negative")
    ),
    "ts before 2006": Bad(with_record(2, ts="2005-12-31T23:59:59Z"), (HISTORY, "record 2", "'ts'", "2006-01-01")),
    "ts two days ahead": Bad(with_record(4, ts=TWO_DAYS_AHEAD), (HISTORY, "record 4", "'ts'", "one day after now")),
    "endTime before 2006": Bad(
        account_music({"endTime": "1970-01-01 00:00"}),
        ("StreamingHistory_music_0.json", "record 2", "'endTime'", "2006-01-01"),
    ),
    "offline_timestamp (seconds) before 2006": Bad(
        with_record(2, offline_timestamp=1_000_000_000), (HISTORY, "record 2", "'offline_timestamp'", "2006-01-01")
    ),
    "offline_timestamp (milliseconds) two days ahead": Bad(
        with_record(5, offline_timestamp=int((NOW + timedelta(days=2)).timestamp() * 1000)),
        (HISTORY, "record 5", "'offline_timestamp'", "one day after now"),
    ),
    "negative offline_timestamp": Bad(
        with_record(1, offline_timestamp=-1), (HISTORY, "record 1", "'offline_timestamp'")
    ),
    ".zip that is not a ZIP": Bad(not_a_zip, ("my_spotify_data.zip", "not a valid ZIP")),
    "second file in the ZIP bad": Bad(second_file_bad, (SECOND, "record 2", "'ms_played'")),
}


@pytest.fixture(params=["thread", "process"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Where the import parses: on a thread (small sources) or in its parsing process (large ones)."""
    if request.param == "process":
        monkeypatch.setenv("IMPORT_PARSER_PROCESS_BYTES", "0")
    get_settings.cache_clear()
    yield request.param
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_and_leaves_raw_tables_alone(
    case: Bad, parser: str, tmp_path: Path, conn: psycopg.Connection, user: str
) -> None:
    path = case.build(tmp_path)
    before = raw_snapshot(conn)

    with pytest.raises(ImportFailedError) as failure:
        import_path(path, user, limits=case.limits)

    message = str(failure.value)
    for fragment in case.expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert raw_snapshot(conn) == before
    assert stored_counts(conn, user) == {}
    registry = registry_rows(conn, user)
    assert [(status, error) for _, status, error, *_ in registry] == [("failed", message)]


def test_missing_path_fails_without_a_registry_row(tmp_path: Path, conn: psycopg.Connection, user: str) -> None:
    missing = tmp_path / "nowhere" / "my_spotify_data.zip"
    before = raw_snapshot(conn)

    with pytest.raises(ImportFailedError, match=r"my_spotify_data\.zip.*no such file"):
        import_path(missing, user)

    assert raw_snapshot(conn) == before
    assert registry_rows(conn, user) == []


def test_a_failed_import_does_not_block_the_next_one(tmp_path: Path, conn: psycopg.Connection, user: str) -> None:
    with pytest.raises(ImportFailedError):
        import_path(second_file_bad(tmp_path), user)

    good = write_json(tmp_path / "good" / HISTORY, extended_records(3000))
    result = import_path(good, user)

    assert (result.records, result.inserted) == (3000, 3000)
    assert stored_counts(conn, user) == {"extended": 3000}
    assert [status for _, status, *_ in registry_rows(conn, user)] == ["failed", "succeeded"]


def test_values_at_the_edges_of_what_spotify_writes_are_kept(
    tmp_path: Path, conn: psycopg.Connection, user: str
) -> None:
    """The refusals above stop exactly at their rules: zero play time, unknown offline times (0, null),
    the first second of 2006 and a play less than a day ahead (clock skew) all import."""
    soon = (NOW + timedelta(hours=23)).strftime("%Y-%m-%dT%H:%M:%SZ")
    records = [
        extended_record("2006-01-01T00:00:00Z", ms_played=0, offline_timestamp=0),
        extended_record(soon, offline_timestamp=None),
        extended_record("2020-01-01T00:00:00Z", offline_timestamp=int(NOW.timestamp() * 1000)),
        extended_record("2020-01-01T00:00:01Z", offline_timestamp=1_136_073_600),  # 2006-01-01 in seconds
    ]
    result = import_path(write_json(tmp_path / HISTORY, records), user)

    assert (result.records, result.inserted) == (4, 4)
    assert stored_counts(conn, user) == {"extended": 4}


# -- adversarial input: bounded memory ------------------------------------------------------------

MEMORY_CAP_MB = 300
RECORD = json.dumps(extended_record("2020-03-01T10:00:00Z")).encode()
IMPORT_IN_A_CHILD = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a regression fails here, not the machine
from orchestration.imports.importer import ImportFailedError, import_path
try:
    result = import_path(Path(sys.argv[1]), sys.argv[2])
    outcome = {"records": result.records, "inserted": result.inserted}
except ImportFailedError as exc:
    outcome = {"error": str(exc)}
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking test process.
hwm = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
# Plus the import's parsing process (large files), if it ran: its ru_maxrss is at least its peak.
parser = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
outcome["peak_rss_mb"] = (int(hwm.split()[1]) + parser) / 1024
outcome["parser_rss_mb"] = parser / 1024
print(json.dumps(outcome))
"""


def write_pieces(path: Path, *pieces: bytes | tuple[bytes, int]) -> Path:
    """A file from pieces, a (bytes, n) piece repeated n times, without holding the file in memory."""
    with path.open("wb") as f:
        for piece in pieces:
            if isinstance(piece, tuple):
                block, count = piece
                for _ in range(count):
                    f.write(block)
            else:
                f.write(piece)
    return path


def deep_nesting(tmp_path: Path) -> Path:
    """The file that took a machine down: 400 kB of lists nested 200 000 deep."""
    return write_pieces(tmp_path / "Streaming_History_Audio_2021_0.json", b"[" * 200_000, b"]" * 200_000)


def deep_inside_record_3(tmp_path: Path) -> Path:
    nested = b'{"ts": "2020-03-01T10:00:00Z", "ms_played": 1, "x": ' + b'{"a": ' * 100_000
    return write_pieces(tmp_path / HISTORY, b"[", RECORD, b",", RECORD, b",", nested, b"}" * 100_001, b"]")


def huge_string(tmp_path: Path) -> Path:
    """One 100 MB track name."""
    head = b'[{"ts": "2020-03-01T10:00:00Z", "ms_played": 1, "master_metadata_track_name": "'
    return write_pieces(tmp_path / HISTORY, head, (b"a" * (1 << 20), 100), b'"}]')


def million_keys(tmp_path: Path) -> Path:
    """Record 2 has 10^6 keys besides its own."""
    keys = b"".join(b', "k%07d": 0' % i for i in range(1_000_000))
    return write_pieces(
        tmp_path / HISTORY, b"[", RECORD, b',\n{"ts": "2020-03-01T10:00:00Z", "ms_played": 1', keys, b"}]"
    )


def huge_number(tmp_path: Path) -> Path:
    """ijson crashes the process (SIGSEGV) on an integer past Python's 4300-digit conversion limit."""
    number = b"1" * 5000
    return write_pieces(
        tmp_path / HISTORY, b"[", RECORD, b',{"ts": "2020-03-01T10:00:00Z", "ms_played": ', number, b"}]"
    )


def whitespace_runs(tmp_path: Path) -> Path:
    """200 MB of blanks around and between two valid records: valid JSON, imported as such."""
    blanks = (b" \n\t\r" * (1 << 18), 50)  # 50 MB
    return write_pieces(tmp_path / HISTORY, blanks, b"[", blanks, RECORD, blanks, b",", blanks, RECORD, b"]")


ADVERSARIAL = {
    "200 000 nested lists": Bad(deep_nesting, ("Streaming_History_Audio_2021_0.json", "record 1", "IMPORT_MAX_DEPTH")),
    "deep nesting in record 3": Bad(deep_inside_record_3, (HISTORY, "record 3", "IMPORT_MAX_DEPTH")),
    "a 100 MB string": Bad(huge_string, (HISTORY, "record 1", "IMPORT_MAX_STRING_BYTES")),
    "10^6 keys in one record": Bad(million_keys, (HISTORY, "record 2", "IMPORT_MAX_RECORD_BYTES")),
    "a 5000-digit number": Bad(huge_number, (HISTORY, "record 2", "more than 1,000 digits")),
}


def import_in_a_child(path: Path, user: str) -> dict[str, object]:
    """import_path in a fresh Python process (the test session's settings): its outcome and peak RSS,
    its parsing process's included (large files, or IMPORT_PARSER_PROCESS_BYTES=0)."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_IN_A_CHILD, str(path), user],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"the import process died ({done.returncode}): {done.stderr[-2000:]}"
    outcome: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    parsed_in_process = path.stat().st_size >= get_settings().import_parser_process_bytes
    assert (float(outcome["parser_rss_mb"]) > 0) == parsed_in_process, outcome  # type: ignore[arg-type]
    return outcome


@pytest.mark.parametrize("case", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_input_is_refused_within_the_memory_cap(
    case: Bad, parser: str, tmp_path: Path, conn: psycopg.Connection, user: str
) -> None:
    path = case.build(tmp_path)
    before = raw_snapshot(conn)

    outcome = import_in_a_child(path, user)

    message = str(outcome.get("error"))
    for fragment in case.expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert float(outcome["peak_rss_mb"]) < MEMORY_CAP_MB  # type: ignore[arg-type]
    assert raw_snapshot(conn) == before
    assert [(status, error) for _, status, error, *_ in registry_rows(conn, user)] == [("failed", message)]


def test_long_runs_of_whitespace_import_correctly_within_the_memory_cap(
    parser: str, tmp_path: Path, conn: psycopg.Connection, user: str
) -> None:
    outcome = import_in_a_child(whitespace_runs(tmp_path), user)

    assert (outcome.get("records"), outcome.get("inserted")) == (2, 2), outcome  # kept twice, as the file says
    assert float(outcome["peak_rss_mb"]) < MEMORY_CAP_MB  # type: ignore[arg-type]
    assert stored_counts(conn, user) == {"extended": 2}
