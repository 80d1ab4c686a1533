"""The spotify namespace: Spotify's own top lists of the listener, from the daily snapshots
(marts.spotify_top). The tool's function, its argument and result models and its SQL are here;
registry.py lists the tools."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from mcp_api.auth import require_user
from mcp_api.tools.common import Call, LimitArg, OmitsNone, Out, StrictModel, UserArg, tool

TopEntity = Literal["artists", "tracks"]


TopTimeRange = Literal["short_term", "medium_term", "long_term"]


class _TopFields(StrictModel):
    entity: TopEntity = Field(description="artists or tracks.")
    time_range: TopTimeRange = Field(
        default="medium_term",
        description="Spotify's range: short_term (about 4 weeks), medium_term (about 6 months, default), "
        "long_term (several years).",
    )


class TopArgs(UserArg, LimitArg, _TopFields):
    pass


class SpotifyTopItem(OmitsNone):
    _optional = frozenset({"artists", "genres", "popularity"})
    rank: int
    name: str
    uri: str | None
    artists: list[str] | None = Field(default=None, description="Tracks: the credited artists.")
    genres: list[str] | None = Field(default=None, description="Artists: Spotify's genres.")
    popularity: int | None = Field(default=None, description="Spotify's popularity 0-100.")


class SpotifyTop(Out):
    user: str = Field(description="The listener's user name.")
    entity: TopEntity
    time_range: TopTimeRange
    snapshot_at: datetime | None = Field(description="When Spotify's list was fetched (null: no snapshot yet).")
    items: list[SpotifyTopItem] = Field(description="Spotify's ranking, rank 1 first.")
    note: str | None = Field(default=None, description="Why the list is empty, when it is.")


SPOTIFY_TOP = """
select rank, item_name, item_uri, artist_names, genres, popularity, snapshot_at
from marts.spotify_top
where user_id = %(user_id)s and entity = %(entity)s and time_range = %(time_range)s and is_latest
order by rank
limit %(limit)s
"""


# Why a top list is empty: is the user linked, and was any snapshot taken. Read through jsonb, as
# USER_COLUMNS does, so older marts answer null instead of failing.
SPOTIFY_TOP_STATE = """
select to_jsonb(s) ->> 'token_status' as token_status,
       (select max(snapshot_at) from marts.spotify_top t where t.user_id = s.user_id) as last_snapshot_at
from marts.sync_status s
where s.user_id = %(user_id)s
"""


RANGES = {"short_term": "about the last 4 weeks", "medium_term": "about the last 6 months", "long_term": "years"}


@tool(
    "spotify.get_top",
    "Spotify's own ranking of the listener's top artists or tracks (short_term ≈ 4 weeks, medium_term ≈ "
    "6 months, long_term = years), from a daily snapshot. Empty with a note when not linked to Spotify.",
    title="Spotify's own top lists",
)
async def get_top(c: Call, args: TopArgs) -> SpotifyTop:
    user = require_user(c.user)
    params = {"user_id": user.user_id, "entity": args.entity, "time_range": args.time_range, "limit": args.limit}
    rows = await c.db.rows(SPOTIFY_TOP, params)
    note = None if rows else await _why_empty(c, user.user_id, user.name, args)
    return SpotifyTop.model_validate(
        dict(
            user=user.name,
            entity=args.entity,
            time_range=args.time_range,
            snapshot_at=rows[0]["snapshot_at"] if rows else None,
            items=[
                {
                    "rank": r["rank"],
                    "name": r["item_name"],
                    "uri": r["item_uri"],
                    "artists": r["artist_names"],
                    "genres": r["genres"],
                    "popularity": r["popularity"],
                }
                for r in rows
            ],
            note=note,
        )
    )


async def _why_empty(c: Call, user_id: int, name: str, args: TopArgs) -> str:
    state = await c.db.rows(SPOTIFY_TOP_STATE, {"user_id": user_id})
    token_status = state[0]["token_status"] if state else None
    last = state[0]["last_snapshot_at"] if state else None
    stored = f"history.top_{args.entity} ranks the stored listening history instead"
    if last is not None:
        return (
            f"Spotify listed no top {args.entity} for {args.time_range} ({RANGES[args.time_range]}) in the latest "
            f"snapshot ({last.date().isoformat()}); {stored}."
        )
    if token_status == "linked":
        return (
            "No snapshot of Spotify's top lists yet: one is taken right after the Spotify login and then daily "
            f"(`spotify-history snapshot-top --user {name}` takes one now); {stored}."
        )
    if token_status == "needs_reauth":
        return (
            f"No snapshot of Spotify's top lists: Spotify refused this listener's authorization "
            f"(`spotify-history auth login --user {name}` again); {stored}."
        )
    return (
        "No snapshot of Spotify's top lists: this listener has not linked a Spotify account (their history "
        f"comes from privacy exports only; `spotify-history auth login --user {name}` links one); {stored}."
    )
