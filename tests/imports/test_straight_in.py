"""Batches straight into the raw table (raw_writer.py, issue 12): they store exactly what the stage stores.

A batch goes straight in when the user has no stored row in its time span, with its occurrences counted
by the parsing side; otherwise the file goes on through the stage. Each test compares with the same
import forced through the stage, and migration 0012 (record_hash computed by Postgres) keeps every
stored hash, the views over the raw tables and their grants.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from export_files import EXTENDED_FOLDER, extended_record, write_json, write_zip
from stored import stored_identities, user_id

from orchestration import users
from orchestration.imports import parsing, raw_writer
from orchestration.imports.importer import import_path
from orchestration.imports.reading.formats import FORMATS, FORMATS_BY_NAME

HISTORY = f"{EXTENDED_FOLDER}/Streaming_History_Audio_2021_0.json"


def at(day: int, second: int) -> str:
    return f"2021-05-{day:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of 7 rows, slices of 21: a few hundred records take every way and boundary."""
    monkeypatch.setattr(parsing, "BATCH_ROWS", 7)
    monkeypatch.setattr(raw_writer, "SLICE_ROWS", 21)


def import_both_ways(
    conn: psycopg.Connection, user: str, paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Any], list[Any], list[Any]]:
    """Import `paths` in turn for `user` and, forced through the stage, for a second user; the results
    of each and how many rows went straight in."""
    straight: list[int] = []
    original = raw_writer.RawWriter._copy

    def counting(self: raw_writer.RawWriter, statement: Any, data: bytes) -> None:
        if "raw" in statement.as_string(conn).split(" (")[0]:
            straight.append(data.count(b"\n"))
        original(self, statement, data)

    monkeypatch.setattr(raw_writer.RawWriter, "_copy", counting)
    staged_user = f"{user}-staged"
    users.add(conn, staged_user, "UTC")
    conn.commit()
    results = [import_path(p, user) for p in paths]
    with monkeypatch.context() as patch:
        patch.setattr(parsing, "straight_in", lambda fmt, rows: None)
        before = len(straight)
        staged = [import_path(p, staged_user) for p in paths]
        assert len(straight) == before  # nothing went straight in
    return results, staged, straight


def test_straight_in_then_staged_mid_file_stores_what_the_stage_stores(
    tmp_path: Path, conn: psycopg.Connection, user: str, monkeypatch: pytest.MonkeyPatch, small_batches: None
) -> None:
    """File 1 goes straight in. File 2 starts before it (straight in), runs into its span (staged from
    there on, its rows sent straight in counting as earlier slices) and repeats one record across that
    boundary and three times inside one batch; a re-import inserts nothing."""
    first = [extended_record(at(2, s), 100_000 + s) for s in range(0, 3600, 30)]
    repeated = extended_record(at(1, 86_399), 123_456)
    day1 = [extended_record(at(1, s), 200_000 + s) for s in range(80_000, 86_000, 100)]
    twice = extended_record(at(1, 80_750), 777)
    day1[7:7] = [twice, twice]  # in the second batch: straight in, numbered 1 and 2 by the parsing side
    # Batch 9 ends with `repeated` (straight in); batch 10 repeats it and reaches file 1's span (staged).
    second = [*day1, repeated, repeated, repeated, extended_record(at(1, 86_399), 5), repeated]
    second += [extended_record(at(2, s), 100_000 + s) for s in range(0, 600, 30)]  # stored by file 1
    second += [extended_record(at(2, s), 300_000 + s) for s in range(600, 3000, 45)]  # new, inside file 1's span
    second += [repeated]
    file1 = write_json(tmp_path / "a" / "Streaming_History_Audio_2021_1.json", first)
    file2 = write_json(tmp_path / "b" / "Streaming_History_Audio_2021_2.json", second)

    results, staged, straight = import_both_ways(conn, user, [file1, file2, file2], monkeypatch)

    for mine, theirs in zip(results, staged, strict=True):
        assert (mine.records, mine.inserted, mine.duplicates) == (theirs.records, theirs.inserted, theirs.duplicates)
        assert (mine.min_ts, mine.max_ts) == (theirs.min_ts, theirs.max_ts)
    assert results[1].duplicates == 20 and results[2].inserted == 0
    assert stored_identities(conn, user) == stored_identities(conn, f"{user}-staged")
    occurrences = conn.execute(
        "select occurrence from raw.extended_streams where user_id = %s and ms_played = 123456 order by record_no",
        (user_id(conn, user),),
    ).fetchall()
    assert occurrences == [(1,), (2,), (3,), (4,), (5,)]
    assert conn.execute(
        "select array_agg(occurrence order by record_no) from raw.extended_streams"
        " where user_id = %s and ms_played = 777",
        (user_id(conn, user),),
    ).fetchone() == ([1, 2],)
    assert sum(straight) == len(first) + 9 * 7  # file 1 whole, file 2's first nine batches


