"""Importing real Spotify exports: every record lands once, in the right table, without personal fields."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from export_files import (
    ACCOUNT_FOLDER,
    EXTENDED_FOLDER,
    NON_HISTORY_ENTRIES,
    SCRUBBED_IP,
    SHARED_EXPORTS,
    ExportFile,
    expected_row,
    extended_record,
    in_file_duplicates,
    load_export_folder,
    records_per_format,
    spotify_zip,
    write_json,
    write_zip,
)
from stored import assert_stored_like_files, personal_data_findings, stored_counts, stored_rows, user_id

from orchestration.imports.importer import ImportResult, import_path

# ~160k raw rows: in a database of their own, so that later dbt builds of the shared one do not read them.
pytestmark = pytest.mark.usefixtures("own_database")

# Without the corpus one placeholder id remains, and its tests skip through the shared_exports fixture.
FOLDERS = sorted(p.name for p in SHARED_EXPORTS.iterdir() if p.is_dir()) if SHARED_EXPORTS.is_dir() else ["no-corpus"]


def assert_first_import(result: ImportResult, files: list[ExportFile]) -> None:
    total = sum(len(f.records) for f in files)
    assert (result.records, result.inserted, result.duplicates) == (total, total, 0)
    assert result.formats == records_per_format(files)


def assert_all_duplicates(result: ImportResult, files: list[ExportFile]) -> None:
    total = sum(len(f.records) for f in files)
    assert (result.records, result.inserted, result.duplicates) == (total, 0, total)


def assert_stored_counts(conn: psycopg.Connection, user: str, files: list[ExportFile]) -> None:
    conn.commit()
    assert stored_counts(conn, user) == records_per_format(files)


def test_shared_exports_are_all_covered(shared_exports: Path) -> None:
    """The parametrization below sees every JSON file of the test data (80,077 records per its README)."""
    files = [f for folder in FOLDERS for f in load_export_folder(shared_exports / folder)]
    assert {f.path for f in files} == set(shared_exports.rglob("*.json"))
    assert sum(len(f.records) for f in files) == 80_077


@pytest.mark.parametrize("folder", FOLDERS)
def test_spotify_zip_layout(
    folder: str, tmp_path: Path, conn: psycopg.Connection, user: str, shared_exports: Path
) -> None:
    files = load_export_folder(shared_exports / folder)
    archive = spotify_zip(tmp_path / "my_spotify_data.zip", files)

    result = import_path(archive, user)

    assert_first_import(result, files)
    assert_stored_counts(conn, user, files)
    assert_stored_like_files(conn, user, {f.zip_name: f for f in files})
    skipped = {s["name"]: s["reason"] for s in result.skipped_files}
    assert set(skipped) == set(NON_HISTORY_ENTRIES)
    assert all(reason.strip() for reason in skipped.values())
    assert personal_data_findings(conn, user) == []

    assert_all_duplicates(import_path(archive, user), files)
    for f in files:
        assert_all_duplicates(import_path(f.path, user), [f])
    assert_stored_counts(conn, user, files)


@pytest.mark.parametrize("folder", FOLDERS)
def test_original_folder_layout(folder: str, conn: psycopg.Connection, user: str, shared_exports: Path) -> None:
    files = load_export_folder(shared_exports / folder)

    result = import_path(shared_exports / folder, user)

    assert_first_import(result, files)
    assert result.skipped_files == []
    assert_stored_counts(conn, user, files)
    assert_stored_like_files(conn, user, {f.rel: f for f in files})
    assert personal_data_findings(conn, user) == []


def test_loose_json_files_then_zip_inserts_nothing_new(
    tmp_path: Path, conn: psycopg.Connection, user: str, shared_exports: Path
) -> None:
    files = load_export_folder(shared_exports / "JBreitenbr__redesigned-parakeet")
    for f in files:
        assert_first_import(import_path(f.path, user), [f])

    assert_all_duplicates(import_path(spotify_zip(tmp_path / "export.zip", files), user), files)
    assert_stored_counts(conn, user, files)


def test_identical_records_inside_a_file_are_all_stored(
    conn: psycopg.Connection, user: str, shared_exports: Path
) -> None:
    """Files that really list a record twice keep every copy; the counts come from the JSON itself."""
    files = [f for f in load_export_folder(shared_exports) if in_file_duplicates(f.records)]
    assert len(files) >= 3, "the shared test data has files with repeated records"
    assert len({f.path.name for f in files}) == len(files)

    for f in files:
        import_path(f.path, user)

    for f in files:
        stored = Counter(row[1:] for row in stored_rows(conn, user, f.format)[f.path.name])
        for text, count in in_file_duplicates(f.records).items():
            assert stored[expected_row(f.format, json.loads(text))] == count, (f.rel, text)


def test_repeated_record_in_one_file_counts_each_time(tmp_path: Path, conn: psycopg.Connection, user: str) -> None:
    record = extended_record("2021-05-01T12:00:00Z")
    other = extended_record("2021-05-01T12:05:00Z")
    path = write_json(tmp_path / "endsong_0.json", [record, other, record, record])

    first = import_path(path, user)
    again = import_path(path, user)

    assert (first.records, first.inserted) == (4, 4)
    assert (again.records, again.inserted, again.duplicates) == (4, 0, 4)
    assert stored_counts(conn, user) == {"extended": 4}


AUDIOBOOK_ACCOUNT = [
    {
        "endTime": "2024-02-01 21:15",
        "audiobookName": "Der Zauberberg",
        "chapterName": "Kapitel 1",
        "authorName": "Thomas Mann",
        "msPlayed": 1_200_000,
    },
    {
        "endTime": "2024-02-02 21:40",
        "audiobookName": "Der Zauberberg",
        "chapterName": "Kapitel 2",
        "authorName": "Thomas Mann",
        "msPlayed": 900_000,
    },
    {
        "endTime": "2024-02-03 06:05",
        "audiobookName": "Dune",
        "chapterName": "Book One",
        "authorName": None,
        "msPlayed": 45_000,
    },
]

V3_AUDIOBOOK = extended_record(
    "2024-02-04T20:00:00Z",
    1_500_000,
    master_metadata_track_name=None,
    master_metadata_album_artist_name=None,
    master_metadata_album_album_name=None,
    spotify_track_uri=None,
    audiobook_title="Dune",
    audiobook_uri="spotify:show:dune0000000000000000001",
    audiobook_chapter_uri="spotify:episode:dunech00000000000000001",
    audiobook_chapter_title="Book One: Chapter 3",
)
PERSONAL = {
    "username": "listener",
    "ip_addr_decrypted": SCRUBBED_IP,
    "user_agent_decrypted": "redacted",
    "ip_addr_v6": "2001:db8::1",
}
UNKNOWN = {"dj_mode": True, "new_feature": {"level": 2, "tags": ["a", "ü"]}}
WITH_UNKNOWN_KEYS = extended_record("2024-02-05T08:30:00Z", 30_001, **UNKNOWN, **PERSONAL)


def test_audiobooks_v3_fields_and_unknown_keys(tmp_path: Path, conn: psycopg.Connection, user: str) -> None:
    archive = write_zip(
        tmp_path / "my_spotify_data.zip",
        {
            f"{ACCOUNT_FOLDER}/StreamingHistory_audiobook_0.json": json.dumps(AUDIOBOOK_ACCOUNT).encode(),
            f"{EXTENDED_FOLDER}/Streaming_History_Audio_2024_0.json": json.dumps(
                [V3_AUDIOBOOK, WITH_UNKNOWN_KEYS], ensure_ascii=False
            ).encode(),
        },
    )

    result = import_path(archive, user)

    assert result.formats == {"account_audiobook": 3, "extended": 2}
    generations = {f.name.rsplit("/", 1)[-1]: f.generation for f in result.files}
    assert generations["Streaming_History_Audio_2024_0.json"] == "v3"
    files = {
        name: ExportFile(Path(name), name, records)
        for name, records in (
            (f"{ACCOUNT_FOLDER}/StreamingHistory_audiobook_0.json", AUDIOBOOK_ACCOUNT),
            (f"{EXTENDED_FOLDER}/Streaming_History_Audio_2024_0.json", [V3_AUDIOBOOK, WITH_UNKNOWN_KEYS]),
        )
    }
    assert_stored_like_files(conn, user, files)
    extras = conn.execute(
        "select ts, extra from raw.extended_streams where user_id = %s order by ts", (user_id(conn, user),)
    ).fetchall()
    assert [extra for _, extra in extras] == [None, UNKNOWN]
    audiobook = conn.execute(
        "select audiobook_title, audiobook_chapter_title from raw.extended_streams where user_id = %s and "
        "audiobook_uri is not null",
        (user_id(conn, user),),
    ).fetchall()
    assert audiobook == [("Dune", "Book One: Chapter 3")]
    assert personal_data_findings(conn, user) == []


def test_zip_recompressed_on_a_mac(tmp_path: Path, conn: psycopg.Connection, user: str, shared_exports: Path) -> None:
    """Finder adds AppleDouble twins (`__MACOSX/…/._name.json`, binary) to every ZIP it makes; like hidden
    files in a folder import, they are not listening history and must not fail the import."""
    files = load_export_folder(shared_exports / "EDGES2__Spotify-Data")
    apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02"
    archive = write_zip(
        tmp_path / "my_spotify_data.zip",
        {
            **{f.zip_name: f.path.read_bytes() for f in files},
            **{f"__MACOSX/{EXTENDED_FOLDER}/._{f.path.name}": apple_double for f in files},
        },
    )

    result = import_path(archive, user)

    assert_first_import(result, files)
    assert_stored_counts(conn, user, files)


def test_the_remembered_sha256_follows_the_file(tmp_path: Path) -> None:
    """A file's hash is remembered while it stays unchanged, and computed again once it changes."""
    import hashlib
    import os

    from orchestration.imports.reading.sources import file_sha256

    path = tmp_path / "Streaming_History_Audio_2020_0.json"
    path.write_bytes(b"[1]")
    assert file_sha256(path) == hashlib.sha256(b"[1]").hexdigest()
    assert file_sha256(tmp_path / "." / path.name) == hashlib.sha256(b"[1]").hexdigest()

    path.write_bytes(b"[2]")  # same size: only the modification time tells
    mtime = path.stat().st_mtime_ns
    os.utime(path, ns=(mtime + 1_000_000_000, mtime + 1_000_000_000))
    assert file_sha256(path) == hashlib.sha256(b"[2]").hexdigest()

    path.write_bytes(b"[22]")
    assert file_sha256(path) == hashlib.sha256(b"[22]").hexdigest()
