"""The history namespace's insight tools (issue 23; the contract is domain.md §3b): top albums,
discoveries, sessions and streaks, skips. Each reads its own marts (album_plays / album_totals,
discoveries_by_day + listening_catalog, listening_sessions / listening_streaks, stream_skips /
stream_reasons); the day-grain ones are index range reads on (user_id, local_date), like history.py's.

A window that holds the whole stored history (all_time, or any window around it) is answered from
the all-time rows where a day-grain sum would read every day of the listener (album_totals for
albums, the catalog's ranking index for discoveries): the same numbers, since every play lies in it.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from mcp_api.auth import UserRef
from mcp_api.tools.common import (
    WINDOW,
    Call,
    LimitArg,
    ListArgs,
    OmitsNone,
    Out,
    StrictModel,
    UserArg,
    Window,
    Windowed,
    WindowFields,
    today_in,
    tool,
)
from mcp_api.tools.history import OLD_PERIODS, _ranked, explained, minutes

# -- arguments ------------------------------------------------------------------------------------

DiscoveryType = Literal["artist", "track"]


class _DiscoveryFields(StrictModel):
    type: DiscoveryType = Field(default="artist", description="artist (default) or track (a song).")


class DiscoveriesArgs(UserArg, LimitArg, _DiscoveryFields, WindowFields):
    pass


class _SessionFields(StrictModel):
    limit: int = Field(default=5, ge=1, le=50, description="How many of the longest sessions to list (1-50).")


class SessionsArgs(UserArg, _SessionFields, WindowFields):
    pass


DEFAULT_MIN_STREAMS = 5
"""most_skipped's default; marts.recent_rankings stores the default windows' lists for it."""


class _SkipFields(StrictModel):
    min_streams: int = Field(
        default=DEFAULT_MIN_STREAMS,
        ge=1,
        le=10_000,
        description="Songs need at least this many streams to be in most_skipped.",
    )


class SkipsArgs(UserArg, LimitArg, _SkipFields, WindowFields):
    pass


# -- results --------------------------------------------------------------------------------------


class AlbumItem(Out):
    album: str
    artist: str | None
    plays: int
    minutes: float
    songs: int = Field(description="Distinct songs of this album played in the window.")
    share: float = Field(description="This album's plays / all plays in the window.")


class TopAlbums(Windowed):
    total_plays: int
    unique_albums: int
    plays_without_album: int = Field(
        description="Plays in the window that carry no album (account-format export rows): the ranking cannot see them."
    )
    items: list[AlbumItem] = Field(description="Ranked by plays, then minutes, then album and artist name.")


class DiscoveryItem(OmitsNone):
    _optional = frozenset({"artist"})
    name: str
    artist: str | None = Field(default=None, description="Songs: the artist.")
    first_played: datetime = Field(description="The first play in the whole stored history (local time).")
    plays_in_window: int
    plays_total: int = Field(description="Plays over the whole stored history.")


class DiscoveryMonth(Out):
    month: str = Field(description="YYYY-MM (local).")
    new_artists: int
    new_tracks: int


class Discoveries(Windowed):
    type: DiscoveryType
    new_count: int = Field(
        description="Artists (or songs) whose first play in the whole stored history is in the window."
    )
    items: list[DiscoveryItem] = Field(description="Most played in the window first (then minutes, then name).")
    by_month: list[DiscoveryMonth] = Field(description="Every month of the window, zeros included.")
    share_new: float | None = Field(
        description="The window's plays of things discovered in it / its plays (null without plays)."
    )


class Session(Out):
    start: datetime = Field(description="Local time its first play started.")
    end: datetime = Field(description="Local time its last play ended.")
    minutes: float
    plays: int
    top_artist: str | None


class Streak(Out):
    start: date
    end: date
    days: int


class Streaks(Out):
    longest: Streak | None = Field(description="The longest run of consecutive days with plays, clipped to the window.")
    current: Streak | None = Field(
        description="The run (clipped to the window) that ends today or yesterday; null: none does."
    )


class Sessions(Windowed):
    sessions: int = Field(description="Sessions that start in the window (plays ≤ 30 minutes apart).")
    minutes: float
    median_minutes: float | None
    longest: list[Session] = Field(description="Most minutes first.")
    streaks: Streaks
    days_with_plays: int


class SkipItem(Out):
    track: str | None
    artist: str | None
    streams: int
    skips: int
    skip_rate: float


class Skips(Windowed):
    streams: int = Field(description="Music streams of any length with skip data (extended export), not private.")
    skips: int
    skip_rate: float | None
    most_skipped: list[SkipItem] = Field(
        description="Songs with at least min_streams streams, highest skip rate first."
    )
    reason_start: dict[str, int] = Field(description="Why streams started: Spotify's reason_start → streams.")
    reason_end: dict[str, int] = Field(description="Why streams ended: Spotify's reason_end → streams.")
    shuffle_share: float | None = Field(description="Share of the streams played in shuffle (null: unknown).")
    streams_without_skip_data: int = Field(
        description="Music streams of the window without skip fields (account data, the API): not counted above."
    )


# -- helpers --------------------------------------------------------------------------------------


def _holds_history(user: UserRef, window: Window) -> bool:
    """Whether every stored play lies in the window."""
    return user.first_play is None or (
        window.start <= user.first_play and user.last_play is not None and window.end >= user.last_play
    )


def _reaches_last_play(user: UserRef, window: Window) -> bool:
    return user.last_play is None or window.end >= user.last_play


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _local(moment: datetime, timezone: str) -> datetime:
    return moment.astimezone(ZoneInfo(timezone))


def _months(window: Window) -> list[str]:
    months: list[str] = []
    day = window.start.replace(day=1)
    while day <= window.end:
        months.append(f"{day.year:04d}-{day.month:02d}")
        if day.month == 12:
            if day.year == date.max.year:
                break
            day = date(day.year + 1, 1, 1)
        else:
            day = date(day.year, day.month + 1, 1)
    return months


# -- history.top_albums ---------------------------------------------------------------------------

TOP_ALBUMS = _ranked("albums", "window_top_albums")
"""Rows (as `item`): the window's totals row (album_name NULL: total_plays, plays_without_album,
albums) and the ranked albums: artist_name, album_name, plays, ms, songs."""


ALL_TIME_ALBUMS = """
select jsonb_build_object('artist_name', null, 'album_name', null, 'total_plays', coalesce(sum(plays), 0),
                          'plays_without_album', coalesce(sum(plays) filter (where album_name is null), 0),
                          'albums', count(album_name)) as item