def test_a_file_that_had_to_stage_goes_straight_in_again_after_its_next_slice(
    tmp_path: Path, conn: psycopg.Connection, user: str, monkeypatch: pytest.MonkeyPatch, small_batches: None
) -> None:
    """Spotify's files are sorted but not strictly: a record a few seconds out of order puts the second
    batch's span over the first's rows. That batch and the next two are staged; after that slice the rest
    goes straight in again, and a record repeated across all three parts keeps counting."""
    records = [extended_record(at(4, 10 * s), 5000 + s) for s in range(100)]
    records[6], records[7] = records[7], records[6]
    repeated = extended_record(at(4, 65), 42)  # inside batch 1's span: staged again after the slice
    records[3:3] = [repeated]
    records[20:20] = [repeated]
    records.append(repeated)
    path = write_json(tmp_path / "Streaming_History_Audio_2021_4.json", records)

    results, staged, straight = import_both_ways(conn, user, [path, path], monkeypatch)

    assert [r.inserted for r in results] == [r.inserted for r in staged] == [103, 0]
    assert stored_identities(conn, user) == stored_identities(conn, f"{user}-staged")
    assert sum(straight) == 7 + (98 - 28)  # batch 1, then batches 5-14 (15, with the repeated record, is staged)
    assert conn.execute(
        "select array_agg(occurrence order by record_no) from raw.extended_streams"
        " where user_id = %s and ms_played = 42",
        (user_id(conn, user),),
    ).fetchone() == ([1, 2, 3],)


def test_batches_the_parsing_side_cannot_number_go_through_the_stage(
    tmp_path: Path, conn: psycopg.Connection, user: str, monkeypatch: pytest.MonkeyPatch, small_batches: None
) -> None:
    """Fractions of seconds (their text does not compare like their time) and unknown keys (jsonb decides
    what is identical) are never sent straight in, and are stored as the stage stores them."""
    records = [extended_record(at(3, s), 1000 + s) for s in range(0, 700, 10)]
    records[60]["future_key"] = {"b": 1, "a": 2}  # batch 9: staged from there on
    records[61] = {**records[60], "future_key": {"a": 2, "b": 1}}  # the same extra, keys in another order
    records[66]["ts"] = "2021-05-03T00:10:59.5Z"
    path = write_json(tmp_path / "Streaming_History_Audio_2021_3.json", records)

    results, staged, straight = import_both_ways(conn, user, [path], monkeypatch)

    assert results[0].inserted == staged[0].inserted == 70
    assert stored_identities(conn, user) == stored_identities(conn, f"{user}-staged")
    assert sum(straight) == 8 * 7  # the batches before
    fmt = FORMATS_BY_NAME["extended"]
    plain = (1, "2021-05-03T00:00:30Z", *([None] * (len(fmt.fields) - 1)), None)
    assert parsing.straight_in(fmt, [plain]) == (("2021-05-03T00:00:30Z", "2021-05-03T00:00:30Z"), {})
    assert parsing.straight_in(fmt, [(1, "2021-05-03T00:00:30.5Z", *plain[2:])]) is None
    assert parsing.straight_in(fmt, [(*plain[:-1], '{"k": 1}')]) is None
    assert parsing.straight_in(fmt, [plain, (2, *plain[1:]), (3, *plain[1:])]) == (
        ("2021-05-03T00:00:30Z", "2021-05-03T00:00:30Z"),
        {1: 2, 2: 3},
    )


