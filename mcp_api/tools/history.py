"""The history namespace: the listener's stored plays, read from the day-grain marts (rankings,
heatmap, repeats, coverage, taste summary) and from the played catalog (history.search). Each tool's
function, its argument and result models and its SQL are here; registry.py lists the tools.

SQL: every statement is parameterized and every day-grain read is an index range read on
(user_id, local_date). Ordering ties are broken by codepoint order (`collate "C"`), so rankings do
not depend on the server's locale.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from mcp_api import views
from mcp_api.auth import UserRef, require_user
from mcp_api.errors import BadArguments
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
    WindowArgs,
    Windowed,
    tool,
)

# Every windowed tool's description ends with how to reach periods outside the default window.
OLD_PERIODS = "Older periods: start/end (YYYY-MM-DD) or all_time: true; `history` gives the stored dates."


# -- arguments (history.search; the windowed tools take common.ListArgs or WindowArgs) --------------

SearchType = Literal["track", "artist", "album", "show"]


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("q must not contain NUL characters")
    return text


class _SearchFields(StrictModel):
    q: Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_nul)] = Field(
        description="What to look for in the listener's played tracks, artists, albums and shows (1-200 "
        "characters; case and accents do not matter; each word matches the start of a word).",
        examples=["beyonce"],
    )
    type: SearchType | SkipJsonSchema[None] = Field(
        default=None, description="Only this kind of item: track, artist, album or show (default: all)."
    )


class SearchArgs(UserArg, LimitArg, _SearchFields):
    pass


# -- results --------------------------------------------------------------------------------------


class ArtistItem(Out):
    artist: str | None
    plays: int
    minutes: float
    share: float = Field(description="This artist's plays / all plays in the window.")


class TopArtists(Windowed):
    total_plays: int
    unique_artists: int
    items: list[ArtistItem] = Field(description="Ranked by plays, then minutes, then name.")


class TrackItem(Out):
    """A song by default (the same primary artist and title across releases, albums and sources)."""

    track: str | None
    artist: str | None
    plays: int
    minutes: float
    track_uri: str | None = Field(default=None, description="The most played release's URI (null: none known).")
    album: str | None = Field(default=None, description="The album of the most played release with a known album.")
    releases: int = Field(
        default=0, description="How many release URIs of this song were played in the window (merged into one item)."
    )


class TopTracks(Windowed):
    total_plays: int
    unique_tracks: int
    items: list[TrackItem] = Field(description="Ranked by plays, then minutes, then track and artist name.")


class HeatCell(Out):
    weekday: int = Field(description="ISO weekday: 1 = Monday … 7 = Sunday.")
    hour: int = Field(description="Local hour 0-23.")
    plays: int


class Heatmap(Windowed):
    timezone: str
    total_plays: int
    peak: HeatCell | None = Field(description="The weekday and hour with the most plays (null without plays).")
    cells: list[HeatCell] = Field(description="All 168 weekday × hour cells, Monday 0h first.")


class RepeatItem(Out):
    track: str | None
    artist: str | None
    plays: int


class RepeatRate(Windowed):
    plays: int
    unique_tracks: int
    repeat_rate: float | None = Field(description="1 - unique tracks / plays; null when there are no plays.")
    tracks_played_more_than_once: int
    top_repeated: list[RepeatItem]


class Gap(Out):
    start: date
    end: date
    days: int


class SourceCoverage(Out):
    plays: int
    streams: int
    days_with_plays: int
    first_play: datetime | None
    last_play: datetime | None


class Coverage(Windowed):
    days_in_window: int
    days_with_plays: int
    plays: int
    by_source: dict[str, SourceCoverage] = Field(
        description="Per source: extended (lifetime export), account (last-year export), api (polled plays)."
    )
    gaps: list[Gap] = Field(description="The longest runs of days without plays (up to limit), in date order.")
    gap_count: int = Field(description="All runs of days without plays in the window.")
    gap_days: int
    first_play: datetime | None
    last_play: datetime | None
    last_successful_poll: datetime | None = Field(
        description="The last successful poll of Spotify's API (null: never polled, or not linked)."
    )


class ShowItem(Out):
    show: str | None
    minutes: float


class TasteSummary(Windowed):
    plays: int
    minutes: float = Field(description="Minutes of music plays.")
    unique_artists: int
    unique_tracks: int
    repeat_rate: float | None
    top_artists: list[ArtistItem]
    top_tracks: list[TrackItem]
    peak_weekday: int | None = Field(description="ISO weekday with the most plays (1 = Monday).")
    peak_hour: int | None = Field(description="Local hour with the most plays.")
    minutes_by_content: dict[str, float] = Field(description="Minutes listened per content type (music, podcast …).")
    top_shows: list[ShowItem]
    days_with_plays: int
    days_in_window: int


class SearchItem(OmitsNone):
    _optional = frozenset({"artist", "uri"})
    type: SearchType
    name: str
    artist: str | None = Field(default=None, description="Tracks and albums: the artist.")
    uri: str | None = Field(default=None, description="Tracks: the most played Spotify URI of the song.")
    plays: int = Field(description="Plays (music) or listened episodes (shows), over all stored history.")
    minutes: float
    first_played: datetime
    last_played: datetime


class SearchResult(Out):
    user: str = Field(description="The listener's user name.")
    q: str
    type: SearchType | None
    items: list[SearchItem] = Field(description="Best match first (exact name, name prefix, words), then most played.")


# -- SQL ------------------------------------------------------------------------------------------


# The rankings (history.top_artists, top_tracks, repeat_rate; taste_summary's lists) are SQL
# functions in the marts schema (dbt macros/window_rankings.sql), one definition for both paths:
# the default windows' answers are stored by a build (marts.recent_rankings: an index lookup, with a
# rank-0 row marking a stored window, empty or not), any other window is computed by the function.
# The function is not called when the window is stored (an uncorrelated NOT EXISTS: a one-time filter).
# A stored rank-0 row with an item is the window's totals (window_top_albums returns one), served
# like the function's own.
def _ranked(ranking: str, function: str) -> str:
    return f"""
