"""Shared by the API tests: listeners with exports and marts, keys, the app, a live server,
and the expected answers computed from the export files (tests/reference.py), not from the marts.

`world()` is built once per test session (functools.cache): three listeners in three time zones, one
listener without data, one dbt build, and a key per listener issued by `spotify-history api-key create`
(in-process, click's runner).

The rule: the listeners ALWAYS import the small synthetic exports committed under tests/fixtures/exports
(written by tests/fixtures/make_exports.py), whether or not the real-export corpus ($SPOTIFY_TEST_EXPORTS)
is present, so the API tests see the same data in CI and in a bare clone and never skip for want of
files. The three folders mirror the corpus shapes the tests were first written against (CASES keeps those
listeners' names); the real exports stay with the tests that need them (test_marts, test_export_ingest …,
through the `shared_exports` fixture, which skips naming SPOTIFY_TEST_EXPORTS).
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from builds import build, import_as, new_user
from reference import Reference, Stream, json_files

NOW = datetime(2024, 12, 31, 12, 0, tzinfo=UTC)
"""The API's clock in these tests: "today" and `days` windows count back from here."""
ADMIN_KEY = "admin-test-key-0123456789abcdef0123456789"

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
"""The committed synthetic exports (tests/fixtures/make_exports.py writes them)."""

CASES = {
    # name (the corpus case the shape mirrors): (folder under EXPORTS, time zone)
    "efrrowini": ("extended-berlin", "Europe/Berlin"),  # extended Audio + Video, 2022-2026
    "vnegi10": ("account-new-york", "America/New_York"),  # account data (legacy), 2020-2021
    "allisonkra": ("account-kolkata", "Asia/Kolkata"),  # account music + podcasts, 2023-2024
}


@dataclass(frozen=True)
class Listener:
    name: str
    user_id: int
    timezone: str
    ref: Reference
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass(frozen=True)
class World:
    listeners: dict[str, Listener]
    empty: Listener
    """A user without any import (in the marts, with nothing in them)."""

    def __getitem__(self, case: str) -> Listener:
        return self.listeners[case]


def create_key(user: str, label: str = "") -> str:
    from click.testing import CliRunner

    from orchestration.cli import main

    result = CliRunner().invoke(main, ["api-key", "create", "--user", user, "--name", label])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@functools.cache
def world() -> World:
    listeners = {}
    for case in CASES:
        path, zone = data_path(case), CASES[case][1]
        name, user_id = new_user(zone, prefix="api")
        import_as(name, path)
        ref = Reference.from_files(json_files(path), zone)
        listeners[case] = Listener(name, user_id, zone, ref, create_key(name, "tests"))
    name, user_id = new_user("Pacific/Auckland", prefix="api")
    empty = Listener(name, user_id, "Pacific/Auckland", Reference([], "Pacific/Auckland"), create_key(name))
    build()
    return World(listeners, empty)


def api_url() -> str:
    from orchestration.db.roles import api_database_url

    return api_database_url()


