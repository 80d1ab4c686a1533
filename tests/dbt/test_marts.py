"""The marts against the contract: real exports, one listener each, numbers recomputed from the JSON.

Every listener is imported with the importer (import runs are test_dagster_imports' subject), then one
`dbt build` runs as the refresh_marts job.
The expected side of each comparison comes from tests/reference.py, which reads the export files
with plain Python (zoneinfo for local time); the marts are read for the listener's user_id only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from builds import app_conn, build, import_rows, new_user
from export_files import ACCOUNT_FOLDER, EXTENDED_FOLDER, extended_record, write_json
from reference import Reference, json_files, top_n_comparable


@dataclass(frozen=True)
class Case:
    folder: str
    """A folder of ../shared/testdata/exports, or "edge-cases" (written by edge_case_export)."""
    timezone: str
    about: str


CASES = [
    Case("Efrrowini__spotify-music-analysis", "Asia/Kolkata", "extended Audio + Video, with podcasts"),
    Case("vnegi10__Spotify_data_analysis", "America/New_York", "account data, legacy StreamingHistoryN"),
    Case("Th1nhNg0__Spotify-Extended-Streaming-History", "Australia/Lord_Howe", "extended v1, identical records"),
    Case("allisonkra__songPrediction", "Europe/Berlin", "account music + podcasts"),
    Case("SilveerDusk__Spotify_Recs", "America/Los_Angeles", "extended with incognito streams"),
    Case("cirex-web__spotify-stats", "UTC", "extended Video: podcasts, rows of unknown content"),
    Case("edge-cases", "America/St_Johns", "synthetic: DST, thresholds, both duplicate rules"),
]
IDS = [c.folder.split("__")[0] for c in CASES]


@dataclass
class Listener:
    name: str
    user_id: int
    ref: Reference


# -- a synthetic export for the corners the real files lack ----------------------------------------
# America/St_Johns is UTC-3:30, and UTC-2:30 from 2024-03-10 05:30Z to 2024-11-03 04:30Z.


def track(ts: str, ms: int, name: str | None, artist: str | None, uri: str | None, **fields: Any) -> dict[str, Any]:
    return extended_record(
        ts,
        ms,
        master_metadata_track_name=name,
        master_metadata_album_artist_name=artist,
        master_metadata_album_album_name=None if name is None else f"{name} (album)",
        spotify_track_uri=uri,
        **fields,
    )


def episode(ts: str, ms: int, show: str | None, name: str, uri: str) -> dict[str, Any]:
    return track(ts, ms, None, None, None, episode_name=name, episode_show_name=show, spotify_episode_uri=uri)


def account(end_time: str, ms: int, track_name: str | None, artist: str | None) -> dict[str, Any]:
    return {"endTime": end_time, "artistName": artist, "trackName": track_name, "msPlayed": ms}


URI = "spotify:track:{}".format
REPEATED = track("2024-07-04T16:00:00Z", 95_000, "Twice in the file", "Artist R", URI("R1"))
EXTENDED = [
    track("2024-03-10T05:29:00Z", 200_000, "Before the clock jumps", "Artist A", URI("A1")),  # 01:59 NST
    track("2024-03-10T05:31:00Z", 200_000, "After the clock jumps", "Artist A", URI("A2")),  # 03:01 NDT
    track("2024-11-03T04:29:00Z", 200_000, "First 01:xx", "Artist A", URI("A3")),  # 01:59 NDT
    track("2024-11-03T04:31:00Z", 200_000, "Second 01:xx", "Artist A", URI("A3")),  # 01:01 NST
    track("2024-06-01T02:00:00Z", 200_000, "Yesterday locally", "Artist A", URI("A4")),  # Fri 23:30
    track("2024-07-01T12:00:00Z", 30_000, "Just a play", "Artist B", URI("B1")),
    track("2024-07-01T12:05:00Z", 29_999, "Just not a play", "Artist B", URI("B2")),
    track("2024-07-01T12:10:00Z", 200_000, "In private", "Artist B", URI("B3"), incognito_mode=True),
    track("2024-07-01T12:15:00Z", 200_000, "Incognito unknown", "Artist B", URI("B4"), incognito_mode=None),
    track("2024-07-02T08:00:00Z", 120_000, "Local file", "Artist C", None),
    track("2024-07-02T08:05:00Z", 120_000, None, None, URI("N1")),  # a URI, no names
    REPEATED,
    REPEATED,  # byte-identical: rule 1
    {**REPEATED, "platform": "ios", "shuffle": True},  # same stream, other metadata: rule 1
    {**REPEATED, "ms_played": 96_000},  # other ms_played: a second stream
    track("2024-07-04T16:03:30Z", 95_000, "Twice in the file", "Artist R", URI("R1")),  # a real repeat
    episode("2024-07-05T20:00:00Z", 600_000, "Show X", "Episode 1", "spotify:episode:X1"),
    episode("2024-07-05T21:00:00Z", 0, None, "Episode without a show", "spotify:episode:Y1"),
    track("2024-07-06T09:00:00Z", 50_000, None, None, None),  # nothing known: unknown, never counted
    track("2024-06-01T23:59:41Z", 180_000, "Pair song", "Artist P", URI("P1")),  # = account row below
    track("2024-06-02T10:15:05Z", 100_000, "Pair two", "Artist P", URI("P2")),
]
ACCOUNT_MUSIC_0 = [
    account("2024-06-01 23:59", 180_000, "Pair song", "Artist P"),  # rule 2: the extended row wins
    account("2024-06-02 10:15", 100_001, "Pair two", "Artist P"),  # other ms_played: its own stream
    account("2024-06-02 10:16", 100_000, "Pair two", "Artist P"),  # other minute: its own stream
    account("2024-08-01 10:00", 61_000, "Song D", "Artist D"),
    account("2024-08-01 10:00", 61_000, "Song D", "Artist D"),  # identical: rule 1
    account("2024-08-01 23:30", 61_000, "Song D", "Artist D"),  # Thu 21:00 NDT… local day before midnight UTC
    account("2024-08-02 02:45", 61_000, "Song D", "Artist D"),  # …and Thu 23:15 NDT: same local day
    account("2024-08-03 12:00", 40_000, "Unknown Track", "Unknown Artist"),
    account("2024-08-05 12:00", 10_000, "Too short", "Artist D"),
]
ACCOUNT_MUSIC_1 = [
    account("2024-08-01 10:00", 61_000, "Song D", "Artist D"),  # again, in another file: rule 1
    account("2024-08-06 06:00", 45_000, "Song F", "Artist F"),
]
ACCOUNT_PODCAST_0 = [
    {"endTime": "2024-07-05 22:00", "podcastName": "Show X", "episodeName": "Episode 2", "msPlayed": 1_200_000},
    {"endTime": "2024-07-05 22:00", "podcastName": "Show X", "episodeName": "Episode 2", "msPlayed": 1_200_000},
    {"endTime": "2024-07-06 22:00", "podcastName": "Show Z", "episodeName": "Trailer", "msPlayed": 0},
]


# An account row with an artist but no track name: by the contract (a music row has a track name
# or URI) it is of unknown content and never a play. Kept apart so one deviation fails one test.
NO_TRACK_NAME = [
    account("2024-08-04 12:00", 60_000, None, "Artist E"),
    account("2024-08-04 12:05", 60_000, "Song E", "Artist E"),
]


def edge_case_export(folder: Path) -> Path:
    write_json(folder / EXTENDED_FOLDER / "Streaming_History_Audio_2024.json", EXTENDED)
    write_json(folder / ACCOUNT_FOLDER / "StreamingHistory_music_0.json", ACCOUNT_MUSIC_0)
    write_json(folder / ACCOUNT_FOLDER / "StreamingHistory_music_1.json", ACCOUNT_MUSIC_1)
    write_json(folder / ACCOUNT_FOLDER / "StreamingHistory_podcast_0.json", ACCOUNT_PODCAST_0)
    return folder


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(home: Path, shared_exports: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case imported for its own new user, then one dbt build through Dagster (the refresh job)."""
    listeners: dict[str, Listener] = {}
    for case, case_id in zip(CASES, IDS, strict=True):
        if case.folder == "edge-cases":
            path = edge_case_export(tmp_path_factory.mktemp("edge-cases"))
        else:
            path = shared_exports / case.folder
        name, user_id = new_user(case.timezone)
        import_rows(name, path)
        listeners[case_id] = Listener(name, user_id, Reference.from_files(json_files(path), case.timezone))
    path = write_json(tmp_path_factory.mktemp("no-track-name") / "StreamingHistory_music_0.json", NO_TRACK_NAME)
    name, user_id = new_user("UTC")
    import_rows(name, path)
    listeners["no-track-name"] = Listener(name, user_id, Reference.from_files([path], "UTC"))
    summary = build()
    return {"summary": summary, "listeners": listeners}


