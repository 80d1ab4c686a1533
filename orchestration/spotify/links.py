"""Who is linked to Spotify and whether their link is usable, read from app.spotify_links.

The rule itself (token status: linked, needs_reauth, not_linked; `syncable`) is SQL in migration
0006, so `auth status`, the spotify sensor, the token check and the sync_status mart share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg


@dataclass(frozen=True)
class LinkedUser:
    name: str
    token_status: str
    syncable: bool
    """Active and linked: automatic syncs may run (paused, needs_reauth and logged-out users are skipped)."""
    authorized_at: datetime | None
    last_poll_at: datetime | None
    last_initial_sync_at: datetime | None
    rate_limited_until: datetime | None


def linked_users(conn: psycopg.Connection) -> list[LinkedUser]:
    """Users ever linked to Spotify, with their sync state."""
    rows = conn.execute(
        """
        select user_name, token_status, syncable, authorized_at, last_poll_at, last_initial_sync_at,
               rate_limited_until
        from app.spotify_links
        where spotify_user_id is not null or has_tokens
        order by user_name
        """
    ).fetchall()
    return [LinkedUser(*row) for row in rows]


def users_needing_reauth(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "select user_name from app.spotify_links where token_status = 'needs_reauth' order by user_name"
    ).fetchall()
    return [row[0] for row in rows]


STATUS_KEYS = (
    *("user", "status", "display_name", "spotify_user_id", "token", "authorized_at", "last_poll_at"),
    *("last_poll_status", "last_poll_inserted", "last_played_at"),
)


def link_status(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every user's link, last poll and newest API play (`auth status`), keyed by STATUS_KEYS."""
    rows = conn.execute(
        """
        select l.user_name, l.user_status, l.spotify_display_name, l.spotify_user_id, l.token_status,
               l.authorized_at, p.started_at, p.status, p.inserted,
               (select max(played_at) from raw.api_recently_played r where r.user_id = l.user_id)
        from app.spotify_links l
        left join lateral (
            select started_at, status, inserted from app.spotify_syncs s
            where s.user_id = l.user_id and s.kind = 'poll' order by started_at desc limit 1
        ) p on true
        order by l.user_name
        """
    ).fetchall()
    return [dict(zip(STATUS_KEYS, row, strict=True)) for row in rows]