with stored as materialized (
    select rank, item from marts.recent_rankings
    where user_id = %(user_id)s and window_start = %(start)s and window_end = %(end)s
      and ranking = '{ranking}' and rank <= %(limit)s
)
select item from (
    select rank, item from stored where item is not null
    union all
    select f.rank, to_jsonb(f) - 'rank' from marts.{function}(%(user_id)s, %(start)s, %(end)s, %(limit)s) f
    where not exists (select 1 from stored)
) ranked
order by rank
"""


TOP_ARTISTS = _ranked("artists", "window_top_artists")
"""Rows (as `item`): artist_name, plays, ms, total_plays, total_ms, artists."""


TOP_TRACKS = _ranked("tracks", "window_top_tracks")
"""Rows (as `item`): track_key, track_name, artist_name, track_uri (of the most played release),
album_name, releases, plays, ms, total_plays, tracks."""


REPEAT_RATE = _ranked("repeats", "window_repeat_rate")
"""Rows (as `item`): track_key, track_name, artist_name, plays, total_plays, unique_tracks,
repeated_tracks."""


HEATMAP = f"""
select iso_weekday, local_hour, sum(plays)::bigint as plays, sum(ms_played)::bigint as ms
from marts.listening_heatmap where {WINDOW}
group by iso_weekday, local_hour
"""


COVERAGE = f"""
select local_date, source, plays, streams, first_play_at, last_play_at
from marts.coverage where {WINDOW}
"""


DAYS_WITH_PLAYS = f"""
select count(distinct local_date) as days from marts.coverage where {WINDOW} and plays > 0
"""


CONTENT_MIX = f"""
select content_type, sum(streams)::bigint as streams, sum(plays)::bigint as plays,
       sum(ms_listened)::bigint as ms
