"""history.top_albums, history.discoveries, history.sessions and history.skips (domain.md §3b) on one small
listener built for the contract's corners, through all three doors. The expected numbers are worked out by
hand from the records below (each test says how), not read from the marts.

The listener lives in Asia/Tokyo (UTC+9); the API's clock is api_support.NOW (2024-12-31 21:00 local), so
"today" is 2024-12-31 and "yesterday" 2024-12-30. Local times:

* account data: "Song A" by A, 2024-12-28 19:00 (200 s): a play without album, A's and the song's first play;
* session 1: "Song A" by A on "Alpha", ends 23:53 on 12-29 (180 s, starts 23:50); "T1" by B on "Beta", ends
  00:05 on 12-30 (240 s); "T2" by B on "Beta", ends 00:06 (120 s: it starts at 00:04, before T1 ended) —
  one session across local midnight, of 12-29, 9.0 minutes, top artist B;
* session 2: "T3" by C on "Gamma", ends 00:40 on 12-30 (180 s: starts 31 minutes after session 1 ended), and
  "T4" by D on "Delta", ends 01:13 (starts exactly 30 minutes after T3 ended: the same session), 6.0 minutes;
* skip streams on 12-30 (not plays): T1 for 5 s with `skipped` null and reason_end fwdbtn (a skip), T1 for
  10 s with `skipped` true, and a private T1 stream (left out).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_support import World, create_key, live_server
from builds import build, import_as, new_user
from doors import call_all
from export_files import extended_record, write_json

ZONE = "Asia/Tokyo"


def _track(ts: str, ms: int, track: str, artist: str, album: str, uri: str, **fields: Any) -> dict[str, Any]:
    return extended_record(
        ts,
        ms,
        master_metadata_track_name=track,
        master_metadata_album_artist_name=artist,
        master_metadata_album_album_name=album,
        spotify_track_uri=f"spotify:track:{uri:0>22}",
        **fields,
    )


EXTENDED = [
    _track("2024-12-29T14:53:00Z", 180_000, "Song A", "A", "Alpha", "a"),
    _track("2024-12-29T15:05:00Z", 240_000, "T1", "B", "Beta", "b1"),
    _track("2024-12-29T15:06:00Z", 120_000, "T2", "B", "Beta", "b2"),
    _track("2024-12-29T15:40:00Z", 180_000, "T3", "C", "Gamma", "c"),
    _track("2024-12-29T16:13:00Z", 180_000, "T4", "D", "Delta", "d"),
    _track("2024-12-30T03:00:00Z", 5_000, "T1", "B", "Beta", "b1", skipped=None, reason_start="clickrow",
           reason_end="fwdbtn", shuffle=True),
    _track("2024-12-30T03:01:00Z", 10_000, "T1", "B", "Beta", "b1", skipped=True, reason_start="fwdbtn",
           reason_end="endplay", shuffle=True),
    _track("2024-12-30T03:02:00Z", 10_000, "T1", "B", "Beta", "b1", skipped=True, reason_end="fwdbtn",
           incognito_mode=True),
]  # fmt: skip
ACCOUNT = [{"endTime": "2024-12-28 10:00", "artistName": "A", "trackName": "Song A", "msPlayed": 200_000}]


@pytest.fixture(scope="module")
def tokyo(data: World, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The listener's key (imported and built after the shared listeners)."""
    folder = tmp_path_factory.mktemp("insights")
    write_json(folder / "Streaming_History_Audio_2024.json", EXTENDED)
    write_json(folder / "StreamingHistory_music_0.json", ACCOUNT)
    name, _ = new_user(ZONE, prefix="ins")
    import_as(name, folder)
    build()
    return create_key(name, "insights")


@pytest.fixture(scope="module")
def base(tokyo: str) -> Iterator[str]:
    with live_server() as url:
        yield url


def call(base: str, key: str, tool: str, **args: Any) -> dict[str, Any]:
    return call_all(base, key, tool, **args)


