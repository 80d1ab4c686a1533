"""Incremental builds: after every import (or time-zone change) and build, int_streams and the marts
hold, for the users concerned, exactly what a full refresh builds from the same raw rows.

Compared are all columns but the batch stamps (int_streams.batch_at, marts' source_batch_at). The
full refresh runs after each incremental build and the incremental state is put back afterwards
(support.full_refresh_snapshot), so each step builds on the previous incremental build.

What is compared is what the models compute: files are imported with the importer and the models built
with `dbt run` (support.import_rows, support.run_models) — the import runs, the refresh job and the data
tests are the subject of test_dagster_imports, test_dbt_dagster and test_marts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from builds import (
    POLLED_TRACK_URI,
    app_conn,
    assert_same_snapshots,
    full_refresh_snapshot,
    import_rows,
    new_user,
    polled_play,
    run_models,
    snapshot,
    store_polled_plays,
    table_fingerprint,
)
from export_files import ACCOUNT_FOLDER, EXTENDED_FOLDER, extended_record, write_json
from reference import Reference

from orchestration import users
from orchestration.instance import report_users_changed

# Full refreshes rebuild every row of the database: here only this module's few listeners'.
pytestmark = pytest.mark.usefixtures("own_database")


def set_timezone(name: str, zone: str) -> None:
    """What `spotify-history users set-timezone NAME ZONE` does."""
    with app_conn() as conn:
        users.set_timezone(conn, name, zone)
    report_users_changed(f"{name}: time zone {zone}")


def assert_incremental_equals_full_refresh(user_ids: list[int], what: str) -> None:
    assert_same_snapshots(snapshot(user_ids), full_refresh_snapshot(user_ids), what)


def fingerprints() -> dict[str, tuple[int, str]]:
    """int_streams and every day-grain mart, whole (all users, batch stamps included)."""
    with app_conn() as conn:
        found = {
            "intermediate.int_streams": table_fingerprint(conn, "intermediate.int_streams", "source_table, raw_id")
        }
        for (name,) in conn.execute(
            "select table_name from information_schema.columns where table_schema = 'marts' "
            "and column_name = 'source_batch_at' order by table_name"
        ).fetchall():
            found[f"marts.{name}"] = table_fingerprint(conn, f"marts.{name}", "t::text")
        return found


def assert_build_changes_nothing(what: str) -> None:
    before = fingerprints()
    run_models()
    assert fingerprints() == before, f"{what}: a build without new raw rows rewrote rows"


# -- several imports of real exports for one listener -----------------------------------------------


def test_imports_and_a_time_zone_change_build_incrementally_like_a_full_refresh(shared_exports: Path) -> None:
    account = shared_exports / "vnegi10__Spotify_data_analysis" / "MyData"
    extended = shared_exports / "Th1nhNg0__Spotify-Extended-Streaming-History"
    name, uid = new_user("America/Los_Angeles", prefix="inc")

    def reimport_extended() -> None:
        assert import_rows(name, extended)["inserted"] == 0

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("account data, first file", lambda: import_rows(name, account / "StreamingHistory0.json")),
        # The second file starts one minute after the first ends: 2021-07-01 has rows of both.
        ("account data, second file", lambda: import_rows(name, account / "StreamingHistory1.json")),
        ("extended history (identical records inside)", lambda: import_rows(name, extended)),
        ("the extended history again: no new rows", reimport_extended),
        ("time zone across the date line", lambda: set_timezone(name, "Pacific/Auckland")),
    ]
    for what, step in steps:
        step()
        if what.endswith("no new rows"):
            assert_build_changes_nothing(what)  # nothing changes: the last comparison still holds
            continue
        run_models()
        assert_incremental_equals_full_refresh([uid], what)

    with app_conn() as conn:
        zones = conn.execute(
            "select distinct timezone from intermediate.int_streams where user_id = %s", (uid,)
        ).fetchall()
    assert zones == [("Pacific/Auckland",)]


# -- rule 2 across imports --------------------------------------------------------------------------

# Three streams in both exports (the extended ts truncated to the minute is the account endTime,
# same names and ms_played), around midnight UTC of a leap day; plus account rows that stay apart.
EXTENDED_ROWS = [
    extended_record(
        "2024-02-29T23:59:59Z",
        200_000,
        master_metadata_track_name="Leap",
        master_metadata_album_artist_name="Artist L",
        spotify_track_uri="spotify:track:L1",
    ),
    extended_record(
        "2024-03-01T00:00:30Z",
        150_000,
        master_metadata_track_name="Next",
        master_metadata_album_artist_name="Artist L",
        spotify_track_uri="spotify:track:L2",
    ),
    extended_record(
        "2024-03-01T12:34:56Z",
        60_000,
        master_metadata_track_name="Noon",
        master_metadata_album_artist_name="Artist M",
        spotify_track_uri="spotify:track:M1",
    ),
]
ACCOUNT_ROWS = [
    {"endTime": "2024-02-29 23:59", "artistName": "Artist L", "trackName": "Leap", "msPlayed": 200_000},
    {"endTime": "2024-03-01 00:00", "artistName": "Artist L", "trackName": "Next", "msPlayed": 150_000},
    {"endTime": "2024-03-01 12:34", "artistName": "Artist M", "trackName": "Noon", "msPlayed": 60_000},
    {"endTime": "2024-03-01 12:34", "artistName": "Artist M", "trackName": "Noon", "msPlayed": 60_001},  # apart
    {"endTime": "2024-03-02 08:00", "artistName": "Artist M", "trackName": "Only here", "msPlayed": 90_000},
]
ZONE = "Asia/Tokyo"


def stream_fates(uid: int) -> list[tuple[Any, ...]]:
    """(source_table, ended_at, ms_played, is_play, duplicate_rule, canonical source table) per int_streams row."""
    with app_conn() as conn:
        return conn.execute(
            """
            select s.source_table, s.ended_at, s.ms_played, s.is_play, s.duplicate_rule,
                   split_part(s.canonical_of, ':', 1)
            from intermediate.int_streams s where s.user_id = %s order by 1, 2, 3
            """,
            (uid,),
        ).fetchall()


def mart_plays(uid: int) -> dict[str, int]:
    with app_conn() as conn:
        return {
            table: conn.execute(
                f"select coalesce(sum(plays), 0)::int from marts.{table} where user_id = %s", (uid,)
            ).fetchone()[0]
            for table in ("top_artists", "top_tracks", "listening_heatmap", "coverage", "content_mix")
        }


def test_account_rows_become_duplicates_of_a_later_extended_import(tmp_path: Path) -> None:
    """Two listeners, the same two files in opposite orders; the build after the second import
    resolves the pairs whichever came first."""
    files = {
        "account": write_json(tmp_path / ACCOUNT_FOLDER / "StreamingHistory_music_0.json", ACCOUNT_ROWS),
        "extended": write_json(tmp_path / EXTENDED_FOLDER / "Streaming_History_Audio_2024.json", EXTENDED_ROWS),
    }
    orders = {"account first": ("account", "extended"), "extended first": ("extended", "account")}
    listeners = {order: new_user(ZONE, prefix="r2") for order in orders}
    ids = [uid for _, uid in listeners.values()]

    for order, (first, _) in orders.items():
        import_rows(listeners[order][0], files[first])
    run_models()
    for order, (first, _) in orders.items():
        uid = listeners[order][1]
        alone = Reference.from_files([files[first]], ZONE).total_plays
        assert mart_plays(uid) == dict.fromkeys(mart_plays(uid), alone), order
        assert not any(rule for *_, rule, _ in stream_fates(uid)), order

    for order, (_, second) in orders.items():
        import_rows(listeners[order][0], files[second])
    run_models()
    both = Reference.from_files([files["account"], files["extended"]], ZONE)
    assert both.total_plays == 5  # 3 streams in both exports + 2 account rows of their own
    for order in orders:
        uid = listeners[order][1]
        assert mart_plays(uid) == dict.fromkeys(mart_plays(uid), 5), order
        fates = stream_fates(uid)
        account_dups = [f for f in fates if f[0] == "account_music_streams" and f[4] is not None]
        assert [(f[1].isoformat(), f[2], f[3], f[4], f[5]) for f in account_dups] == [
            ("2024-02-29T23:59:00+00:00", 200_000, False, "account_vs_extended", "extended_streams"),
            ("2024-03-01T00:00:00+00:00", 150_000, False, "account_vs_extended", "extended_streams"),
            ("2024-03-01T12:34:00+00:00", 60_000, False, "account_vs_extended", "extended_streams"),
        ], order
        assert sum(1 for f in fates if f[3]) == 5, order
    assert_incremental_equals_full_refresh(ids, "second imports")


def test_a_later_extended_import_resolves_account_rows_on_other_days(tmp_path: Path) -> None:
    """Account rows have names only. An extended import months later that plays the same track
    gives them its URI: the incremental build must revisit the account rows' days, not only the
    days of the new rows, so the track is one row in top_tracks, as a full refresh has it."""
    account = [
        {"endTime": "2023-01-05 20:00", "artistName": "Artist R", "trackName": "Far Away", "msPlayed": 180_000},
        {"endTime": "2023-01-06 21:00", "artistName": "Artist R", "trackName": "Far Away", "msPlayed": 170_000},
        {"endTime": "2023-01-06 21:05", "artistName": "Artist S", "trackName": "Untouched", "msPlayed": 90_000},
    ]
    extended = [
        extended_record(
            "2023-06-01T08:00:00Z",
            200_000,
            master_metadata_track_name="Far Away",
            master_metadata_album_artist_name="Artist R",
            spotify_track_uri="spotify:track:FarAway0000000000000001",
        )
    ]
    name, uid = new_user(ZONE, prefix="r3")
    import_rows(name, write_json(tmp_path / ACCOUNT_FOLDER / "StreamingHistory_music_0.json", account))
    run_models()
    import_rows(name, write_json(tmp_path / EXTENDED_FOLDER / "Streaming_History_Audio_2023.json", extended))
    run_models()
    assert song_rows(uid) == [
        ('["Artist R", "Far Away"]', "spotify:track:FarAway0000000000000001", 3),
        ('["Artist S", "Untouched"]', None, 1),
    ]
    assert_incremental_equals_full_refresh([uid], "account rows resolved by a later extended import")


def song_rows(uid: int) -> list[tuple[Any, ...]]:
    """Plays per song and release over all days (what a window of the API sums), in Python's order."""
    with app_conn() as conn:
        rows = conn.execute(
            "select track_key, track_uri, sum(plays)::int from marts.top_tracks where user_id = %s group by 1, 2",
            (uid,),
        ).fetchall()
    return sorted(rows, key=lambda r: (r[0], r[1] or ""))