@pytest.fixture(params=IDS)
def listener(request: pytest.FixtureRequest, built: dict[str, Any]) -> Listener:
    return built["listeners"][request.param]


def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with app_conn() as conn:
        return conn.execute(sql, params).fetchall()


def scalar(sql: str, *params: Any) -> Any:
    ((value,),) = query(sql, *params)
    return value


# -- tests ------------------------------------------------------------------------------------------


def test_the_build_ran_models_and_passed(built: dict[str, Any]) -> None:
    summary = built["summary"]
    assert summary["success"] and summary["failed_tests"] == []
    assert summary["models"] > 0


def test_the_data_has_the_corners_the_tests_claim(built: dict[str, Any]) -> None:
    """The inputs exercise what the other tests rely on: duplicates, incognito, podcasts, unknown rows, DST."""
    refs = {case_id: listener.ref for case_id, listener in built["listeners"].items()}
    assert refs["Th1nhNg0"].records - len(refs["Th1nhNg0"].streams) == 4  # identical records in the file
    assert any(s.incognito and s.content == "music" and s.ms_played >= 30_000 for s in refs["SilveerDusk"].streams)
    assert refs["allisonkra"].shows and refs["cirex-web"].streams_by_content["unknown"] > 0
    assert refs["cirex-web"].total_plays == 0  # short music videos only: podcasts and unknown rows remain
    edge = refs["edge-cases"]
    assert edge.records - len(edge.streams) == 6  # 3 by rule 1 in the extended file, 2 in account data, 1 by rule 2
    assert (edge.total_plays, edge.unique_tracks) == (21, 14)
    assert edge.streams_by_content == {"music": 24, "podcast": 4, "unknown": 1}
    assert edge.plays_by_artist["Artist P"] == 4  # the account copy of "Pair song" is not counted
    assert edge.heatmap[(7, 1)] == 3 and edge.heatmap[(7, 3)] == 1  # around both DST changes


