"""The default windows' rankings are stored by a build (marts.recent_rankings) and the API answers them
from there: the same rows the window functions compute, an empty window included, and the function is
not run for a stored window; any other window is computed by the function."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from api_support import create_key, make_app
from builds import app_conn, build, import_as, new_user
from export_files import EXTENDED_FOLDER, extended_record, write_json
from fastapi.testclient import TestClient

from mcp_api.tools import history as q

ZONE = "Asia/Tokyo"
FUNCTIONS = {"artists": "window_top_artists", "tracks": "window_top_tracks", "repeats": "window_repeat_rate"}
WITH_TOTALS = {"albums": "window_top_albums", "skips": "window_most_skipped"}
"""Rankings whose function may return a rank-0 row of the window's totals (albums), or nothing (no song
has 5 streams here): stored exactly as the function returns them."""


def play(day: date, artist: str, track: str, minute: int) -> dict[str, object]:
    # 03:mm UTC is noon in Tokyo: the play lies on `day` in the listener's zone.
    return extended_record(
        f"{day.isoformat()}T03:{minute:02d}:00Z",
        180_000,
        master_metadata_album_artist_name=artist,
        master_metadata_track_name=track,
        spotify_track_uri=f"spotify:track:{artist[:1]}{track[-1]}{'x' * 20}",
    )


def test_default_windows_are_stored_and_answered_from_the_mart(home: Path, tmp_path: Path) -> None:
    name, user_id = new_user(ZONE, prefix="recent")
    today = datetime.now(ZoneInfo(ZONE)).date()
    records = [
        *(play(today - timedelta(days=1), "Near", "Song 1", m) for m in range(3)),
        play(today - timedelta(days=2), "Near", "Song 2", 0),
        *(play(today - timedelta(days=100), "Older", "Song 3", m) for m in range(2)),
        play(today - timedelta(days=400), "Oldest", "Song 4", 0),
    ]
    import_as(name, write_json(tmp_path / EXTENDED_FOLDER / "Streaming_History_Audio_2025_0.json", records))
    build()

    with app_conn() as conn:
        stored = conn.execute(
            "select distinct as_of, window_start, window_end from marts.recent_rankings where user_id = %s",
            (user_id,),
        ).fetchall()
        # The build's local date, unless it ran across midnight in Tokyo.
        as_of = stored[0][0]
        assert as_of in (today, today - timedelta(days=1))
        assert sorted((s, e) for _, s, e in stored) == sorted(
            (as_of + timedelta(days=ahead - days + 1), as_of + timedelta(days=ahead))
            for days in (90, 365)
            for ahead in (0, 1)
        )
        for _, start, end in stored:
            for ranking, function in FUNCTIONS.items():
                rows = conn.execute(
                    "select rank, item from marts.recent_rankings where user_id = %s and window_start = %s "
                    "and window_end = %s and ranking = %s and rank > 0 order by rank",
                    (user_id, start, end, ranking),
                ).fetchall()
                computed = conn.execute(
                    f"select rank, to_jsonb(f) - 'rank' from marts.{function}(%s, %s, %s, 50) f order by rank",
                    (user_id, start, end),
                ).fetchall()
                assert rows == computed
                assert rows, (ranking, start, end)  # every window holds plays of "Near"
            for ranking, function in WITH_TOTALS.items():
                rows = conn.execute(
                    "select rank, item from marts.recent_rankings where user_id = %s and window_start = %s "
                    "and window_end = %s and ranking = %s and item is not null order by rank",
                    (user_id, start, end, ranking),
                ).fetchall()
                computed = conn.execute(
                    f"select rank, to_jsonb(f) - 'rank' from marts.{function}(%s, %s, %s, 50) f order by rank",
                    (user_id, start, end),
                ).fetchall()
                assert rows == computed, ranking
                markers = conn.execute(
                    "select count(*) from marts.recent_rankings where user_id = %s and window_start = %s "
                    "and window_end = %s and ranking = %s and rank = 0",
                    (user_id, start, end, ranking),
                ).fetchone()
                assert markers == (1,), ranking  # the totals row, or an empty marker: the window is stored

        # A stored window never runs the function; another window does.
        params = {"user_id": user_id, "start": as_of - timedelta(days=89), "end": as_of, "limit": 10}
        plan = "\n".join(r[0] for r in conn.execute("explain analyze " + q.TOP_TRACKS, params).fetchall())
        assert "window_top_tracks" in plan and "never executed" in plan, plan
        other = {**params, "start": as_of - timedelta(days=29)}
        plan = "\n".join(r[0] for r in conn.execute("explain analyze " + q.TOP_TRACKS, other).fetchall())
        assert "never executed" not in plan, plan

    auth = {"Authorization": f"Bearer {create_key(name)}"}
    with TestClient(make_app(clock=None, api_cache_entries=0)) as client:

        def top(tool: str, **args: object) -> Any:
            answer = client.post("/mcp/call", json={"tool": tool, "args": args}, headers=auth).json()
            assert answer["success"], answer
            return answer["result"]

        if as_of == today:  # (the API's today is the stored one)
            artists = top("history.top_artists", days=90)
            assert [(i["artist"], i["plays"]) for i in artists["items"]] == [("Near", 4)]
            artists = top("history.top_artists", days=365)
            assert [(i["artist"], i["plays"]) for i in artists["items"]] == [("Near", 4), ("Older", 2)]
            repeats = top("history.repeat_rate", days=365, limit=1)
            assert (repeats["plays"], repeats["unique_tracks"], repeats["tracks_played_more_than_once"]) == (6, 3, 2)
            assert [(i["track"], i["plays"]) for i in repeats["top_repeated"]] == [("Song 1", 3)]
            tracks = top("history.top_tracks", days=90, limit=1)
            assert (tracks["total_plays"], tracks["unique_tracks"]) == (4, 2)
            assert [(i["track"], i["plays"]) for i in tracks["items"]] == [("Song 1", 3)]
            # The same window asked as start/end is the same stored answer; a window of no plays is empty.
            same = top(
                "history.top_tracks", start=(today - timedelta(days=89)).isoformat(), end=today.isoformat(), limit=1
            )
            assert same["items"] == tracks["items"]
            albums = top("history.top_albums", days=90)  # the stored rank-0 row carries the totals
            assert (albums["total_plays"], albums["unique_albums"], albums["plays_without_album"]) == (4, 1, 0)
        empty = top("history.top_artists", start="2000-01-01", end="2000-03-01")
        assert empty["items"] == [] and empty["total_plays"] == 0
