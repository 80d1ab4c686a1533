"""The four insight tools (issue 23: history.top_albums, history.discoveries, history.sessions, history.skips)
on the real-export corpus ($SPOTIFY_TEST_EXPORTS), against the figures tests/reference.py computes from the
export JSON alone (domain.md §3b, written from the contract, not from the marts' SQL).

Every case is imported for its own new user (the importer alone, like test_marts), then one dbt build;
each tool is called through /mcp/call for `all_time` and for one bounded start/end window per listener.
Counts must agree exactly, minutes within 0.1, and rankings up to ties: a list holds exactly the items
ranked strictly above its last item's score and some of those tied with it, in non-increasing score.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_support import create_key, make_app, today
from builds import build, import_rows, new_user
from fastapi.testclient import TestClient
from reference import Reference, json_files
from reference_insights import Session, Streak, discoveries, plays_in_window, sessions, skips, top_albums

INSIGHT_TOOLS = ("history.top_albums", "history.discoveries", "history.sessions", "history.skips")
MINUTES_TOLERANCE = 0.1 + 1e-9
RATIO_TOLERANCE = 1e-4 + 1e-9
"""4-decimal ratios: Python rounds half to even, SQL half away from zero."""
TIME_TOLERANCE = timedelta(seconds=1)
"""Session starts are ends minus ms_played: a product may keep milliseconds or drop them."""


@dataclass(frozen=True)
class Case:
    folders: tuple[str, ...]
    """Folders of the corpus, imported one after the other for one listener."""
    timezone: str
    window: tuple[date, date]
    """A bounded window holding plays (start/end, inclusive local dates)."""
    about: str


CASES = [
    Case(
        ("Efrrowini__spotify-music-analysis",),
        "Asia/Kolkata",
        (date(2024, 7, 1), date(2024, 10, 31)),
        "extended Audio + Video, 2022-2026 (plays after the test clock's today)",
    ),
    Case(
        ("vnegi10__Spotify_data_analysis",),
        "America/New_York",
        (date(2021, 3, 1), date(2021, 5, 31)),
        "account data only: no albums, no skip data",
    ),
    Case(
        ("CandidlyRed__spotify",),
        "Europe/London",
        (date(2022, 9, 1), date(2022, 9, 30)),
        "endsong: skipped mostly null, fwdbtn in reason_end",
    ),
    Case(
        ("Th1nhNg0__Spotify-Extended-Streaming-History",),
        "Australia/Lord_Howe",
        (date(2024, 3, 20), date(2024, 4, 20)),
        "extended v1, identical records; a half-hour DST change on 2024-04-07",
    ),
    Case(
        ("erickmay__Spotify-Shuffle-Analysis",),
        "America/Chicago",
        (date(2019, 1, 1), date(2019, 12, 31)),
        'endsong v1 over seven years; reason_start/reason_end "" in places',
    ),
    Case(
        ("vlexum__reWrapped",),
        "Pacific/Auckland",
        (date(2021, 11, 1), date(2022, 2, 28)),
        "endsong, skipped null with fwdbtn; local dates a day ahead of UTC",
    ),
    Case(
        ("allisonkra__songPrediction", "SilveerDusk__Spotify_Recs"),
        "Europe/Berlin",
        (date(2023, 12, 1), date(2024, 12, 31)),
        "account data, then extended (incognito too) from 2024-12-24: artists first heard in account data; "
        "the bounded window ends on the test clock's today, inside a streak",
    ),
]
IDS = [c.folders[0].split("__")[0] + ("+" if len(c.folders) > 1 else "") for c in CASES]


@dataclass(frozen=True)
class Listener:
    case: Case
    name: str
    ref: Reference
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def today(self) -> date:
        return today(self.case.timezone)

    @property
    def all_time(self) -> tuple[date, date]:
        """What all_time covers: from the first play's local day to today, or to the last play's day when later."""
        days = sorted(self.ref.plays_by_day)
        return days[0], max(self.today, days[-1])


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listeners(home: Path, shared_exports: Path) -> dict[str, Listener]:
    """Every case imported for its own new user, then one dbt build (the refresh job)."""
    out: dict[str, Listener] = {}
    for case, case_id in zip(CASES, IDS, strict=True):
        name, _ = new_user(case.timezone, prefix="ins")
        paths = [shared_exports / folder for folder in case.folders]
        for path in paths:
            import_rows(name, path)
        ref = Reference.from_files(json_files(*paths), case.timezone)
        out[case_id] = Listener(case, name, ref, create_key(name, "insights"))
    build()
    return out


@pytest.fixture(scope="module")
def client(listeners: dict[str, Listener]) -> Iterator[TestClient]:
    with TestClient(make_app()) as c:
        yield c


WINDOWS = ["all_time", "bounded"]


@pytest.fixture(params=[(i, w) for i in IDS for w in WINDOWS], ids=[f"{i}-{w}" for i in IDS for w in WINDOWS])
def case(request: pytest.FixtureRequest, listeners: dict[str, Listener]) -> tuple[Listener, dict[str, Any], date, date]:
    case_id, which = request.param
    listener = listeners[case_id]
    if which == "all_time":
        start, end = listener.all_time
        return listener, {"all_time": True}, start, end
    start, end = listener.case.window
    assert plays_in_window(listener.ref, start, end), "each bounded window must hold plays"
    return listener, {"start": start.isoformat(), "end": end.isoformat()}, start, end


Checked = tuple[Listener, dict[str, Any], date, date]


def call(client: TestClient, listener: Listener, tool: str, **args: Any) -> dict[str, Any]:
    response = client.post("/mcp/call", json={"tool": tool, "args": args}, headers=listener.auth)
    if response.status_code == 404 and "unknown tool" in response.text:
        pytest.fail(f"tool not found: {tool} is not in the API's registry (issue 23): {response.text}")
    assert response.status_code == 200, (tool, args, response.text)
    body = response.json()
    assert body["success"] is True, body
    result: dict[str, Any] = body["result"]
    return result


def check_common(result: dict[str, Any], listener: Listener, start: date, end: date) -> None:
    """The fields every windowed answer carries: user, window, history (and no note when plays exist)."""
    days = sorted(listener.ref.plays_by_day)
    assert result["user"] == listener.name
    assert result["window"] == {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": (end - start).days + 1,
        "timezone": listener.case.timezone,
    }
    assert result["history"] == {
        "first_play": days[0].isoformat(),
        "last_play": days[-1].isoformat(),
        "plays": listener.ref.total_plays,
    }


# -- comparison helpers -----------------------------------------------------------------------------


def close(got: float | None, expected: float | None, tolerance: float) -> bool:
    if got is None or expected is None:
        return got is expected
    return abs(got - expected) <= tolerance


def local_time(listener: Listener, text: str) -> datetime:
    """An ISO datetime from the API, which must carry the listener's UTC offset at that instant."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.tzinfo is not None, f"{text!r} has no UTC offset"
    assert value.utcoffset() == value.astimezone(listener.ref.zone).utcoffset(), (
        f"{text!r} is not in the listener's zone {listener.case.timezone}"
    )
    return value