def test_a_songs_releases_from_later_imports_stay_one_song(tmp_path: Path) -> None:
    """One song played as a single, later as an album track (another URI) and in account data: the
    incremental builds keep one stable key for it, one row per release, as a full refresh does."""
    song = {"master_metadata_track_name": "Arco", "master_metadata_album_artist_name": "Los Piojos"}
    single, album, live = (f"spotify:track:Arco{kind:0>18}" for kind in ("Single", "Album", "Live"))
    singles = [
        extended_record("2023-03-01T10:00:00Z", 200_000, spotify_track_uri=single, **song),
        extended_record("2023-03-02T10:00:00Z", 190_000, spotify_track_uri=single, **song),
    ]
    later = [
        extended_record("2023-04-01T10:00:00Z", 180_000, spotify_track_uri=album, **song),
        extended_record(
            "2023-04-01T11:00:00Z",
            180_000,
            spotify_track_uri=live,
            **{**song, "master_metadata_track_name": "Arco - En Vivo"},
        ),
    ]
    account = [{"endTime": "2023-05-01 09:00", "artistName": "Los Piojos", "trackName": "Arco", "msPlayed": 120_000}]
    name, uid = new_user(ZONE, prefix="song")
    import_rows(name, write_json(tmp_path / "a" / EXTENDED_FOLDER / "Streaming_History_Audio_2023.json", singles))
    run_models()
    import_rows(name, write_json(tmp_path / "b" / EXTENDED_FOLDER / "Streaming_History_Audio_2023.json", later))
    run_models()
    import_rows(name, write_json(tmp_path / "c" / ACCOUNT_FOLDER / "StreamingHistory_music_0.json", account))
    run_models()
    # The account play borrows the most streamed URI of its names (the single: 2 streams).
    assert song_rows(uid) == [
        ('["Los Piojos", "Arco - En Vivo"]', live, 1),
        ('["Los Piojos", "Arco"]', album, 1),
        ('["Los Piojos", "Arco"]', single, 3),
    ]
    assert_incremental_equals_full_refresh([uid], "a song's releases over three imports")