def test_top_albums_over_all_time(base: str, tokyo: str) -> None:
    got = call(base, tokyo, "history.top_albums", all_time=True)
    assert (got["total_plays"], got["unique_albums"], got["plays_without_album"]) == (6, 4, 1)
    # Beta: 2 plays; the others 1 play of 3.0 minutes each, then by album name.
    assert got["items"] == [
        {"album": "Beta", "artist": "B", "plays": 2, "minutes": 6.0, "songs": 2, "share": 0.3333},
        {"album": "Alpha", "artist": "A", "plays": 1, "minutes": 3.0, "songs": 1, "share": 0.1667},
        {"album": "Delta", "artist": "D", "plays": 1, "minutes": 3.0, "songs": 1, "share": 0.1667},
        {"album": "Gamma", "artist": "C", "plays": 1, "minutes": 3.0, "songs": 1, "share": 0.1667},
    ]
    assert got["note"] is None


def test_top_albums_of_a_window_count_the_plays_without_album(base: str, tokyo: str) -> None:
    got = call(base, tokyo, "history.top_albums", start="2024-12-28", end="2024-12-29")
    assert (got["total_plays"], got["unique_albums"], got["plays_without_album"]) == (2, 1, 1)
    assert [(i["album"], i["plays"], i["share"]) for i in got["items"]] == [("Alpha", 1, 0.5)]


def test_discoveries_over_all_time(base: str, tokyo: str) -> None:
    got = call(base, tokyo, "history.discoveries", all_time=True)
    assert got["new_count"] == 4 and got["share_new"] == 1.0
    # A: first heard in the account data, then in the extended history: one artist, 2 plays.
    first = got["items"][0]
    assert first == {"name": "A", "first_played": "2024-12-28T19:00:00+09:00", "plays_in_window": 2, "plays_total": 2}
    assert [i["name"] for i in got["items"]] == ["A", "B", "C", "D"]
    assert got["by_month"] == [{"month": "2024-12", "new_artists": 4, "new_tracks": 5}]


def test_discoveries_in_a_window_that_ends_before_the_last_play(base: str, tokyo: str) -> None:
    """12-28..12-29: A (and "Song A") are new; B, C and D start on 12-30, after it."""
    got = call(base, tokyo, "history.discoveries", start="2024-12-28", end="2024-12-29", type="track")
    assert got["new_count"] == 1 and got["share_new"] == 1.0
    assert got["items"] == [
        {
            "name": "Song A",
            "artist": "A",
            "first_played": "2024-12-28T19:00:00+09:00",
            "plays_in_window": 2,
            "plays_total": 2,
        }
    ]
    later = call(base, tokyo, "history.discoveries", start="2024-11-15", end="2024-12-30")
    assert later["new_count"] == 4
    assert later["by_month"] == [
        {"month": "2024-11", "new_artists": 0, "new_tracks": 0},
        {"month": "2024-12", "new_artists": 4, "new_tracks": 5},
    ]


def test_sessions_over_all_time(base: str, tokyo: str) -> None:
    got = call(base, tokyo, "history.sessions", all_time=True)
    # The account play (3.3 min) is a session of its own; session 1: 9.0 min; session 2: 6.0 min.
    assert (got["sessions"], got["minutes"], got["median_minutes"]) == (3, 18.3, 6.0)
    assert got["longest"][0] == {
        "start": "2024-12-29T23:50:00+09:00",
        "end": "2024-12-30T00:06:00+09:00",
        "minutes": 9.0,
        "plays": 3,
        "top_artist": "B",
    }
    assert [s["minutes"] for s in got["longest"]] == [9.0, 6.0, 3.3]
    three_days = {"start": "2024-12-28", "end": "2024-12-30", "days": 3}
    assert got["streaks"] == {"longest": three_days, "current": three_days}
    assert got["days_with_plays"] == 3


