"""A snapshot of Spotify's own top lists: GET /v1/me/top/{artists,tracks} for the three time ranges.

What the Dagster asset (orchestration/defs/spotify/assets.py), the `snapshot-top` command and the
tests call. Requests go through the same client as polling (429 waits out Retry-After, 5xx are
retried, one refresh on 401). The six lists are fetched first and then written in one transaction,
so a snapshot is whole or absent. Spotify's failures end the run with a status, as for polling
(`rate_limited`, `needs_reauth`, `failed`); the snapshot registry row (app.spotify_top_snapshots)
says what happened either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

import httpx
import psycopg
import psycopg.rows
from psycopg.types.json import Jsonb

from orchestration import users
from orchestration.config import Settings, get_settings
from orchestration.db import connect, ensure_schema
from orchestration.spotify.accounts import client_for, new_http, utcnow
from orchestration.spotify.client import SpotifyClient
from orchestration.spotify.errors import (
    InvalidGrantError,
    NotLinkedError,
    RateLimitedError,
    SpotifyApiError,
    SpotifyError,
)
from orchestration.spotify.models import TimeRange
from orchestration.spotify.tokens import TokenKeyError
from orchestration.spotify.transport import Budget

ENTITIES = ("artists", "tracks")
TIME_RANGES: tuple[TimeRange, ...] = get_args(TimeRange)
TOP_LIMIT = 50  # Spotify's maximum per page


@dataclass
class SnapshotResult:
    """What one snapshot run did; filled in as it goes."""

    snapshot_id: int
    user_id: int
    snapshot_at: datetime
    status: str = "running"
    requests: int = 0
    items: int = 0
    counts: dict[str, int] | None = None
    """Items per list, keyed `<entity>/<time_range>`."""
    error: str | None = None


def fetch_lists(client: SpotifyClient) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The six lists as raw-row dicts (rank 1 first), keyed (entity, time_range)."""
    lists: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for time_range in TIME_RANGES:
        artists = client.top_artists(time_range, limit=TOP_LIMIT).items
        lists["artists", time_range] = [
            {
                "item_id": a.id,
                "item_uri": a.uri,
                "item_name": a.name,
                "artists": [],
                "album_name": None,
                "genres": a.genres,
                "popularity": a.popularity,
            }
            for a in artists
        ]
        tracks = client.top_tracks(time_range, limit=TOP_LIMIT).items
        lists["tracks", time_range] = [
            {
                "item_id": t.id,
                "item_uri": t.uri,
                "item_name": t.name,
                "artists": [{"id": a.id, "name": a.name, "uri": a.uri} for a in t.artists],
                "album_name": t.album.name if t.album else None,
                "genres": None,
                "popularity": t.popularity,
            }
            for t in tracks
        ]
    return lists


_INSERT = """
insert into raw.spotify_top_items
    (user_id, snapshot_id, snapshot_at, entity, time_range, rank, item_id, item_uri, item_name, artists,
     album_name, genres, popularity)
select %(user_id)s, %(snapshot_id)s, %(snapshot_at)s, %(entity)s, %(time_range)s, x.rank, x.item_id, x.item_uri,
       x.item_name, coalesce(x.artists, '[]'), x.album_name, x.genres, x.popularity
from jsonb_to_recordset(%(rows)s) as x(
    rank integer, item_id text, item_uri text, item_name text, artists jsonb, album_name text, genres jsonb,
    popularity integer)
"""


def store_lists(
    conn: psycopg.Connection,
    user_id: int,
    snapshot_id: int,
    snapshot_at: datetime,
    lists: dict[tuple[str, str], list[dict[str, Any]]],
) -> int:
    """Write every list of one snapshot in one transaction; returns the number of rows."""
    written = 0
    with conn.transaction():
        for (entity, time_range), items in lists.items():
            rows = [{"rank": rank, **item} for rank, item in enumerate(items, start=1)]
            if not rows:
                continue
            conn.execute(
                _INSERT,
                {
                    "user_id": user_id,
                    "snapshot_id": snapshot_id,
                    "snapshot_at": snapshot_at,
                    "entity": entity,
                    "time_range": time_range,
                    "rows": Jsonb(rows),
                },
            )
            written += len(rows)
    return written


