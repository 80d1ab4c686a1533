"""Every tool over marts built from the committed exports (tests/fixtures/exports); every number recomputed
from the export JSON (tests/reference.py), in the listener's time zone, for `days` windows and start/end windows.

Tools are called through the JSON dispatcher (/mcp/call); a last test checks that the GPT Action
endpoints (/v1/...) answer exactly the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from api_support import (
    Listener,
    World,
    days_window,
    expected_gaps,
    expected_top_artists,
    expected_top_tracks,
    expected_tracks,
    local_day,
    make_app,
    minutes,
    plays_in,
    streams_in,
    track_key,
    utc_iso,
    window,
)
from fastapi.testclient import TestClient

# (case, arguments, the window they mean): real listening in each, in three time zones.
WINDOWS = [
    ("efrrowini", {"start": "2024-07-01", "end": "2024-11-15"}, (date(2024, 7, 1), date(2024, 11, 15))),  # DST ends
    ("efrrowini", {"days": 365}, days_window("Europe/Berlin", 365)),
    ("efrrowini", {}, days_window("Europe/Berlin", 90)),  # the default: the last 90 days
    ("vnegi10", {"start": "2021-03-01", "end": "2021-05-31"}, (date(2021, 3, 1), date(2021, 5, 31))),
    ("allisonkra", {"days": 400, "limit": 25}, days_window("Asia/Kolkata", 400)),
]
IDS = [f"{case}-{'-'.join(f'{k}={v}' for k, v in args.items()) or 'default'}" for case, args, _ in WINDOWS]


@pytest.fixture(scope="module")
def client(data: World) -> Iterator[TestClient]:
    with TestClient(make_app()) as c:
        yield c


@pytest.fixture(params=range(len(WINDOWS)), ids=IDS)
def case(request: pytest.FixtureRequest, data: World) -> tuple[Listener, dict[str, Any], date, date]:
    name, args, (start, end) = WINDOWS[request.param]
    listener = data[name]
    assert plays_in(listener.ref, start, end), "each window must hold plays, or the test proves little"
    return listener, args, start, end


def call(client: TestClient, listener: Listener, tool: str, **args: Any) -> dict[str, Any]:
    response = client.post("/mcp/call", json={"tool": tool, "args": args}, headers=listener.auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body["result"]


def check_window(result: dict[str, Any], listener: Listener, start: date, end: date) -> None:
    assert result["user"] == listener.name
    assert result["window"] == {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": (end - start).days + 1,
        "timezone": listener.timezone,
    }
    assert result["history"] == expected_history(listener)
    assert result["note"] is None  # every window of WINDOWS holds plays


def expected_history(listener: Listener) -> dict[str, Any]:
    """What is stored for the listener, from the export files: first and last local play day, plays."""
    days = sorted(listener.ref.plays_by_day)
    return {
        "first_play": days[0].isoformat() if days else None,
        "last_play": days[-1].isoformat() if days else None,
        "plays": listener.ref.total_plays,
    }


def test_top_artists(client: TestClient, case: tuple[Listener, dict[str, Any], date, date]) -> None:
    listener, args, start, end = case
    result = call(client, listener, "history.top_artists", **args)
    plays = plays_in(listener.ref, start, end)
    check_window(result, listener, start, end)
    assert result["total_plays"] == len(plays)
    assert result["unique_artists"] == len({s.creator for s in plays})
    assert result["items"] == expected_top_artists(plays, args.get("limit", 10))


def test_top_tracks(client: TestClient, case: tuple[Listener, dict[str, Any], date, date]) -> None:
    listener, args, start, end = case
    result = call(client, listener, "history.top_tracks", **args)
    plays = plays_in(listener.ref, start, end)
    check_window(result, listener, start, end)
    assert result["total_plays"] == len(plays)
    assert result["unique_tracks"] == len({track_key(s) for s in plays})
    assert result["items"] == expected_top_tracks(plays, args.get("limit", 10))


def test_listening_heatmap(client: TestClient, case: tuple[Listener, dict[str, Any], date, date]) -> None:
    listener, args, start, end = case
    args = {k: v for k, v in args.items() if k != "limit"}
    result = call(client, listener, "history.listening_heatmap", **args)
    ref = listener.ref
    cells = Counter((ref.local(s).isoweekday(), ref.local(s).hour) for s in plays_in(ref, start, end))
    check_window(result, listener, start, end)
    assert result["timezone"] == listener.timezone
    assert len(result["cells"]) == 168
    assert {(c["weekday"], c["hour"]): c["plays"] for c in result["cells"] if c["plays"]} == dict(cells)
    assert result["total_plays"] == sum(cells.values())
    peak = max(sorted(cells), key=lambda cell: cells[cell])
    assert (result["peak"]["weekday"], result["peak"]["hour"], result["peak"]["plays"]) == (*peak, cells[peak])


def test_repeat_rate(client: TestClient, case: tuple[Listener, dict[str, Any], date, date]) -> None:
    listener, args, start, end = case
    result = call(client, listener, "history.repeat_rate", **args)
    plays = plays_in(listener.ref, start, end)
    per_track = Counter(track_key(s) for s in plays)
    check_window(result, listener, start, end)
    assert result["plays"] == len(plays)
    assert result["unique_tracks"] == len(per_track)
    assert result["repeat_rate"] == round(1 - len(per_track) / len(plays), 4)
    assert result["tracks_played_more_than_once"] == sum(1 for n in per_track.values() if n > 1)
    limit = args.get("limit", 10)
    most = sorted((n for n in per_track.values() if n > 1), reverse=True)[:limit]
    assert [item["plays"] for item in result["top_repeated"]] == most
    names = expected_tracks(plays)
    cutoff = most[-1] if most else 0
    for item in result["top_repeated"]:  # each listed track is one with that many plays
        assert any(
            t["plays"] == item["plays"] and (t["track"], t["artist"]) == (item["track"], item["artist"])
            for t in names.values()
        )
        assert item["plays"] >= cutoff


def test_coverage(client: TestClient, case: tuple[Listener, dict[str, Any], date, date]) -> None:
    listener, args, start, end = case
    result = call(client, listener, "history.coverage", **args)
    ref = listener.ref
    plays = plays_in(ref, start, end)
    play_days = {local_day(ref, s) for s in plays}
    gaps = expected_gaps(window(start, end), play_days)
    check_window(result, listener, start, end)
    assert result["days_in_window"] == (end - start).days + 1
    assert result["days_with_plays"] == len(play_days)
    assert result["plays"] == len(plays)
    assert result["first_play"] == utc_iso(min(s.ended_at for s in plays))
    assert result["last_play"] == utc_iso(max(s.ended_at for s in plays))
    for source in ("extended", "account", "api"):
        mine = [s for s in plays if s.source == source]
        got = result["by_source"][source]
        assert got["plays"] == len(mine), source
        counted = [s for s in streams_in(ref, start, end) if s.source == source and s.content != "unknown"]
        assert got["streams"] == len(counted), source
        assert got["days_with_plays"] == len({local_day(ref, s) for s in mine})
        assert got["first_play"] == (utc_iso(min(s.ended_at for s in mine)) if mine else None)
    assert result["gap_count"] == len(gaps)
    assert result["gap_days"] == sum(n for _, _, n in gaps) == result["days_in_window"] - len(play_days)
    limit = args.get("limit", 10)
    longest = sorted(sorted(gaps, key=lambda g: (-g[2], g[0]))[:limit])
    assert result["last_successful_poll"] is None  # never polled: exports only
    assert [(g["start"], g["end"], g["days"]) for g in result["gaps"]] == [
        (a.isoformat(), b.isoformat(), n) for a, b, n in longest
    ]


def test_taste_summary(client: TestClient, case: tuple[Listener, dict[str, Any], date, date]) -> None:
    listener, args, start, end = case
    result = call(client, listener, "history.taste_summary", **args)
    ref = listener.ref
    plays = plays_in(ref, start, end)
    limit = args.get("limit", 10)
    check_window(result, listener, start, end)
    assert result["plays"] == len(plays)
    assert result["minutes"] == minutes(sum(s.ms_played for s in plays))
    assert result["unique_artists"] == len({s.creator for s in plays})
    assert result["unique_tracks"] == len({track_key(s) for s in plays})
    assert result["repeat_rate"] == round(1 - result["unique_tracks"] / len(plays), 4)
    assert result["top_artists"] == expected_top_artists(plays, limit)
    assert result["top_tracks"] == expected_top_tracks(plays, limit)
    weekdays = Counter(ref.local(s).isoweekday() for s in plays)
    hours = Counter(ref.local(s).hour for s in plays)
    assert result["peak_weekday"] == max(sorted(weekdays), key=lambda d: weekdays[d])
    assert result["peak_hour"] == max(sorted(hours), key=lambda h: hours[h])
    ms_by_content: Counter[str] = Counter()
    for s in streams_in(ref, start, end):
        ms_by_content[s.content] += s.ms_played
    assert result["minutes_by_content"] == {kind: minutes(ms) for kind, ms in sorted(ms_by_content.items())}
    assert result["days_with_plays"] == len({local_day(ref, s) for s in plays})
    assert result["days_in_window"] == (end - start).days + 1
    assert len(str(result)) < 100_000


def test_taste_summary_lists_podcasts(client: TestClient, data: World) -> None:
    listener = data["allisonkra"]
    result = call(client, listener, "history.taste_summary", start="2023-01-01", end="2024-12-31", limit=3)
    shows: Counter[str | None] = Counter()
    for s in listener.ref.streams:
        if s.content == "podcast" and local_day(listener.ref, s).year in (2023, 2024):
            shows[s.creator] += s.ms_played
    assert shows, "the export has podcasts"
    top = sorted(shows.items(), key=lambda kv: (-kv[1], kv[0] or ""))[:3]
    assert [(s["show"], s["minutes"]) for s in result["top_shows"]] == [(name, minutes(ms)) for name, ms in top]


def test_sync_status(client: TestClient, data: World) -> None:
    for listener in [*data.listeners.values(), data.empty]:
        result = call(client, listener, "ops.sync_status")
        (status,) = result["users"]
        assert (status["user_id"], status["user_name"], status["timezone"]) == (
            listener.user_id,
            listener.name,
            listener.timezone,
        )
        assert status["plays"] == listener.ref.total_plays
        assert not [key for key in status if key.endswith(("token", "_enc", "secret"))]


def test_latest_imports(client: TestClient, data: World) -> None:
    listener = data["efrrowini"]
    result = call(client, listener, "ops.latest_imports", limit=5)
    (item,) = result["items"]
    assert item["user_name"] == listener.name
    assert item["status"] == "succeeded"
    assert item["records"] == listener.ref.records
    assert item["formats"] == {"extended": listener.ref.records}
    assert "source_path" not in item and "sha256" not in item
    assert call(client, data.empty, "ops.latest_imports")["items"] == []


def test_a_user_without_plays_gets_empty_answers(client: TestClient, data: World) -> None:
    empty = data.empty
    for tool in WINDOWED_TOOLS:
        result = call(client, empty, tool)
        assert result["history"] == {"first_play": None, "last_play": None, "plays": 0}
        assert result["note"] == NOTHING_STORED
    everything = call(client, empty, "history.taste_summary", all_time=True)
    assert everything["window"]["start"] == everything["window"]["end"] == "2025-01-01"  # today in Auckland
    assert call(client, empty, "history.top_artists")["items"] == []
    repeat = call(client, empty, "history.repeat_rate")
    assert (repeat["plays"], repeat["repeat_rate"], repeat["top_repeated"]) == (0, None, [])
    coverage = call(client, empty, "history.coverage", days=30)
    assert (coverage["days_with_plays"], coverage["gap_count"], coverage["gap_days"]) == (0, 1, 30)
    assert coverage["first_play"] is None
    heatmap = call(client, empty, "history.listening_heatmap")
    assert heatmap["peak"] is None and heatmap["total_plays"] == 0 and len(heatmap["cells"]) == 168
    summary = call(client, empty, "history.taste_summary")
    assert (summary["plays"], summary["repeat_rate"], summary["peak_hour"]) == (0, None, None)


WINDOWED_TOOLS = [
    "history.taste_summary",
    "history.top_artists",
    "history.top_tracks",
    "history.listening_heatmap",
    "history.repeat_rate",
    "history.coverage",
]
NOTHING_STORED = (
    "No plays are stored for this listener yet: import a Spotify privacy export or connect Spotify, then ask again."
)


def test_a_window_without_plays(client: TestClient, data: World) -> None:
    """Real listener, window before their history: zeros, not errors, and a note saying where the plays are."""
    listener = data["efrrowini"]
    result = call(client, listener, "history.top_tracks", start="2010-01-01", end="2010-12-31")
    assert (result["total_plays"], result["items"]) == (0, [])
    history = expected_history(listener)
    note = (
        f"No plays between 2010-01-01 and 2010-12-31; the stored history runs from {history['first_play']} "
        f"to {history['last_play']}."
    )
    for tool in WINDOWED_TOOLS:
        answer = call(client, listener, tool, start="2010-01-01", end="2010-12-31")
        assert (answer["history"], answer["note"]) == (history, note), tool
    coverage = call(client, listener, "history.coverage", start="2010-01-01", end="2010-12-31")
    assert coverage["gaps"] == [{"start": "2010-01-01", "end": "2010-12-31", "days": 365}]


@pytest.mark.parametrize("tool", ["history.coverage", "history.taste_summary", "history.top_artists"])
@pytest.mark.parametrize(("start", "end"), [("0001-01-01", "0001-03-31"), ("9999-10-01", "9999-12-31")])
def test_the_ends_of_the_calendar(client: TestClient, data: World, tool: str, start: str, end: str) -> None:
    result = call(client, data["efrrowini"], tool, start=start, end=end)
    assert result["window"]["start"] == start and result["window"]["end"] == end


def test_the_default_window_of_an_old_export_explains_itself(client: TestClient, data: World) -> None:
    """vnegi10's account export ends in 2021: the default 90 days (to 2024-12-31) are empty, and the
    answer says where the plays are; all_time: true then finds them all."""
    listener = data["vnegi10"]
    history = expected_history(listener)
    summary = call(client, listener, "history.taste_summary")
    assert summary["plays"] == 0 and summary["history"] == history
    assert summary["note"] == (
        f"No plays between 2024-10-03 and 2024-12-31; the stored history runs from {history['first_play']} "
        f"to {history['last_play']}."
    )
    everything = call(client, listener, "history.taste_summary", all_time=True)
    assert everything["window"]["start"] == history["first_play"]
    assert everything["window"]["end"] == "2024-12-31"  # today, in the listener's zone
    assert (everything["plays"], everything["note"]) == (listener.ref.total_plays, None)
    assert everything["unique_tracks"] == listener.ref.unique_songs
    tracks = call(client, listener, "history.top_tracks", all_time=True, limit=50)
    all_plays = plays_in(listener.ref, date.min, date.max)
    assert tracks["items"] == expected_top_tracks(all_plays, 50)
    repeat = call(client, listener, "history.repeat_rate", all_time=True)
    assert repeat["repeat_rate"] == round(listener.ref.repeat_rate, 4)


def test_gpt_action_endpoints_answer_like_the_dispatcher(client: TestClient, data: World) -> None:
    from mcp_api.tools import TOOLS

    listener = data["efrrowini"]
    args = {"start": "2024-08-01", "end": "2024-09-30"}
    required = {"spotify.get_top": {"entity": "artists"}, "history.search": {"q": "love"}}
    for tool in TOOLS.values():
        tool_args = {k: v for k, v in args.items() if k in tool.args.model_fields} | required.get(tool.name, {})
        response = client.get(tool.path, params=tool_args, headers=listener.auth)
        assert response.status_code == 200, (tool.name, response.text)
        assert response.json() == call(client, listener, tool.name, **tool_args), tool.name


def test_secret_looking_status_columns_are_never_shown() -> None:
    from mcp_api.tools.ops import is_shown

    shown = ["token_status", "spotify_access_expires_at", "last_poll_at", "plays", "last_import_error"]
    hidden = ["refresh_token", "access_token", "refresh_token_enc", "client_secret", "password", "code_verifier"]
    assert all(is_shown(c) for c in shown) and not any(is_shown(c) for c in hidden)