def check_ranking(
    what: str,
    got_keys: Sequence[Hashable],
    scores: dict[Any, Any],
    limit: int,
) -> None:
    """A ranked list against the whole expected ranking, up to ties: every listed key exists, the list
    is as long as it can be, its scores do not increase, it holds every key scored above its last
    item's score and otherwise only keys tied with it. `scores`: key → a comparable, higher first."""
    unknown = [k for k in got_keys if k not in scores]
    assert not unknown, f"{what}: listed but not expected: {unknown[:5]}"
    assert len(set(got_keys)) == len(got_keys), f"{what}: an item listed twice"
    assert len(got_keys) == min(limit, len(scores)), (
        f"{what}: {len(got_keys)} items, expected {min(limit, len(scores))}"
    )
    if not got_keys:
        return
    got_scores = [scores[k] for k in got_keys]
    for i, (a, b) in enumerate(itertools.pairwise(got_scores)):
        assert a >= b, f"{what}: item {i + 1} {got_keys[i + 1]!r} ({b}) ranks below {got_keys[i]!r} ({a})"
    cutoff = got_scores[-1]
    above = {k for k, v in scores.items() if v > cutoff}
    missing = above - set(got_keys)
    assert not missing, f"{what}: ranked above the last listed item ({cutoff}) but missing: {list(missing)[:5]}"


def by_key(
    what: str, items: list[dict[str, Any]], key: Callable[[dict[str, Any]], Hashable]
) -> dict[Hashable, dict[str, Any]]:
    out = {key(item): item for item in items}
    assert len(out) == len(items), f"{what}: items with the same key"
    return out


# -- history.top_albums -----------------------------------------------------------------------------