def test_a_session_across_midnight_belongs_to_the_day_it_began(base: str, tokyo: str) -> None:
    day = call(base, tokyo, "history.sessions", start="2024-12-29", end="2024-12-29")
    assert day["sessions"] == 1 and day["longest"][0]["plays"] == 3
    assert day["streaks"]["longest"] == {"start": "2024-12-29", "end": "2024-12-29", "days": 1}
    assert day["streaks"]["current"] is None  # clipped to the window, it ends before yesterday
    after = call(base, tokyo, "history.sessions", start="2024-12-30", end="2024-12-31")
    assert after["sessions"] == 1
    assert after["longest"] == [
        {"start": "2024-12-30T00:37:00+09:00", "end": "2024-12-30T01:13:00+09:00", "minutes": 6.0, "plays": 2,
         "top_artist": "C"},  # C and D: 1 play and 3 minutes each, then by name
    ]  # fmt: skip
    assert after["streaks"]["current"] == {"start": "2024-12-30", "end": "2024-12-30", "days": 1}


def test_skips_over_all_time(base: str, tokyo: str) -> None:
    got = call(base, tokyo, "history.skips", all_time=True, min_streams=2)
    # 5 plays + 2 short streams of the extended history (the private one left out); 2 skips.
    assert (got["streams"], got["skips"], got["skip_rate"]) == (7, 2, 0.2857)
    assert got["most_skipped"] == [{"track": "T1", "artist": "B", "streams": 3, "skips": 2, "skip_rate": 0.6667}]
    assert got["reason_end"] == {"trackdone": 5, "endplay": 1, "fwdbtn": 1}
    assert got["reason_start"] == {"trackdone": 5, "clickrow": 1, "fwdbtn": 1}
    assert got["shuffle_share"] == 0.2857
    assert got["streams_without_skip_data"] == 1 and "account data" in got["note"]
    assert call(base, tokyo, "history.skips", all_time=True)["most_skipped"] == []  # nobody has 5 streams


def test_skips_of_a_window_without_the_skip_streams(base: str, tokyo: str) -> None:
    got = call(base, tokyo, "history.skips", start="2024-12-29", end="2024-12-29", min_streams=1)
    assert (got["streams"], got["skips"], got["streams_without_skip_data"]) == (1, 0, 0)
    assert got["most_skipped"] == [{"track": "Song A", "artist": "A", "streams": 1, "skips": 0, "skip_rate": 0.0}]
    assert got["note"] is None


@pytest.mark.parametrize("tool", ["history.top_albums", "history.discoveries", "history.sessions", "history.skips"])
def test_an_empty_history_explains_itself(base: str, data: World, tool: str) -> None:
    got = call(base, data.empty.key, tool, all_time=True)
    assert got["note"] and "No plays are stored" in got["note"]


def test_the_shared_listeners_answer_every_insight(base: str, data: World) -> None:
    """The committed exports (extended and account data): every tool answers with plays where they are."""
    extended = call(base, data["efrrowini"].key, "history.top_albums", all_time=True)
    assert extended["total_plays"] == data["efrrowini"].ref.total_plays and extended["plays_without_album"] == 0
    account = call(base, data["vnegi10"].key, "history.top_albums", all_time=True)
    assert account["plays_without_album"] == account["total_plays"] == data["vnegi10"].ref.total_plays
    assert account["items"] == []
    skips = call(base, data["vnegi10"].key, "history.skips", all_time=True)
    assert skips["streams"] == 0 and skips["streams_without_skip_data"] > 0 and skips["note"]


def test_bad_arguments_are_explained(base: str, tokyo: str) -> None:
    from doors import dispatcher

    response = dispatcher(base, tokyo, "history.discoveries", {"type": "album"})
    assert response.status_code == 400 and "type must be one of artist, track" in response.json()["error"]
    response = dispatcher(base, tokyo, "history.skips", {"min_streams": 0})
    assert response.status_code == 400 and "min_streams" in response.json()["error"]