from marts.album_totals where user_id = %(user_id)s
union all
select item from (
    select jsonb_build_object('artist_name', artist_name, 'album_name', album_name, 'plays', plays,
                              'ms', ms_played, 'songs', songs) as item
    from marts.album_totals
    where user_id = %(user_id)s and album_name is not null
    order by plays desc, ms_played desc, album_name collate "C", artist_name collate "C"
    limit %(limit)s
) ranked
"""
"""The same rows for a window that holds the whole history, from the all-time rows in ranking order."""


@tool(
    "history.top_albums",
    "The listener's most played albums in a window (default: last 90 days): plays, minutes, distinct songs "
    "played, share; and how many plays carry no album (account-format data). " + OLD_PERIODS,
    title="My top albums",
)
async def top_albums(c: Call, args: ListArgs) -> TopAlbums:
    user, window, bounds = c.window(args)
    sql = ALL_TIME_ALBUMS if _holds_history(user, window) else TOP_ALBUMS
    rows = await c.db.items(sql, bounds.params(limit=args.limit))
    totals = next((r for r in rows if r["album_name"] is None), {})
    total = totals.get("total_plays", 0)
    return TopAlbums.model_validate(
        dict(
            **explained(user, window, total),
            total_plays=total,
            unique_albums=totals.get("albums", 0),
            plays_without_album=totals.get("plays_without_album", 0),
            items=[
                {
                    "album": r["album_name"],
                    "artist": r["artist_name"],
                    "plays": r["plays"],
                    "minutes": minutes(r["ms"]),
                    "songs": r["songs"],
                    "share": round(r["plays"] / total, 4) if total else 0.0,
                }
                for r in rows
                if r["album_name"] is not None
            ],
        )
    )


# -- history.discoveries --------------------------------------------------------------------------

ALL_DISCOVERY_MONTHS = """
select month, plays, new_artists, new_tracks, new_artist_plays, new_track_plays
from marts.discoveries_by_month where user_id = %(user_id)s
"""
"""The months of a window that holds the whole history: ~180 stored rows instead of ~5 500 days to sum."""

# Months by date_trunc (formatted here): to_char cost three times as much for the ~5 000 days of a long history.
DISCOVERY_MONTHS = f"""
select date_trunc('month', local_date)::date as month, sum(plays)::bigint as plays,
       sum(new_artists)::bigint as new_artists, sum(new_tracks)::bigint as new_tracks,
       sum(new_artist_plays)::bigint as new_artist_plays, sum(new_track_plays)::bigint as new_track_plays