def test_top_albums(client: TestClient, case: Checked) -> None:
    listener, args, start, end = case
    limit = 10 if "all_time" in args else 50
    result = call(client, listener, "history.top_albums", **args, **({} if limit == 10 else {"limit": limit}))
    expected = top_albums(listener.ref, start, end)
    check_common(result, listener, start, end)
    assert result["note"] is None
    got = {k: result[k] for k in ("total_plays", "unique_albums", "plays_without_album")}
    assert got == {
        "total_plays": expected.total_plays,
        "unique_albums": expected.unique_albums,
        "plays_without_album": expected.plays_without_album,
    }
    albums = {(a.artist, a.album): a for a in expected.items}
    keys = [(item["artist"], item["album"]) for item in result["items"]]
    check_ranking("top_albums", keys, {k: (a.plays, a.ms) for k, a in albums.items()}, limit)
    for item in result["items"]:
        want = albums[(item["artist"], item["album"])]
        assert (item["plays"], item["songs"]) == (want.plays, want.songs), (item, want)
        assert close(item["minutes"], want.minutes, MINUTES_TOLERANCE), (item, want)
        assert close(item["share"], want.share, RATIO_TOLERANCE), (item, want)


# -- history.discoveries ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["artist", "track"])
def test_discoveries(client: TestClient, case: Checked, kind: str) -> None:
    listener, args, start, end = case
    limit = 10 if "all_time" in args else 25
    extra: dict[str, Any] = {} if limit == 10 else {"limit": limit}
    if kind != "artist" or "all_time" not in args:  # all_time asks for artists by the default type
        extra["type"] = kind
    result = call(client, listener, "history.discoveries", **args, **extra)
    expected = discoveries(listener.ref, start, end, kind)
    check_common(result, listener, start, end)
    assert result["note"] is None
    assert (result["type"], result["new_count"]) == (kind, expected.new_count)
    assert result["by_month"] == expected.by_month
    assert close(result["share_new"], expected.share_new, RATIO_TOLERANCE), (result["share_new"], expected.share_new)

    def ref_key(name: str | None, artist: str | None) -> tuple[Any, ...]:
        return ("artist", name) if kind == "artist" else ("song", artist, name)

    found = {d.key: d for d in expected.items}
    keys = [ref_key(item["name"], item.get("artist")) for item in result["items"]]
    check_ranking(f"discoveries({kind})", keys, {k: d.plays_in_window for k, d in found.items()}, limit)
    for key, item in zip(keys, result["items"], strict=True):
        want = found[key]
        if kind == "artist":
            assert "artist" not in item or item["artist"] is None, item
        assert (item["plays_in_window"], item["plays_total"]) == (want.plays_in_window, want.plays_total), (
            item,
            want,
        )
        first = local_time(listener, item["first_played"])
        assert abs(first - want.first_played) <= TIME_TOLERANCE, (item, want.first_played.isoformat())


# -- history.sessions -------------------------------------------------------------------------------


def streak_json(streak: Streak) -> dict[str, Any]:
    return {"start": streak.start.isoformat(), "end": streak.end.isoformat(), "days": streak.days}


def matching_session(listener: Listener, found: list[Session], start: datetime) -> Session:
    near = [x for x in found if abs(x.start - start) <= TIME_TOLERANCE]
    assert len(near) == 1, f"{len(near)} expected sessions start at {start.isoformat()}"
    return near[0]


def test_sessions(client: TestClient, case: Checked) -> None:
    listener, args, start, end = case
    limit = 5 if "all_time" in args else 20
    result = call(client, listener, "history.sessions", **args, **({} if limit == 5 else {"limit": limit}))
    expected = sessions(listener.ref, start, end, listener.today)
    check_common(result, listener, start, end)
    assert result["note"] is None
    assert (result["sessions"], result["days_with_plays"]) == (len(expected.sessions), expected.days_with_plays)
    assert close(result["minutes"], expected.minutes, MINUTES_TOLERANCE), (result["minutes"], expected.minutes)
    assert close(result["median_minutes"], expected.median_minutes, MINUTES_TOLERANCE), (
        result["median_minutes"],
        expected.median_minutes,
    )

    matched = [
        matching_session(listener, expected.sessions, local_time(listener, s["start"])) for s in result["longest"]
    ]
    check_ranking(
        "sessions.longest",
        [x.start for x in matched],
        {x.start: (x.ms, -x.start.timestamp()) for x in expected.sessions},
        limit,
    )
    for item, want in zip(result["longest"], matched, strict=True):
        assert abs(local_time(listener, item["end"]) - want.end) <= TIME_TOLERANCE, (item, want.end)
        assert item["plays"] == len(want.plays), (item, len(want.plays))
        assert close(item["minutes"], want.minutes, MINUTES_TOLERANCE), (item, want.minutes)
        assert item["top_artist"] == want.top_artist, (item, want.top_artist)

    longest = result["streaks"]["longest"]
    assert longest in [streak_json(s) for s in expected.longest_streaks], (
        longest,
        [streak_json(s) for s in expected.longest_streaks],
    )
    current = result["streaks"]["current"]
    assert current == (streak_json(expected.current) if expected.current else None), (current, expected.current)