from marts.content_mix where {WINDOW}
group by content_type
"""


TOP_SHOWS = f"""
select show_name, sum(streams)::bigint as streams, sum(ms_listened)::bigint as ms
from marts.top_shows where {WINDOW}
group by show_name
order by ms desc, streams desc, show_name collate "C" nulls last
limit %(limit)s
"""


# The query folded by the very function that folded the catalog (marts.search_fold); its words cut
# to 15 characters plus '#<user_id>' are the lookup in the GIN expression index on
# marts.search_terms(user_id, search_text) (same expression), and every word must start a word of the
# item's text (which also checks words longer than 15 characters). Patterns are computed once (q),
# so each candidate row costs two LIKE ALL and no subquery.
# Rank: 0 exact name, 1 name starts with the query, 2 every word in the name, 3 needs the artist.
# A broad query ("artist 2") matches tens of thousands of items; ranking them all is the cost. The
# first two tiers come first in every ranking and are a range of the name index (listening_catalog's
# (user_id, search_key collate "C"): the names starting with the query, which also pass the word
# filter): when they fill the limit they are the answer, and the other tiers are not looked at
# (one-time filters on the count of `head`).
SEARCH_COLUMNS = """c.item_type, c.item_name, c.artist_name, c.uri, c.plays, c.ms_played, c.first_played_at,
       c.last_played_at"""


SEARCH_ORDER = """match, plays desc, last_played_at desc, item_name collate "C", artist_name collate "C" nulls first"""


SEARCH = f"""
with q as materialized (
    select key, key || '%%' as prefix,
           array(select '%% ' || w || '%%' from unnest(string_to_array(key, ' ')) w) as words,
           array['#' || %(user_id)s::text]
               || array(select left(w, 15) from unnest(string_to_array(key, ' ')) w) as terms
    from (select marts.search_fold(%(q)s) as key) f
),
head as materialized (
    select {SEARCH_COLUMNS},
           case when c.search_key = (select key from q) then 0 else 1 end as match
    from marts.listening_catalog c
    where (select key from q) <> ''
      and c.user_id = %(user_id)s
      and c.search_key collate "C" >= (select key from q)
      and c.search_key collate "C" < (select key from q) || chr(1114111)
      and c.search_key like (select prefix from q)
      and (%(type)s::text is null or c.item_type = %(type)s::text)
    order by {SEARCH_ORDER}
    limit %(limit)s
)
select * from (
select * from head where (select count(*) from head) >= %(limit)s
union all
(
select {SEARCH_COLUMNS},
       case when c.search_key = (select key from q) then 0
            when c.search_key like (select prefix from q) then 1
            when ' ' || c.search_key like all ((select words from q)::text[]) then 2
            else 3 end as match
from marts.listening_catalog c
where (select count(*) from head) < %(limit)s
  and (select key from q) <> ''
  and marts.search_terms(c.user_id, c.search_text) @> (select terms from q)
  and c.user_id = %(user_id)s
  and (%(type)s::text is null or c.item_type = %(type)s::text)
  and ' ' || c.search_text like all ((select words from q)::text[])
order by {SEARCH_ORDER}
limit %(limit)s
)
) found
order by {SEARCH_ORDER}
"""


SEARCH_FOLD = "select marts.search_fold(%(q)s) as key"


# -- the tools ------------------------------------------------------------------------------------


def minutes(ms: int | None) -> float:
    return round((ms or 0) / 60_000, 1)


def explained(user: UserRef, window: Window, plays: int) -> dict[str, Any]:
    """The fields every windowed answer carries: the listener, the window, what is stored over all
    time, and — when the window holds no plays — a sentence an assistant can repeat, so an empty
    window is never read as "you have not listened to anything"."""
    return {
        "user": user.name,
        "window": window.as_json(),
        "history": {"first_play": user.first_play, "last_play": user.last_play, "plays": user.plays},
        "note": None if plays else empty_window_note(user, window),
    }


def empty_window_note(user: UserRef, window: Window) -> str:
    if not user.plays or user.first_play is None or user.last_play is None:
        return (
            "No plays are stored for this listener yet: import a Spotify privacy export or connect Spotify, "
            "then ask again."
        )
    return (
        f"No plays between {window.start.isoformat()} and {window.end.isoformat()}; the stored history runs "
        f"from {user.first_play.isoformat()} to {user.last_play.isoformat()}."
    )


@tool(
    "history.top_artists",
    "The listener's most played artists in a window (default: last 90 days), with plays, minutes and "
    "share of all plays (a play: music, at least 30 s, not private). " + OLD_PERIODS,
    view=views.TOP_ARTISTS,
    title="My top artists",
)
async def top_artists(c: Call, args: ListArgs) -> TopArtists:
    user, window, bounds = c.window(args)
    rows = await c.db.items(TOP_ARTISTS, bounds.params(limit=args.limit))
    total = rows[0]["total_plays"] if rows else 0
    return TopArtists.model_validate(
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


@tool(
    "history.top_tracks",
    "The listener's most played songs in a window (default: last 90 days); a song is one artist and "
    "title across releases. Plays, minutes, the top release's URI and album, releases merged. " + OLD_PERIODS,
    view=views.TOP_TRACKS,
    title="My top songs",
)
async def top_tracks(c: Call, args: ListArgs) -> TopTracks:
    user, window, bounds = c.window(args)
    rows = await c.db.items(TOP_TRACKS, bounds.params(limit=args.limit))
    total = rows[0]["total_plays"] if rows else 0
    return TopTracks.model_validate(
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


@tool(
    "history.listening_heatmap",
    "Plays per local weekday (1 = Monday) and hour in a window, in the listener's time zone: when they "
    "listen. All 168 cells plus the peak. " + OLD_PERIODS,
    view=views.HEATMAP,
    title="When I listen (weekday × hour)",
)
async def listening_heatmap(c: Call, args: WindowArgs) -> Heatmap:
    user, window, bounds = c.window(args)
    rows = await c.db.rows(HEATMAP, bounds.params())
    plays = {(r["iso_weekday"], r["local_hour"]): r["plays"] for r in rows}
    cells = [{"weekday": d, "hour": h, "plays": plays.get((d, h), 0)} for d in range(1, 8) for h in range(24)]
    peak = max(cells, key=lambda cell: cell["plays"])  # first of equals: earliest weekday and hour
    total = sum(plays.values())
    return Heatmap.model_validate(
        dict(
            **explained(user, window, total),
            timezone=user.timezone,
            total_plays=total,
            peak=peak if peak["plays"] else None,
            cells=cells,
        )
    )


@tool(
    "history.repeat_rate",
    "How much the listener repeats songs in a window: repeat rate = 1 - unique songs / plays, songs "
    "played more than once, and the most repeated songs. " + OLD_PERIODS,
    title="How much I repeat songs",
)
async def repeat_rate(c: Call, args: ListArgs) -> RepeatRate:
    user, window, bounds = c.window(args)
    rows = await c.db.items(REPEAT_RATE, bounds.params(limit=args.limit))
    plays = rows[0]["total_plays"] if rows else 0
    unique = rows[0]["unique_tracks"] if rows else 0
    return RepeatRate.model_validate(
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


@tool(
    "history.coverage",
    "How complete the stored history is in a window: days with plays, plays per source (export, API), "
    "first and last play, and the longest gaps (runs of days without plays). " + OLD_PERIODS,
    view=views.COVERAGE,
    title="How complete my history is",
)
async def coverage(c: Call, args: ListArgs) -> Coverage:
    user, window, bounds = c.window(args)
    rows = await c.db.rows(COVERAGE, bounds.params())
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
        name: SourceCoverage(
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
    return Coverage.model_validate(
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


def _gaps(window: Window, play_days: set[Any]) -> list[Gap]:
    """Runs of consecutive local days without plays inside the window."""
    gaps: list[Gap] = []
    run_start: Any = None
    # Counted by index, not by stepping past window.end: the end may be date.max.
    for i in range(window.days):
        day = window.start + timedelta(days=i)
        if day not in play_days:
            run_start = run_start or day
        elif run_start is not None:
            gaps.append(Gap(start=run_start, end=day - timedelta(days=1), days=(day - run_start).days))
            run_start = None
    if run_start is not None:
        gaps.append(Gap(start=run_start, end=window.end, days=(window.end - run_start).days + 1))
    return gaps


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


@tool(
    "history.taste_summary",
    "A compact overview of the listener's taste in a window: plays, minutes, top artists and songs, "
    "repeat rate, peak weekday and hour, minutes per content type, top podcasts, days with plays. " + OLD_PERIODS,
    view=views.TASTE,
    title="My taste at a glance",
)
async def taste_summary(c: Call, args: ListArgs) -> TasteSummary:
    user, window, bounds = c.window(args)
    params = bounds.params(limit=args.limit)
    # Independent reads: run them side by side on pooled connections.
    artists, tracks, heat, mix, shows, days = await asyncio.gather(
        c.db.items(TOP_ARTISTS, params),
        c.db.items(TOP_TRACKS, params),
        c.db.rows(HEATMAP, params),
        c.db.rows(CONTENT_MIX, params),
        c.db.rows(TOP_SHOWS, bounds.params(limit=min(args.limit, 5))),
        c.db.rows(DAYS_WITH_PLAYS, params),
    )
    plays = artists[0]["total_plays"] if artists else 0
    unique_tracks = tracks[0]["tracks"] if tracks else 0
    by_weekday: dict[int, int] = {}
    by_hour: dict[int, int] = {}
    for r in heat:
        by_weekday[r["iso_weekday"]] = by_weekday.get(r["iso_weekday"], 0) + r["plays"]
        by_hour[r["local_hour"]] = by_hour.get(r["local_hour"], 0) + r["plays"]
    return TasteSummary.model_validate(
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


@tool(
    "history.search",
    "Search what the listener has played (tracks, artists, albums, shows; not Spotify's catalog): plays, "
    "minutes, first and last play. Case and accents do not matter. For 'when did I first hear …'.",
    title="Search my history",
)
async def search(c: Call, args: SearchArgs) -> SearchResult:
    user = require_user(c.user)
    params = {"user_id": user.user_id, "q": args.q, "type": args.type, "limit": args.limit}
    rows = await c.db.rows(SEARCH, params)
    if not rows and not (await c.db.rows(SEARCH_FOLD, params))[0]["key"]:
        raise BadArguments("q must contain at least one letter or digit (punctuation alone matches nothing)")
    return SearchResult.model_validate(
        dict(
            user=user.name,
            q=args.q,
            type=args.type,
            items=[
                {
                    "type": r["item_type"],
                    "name": r["item_name"],
                    "artist": r["artist_name"],
                    "uri": r["uri"],
                    "plays": r["plays"],
                    "minutes": minutes(r["ms_played"]),
                    "first_played": r["first_played_at"],
                    "last_played": r["last_played_at"],
                }
                for r in rows
            ],
        )
    )
