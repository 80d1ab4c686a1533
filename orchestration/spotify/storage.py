"""Where API plays and sync runs are written: raw.api_recently_played and app.spotify_syncs.

Connections here are autocommit; every write of raw rows is one explicit transaction that first
takes the per-user raw-write lock, like the importer's (dbt's incremental model needs each user's
raw_ids to grow in commit order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
import psycopg.rows
from psycopg.types.json import Jsonb

from orchestration.imports.raw_writer import lock_user_raw_rows
from orchestration.spotify.models import PlayHistory

SYNC_KINDS = ("poll", "backfill", "initial_sync")


def play_row(item: PlayHistory) -> dict[str, Any]:
    track = item.track
    album = track.album
    return {
        "played_at": item.played_at.isoformat(),
        "track_id": track.id,
        "track_uri": track.uri,
        "track_name": track.name,
        "artists": [{"id": a.id, "name": a.name, "uri": a.uri} for a in track.artists],
        "first_artist_name": track.artists[0].name if track.artists else None,
        "album_id": album.id if album else None,
        "album_name": album.name if album else None,
        "album_uri": album.uri if album else None,
        "duration_ms": track.duration_ms,
        "isrc": track.external_ids.isrc if track.external_ids else None,
        "context_type": item.context.type if item.context else None,
        "context_uri": item.context.uri if item.context else None,
    }


_INSERT = """
with incoming as (
    select * from jsonb_to_recordset(%(rows)s) as x(
        played_at timestamptz, track_id text, track_uri text, track_name text, artists jsonb,
        first_artist_name text, album_id text, album_name text, album_uri text, duration_ms bigint,
        isrc text, context_type text, context_uri text)
),
inserted as (
    insert into raw.api_recently_played
        (user_id, sync_id, played_at, track_id, track_uri, track_name, artists, first_artist_name,
         album_id, album_name, album_uri, duration_ms, isrc, context_type, context_uri)
    select %(user_id)s, %(sync_id)s, played_at, track_id, track_uri, track_name, coalesce(artists, '[]'),
           first_artist_name, album_id, album_name, album_uri, duration_ms, isrc, context_type, context_uri
    from incoming
    order by played_at  -- raw_ids in time order within a batch: easier to read, no other meaning
    on conflict (user_id, played_at) do nothing
    returning 1
)
select count(*) from inserted
"""


def store_plays(conn: psycopg.Connection, user_id: int, sync_id: int, items: Sequence[PlayHistory]) -> int:
    """Insert the plays not stored yet (identity: user and played_at); returns how many were new."""
    if not items:
        return 0
    with conn.transaction():
        lock_user_raw_rows(conn, user_id)
        row = conn.execute(
            _INSERT, {"rows": Jsonb([play_row(i) for i in items]), "user_id": user_id, "sync_id": sync_id}
        ).fetchone()
    return int(row[0]) if row else 0


def newest_played_at(conn: psycopg.Connection, user_id: int) -> datetime | None:
    row = conn.execute("select max(played_at) from raw.api_recently_played where user_id = %s", (user_id,)).fetchone()
    return row[0] if row else None


# -- the sync registry ----------------------------------------------------------------------------


@dataclass
class SyncResult:
    """What one poll or backfill did; filled in as it goes, so a run that stops early still says."""

    kind: str
    user_id: int
    sync_id: int
    window_start: datetime | None = None
    window_end: datetime | None = None
    requests: int = 0
    fetched: int = 0
    inserted: int = 0
    gap_detected: bool = False
    stop_reason: str = ""
    newest_played_at: datetime | None = None
    oldest_played_at: datetime | None = None
    rate_limited_until: datetime | None = None
    status: str = "running"
    error: str | None = None

    def saw(self, items: Sequence[PlayHistory]) -> None:
        """Account for a page of items received."""
        self.fetched += len(items)
        for item in items:
            if self.newest_played_at is None or item.played_at > self.newest_played_at:
                self.newest_played_at = item.played_at
            if self.oldest_played_at is None or item.played_at < self.oldest_played_at:
                self.oldest_played_at = item.played_at


def start_sync(
    conn: psycopg.Connection,
    *,
    user_id: int,
    kind: str,
    partition_key: str | None,
    run_id: str | None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> SyncResult:
    if kind not in SYNC_KINDS:
        raise ValueError(f"unknown sync kind {kind!r}")
    row = conn.execute(
        """
        insert into app.spotify_syncs
            (user_id, kind, partition_key, dagster_run_id, status, window_start, window_end)
        values (%s, %s, %s, %s, 'running', %s, %s)
        returning sync_id
        """,
        (user_id, kind, partition_key, run_id, window_start, window_end),
    ).fetchone()
    assert row is not None
    return SyncResult(kind=kind, user_id=user_id, sync_id=int(row[0]), window_start=window_start, window_end=window_end)


def finish_sync(conn: psycopg.Connection, result: SyncResult) -> None:
    conn.execute(
        """
        update app.spotify_syncs set
            status = %(status)s, requests = %(requests)s, fetched = %(fetched)s, inserted = %(inserted)s,
            gap_detected = %(gap_detected)s, stop_reason = nullif(%(stop_reason)s, ''),
            newest_played_at = %(newest_played_at)s, oldest_played_at = %(oldest_played_at)s,
            rate_limited_until = %(rate_limited_until)s, error = %(error)s,
            window_start = %(window_start)s, window_end = %(window_end)s, finished_at = clock_timestamp()
        where sync_id = %(sync_id)s
        """,
        {
            "status": result.status,
            "requests": result.requests,
            "fetched": result.fetched,
            "inserted": result.inserted,
            "gap_detected": result.gap_detected,
            "stop_reason": result.stop_reason,
            "newest_played_at": result.newest_played_at,
            "oldest_played_at": result.oldest_played_at,
            "rate_limited_until": result.rate_limited_until,
            "error": result.error,
            "window_start": result.window_start,
            "window_end": result.window_end,
            "sync_id": result.sync_id,
        },
    )


def days_written(conn: psycopg.Connection, sync_id: int) -> set[date]:
    """The UTC days a sync stored plays on (an initial sync spans many)."""
    rows = conn.execute(
        "select distinct (played_at at time zone 'UTC')::date from raw.api_recently_played where sync_id = %s",
        (sync_id,),
    ).fetchall()
    return {row[0] for row in rows}


def sync_of_run(conn: psycopg.Connection, run_id: str) -> dict[str, Any] | None:
    """The registry row a Dagster run wrote (the CLI's summary of a sync run)."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            """
            select sync_id, kind, status, requests, fetched, inserted, gap_detected, stop_reason, error,
                   newest_played_at, started_at, finished_at
            from app.spotify_syncs where dagster_run_id = %s order by sync_id desc limit 1
            """,
            (run_id,),
        ).fetchone()