# -- history.skips ----------------------------------------------------------------------------------


def test_skips(client: TestClient, case: Checked) -> None:
    listener, args, start, end = case
    limit = 10 if "all_time" in args else 30
    result = call(client, listener, "history.skips", **args, **({} if limit == 10 else {"limit": limit}))
    expected = skips(listener.ref, start, end)
    check_common(result, listener, start, end)
    got = {k: result[k] for k in ("streams", "skips", "streams_without_skip_data")}
    assert got == {
        "streams": expected.streams,
        "skips": expected.skips,
        "streams_without_skip_data": expected.streams_without_skip_data,
    }
    assert close(result["skip_rate"], expected.skip_rate, RATIO_TOLERANCE), (result["skip_rate"], expected.skip_rate)
    assert close(result["shuffle_share"], expected.shuffle_share, RATIO_TOLERANCE), (
        result["shuffle_share"],
        expected.shuffle_share,
    )
    if expected.streams_without_skip_data:
        assert result["note"], "the note must say that some streams carry no skip data"

    songs = {s.song: s for s in expected.most_skipped}
    keys = [("song", item["artist"], item["track"]) for item in result["most_skipped"]]
    check_ranking("skips.most_skipped", keys, {k: (s.skips / s.streams, s.streams) for k, s in songs.items()}, limit)
    for key, item in zip(keys, result["most_skipped"], strict=True):
        want = songs[key]
        assert (item["streams"], item["skips"]) == (want.streams, want.skips), (item, want)
        assert close(item["skip_rate"], want.skip_rate, RATIO_TOLERANCE), (item, want)
    # last, so that a difference here does not hide the others: "" is a value, only null is left out
    assert (result["reason_start"], result["reason_end"]) == (expected.reason_start, expected.reason_end)


# -- the corpus has the corners the tests claim; the GPT Action door answers the same ------------------


def test_the_corpus_has_the_corners_the_tests_claim(listeners: dict[str, Listener]) -> None:
    refs = {case_id: listener.ref for case_id, listener in listeners.items()}
    everything = {case_id: listener.all_time for case_id, listener in listeners.items()}
    assert top_albums(refs["vnegi10"], *everything["vnegi10"]).unique_albums == 0  # account data: no album
    fwd = [s for s in refs["CandidlyRed"].streams if s.skipped is None and s.reason_end == "fwdbtn"]
    assert len(fwd) > 100
    mixed = refs["allisonkra+"]
    account_first = [
        s for s in discoveries(mixed, *everything["allisonkra+"]).items if s.first_played.year == 2023
    ]  # allisonkra's account data ends in January 2024
    extended_artists = {s.creator for s in mixed.plays if s.source == "extended"}
    assert sum(1 for d in account_first if d.name in extended_artists) > 50
    assert any(s.incognito for s in mixed.streams)
    current = sessions(mixed, *listeners["allisonkra+"].case.window, listeners["allisonkra+"].today).current
    assert current is not None and current.end == listeners["allisonkra+"].today
    # sessions whose local date is not their UTC date, and plays that start before the previous one ends
    auckland = sessions(refs["vlexum"], *everything["vlexum"], listeners["vlexum"].today).sessions
    assert any(x.start.astimezone(refs["vlexum"].zone).date() != x.start.date() for x in auckland)
    assert any(
        b.ended_at - timedelta(milliseconds=b.ms_played) < a.ended_at
        for x in auckland
        for a, b in itertools.pairwise(x.plays)
    )


@pytest.mark.parametrize("tool", INSIGHT_TOOLS)
def test_gpt_action_endpoints_answer_like_the_dispatcher(
    client: TestClient, listeners: dict[str, Listener], tool: str
) -> None:
    from mcp_api.tools import TOOLS

    if tool not in TOOLS:
        pytest.fail(f"tool not found: {tool} is not in the API's registry (issue 23)")
    listener = listeners["Efrrowini"]
    args = {"start": "2024-07-01", "end": "2024-10-31"}
    response = client.get(TOOLS[tool].path, params=args, headers=listener.auth)
    assert response.status_code == 200, response.text
    assert response.json() == call(client, listener, tool, **args)