# -- one listener's time-zone change and another listener's marts ----------------------------------


def test_a_time_zone_change_leaves_other_listeners_marts_alone(tmp_path: Path) -> None:
    """User Z (Asia/Tokyo) has plays on local 2 May that ended on UTC 1 May; a later podcast ends on
    UTC 2 May, the same local day, so that build re-reads only the podcast's UTC day and Z's play
    marts keep their older batch. In the same build user U imports plays (the newest batch of the
    play marts is U's alone). Then U changes time zone: the marts drop all of U's rows, and must
    still re-aggregate exactly the days they delete — Z's 2 May must survive.

    (Regression: with the watermark read as max(source_batch_at) of the mart itself, deleting U's
    rows in the first pre-hook lowered it for the second, which then deleted Z's day, and the model
    — compiled with the higher watermark — did not rebuild it.)"""
    z_name, z_id = new_user("Asia/Tokyo", prefix="z")
    u_name, u_id = new_user("UTC", prefix="u")

    plays = [
        {"endTime": "2024-05-01 20:00", "artistName": "Artist Z", "trackName": "Morning", "msPlayed": 200_000},
        {"endTime": "2024-05-01 20:05", "artistName": "Artist Z", "trackName": "Morning 2", "msPlayed": 200_000},
    ]
    import_rows(z_name, write_json(tmp_path / "z1" / "StreamingHistory_music_0.json", plays))
    run_models()

    podcast = [{"endTime": "2024-05-02 10:00", "podcastName": "Show", "episodeName": "Evening", "msPlayed": 900_000}]
    import_rows(z_name, write_json(tmp_path / "z2" / "StreamingHistory_podcast_0.json", podcast))
    u_plays = [{"endTime": "2024-06-01 12:00", "artistName": "Artist U", "trackName": "Song", "msPlayed": 200_000}]
    import_rows(u_name, write_json(tmp_path / "u1" / "StreamingHistory_music_0.json", u_plays))
    run_models()
    assert z_top_artists(z_id) == [("2024-05-02", "Artist Z", 2)], "Z's day before U's change"

    set_timezone(u_name, "America/Chicago")
    run_models()
    assert z_top_artists(z_id) == [("2024-05-02", "Artist Z", 2)], "Z's day after U's change"
    assert_incremental_equals_full_refresh([z_id, u_id], "U's time zone changed")