from marts.discoveries_by_day where {WINDOW}
group by 1
"""

# The catalog's items of a type first played in the window: a range of its (user_id, item_type,
# first_played_at) index, the local days turned into the instants they start at.
_FIRST_PLAYED_IN_WINDOW = """
    c.user_id = %(user_id)s and c.item_type = %(type)s
    and c.first_played_at >= (%(start)s::date::timestamp at time zone %(timezone)s)
    and c.first_played_at < ((%(end)s::date + 1)::timestamp at time zone %(timezone)s)
"""

_DISCOVERY_ORDER = 'plays desc, ms desc, item_name collate "C", artist_name collate "C" nulls first'
_CATALOG_ORDER = 'plays desc, ms_played desc, item_name collate "C", artist_name collate "C" nulls first'

# A window that reaches the last stored play holds every play of the items first played in it.
DISCOVERIES_TO_DATE = f"""
select item_name, artist_name, first_played_at, plays, plays as plays_total, ms_played as ms
from marts.listening_catalog c
where {_FIRST_PLAYED_IN_WINDOW}
order by {_CATALOG_ORDER}
limit %(limit)s
"""

# ... and one that holds the whole history, all of the type's items (the ranking index's order).
DISCOVERIES_ALL = f"""
select item_name, artist_name, first_played_at, plays, plays as plays_total, ms_played as ms
from marts.listening_catalog c
where c.user_id = %(user_id)s and c.item_type = %(type)s
order by {_CATALOG_ORDER}
limit %(limit)s
"""

# A window that ends before the last play: the discovered items' plays in the window, from the day rows.
DISCOVERIES_BEFORE = f"""
with found as materialized (
    select c.item_name, c.artist_name, c.first_played_at, c.plays as plays_total,
           case when c.item_type = 'track' and c.artist_name is not null
                then jsonb_build_array(c.artist_name, c.item_name)::text end as track_key
    from marts.listening_catalog c
    where {_FIRST_PLAYED_IN_WINDOW}
),
artist_days as (
    select a.artist_name as item_name, sum(a.plays)::bigint as plays, sum(a.ms_played)::bigint as ms
    from marts.top_artists a
    where %(type)s = 'artist' and a.user_id = %(user_id)s and a.local_date between %(start)s and %(end)s
      and a.artist_name in (select item_name from found)
    group by a.artist_name
),
track_days as (
    select t.track_key, sum(t.plays)::bigint as plays, sum(t.ms_played)::bigint as ms
    from marts.top_tracks t
    where %(type)s = 'track' and t.user_id = %(user_id)s and t.local_date between %(start)s and %(end)s
      and t.track_key in (select track_key from found)
    group by t.track_key
),
counted as (
    select f.item_name, f.artist_name, f.first_played_at, f.plays_total,
           coalesce(a.plays, t.plays, 0) as plays, coalesce(a.ms, t.ms, 0) as ms
    from found f
    left join artist_days a on %(type)s = 'artist' and a.item_name = f.item_name
    left join track_days t on %(type)s = 'track' and t.track_key = f.track_key
)
select item_name, artist_name, first_played_at, plays, plays_total, ms,
       sum(plays) over () as discovered_plays