def make_app(clock: Callable[[], datetime] | None = lambda: NOW, **settings: Any) -> Any:
    from mcp_api.doors.app import create_app
    from mcp_api.settings import ApiSettings

    values: dict[str, Any] = {
        "api_database_url": api_url(),
        "admin_api_key": ADMIN_KEY,
        "rate_limit_per_minute": 0,
        **settings,
    }
    return create_app(ApiSettings(**values), clock=clock)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(**settings: Any) -> Iterator[str]:
    """The app under a real uvicorn on 127.0.0.1 (a random free port), in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = make_app(public_base_url=base, **settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# -- expected answers, from the export files ----------------------------------------------------------


def local_day(ref: Reference, s: Stream) -> date:
    return ref.local(s).date()


def window(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def today(timezone: str) -> date:
    from zoneinfo import ZoneInfo

    return NOW.astimezone(ZoneInfo(timezone)).date()


def days_window(timezone: str, days: int) -> tuple[date, date]:
    end = today(timezone)
    return end - timedelta(days=days - 1), end


def plays_in(ref: Reference, start: date, end: date) -> list[Stream]:
    return [s for s in ref.plays if start <= local_day(ref, s) <= end]


def streams_in(ref: Reference, start: date, end: date) -> list[Stream]:
    return [s for s in ref.streams if start <= local_day(ref, s) <= end]


def minutes(ms: int) -> float:
    return round(ms / 60_000, 1)


def _name_key(value: str | None) -> tuple[bool, str]:
    """Codepoint order, nulls last (the API orders with collate "C" … nulls last)."""
    return (value is None, value or "")


def track_key(s: Stream) -> tuple[Any, ...]:
    """What the API counts as one track: a song (primary artist and title), from the reference."""
    return s.song


def expected_top_artists(plays: list[Stream], limit: int) -> list[dict[str, Any]]:
    counts: Counter[str | None] = Counter(s.creator for s in plays)
    ms: Counter[str | None] = Counter()
    for s in plays:
        ms[s.creator] += s.ms_played
    total = len(plays)
    ranked = sorted(counts, key=lambda a: (-counts[a], -ms[a], _name_key(a)))[:limit]
    return [
        {"artist": a, "plays": counts[a], "minutes": minutes(ms[a]), "share": round(counts[a] / total, 4)}
        for a in ranked
    ]


def expected_tracks(plays: list[Stream]) -> dict[Any, dict[str, Any]]:
    """Per song: plays, ms, the (max) track and artist name, the most played release (known URIs
    first, then plays, minutes, URI) and its album (of the most played release that has one), and
    the number of release URIs."""
    out: dict[Any, dict[str, Any]] = {}
    for s in plays:
        entry = out.setdefault(track_key(s), {"plays": 0, "ms": 0, "names": set(), "artists": set(), "releases": {}})
        entry["plays"] += 1
        entry["ms"] += s.ms_played
        if s.item is not None:
            entry["names"].add(s.item)
        if s.creator is not None:
            entry["artists"].add(s.creator)
        release = entry["releases"].setdefault(s.uri, {"plays": 0, "ms": 0, "albums": set()})
        release["plays"] += 1
        release["ms"] += s.ms_played
        release["albums"] |= {s.album} if s.album is not None else set()
    for entry in out.values():
        entry["track"] = max(entry.pop("names"), default=None)
        entry["artist"] = max(entry.pop("artists"), default=None)
        releases = entry.pop("releases")
        album = {uri: max(r["albums"], default=None) for uri, r in releases.items()}

        def rank(uri: str | None, first: bool, releases: dict[Any, Any] = releases) -> tuple[Any, ...]:
            return (first, -releases[uri]["plays"], -releases[uri]["ms"], uri or "")

        entry["track_uri"] = min(releases, key=lambda u: rank(u, u is None))
        entry["album"] = album[min(releases, key=lambda u: rank(u, album[u] is None))]
        entry["releases"] = sum(1 for uri in releases if uri)
    return out


def expected_top_tracks(plays: list[Stream], limit: int) -> list[dict[str, Any]]:
    tracks = expected_tracks(plays)
    ranked = sorted(
        tracks.items(),
        key=lambda kv: (
            -kv[1]["plays"],
            -kv[1]["ms"],
            _name_key(kv[1]["track"]),
            _name_key(kv[1]["artist"]),
            str(kv[0]),
        ),
    )[:limit]
    return [
        {
            "track": t["track"],
            "artist": t["artist"],
            "plays": t["plays"],
            "minutes": minutes(t["ms"]),
            "track_uri": t["track_uri"],
            "album": t["album"],
            "releases": t["releases"],
        }
        for _, t in ranked
    ]


def expected_gaps(days: list[date], play_days: set[date]) -> list[tuple[date, date, int]]:
    gaps: list[tuple[date, date, int]] = []
    run: list[date] = []
    for day in [*days, None]:
        if day is not None and day not in play_days:
            run.append(day)
        elif run:
            gaps.append((run[0], run[-1], len(run)))
            run = []
    return gaps


def utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def data_path(case: str) -> Path:
    return EXPORTS / CASES[case][0]


def sample_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments for a tool: nothing but what its schema requires, from the schema's own examples."""
    args: dict[str, Any] = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        examples = prop.get("examples") or prop.get("enum")
        assert examples, f"required argument {name!r} has no examples in its schema: add one for clients"
        args[name] = examples[0]
    return args