def z_top_artists(uid: int) -> list[tuple[str, str, int]]:
    with app_conn() as conn:
        rows = conn.execute(
            "select local_date, artist_name, plays from marts.top_artists where user_id = %s order by 1, 2", (uid,)
        ).fetchall()
    return [(day.isoformat(), artist, plays) for day, artist, plays in rows]


# -- listening_catalog recounts the items a build touched -------------------------------------------

RENAMED_URI = POLLED_TRACK_URI  # the track polled_play plays


def exported_play(ts: str, title: str, artist: str = "Export Artist") -> dict[str, Any]:
    return extended_record(
        ts,
        200_000,
        master_metadata_track_name=title,
        master_metadata_album_artist_name=artist,
        master_metadata_album_album_name="Export Album",
        spotify_track_uri=RENAMED_URI,
    )


def catalog(uid: int) -> dict[tuple[str, str, str | None], tuple[int, Any]]:
    """(item_type, item_name, artist_name) → (plays, built_at) of the listener's catalog."""
    with app_conn() as conn:
        rows = conn.execute(
            "select item_type, item_name, artist_name, plays, built_at from marts.listening_catalog where user_id = %s",
            (uid,),
        ).fetchall()
    return {(t, n, a): (p, b) for t, n, a, p, b in rows}