def test_total_plays(listener: Listener) -> None:
    """Every mart that counts plays counts the same plays as the contract."""
    uid = listener.user_id
    totals = {
        table: scalar(f"select coalesce(sum(plays), 0) from marts.{table} where user_id = %s", uid)
        for table in ("top_artists", "top_tracks", "listening_heatmap", "coverage", "content_mix", "repeat_rate")
    }
    totals["sync_status"] = scalar("select plays from marts.sync_status where user_id = %s", uid)
    assert totals == dict.fromkeys(totals, listener.ref.total_plays)


def test_plays_and_minutes_per_artist(listener: Listener) -> None:
    rows = query(
        "select artist_name, sum(plays), sum(ms_played) from marts.top_artists where user_id = %s group by 1",
        listener.user_id,
    )
    assert {artist: plays for artist, plays, _ in rows} == dict(listener.ref.plays_by_artist)
    assert {artist: ms for artist, _, ms in rows} == listener.ref.ms_by_artist
    minutes = scalar("select coalesce(sum(ms_played), 0) from marts.top_artists where user_id = %s", listener.user_id)
    assert minutes == listener.ref.ms_played


def test_top_10_artists(listener: Listener) -> None:
    """The top-10 list as the API would read it (ties at the 10th place may be broken differently)."""
    top = query(
        """
        select artist_name, sum(plays)::int as plays from marts.top_artists where user_id = %s
        group by artist_name order by plays desc, artist_name limit 10
        """,
        listener.user_id,
    )
    above, cutoff, tied = top_n_comparable(dict(listener.ref.plays_by_artist), 10)
    assert len(top) == min(10, len(listener.ref.plays_by_artist))
    if not top:
        return
    assert top == sorted(top, key=lambda r: -r[1])
    assert Counter(r for r in top if r[1] > cutoff) == above
    assert top[-1][1] == cutoff
    assert {artist for artist, plays in top if plays == cutoff} <= tied


def test_heatmap_per_weekday_and_hour(listener: Listener) -> None:
    rows = query(
        """
        select iso_weekday, local_hour, sum(plays) from marts.listening_heatmap where user_id = %s
        group by 1, 2
        """,
        listener.user_id,
    )
    assert {(d, h): n for d, h, n in rows} == dict(listener.ref.heatmap)


def test_heatmap_days_agree_with_their_weekday(listener: Listener) -> None:
    wrong = scalar(
        "select count(*) from marts.listening_heatmap where user_id = %s "
        "and extract(isodow from local_date) <> iso_weekday",
        listener.user_id,
    )
    assert wrong == 0


