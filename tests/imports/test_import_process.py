"""Large imports are parsed by a child process (parser_process.py): it stores exactly what parsing on a
thread stores, its errors arrive worded as they are, and it never outlives the import."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from export_files import extended_record, extended_records, write_zip
from stored import raw_snapshot, registry_rows, run_cli, stored_identities

from orchestration import users
from orchestration.config import get_settings
from orchestration.imports import parser_process
from orchestration.imports.importer import ImportFailedError, import_path

FOLDER = "Spotify Extended Streaming History"


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every import parses in its process; yields the processes started."""
    started: list[subprocess.Popen[bytes]] = []

    class Recorded(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(parser_process.subprocess, "Popen", Recorded)
    monkeypatch.setenv("IMPORT_PARSER_PROCESS_BYTES", "0")
    get_settings.cache_clear()
    yield started
    monkeypatch.undo()
    get_settings.cache_clear()


def started_as(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """The parsing process replaced by `python -c code` (its exit code then names what it found)."""
    monkeypatch.setattr(parser_process, "command", lambda: [sys.executable, "-c", code])


def export_zip(tmp_path: Path) -> Path:
    """Three history files (one with a record twice, one repeating another's records) and one that is not."""
    first = extended_records(300, day="2021-01-01")
    twice = extended_record("2021-01-02T23:00:00Z")
    second = [*extended_records(200, day="2021-01-02"), twice, twice]
    return write_zip(
        tmp_path / "my_spotify_data.zip",
        {
            f"{FOLDER}/Streaming_History_Audio_2021_0.json": json.dumps(first).encode(),
            f"{FOLDER}/Streaming_History_Audio_2021_1.json": json.dumps(second).encode(),
            f"{FOLDER}/Streaming_History_Audio_2021_2.json": json.dumps(first[:50]).encode(),
            f"{FOLDER}/ReadMeFirst.json": b'{"note": "not history"}',
        },
    )


def test_a_process_stores_what_a_thread_stores(
    tmp_path: Path, conn: psycopg.Connection, user: str, in_process: list[subprocess.Popen[bytes]]
) -> None:
    path = export_zip(tmp_path)
    by_process = import_path(path, user)
    assert len(in_process) == 1 and in_process[0].returncode == 0

    threaded = f"{user}-thread"
    users.add(conn, threaded, "UTC")
    conn.commit()
    get_settings.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IMPORT_PARSER_PROCESS_BYTES", str(1 << 40))
        get_settings.cache_clear()
        by_thread = import_path(path, threaded)
    get_settings.cache_clear()
    assert len(in_process) == 1  # the second import parsed on a thread

    assert (by_process.records, by_process.inserted, by_process.duplicates) == (552, 502, 50)
    for field in ("records", "inserted", "duplicates", "formats", "files", "skipped_files", "min_ts", "max_ts"):
        assert getattr(by_process, field) == getattr(by_thread, field), field
    assert stored_identities(conn, user) == stored_identities(conn, threaded)
    assert len(stored_identities(conn, user)) == 502


def test_a_parsing_process_that_dies_fails_the_import_and_stores_nothing(
    tmp_path: Path,
    conn: psycopg.Connection,
    user: str,
    in_process: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started_as(monkeypatch, "import sys; sys.exit(3)")
    before = raw_snapshot(conn)

    with pytest.raises(ImportFailedError, match=r"parsing process ended unexpectedly \(exit code 3\)") as failure:
        import_path(export_zip(tmp_path), user)

    assert raw_snapshot(conn) == before
    assert [(status, error) for _, status, error, *_ in registry_rows(conn, user)] == [("failed", str(failure.value))]


def test_the_parsing_process_gets_no_secrets(
    tmp_path: Path,
    conn: psycopg.Connection,
    user: str,
    in_process: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It reads files only: the token key, the Spotify secret and database URLs stay in the importing process."""
    from cryptography.fernet import Fernet

    monkeypatch.setenv("TOKEN_ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "not-for-the-parser")
    monkeypatch.setenv("PGPASSWORD", "not-for-the-parser-either")
    get_settings.cache_clear()
    secrets = "{'TOKEN_ENCRYPTION_KEY', 'SPOTIFY_CLIENT_SECRET', 'PGPASSWORD'}"
    seen = f"import os, sys; sys.exit(3 if {secrets} & set(os.environ) else 4)"
    started_as(monkeypatch, seen)

    with pytest.raises(ImportFailedError, match=r"ended unexpectedly \(exit code 4\)"):
        import_path(export_zip(tmp_path), user)


def test_the_parsing_process_stops_when_the_database_refuses_a_record(
    tmp_path: Path, conn: psycopg.Connection, user: str, in_process: list[subprocess.Popen[bytes]]
) -> None:
    """February 30th passes the parser's shape check; Postgres refuses it, and the writer words it from the
    file (read again) while the parsing process, still sending the files after it, is stopped."""
    files = {
        f"{FOLDER}/Streaming_History_Audio_2021_{i}.json": json.dumps(
            extended_records(3000, day=f"2021-03-{i + 1:02d}")
        )
        for i in range(8)
    }
    bad = extended_records(3000, day="2021-02-01")
    bad[1234]["ts"] = "2021-02-30T10:00:00Z"
    files[f"{FOLDER}/Streaming_History_Audio_2021_0.json"] = json.dumps(bad)
    before = raw_snapshot(conn)

    with pytest.raises(ImportFailedError) as failure:
        import_path(write_zip(tmp_path / "export.zip", {k: v.encode() for k, v in files.items()}), user)

    assert str(failure.value).startswith(f"{FOLDER}/Streaming_History_Audio_2021_0.json, record 1235: field 'ts'")
    assert raw_snapshot(conn) == before
    assert len(in_process) == 1 and in_process[0].poll() is not None


class Recording:
    """A Progress that keeps what it is told."""

    def __init__(self) -> None:
        self.total = 0
        self.seen: list[int] = []
        self.files: list[tuple[str, str | None, int]] = []

    def started(self, total_bytes: int, files: int) -> None:
        self.total = total_bytes

    def advanced(self, nbytes: int) -> None:
        self.seen.append(nbytes)

    def file_done(self, name: str, format_name: str | None, records: int) -> None:
        self.files.append((name, format_name, records))


def test_progress_through_the_process_counts_every_byte_once(
    tmp_path: Path, conn: psycopg.Connection, user: str, in_process: list[subprocess.Popen[bytes]]
) -> None:
    progress = Recording()
    import_path(export_zip(tmp_path), user, progress=progress)

    assert progress.total > 0 and sum(progress.seen) == progress.total
    assert [(n.rsplit("/", 1)[-1], f, r) for n, f, r in progress.files] == [
        ("Streaming_History_Audio_2021_0.json", "extended", 300),
        ("Streaming_History_Audio_2021_1.json", "extended", 202),
        ("Streaming_History_Audio_2021_2.json", "extended", 50),
        ("ReadMeFirst.json", None, 0),
    ]


def test_a_dagster_run_parses_in_its_process_when_the_source_is_large_enough(
    tmp_path: Path, conn: psycopg.Connection, user: str
) -> None:
    """The CLI's run (and the daemon's) reads IMPORT_PARSER_PROCESS_BYTES like import_path does."""
    path = export_zip(tmp_path)
    proc = run_cli(
        "import", str(path), "--user", user, "--json", env={**os.environ, "IMPORT_PARSER_PROCESS_BYTES": "0"}
    )

    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["records"], summary["inserted"], summary["duplicates"]) == (552, 502, 50)
    assert len(stored_identities(conn, user)) == 502


def cli_import(path: Path, user: str) -> dict[str, Any]:
    """`spotify-history import PATH --user USER --json` in this process; its summary."""
    from click.testing import CliRunner

    from orchestration.cli import main

    result = CliRunner().invoke(main, ["import", str(path), "--user", user, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def parsing_processes(started: list[subprocess.Popen[bytes]]) -> list[subprocess.Popen[bytes]]:
    """The parsing processes among the processes started (a Dagster run starts others)."""
    return [p for p in started if parser_process.__name__ in p.args]


def test_the_cli_parses_ahead_while_dagster_loads_and_its_run_takes_the_process(
    tmp_path: Path, conn: psycopg.Connection, user: str, in_process: list[subprocess.Popen[bytes]]
) -> None:
    path = export_zip(tmp_path)
    summary = cli_import(path, user)

    # One parsing process: the one started before Dagster loaded; the run started none of its own.
    parsers = parsing_processes(in_process)
    assert len(parsers) == 1 and parsers[0].returncode == 0
    assert (summary["records"], summary["inserted"], summary["duplicates"]) == (552, 502, 50)
    assert len(stored_identities(conn, user)) == 502


@pytest.mark.parametrize("replacement", ["other records", "a copy"])
def test_a_file_replaced_after_parsing_started_ahead_is_parsed_again(
    tmp_path: Path,
    conn: psycopg.Connection,
    user: str,
    in_process: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    replacement: str,
) -> None:
    """What the process started ahead read may be another file: the run parses the file it imports (a copy of
    the same size and bytes is another file too: only its inode and modification time differ)."""
    from orchestration.cli import in_process as runs

    path = export_zip(tmp_path)
    if replacement == "a copy":
        other, expected = shutil.copy(path, tmp_path / "copy.zip"), (552, 502)
        os.utime(other, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    else:
        records = json.dumps(extended_records(7, day="2022-02-02")).encode()
        other = write_zip(tmp_path / "other.zip", {f"{FOLDER}/Streaming_History_Audio_2022_0.json": records})
        expected = (7, 7)
    run_import = runs.run_import

    def replace_first(*args: Any, **kwargs: Any) -> dict[str, Any]:
        os.replace(other, path)
        return run_import(*args, **kwargs)

    monkeypatch.setattr(runs, "run_import", replace_first)
    summary = cli_import(path, user)

    parsers = parsing_processes(in_process)
    # The one started ahead was stopped (killed, or done if it had sent everything); the run started its own.
    assert len(parsers) == 2 and parsers[0].returncode is not None and parsers[1].returncode == 0
    assert (summary["records"], summary["inserted"]) == expected
    assert len(stored_identities(conn, user)) == expected[1]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"PK\x03\x04 not really a zip", r"not a valid ZIP archive"),
        (b"[" + json.dumps(extended_records(3)).encode()[1:-40], r"Streaming_History_Audio_2021_0\.json"),
    ],
    ids=["damaged-zip", "truncated-json"],
)
def test_bad_input_parsed_ahead_fails_the_run_with_its_own_words(
    tmp_path: Path,
    conn: psycopg.Connection,
    user: str,
    in_process: list[subprocess.Popen[bytes]],
    content: bytes,
    error: str,
) -> None:
    from click.testing import CliRunner

    from orchestration.cli import main

    name = "my_spotify_data.zip" if content.startswith(b"PK") else "Streaming_History_Audio_2021_0.json"
    path = tmp_path / name
    path.write_bytes(content)
    before = raw_snapshot(conn)

    result = CliRunner().invoke(main, ["import", str(path), "--user", user, "--json"])

    assert result.exit_code == 1
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "failed" and re.search(error, summary["failed"][0]["error"]), summary
    assert raw_snapshot(conn) == before
    assert all(p.returncode is not None for p in parsing_processes(in_process))  # none outlives the command