def test_the_catalog_recounts_the_items_of_renamed_plays(tmp_path: Path) -> None:
    """A polled play matched to an export row gives that row the API's names: the items of the
    names it had lose the play, the others gain it. The catalog recounts only the items a build
    touched — and still equals a full refresh, also when a match moves to a nearer export row and
    when the catalog missed a build of int_streams (a rename it never saw)."""
    name, uid = new_user("Europe/Berlin", prefix="cat")

    def import_export(folder: str, *records: dict[str, Any]) -> None:
        write_json(tmp_path / folder / "Streaming_History_Audio_2024_0.json", list(records))
        import_rows(name, tmp_path / folder)

    import_export(
        "first",
        exported_play("2024-05-01T10:00:00Z", "Export Title"),
        exported_play("2024-05-09T10:00:00Z", "Elsewhere", artist="Other Artist"),
    )
    run_models()
    assert_incremental_equals_full_refresh([uid], "the export")
    before = catalog(uid)

    # A poll brings a play of the same track 5 s after the first export row, under the API's names.
    assert store_polled_plays(uid, [polled_play("2024-05-01T10:00:05Z", "API Title")]) == 1
    run_models()
    after = catalog(uid)
    assert after[("track", "API Title", "API Artist")][0] == 1
    assert after[("album", "API Album", "API Artist")][0] == 1
    assert ("track", "Export Title", "Export Artist") not in after
    assert ("artist", "Export Artist", None) not in after
    # Only the touched items were rewritten: the other day's items are the rows built before.
    elsewhere = ("track", "Elsewhere", "Other Artist")
    assert after[elsewhere] == before[elsewhere]
    assert_incremental_equals_full_refresh([uid], "a poll that renamed an export row")

    # A nearer export row takes the match over; the first row gets its own names back.
    import_export("nearer", exported_play("2024-05-01T10:00:03Z", "Nearer Title"))
    run_models()
    assert catalog(uid)[("track", "Export Title", "Export Artist")][0] == 1
    assert_incremental_equals_full_refresh([uid], "a match that moved to a nearer export row")

    # int_streams alone renames the first row again (a closer polled play), so the catalog misses
    # that batch; the next build rewrites the same day without a rename. Counting only the items
    # of the latest batch would keep "Export Title" with its play.
    assert store_polled_plays(uid, [polled_play("2024-05-01T10:00:01Z", "Second API Title")]) == 1
    run_models(select="int_streams")
    evening = polled_play("2024-05-01T18:00:00Z", "Evening", uri="spotify:track:0000000000000000000009")
    assert store_polled_plays(uid, [evening]) == 1
    run_models()
    assert ("track", "Export Title", "Export Artist") not in catalog(uid)
    assert_incremental_equals_full_refresh([uid], "a catalog that missed a build of int_streams")
