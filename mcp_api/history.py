"""The history tools: functions over the day-grain marts, one per tool (registered in tools.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from mcp_api import models as m
from mcp_api import queries as q
from mcp_api import windows
from mcp_api.auth import UserRef
from mcp_api.call import Call


def minutes(ms: int | None) -> float:
    return round((ms or 0) / 60_000, 1)


def explained(user: UserRef, window: windows.Window, plays: int) -> dict[str, Any]:
    """The fields every windowed answer carries: the listener, the window, what is stored over all
    time, and — when the window holds no plays — a sentence an assistant can repeat, so an empty
    window is never read as "you have not listened to anything"."""
    return {
        "user": user.name,
        "window": window.as_json(),
        "history": {"first_play": user.first_play, "last_play": user.last_play, "plays": user.plays},
        "note": None if plays else empty_window_note(user, window),
    }


def empty_window_note(user: UserRef, window: windows.Window) -> str:
    if not user.plays or user.first_play is None or user.last_play is None:
        return (
            "No plays are stored for this listener yet: import a Spotify privacy export or connect Spotify, "
            "then ask again."
        )
    return (
        f"No plays between {window.start.isoformat()} and {window.end.isoformat()}; the stored history runs "
        f"from {user.first_play.isoformat()} to {user.last_play.isoformat()}."
    )


async def top_artists(c: Call, args: m.ListArgs) -> m.TopArtists:
    user, window, bounds = c.window(args)
    rows = await c.db.items(q.TOP_ARTISTS, bounds.params(limit=args.limit))
    total = rows[0]["total_plays"] if rows else 0
    return m.TopArtists.model_validate(
        dict(
            **explained(user, window, total),
            total_plays=total,
            unique_artists=rows[0]["artists"] if rows else 0,
            items=[artist_item(r, total) for r in rows],
        )
    )


# Items are built as dicts and validated with their result in one call (one pass in pydantic-core
# instead of one per item: it matters for 168 heatmap cells).


def artist_item(row: dict[str, Any], total: int) -> dict[str, Any]:
    return {
        "artist": row["artist_name"],
        "plays": row["plays"],
        "minutes": minutes(row["ms"]),
        "share": round(row["plays"] / total, 4) if total else 0.0,
    }


async def top_tracks(c: Call, args: m.ListArgs) -> m.TopTracks:
    user, window, bounds = c.window(args)
    rows = await c.db.items(q.TOP_TRACKS, bounds.params(limit=args.limit))
    total = rows[0]["total_plays"] if rows else 0
    return m.TopTracks.model_validate(
        dict(
            **explained(user, window, total),
            total_plays=total,
            unique_tracks=rows[0]["tracks"] if rows else 0,
            items=[track_item(r) for r in rows],
        )
    )


def track_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "track": row["track_name"],
        "artist": row["artist_name"],
        "plays": row["plays"],
        "minutes": minutes(row["ms"]),
        "track_uri": row["track_uri"],
        "album": row["album_name"],
        "releases": row["releases"],
    }


async def listening_heatmap(c: Call, args: m.WindowArgs) -> m.Heatmap:
    user, window, bounds = c.window(args)
    rows = await c.db.rows(q.HEATMAP, bounds.params())
    plays = {(r["iso_weekday"], r["local_hour"]): r["plays"] for r in rows}
    cells = [{"weekday": d, "hour": h, "plays": plays.get((d, h), 0)} for d in range(1, 8) for h in range(24)]
    peak = max(cells, key=lambda cell: cell["plays"])  # first of equals: earliest weekday and hour
    total = sum(plays.values())
    return m.Heatmap.model_validate(
        dict(
            **explained(user, window, total),
            timezone=user.timezone,
            total_plays=total,
            peak=peak if peak["plays"] else None,
            cells=cells,
        )
    )


async def repeat_rate(c: Call, args: m.ListArgs) -> m.RepeatRate:
    user, window, bounds = c.window(args)
    rows = await c.db.items(q.REPEAT_RATE, bounds.params(limit=args.limit))
    plays = rows[0]["total_plays"] if rows else 0
    unique = rows[0]["unique_tracks"] if rows else 0
    return m.RepeatRate.model_validate(
        dict(
            **explained(user, window, plays),
            plays=plays,
            unique_tracks=unique,
            repeat_rate=round(1 - unique / plays, 4) if plays else None,
            tracks_played_more_than_once=rows[0]["repeated_tracks"] if rows else 0,
            top_repeated=[
                {"track": r["track_name"], "artist": r["artist_name"], "plays": r["plays"]}
                for r in rows
                if r["plays"] > 1
            ],
        )
    )


SOURCES = ("extended", "account", "api")


async def coverage(c: Call, args: m.ListArgs) -> m.Coverage:
    user, window, bounds = c.window(args)
    rows = await c.db.rows(q.COVERAGE, bounds.params())
    by_source: dict[str, dict[str, Any]] = {
        s: {"plays": 0, "streams": 0, "days": set(), "first": None, "last": None} for s in SOURCES
    }
    play_days = set()
    for r in rows:
        s = by_source.setdefault(r["source"], {"plays": 0, "streams": 0, "days": set(), "first": None, "last": None})
        s["plays"] += r["plays"]
        s["streams"] += r["streams"]
        if r["plays"]:
            s["days"].add(r["local_date"])
            play_days.add(r["local_date"])
        s["first"] = _earliest(s["first"], r["first_play_at"])
        s["last"] = _latest(s["last"], r["last_play_at"])
    gaps = _gaps(window, play_days)
    longest = sorted(sorted(gaps, key=lambda g: (-g.days, g.start))[: args.limit], key=lambda g: g.start)
    sources = {
        name: m.SourceCoverage(
            plays=s["plays"],
            streams=s["streams"],
            days_with_plays=len(s["days"]),
            first_play=s["first"],
            last_play=s["last"],
        )
        for name, s in by_source.items()
    }
    firsts = [s.first_play for s in sources.values() if s.first_play]
    lasts = [s.last_play for s in sources.values() if s.last_play]
    total = sum(s.plays for s in sources.values())
    return m.Coverage.model_validate(
        dict(
            **explained(user, window, total),
            days_in_window=window.days,
            days_with_plays=len(play_days),
            plays=total,
            by_source=sources,
            gaps=longest,
            gap_count=len(gaps),
            gap_days=sum(g.days for g in gaps),
            first_play=min(firsts) if firsts else None,
            last_play=max(lasts) if lasts else None,
            last_successful_poll=user.last_poll,
        )
    )


def _gaps(window: windows.Window, play_days: set[Any]) -> list[m.Gap]:
    """Runs of consecutive local days without plays inside the window."""
    gaps: list[m.Gap] = []
    run_start: Any = None
    # Counted by index, not by stepping past window.end: the end may be date.max.
    for i in range(window.days):
        day = window.start + timedelta(days=i)
        if day not in play_days:
            run_start = run_start or day
        elif run_start is not None:
            gaps.append(m.Gap(start=run_start, end=day - timedelta(days=1), days=(day - run_start).days))
            run_start = None
    if run_start is not None:
        gaps.append(m.Gap(start=run_start, end=window.end, days=(window.end - run_start).days + 1))
    return gaps


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


async def taste_summary(c: Call, args: m.ListArgs) -> m.TasteSummary:
    user, window, bounds = c.window(args)
    params = bounds.params(limit=args.limit)
    # Independent reads: run them side by side on pooled connections.
    artists, tracks, heat, mix, shows, days = await asyncio.gather(
        c.db.items(q.TOP_ARTISTS, params),
        c.db.items(q.TOP_TRACKS, params),
        c.db.rows(q.HEATMAP, params),
        c.db.rows(q.CONTENT_MIX, params),
        c.db.rows(q.TOP_SHOWS, bounds.params(limit=min(args.limit, 5))),
        c.db.rows(q.DAYS_WITH_PLAYS, params),
    )
    plays = artists[0]["total_plays"] if artists else 0
    unique_tracks = tracks[0]["tracks"] if tracks else 0
    by_weekday: dict[int, int] = {}
    by_hour: dict[int, int] = {}
    for r in heat:
        by_weekday[r["iso_weekday"]] = by_weekday.get(r["iso_weekday"], 0) + r["plays"]
        by_hour[r["local_hour"]] = by_hour.get(r["local_hour"], 0) + r["plays"]
    return m.TasteSummary.model_validate(
        dict(
            **explained(user, window, plays),
            plays=plays,
            minutes=minutes(artists[0]["total_ms"] if artists else 0),
            unique_artists=artists[0]["artists"] if artists else 0,
            unique_tracks=unique_tracks,
            repeat_rate=round(1 - unique_tracks / plays, 4) if plays else None,
            top_artists=[artist_item(r, plays) for r in artists],
            top_tracks=[track_item(r) for r in tracks],
            peak_weekday=_argmax(by_weekday),
            peak_hour=_argmax(by_hour),
            minutes_by_content={
                r["content_type"]: minutes(r["ms"]) for r in sorted(mix, key=lambda r: r["content_type"])
            },
            top_shows=[{"show": r["show_name"], "minutes": minutes(r["ms"])} for r in shows],
            days_with_plays=days[0]["days"] if days else 0,
            days_in_window=window.days,
        )
    )


def _argmax(counts: dict[int, int]) -> int | None:
    best = max(sorted(counts.items()), key=lambda kv: kv[1], default=None)
    return best[0] if best and best[1] else None