from counted
order by {_DISCOVERY_ORDER}
limit %(limit)s
"""


@tool(
    "history.discoveries",
    "Artists (or songs) the listener discovered in a window: first played then, over the whole stored history. "
    "How many, the most played, new artists and songs per month, and the share of plays that went to them. "
    + OLD_PERIODS,
    title="What I discovered",
)
async def discoveries(c: Call, args: DiscoveriesArgs) -> Discoveries:
    user, window, bounds = c.window(args)
    params = bounds.params(limit=args.limit, type=args.type, timezone=user.timezone)
    to_date, whole = _reaches_last_play(user, window), _holds_history(user, window)
    items_sql = DISCOVERIES_ALL if whole else DISCOVERIES_TO_DATE if to_date else DISCOVERIES_BEFORE
    months_sql = ALL_DISCOVERY_MONTHS if whole else DISCOVERY_MONTHS
    months, items = await asyncio.gather(c.db.rows(months_sql, params), c.db.rows(items_sql, params))
    by_month = {f"{r['month']:%Y-%m}": r for r in months}
    plays = sum(r["plays"] for r in months)
    new_count = sum(r["new_artists" if args.type == "artist" else "new_tracks"] for r in months)
    if to_date:
        discovered_plays = sum(r["new_artist_plays" if args.type == "artist" else "new_track_plays"] for r in months)
    else:
        discovered_plays = items[0]["discovered_plays"] if items else 0
    return Discoveries.model_validate(
        dict(
            **explained(user, window, plays),
            type=args.type,
            new_count=new_count,
            items=[
                {
                    "name": r["item_name"],
                    "artist": r["artist_name"] if args.type == "track" else None,
                    "first_played": _local(r["first_played_at"], user.timezone),
                    "plays_in_window": r["plays"],
                    "plays_total": r["plays_total"],
                }
                for r in items
            ],
            by_month=[
                {
                    "month": m,
                    "new_artists": by_month[m]["new_artists"] if m in by_month else 0,
                    "new_tracks": by_month[m]["new_tracks"] if m in by_month else 0,
                }
                for m in _months(window)
            ],
            share_new=_rate(discovered_plays, plays),
        )
    )


# -- history.sessions -----------------------------------------------------------------------------

SESSION_TOTALS = f"""
select count(*) as sessions, coalesce(sum(ms_played), 0)::bigint as ms,
       percentile_cont(0.5) within group (order by ms_played) as median_ms
from marts.listening_sessions where {WINDOW}
"""

LONGEST_SESSIONS = f"""
select session_start, session_end, plays, ms_played, top_artist
from marts.listening_sessions where {WINDOW}
order by ms_played desc, session_start
limit %(limit)s
"""

# The streaks that overlap the window, clipped to it.
STREAKS = """
with clipped as (
    select greatest(start_date, %(start)s::date) as s, least(end_date, %(end)s::date) as e
    from marts.listening_streaks
    where user_id = %(user_id)s and end_date >= %(start)s and start_date <= %(end)s
)
select (select coalesce(sum(e - s + 1), 0) from clipped)::bigint as days_with_plays,
       l.s as longest_start, l.e as longest_end, n.s as current_start, n.e as current_end
from (select 1) one
left join lateral (select s, e from clipped order by e - s desc, s limit 1) l on true
left join lateral (
    select s, e from clipped where e between %(yesterday)s and %(yesterday)s::date + 1 order by e desc limit 1
) n on true
"""


def _streak(start: date | None, end: date | None) -> dict[str, Any] | None:
    if start is None or end is None:
        return None
    return {"start": start, "end": end, "days": (end - start).days + 1}


@tool(
    "history.sessions",
    "The listener's listening sessions in a window (plays at most 30 minutes apart): how many, minutes, the "
    "median and the longest sessions; streaks of consecutive days with plays (longest, current). " + OLD_PERIODS,
    title="My sessions and streaks",
)
async def sessions(c: Call, args: SessionsArgs) -> Sessions:
    user, window, bounds = c.window(args)
    today = today_in(user.timezone, c.now)
    totals, longest, streaks = await asyncio.gather(
        c.db.rows(SESSION_TOTALS, bounds.params()),
        c.db.rows(LONGEST_SESSIONS, bounds.params(limit=args.limit)),
        c.db.rows(STREAKS, bounds.params(yesterday=today - timedelta(days=1))),
    )
    t, s = totals[0], streaks[0]
    return Sessions.model_validate(
        dict(
            **explained(user, window, t["sessions"]),
            sessions=t["sessions"],
            minutes=minutes(t["ms"]),
            median_minutes=minutes(round(t["median_ms"])) if t["median_ms"] is not None else None,
            longest=[
                {
                    "start": _local(r["session_start"], user.timezone),
                    "end": _local(r["session_end"], user.timezone),
                    "minutes": minutes(r["ms_played"]),
                    "plays": r["plays"],
                    "top_artist": r["top_artist"],
                }
                for r in longest
            ],
            streaks={
                "longest": _streak(s["longest_start"], s["longest_end"]),
                "current": _streak(s["current_start"], s["current_end"]),
            },
            days_with_plays=s["days_with_plays"],
        )
    )


# -- history.skips --------------------------------------------------------------------------------

_REASON_COLUMNS = "is_extended, reason_start, reason_end, shuffle, known, skipped"

SKIP_REASONS = f"""
select {_REASON_COLUMNS}, sum(streams)::bigint as streams
from marts.stream_reasons where {WINDOW}
group by {_REASON_COLUMNS}
"""

ALL_SKIP_REASONS = f"""
select {_REASON_COLUMNS}, streams from marts.stream_reason_totals where user_id = %(user_id)s
"""
"""The same rows for a window that holds every skip stream (see SKIP_SPAN), from the all-time rows."""

SKIP_SPAN = """
select min(first_date) as first_date, max(last_date) as last_date
from marts.stream_reason_totals where user_id = %(user_id)s
"""
"""The local days the listener's skip streams span (streams of any length: they may lie outside the
first and last play's days, so `history` does not say)."""

