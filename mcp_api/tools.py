"""THE tool registry: every tool defined once (name, description, argument and result models,
function over the query layer) and served by three doors — the JSON dispatcher (/mcp/call), the
GPT Action endpoints (/v1/...) and MCP (/mcp). The functions are in history.py and ops.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from mcp_api import catalog, history, ops, views
from mcp_api import models as m
from mcp_api.auth import Principal, UserRef, require_user, target_user
from mcp_api.cache import ResultCache
from mcp_api.call import Call
from mcp_api.errors import BadArguments, describe_validation_errors
from mcp_api.queries import Database

A = TypeVar("A", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Tool(Generic[A, R]):
    name: str
    description: str
    """What it answers; ≤ 300 characters (GPT Actions cut longer descriptions)."""
    args: type[A]
    result: type[R]
    run: Callable[[Call, A], Awaitable[R]]
    all_users: bool = False
    """The admin key may call it without user_id and get every user."""
    view: views.View | None = None
    """Its MCP Apps view: hosts that render them draw the result with it (mcp_api/views)."""

    @property
    def operation_id(self) -> str:
        return self.name.replace(".", "_")

    @property
    def path(self) -> str:
        return "/v1/" + self.name.replace(".", "/").replace("_", "-")

    def parse(self, raw: Any) -> A:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise BadArguments("args must be a JSON object")
        try:
            return self.args.model_validate(raw)
        except ValidationError as exc:
            raise BadArguments(describe_validation_errors(exc.errors(), self.args)) from exc


async def call(
    tool: Tool[Any, Any],
    args: BaseModel,
    db: Database,
    principal: Principal,
    now: datetime | None = None,
    cache: ResultCache | None = None,
) -> BaseModel:
    """Run a tool for a principal: scope the user, then the tool's function (or its cached answer)."""
    user = await target_user(db, principal, getattr(args, "user_id", None))
    if user is None and not tool.all_users:
        require_user(user)
    key = _cache_key(tool, args, user, now) if cache is not None else None
    if key is not None and cache is not None and (hit := cache.get(key)) is not None:
        return hit
    result = await tool.run(Call(db, user, now), args)
    if key is not None and cache is not None:
        cache.put(key, result)
    return result


def _cache_key(tool: Tool[Any, Any], args: BaseModel, user: UserRef | None, now: datetime | None) -> Any:
    """None when the answer may not be cached: every user at once, or marts without a build stamp."""
    if user is None or user.built_at is None:
        return None
    try:
        today = (now or datetime.now(UTC)).astimezone(ZoneInfo(user.timezone)).date().isoformat()
    except (ZoneInfoNotFoundError, ValueError):
        return None  # the tool itself explains the bad zone
    return ResultCache.key(tool.name, user.user_id, user.built_at, today, args)


# Every windowed tool's description ends with how to reach periods outside the default window.
OLD_PERIODS = "Older periods: start/end (YYYY-MM-DD) or all_time: true; `history` gives the stored dates."

TOOLS: dict[str, Tool[Any, Any]] = {
    t.name: t
    for t in (
        Tool(
            "history.taste_summary",
            "A compact overview of the listener's taste in a window: plays, minutes, top artists and songs, "
            "repeat rate, peak weekday and hour, minutes per content type, top podcasts, days with plays. "
            + OLD_PERIODS,
            m.ListArgs,
            m.TasteSummary,
            history.taste_summary,
            view=views.TASTE,
        ),
        Tool(
            "history.top_artists",
            "The listener's most played artists in a window (default: last 90 days), with plays, minutes and "
            "share of all plays (a play: music, at least 30 s, not private). " + OLD_PERIODS,
            m.ListArgs,
            m.TopArtists,
            history.top_artists,
            view=views.TOP_ARTISTS,
        ),
        Tool(
            "history.top_tracks",
            "The listener's most played songs in a window (default: last 90 days); a song is one artist and "
            "title across releases. Plays, minutes, the top release's URI and album, releases merged. " + OLD_PERIODS,
            m.ListArgs,
            m.TopTracks,
            history.top_tracks,
            view=views.TOP_TRACKS,
        ),
        Tool(
            "history.listening_heatmap",
            "Plays per local weekday (1 = Monday) and hour in a window, in the listener's time zone: when they "
            "listen. All 168 cells plus the peak. " + OLD_PERIODS,
            m.WindowArgs,
            m.Heatmap,
            history.listening_heatmap,
            view=views.HEATMAP,
        ),
        Tool(
            "history.repeat_rate",
            "How much the listener repeats songs in a window: repeat rate = 1 - unique songs / plays, songs "
            "played more than once, and the most repeated songs. " + OLD_PERIODS,
            m.ListArgs,
            m.RepeatRate,
            history.repeat_rate,
        ),
        Tool(
            "history.coverage",
            "How complete the stored history is in a window: days with plays, plays per source (export, API), "
            "first and last play, and the longest gaps (runs of days without plays). " + OLD_PERIODS,
            m.ListArgs,
            m.Coverage,
            history.coverage,
            view=views.COVERAGE,
        ),
        Tool(
            "ops.sync_status",
            "The listener's sync status: account status, time zone, stored plays, time span per source and the "
            "last import. With the admin key and no user_id: every user.",
            m.Args,
            m.SyncStatus,
            ops.sync_status,
            all_users=True,
        ),
        Tool(
            "ops.latest_imports",
            "The most recent privacy-export imports of the listener (newest first): file, status, record counts, "
            "time span, errors. With the admin key and no user_id: all users.",
            m.ImportsArgs,
            m.LatestImports,
            ops.latest_imports,
            all_users=True,
        ),
        Tool(
            "spotify.get_top",
            "Spotify's own ranking of the listener's top artists or tracks (short_term ≈ 4 weeks, medium_term ≈ "
            "6 months, long_term = years), from a daily snapshot. Empty with a note when not linked to Spotify.",
            m.TopArgs,
            m.SpotifyTop,
            catalog.get_top,
        ),
        Tool(
            "history.search",
            "Search what the listener has played (tracks, artists, albums, shows; not Spotify's catalog): plays, "
            "minutes, first and last play. Case and accents do not matter. For 'when did I first hear …'.",
            m.SearchArgs,
            m.SearchResult,
            catalog.search,
        ),
        Tool(
            "ops.latest_job_runs",
            "The latest work done for the listener, newest first: imports, polls, initial syncs/backfills, top-list "
            "snapshots and marts builds, with status, times, counts and errors. Admin key without user_id: all.",
            m.JobRunsArgs,
            m.LatestJobRuns,
            ops.latest_job_runs,
            all_users=True,
        ),
    )
}
