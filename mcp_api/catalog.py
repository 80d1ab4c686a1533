"""spotify.get_top and history.search: Spotify's own top lists (daily snapshots) and the listener's
played catalog, each read from its mart (marts.spotify_top, marts.listening_catalog)."""

from __future__ import annotations

from mcp_api import models as m
from mcp_api import queries as q
from mcp_api.auth import require_user
from mcp_api.call import Call
from mcp_api.errors import BadArguments
from mcp_api.history import minutes

RANGES = {"short_term": "about the last 4 weeks", "medium_term": "about the last 6 months", "long_term": "years"}


async def get_top(c: Call, args: m.TopArgs) -> m.SpotifyTop:
    user = require_user(c.user)
    params = {"user_id": user.user_id, "entity": args.entity, "time_range": args.time_range, "limit": args.limit}
    rows = await c.db.rows(q.SPOTIFY_TOP, params)
    note = None if rows else await _why_empty(c, user.user_id, user.name, args)
    return m.SpotifyTop.model_validate(
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


async def _why_empty(c: Call, user_id: int, name: str, args: m.TopArgs) -> str:
    state = await c.db.rows(q.SPOTIFY_TOP_STATE, {"user_id": user_id})
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


async def search(c: Call, args: m.SearchArgs) -> m.SearchResult:
    user = require_user(c.user)
    params = {"user_id": user.user_id, "q": args.q, "type": args.type, "limit": args.limit}
    rows = await c.db.rows(q.SEARCH, params)
    if not rows and not (await c.db.rows(q.SEARCH_FOLD, params))[0]["key"]:
        raise BadArguments("q must contain at least one letter or digit (punctuation alone matches nothing)")
    return m.SearchResult.model_validate(
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