def test_repeat_rate(listener: Listener) -> None:
    """Unique tracks are songs (primary artist + title), counted from the files, not by URI."""
    unique_tracks, plays = query(
        "select count(distinct track_key), coalesce(sum(plays), 0)::int from marts.repeat_rate where user_id = %s",
        listener.user_id,
    )[0]
    assert (unique_tracks, plays) == (listener.ref.unique_songs, listener.ref.total_plays)
    if plays:
        assert 1 - unique_tracks / plays == pytest.approx(listener.ref.repeat_rate)


def _song_of(track_key: str, track_uri: str | None, artist: str | None, track: str | None) -> tuple[Any, ...]:
    """A mart row's track in the reference's terms: (artist, title) for songs, else its identity."""
    if track_key.startswith("["):
        return ("song", artist, track)
    if track_key.startswith("name:"):
        return ("name", artist, track)
    return ("uri", track_uri)


def test_plays_and_releases_per_song(listener: Listener) -> None:
    """Every song's plays and its set of release URIs equal a count by (primary artist, title) from
    the export files; top tracks, unique tracks and repeat rate are sums of these rows."""
    rows = query(
        """
        select track_key, track_uri, max(artist_name), max(track_name), sum(plays)::int
        from marts.top_tracks where user_id = %s group by track_key, track_uri
        """,
        listener.user_id,
    )
    plays: Counter[tuple[Any, ...]] = Counter()
    releases: dict[tuple[Any, ...], set[str]] = {}
    for key, uri, artist, track, n in rows:
        song = _song_of(key, uri, artist, track)
        plays[song] += n
        releases.setdefault(song, set()).update([uri] if uri else [])
    assert plays == listener.ref.plays_by_song
    assert releases == listener.ref.releases_by_song


def test_a_song_with_four_releases_is_one_track(built: dict[str, Any]) -> None:
    """A real case: "Let Go" by Ark Patrol was played under four URIs in this listener's history."""
    listener = built["listeners"]["Efrrowini"]
    song = ("song", "Ark Patrol", "Let Go")
    assert len(listener.ref.releases_by_song[song]) == 4
    ((keys, uris, plays),) = query(
        """
        select count(distinct track_key), count(distinct track_uri), sum(plays)::int from marts.top_tracks
        where user_id = %s and artist_name = 'Ark Patrol' and track_name = 'Let Go'
        """,
        listener.user_id,
    )
    assert (keys, uris, plays) == (1, 4, listener.ref.plays_by_song[song])


def test_days_with_plays(listener: Listener) -> None:
    days = scalar(
        "select count(distinct local_date) from marts.coverage where user_id = %s and plays > 0", listener.user_id
    )
    assert days == listener.ref.days_with_plays
    per_day = query(
        "select local_date, sum(plays) from marts.coverage where user_id = %s group by 1 having sum(plays) > 0",
        listener.user_id,
    )
    assert dict(per_day) == dict(listener.ref.plays_by_day)


def test_streams_per_content_type(listener: Listener) -> None:
    """Streams after collapsing duplicates: music, podcasts and rows of unknown content apart."""
    rows = query(
        "select content_type, sum(streams) from marts.content_mix where user_id = %s group by 1", listener.user_id
    )
    assert dict(rows) == dict(listener.ref.streams_by_content)


def test_podcast_shows(listener: Listener) -> None:
    rows = query(
        "select show_name, sum(streams), sum(ms_listened) from marts.top_shows where user_id = %s group by 1",
        listener.user_id,
    )
    assert {show: (n, ms) for show, n, ms in rows} == listener.ref.shows


def test_marts_are_in_the_listeners_zone(listener: Listener) -> None:
    for table in ("top_artists", "top_tracks", "listening_heatmap", "coverage", "content_mix", "top_shows"):
        zones = query(f"select distinct timezone from marts.{table} where user_id = %s", listener.user_id)
        assert zones in ([], [(listener.ref.zone.key,)]), table
    assert query("select timezone from marts.sync_status where user_id = %s", listener.user_id) == [
        (listener.ref.zone.key,)
    ]


def test_account_row_without_track_name_is_not_a_play(built: dict[str, Any]) -> None:
    """An account row with an artist but no track name has unknown content (contract: music = track name or URI)."""
    listener = built["listeners"]["no-track-name"]
    assert listener.ref.streams_by_content == {"music": 1, "unknown": 1}
    mix = query(
        "select content_type, sum(streams), sum(plays) from marts.content_mix where user_id = %s group by 1",
        listener.user_id,
    )
    assert {kind: (streams, plays) for kind, streams, plays in mix} == {"music": (1, 1), "unknown": (1, 0)}
    artists = query("select artist_name, plays from marts.top_artists where user_id = %s", listener.user_id)
    assert artists == [("Artist E", 1)]