MOST_SKIPPED = _ranked("skips", "window_most_skipped")
"""Rows (as `item`) for the default min_streams: track_key, track_name, artist_name, streams, skips."""

MOST_SKIPPED_AT_LEAST = """
select to_jsonb(f) - 'rank' as item
from marts.window_most_skipped(%(user_id)s, %(start)s, %(end)s, %(limit)s, %(min_streams)s) f
order by f.rank
"""

ALL_MOST_SKIPPED = """
select jsonb_build_object('track_key', track_key, 'track_name', track_name, 'artist_name', artist_name,
                          'streams', streams, 'skips', skips) as item
from marts.skip_totals
where user_id = %(user_id)s and streams >= %(min_streams)s
order by skip_rate desc, streams desc, track_name collate "C" nulls last, artist_name collate "C" nulls last,
         track_key collate "C"
limit %(limit)s
"""
"""most_skipped for a window that holds every skip stream, in the rate order of skip_totals' index."""


@tool(
    "history.skips",
    "What the listener skips in a window: streams, skips and skip rate (extended export data), the most skipped "
    "songs, why streams started and ended, and how much was played in shuffle. " + OLD_PERIODS,
    title="What I skip",
)
async def skips(c: Call, args: SkipsArgs) -> Skips:
    user, window, bounds = c.window(args)
    params = bounds.params(limit=args.limit, min_streams=args.min_streams)
    span = (await c.db.rows(SKIP_SPAN, params))[0]
    holds_all = span["first_date"] is None or (window.start <= span["first_date"] and window.end >= span["last_date"])
    if holds_all:
        songs_sql = ALL_MOST_SKIPPED
    else:
        songs_sql = MOST_SKIPPED if args.min_streams == DEFAULT_MIN_STREAMS else MOST_SKIPPED_AT_LEAST
    reasons, songs = await asyncio.gather(
        c.db.rows(ALL_SKIP_REASONS if holds_all else SKIP_REASONS, params), c.db.items(songs_sql, params)
    )
    streams = sum(r["streams"] for r in reasons if r["known"])
    skipped = sum(r["streams"] for r in reasons if r["known"] and r["skipped"])
    unknown = sum(r["streams"] for r in reasons if not r["known"])
    extended = [r for r in reasons if r["is_extended"]]
    starts: dict[str, int] = {}
    ends: dict[str, int] = {}
    for r in extended:
        if r["reason_start"] is not None:
            starts[r["reason_start"]] = starts.get(r["reason_start"], 0) + r["streams"]
        if r["reason_end"] is not None:
            ends[r["reason_end"]] = ends.get(r["reason_end"], 0) + r["streams"]
    shuffle_known = sum(r["streams"] for r in extended if r["shuffle"] is not None)
    shuffled = sum(r["streams"] for r in extended if r["shuffle"])
    result = dict(
        **explained(user, window, streams + unknown),
        streams=streams,
        skips=skipped,
        skip_rate=_rate(skipped, streams),
        most_skipped=[
            {
                "track": r["track_name"],
                "artist": r["artist_name"],
                "streams": r["streams"],
                "skips": r["skips"],
                "skip_rate": round(r["skips"] / r["streams"], 4),
            }
            for r in songs
        ],
        reason_start=dict(sorted(starts.items(), key=lambda kv: (-kv[1], kv[0]))),
        reason_end=dict(sorted(ends.items(), key=lambda kv: (-kv[1], kv[0]))),
        shuffle_share=_rate(shuffled, shuffle_known),
        streams_without_skip_data=unknown,
    )
    if unknown and result["note"] is None:
        result["note"] = (
            f"{unknown} music streams in this window come from account data or Spotify's API, which record no "
            "skips: the figures above cover the extended export's streams only."
        )
    return Skips.model_validate(result)