def _start(conn: psycopg.Connection, user_id: int, run_id: str | None, at: datetime) -> int:
    row = conn.execute(
        "insert into app.spotify_top_snapshots (user_id, dagster_run_id, status, started_at) "
        "values (%s, %s, 'running', %s) returning snapshot_id",
        (user_id, run_id, at),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _finish(conn: psycopg.Connection, result: SnapshotResult) -> None:
    conn.execute(
        """
        update app.spotify_top_snapshots
        set status = %s, requests = %s, items = %s, error = %s, finished_at = clock_timestamp()
        where snapshot_id = %s
        """,
        (result.status, result.requests, result.items, result.error, result.snapshot_id),
    )


def take_snapshot(
    user_name: str,
    *,
    run_id: str | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] | None = None,
) -> SnapshotResult:
    """Fetch and store one snapshot of `user_name`'s top lists (all three ranges, artists and tracks)."""
    settings = settings or get_settings()
    now = now or utcnow()
    ensure_schema()
    own_http = http is None
    http = http or new_http(settings)
    try:
        with connect(autocommit=True) as conn:
            user = users.get(conn, user_name)
            result = SnapshotResult(_start(conn, user.user_id, run_id, now), user.user_id, now)
            budget = Budget.from_settings(settings, **({"sleep": sleep} if sleep is not None else {}))
            try:
                client = client_for(user.user_id, settings=settings, http=http, budget=budget)
                try:
                    lists = fetch_lists(client)
                finally:
                    result.requests = budget.requests
                result.items = store_lists(conn, user.user_id, result.snapshot_id, now, lists)
                result.counts = {f"{e}/{r}": len(items) for (e, r), items in lists.items()}
                result.status = "succeeded"
            except RateLimitedError as exc:
                result.status, result.error = "rate_limited", str(exc)
            except InvalidGrantError as exc:
                result.status = "needs_reauth"
                result.error = f"{exc}; the user must authorize again: spotify-history auth login --user {user_name}"
            except NotLinkedError as exc:
                result.status = "needs_reauth" if user.status == "needs_reauth" else "failed"
                result.error = f"{exc}: spotify-history auth login --user {user_name}"
            except SpotifyApiError as exc:
                result.status, result.error = "failed", str(exc)
                if exc.status == 403:  # linked before the top-read scope was asked for
                    result.error += (
                        f"; log in again to grant user-top-read: spotify-history auth login --user {user_name}"
                    )
            except (SpotifyError, TokenKeyError) as exc:
                result.status, result.error = "failed", str(exc)
            except BaseException as exc:
                result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
                _finish(conn, result)
                raise
            _finish(conn, result)
            return result
    finally:
        if own_http:
            http.close()


@dataclass(frozen=True)
class SnapshotState:
    name: str
    authorized_at: datetime
    last_success_at: datetime | None
    last_attempt_at: datetime | None


def users_to_snapshot(conn: psycopg.Connection) -> list[SnapshotState]:
    """Users whose link is usable (the one rule, app.spotify_links), with their last snapshot (attempt)."""
    rows = conn.execute(
        """
        select l.user_name, l.authorized_at,
               (select max(started_at) from app.spotify_top_snapshots s
                 where s.user_id = l.user_id and s.status = 'succeeded'),
               (select max(started_at) from app.spotify_top_snapshots s where s.user_id = l.user_id)
        from app.spotify_links l
        where l.syncable
        order by l.user_name
        """
    ).fetchall()
    return [SnapshotState(*row) for row in rows]


def snapshot_of_run(conn: psycopg.Connection, run_id: str) -> dict[str, Any] | None:
    """The snapshot a Dagster run recorded (the CLI's summary)."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            """
            select snapshot_id, status, requests, items, error, started_at, finished_at
            from app.spotify_top_snapshots where dagster_run_id = %s order by snapshot_id desc limit 1
            """,
            (run_id,),
        ).fetchone()