def test_record_hash_is_the_hash_of_every_stored_field_in_every_format(
    tmp_path: Path, conn: psycopg.Connection, user: str
) -> None:
    """Migration 0012 made record_hash a generated column: its expression must be the one the importer
    always used, over the format's columns in order, or re-imports would stop finding stored records."""
    music = {"endTime": "2020-01-01 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1}
    podcast = {"endTime": "2020-01-01 10:00", "podcastName": "P", "episodeName": "E", "msPlayed": 2}
    audiobook = {
        "endTime": "2020-01-01 10:00",
        "audiobookName": "B",
        "chapterName": "C",
        "authorName": "W",
        "msPlayed": 3,
    }
    files = {
        HISTORY: [extended_record("2021-01-01T00:00:00Z"), extended_record("2021-01-01T00:00:01.250Z", extra_key=1)],
        "StreamingHistory_music_0.json": [music, {**music, "new": True}],
        "StreamingHistory_podcast_0.json": [podcast],
        "StreamingHistory_audiobook_0.json": [audiobook],
    }
    result = import_path(write_zip(tmp_path / "e.zip", {k: json.dumps(v).encode() for k, v in files.items()}), user)
    assert result.inserted == 6

    for fmt in FORMATS:
        columns = ", ".join(f'"{c}"' for c in fmt.columns)
        mismatched, total = conn.execute(
            f"select count(*) filter (where record_hash <> hash_record_extended(row({columns}, extra), 0)),"
            f" count(*) from raw.{fmt.table} where user_id = %s",
            (user_id(conn, user),),
        ).fetchone()  # type: ignore[misc]
        assert (mismatched, total) == (0, 2 if fmt.name in ("extended", "account_music") else 1), fmt.name


def test_migration_0012_keeps_hashes_views_and_grants(home: Path) -> None:
    """On a database of the previous release: rows stored with the importer's hash, a view over a raw
    table and one over that view, granted to the API's role."""
    from orchestration.config import get_settings
    from orchestration.db import embedded, migrate

    url = embedded.server_uri(get_settings().embedded_pgdata, "test_migration_0012")
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("drop schema if exists staging, raw, app cascade")
    earlier = [(name, text) for name, text in migrate.migration_files() if name < "0012"]
    with psycopg.connect(url) as db:
        db.execute("create schema if not exists app")
        db.execute(
            "create table app.schema_migrations (name text primary key, applied_at timestamptz not null default now())"
        )
        for name, text in earlier:
            db.execute(text)
            db.execute("insert into app.schema_migrations (name) values (%s)", (name,))
        columns = ", ".join(f'"{c}"' for c in FORMATS_BY_NAME["extended"].columns)
        db.execute(
            f"""
            insert into raw.extended_streams
                (user_id, import_id, source_file, record_no, record_hash, occurrence, ts, ms_played, platform, extra)
            select 1, 1, 'f.json', g, 0, 1, timestamptz '2021-01-01' + g * interval '1 minute', g, 'ios',
                   case when g % 2 = 0 then '{{"k": 1}}'::jsonb end
            from generate_series(1, 50) g;
            update raw.extended_streams set record_hash = hash_record_extended(row({columns}, extra), 0);
            create schema staging;
            create view staging.plays as select raw_id, ts, ms_played, record_hash from raw.extended_streams;
            create view staging.long_plays as select * from staging.plays where ms_played > 10;
            grant usage on schema staging to spotify_history_reader;
            grant select on staging.long_plays to spotify_history_reader;
            """
        )
        before = db.execute("select raw_id, record_hash from raw.extended_streams order by raw_id").fetchall()

    assert migrate.upgrade(url)[:1] == ["0012_raw_record_hash_generated.sql"]

    with psycopg.connect(url) as db:
        after = db.execute("select raw_id, record_hash from raw.extended_streams order by raw_id").fetchall()
        assert after == before
        assert db.execute("select count(*) from staging.long_plays").fetchone() == (40,)
        assert db.execute(
            "select has_table_privilege('spotify_history_reader', 'staging.long_plays', 'select')"
        ).fetchone() == (True,)
        generated = db.execute(
            "select attgenerated from pg_attribute where attrelid = 'raw.extended_streams'::regclass"
            " and attname = 'record_hash'"
        ).fetchone()
        assert generated == ("s",)
