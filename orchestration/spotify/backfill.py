"""Best-effort history from the API: walk back with `before` through a time window.

Spotify only offers about the last 50 plays, so a backfill mostly finds nothing for older days; it
stops as soon as continuing is pointless or too costly, and says why (stop_reason):

  empty_page    the API has nothing older
  no_progress   the cursor did not move back
  window_start  reached the start of the window (e.g. the partition's day)
  max_days      reached INITIAL_SYNC_MAX_DAYS back from now (or the window lies entirely before it)
  max_requests  INITIAL_SYNC_MAX_REQUESTS requests were made
  rate_limited  Spotify said 429 too often, or asked to wait longer than the run may

Only plays inside the window are stored; storing is idempotent, so re-running a window is safe.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from orchestration.spotify.client import PAGE_LIMIT, SpotifyClient
from orchestration.spotify.errors import RateLimitedError
from orchestration.spotify.polling import to_ms
from orchestration.spotify.storage import SyncResult, store_plays


def backfill(
    client: SpotifyClient,
    conn: psycopg.Connection,
    result: SyncResult,
    *,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
    max_days: int,
    max_requests: int,
) -> SyncResult:
    """Fetch and store the plays of [window_start, window_end) that the API still offers."""
    horizon = now - timedelta(days=max_days)
    floor = max(window_start, horizon)
    ceiling = min(window_end, now)
    result.window_start, result.window_end = floor, ceiling
    if ceiling <= floor:
        result.stop_reason = "max_days" if window_end <= horizon else "window_start"
        return result
    floor_reason = "window_start" if window_start > horizon else "max_days"
    before = to_ms(ceiling)
    try:
        while True:
            if result.requests >= max_requests:
                result.stop_reason = "max_requests"
                return result
            try:
                page = client.recently_played(limit=PAGE_LIMIT, before=before)
            finally:
                result.requests = client.budget.requests
            if not page.items:
                result.stop_reason = "empty_page"
                return result
            inside = [i for i in page.items if floor <= i.played_at < ceiling]
            result.saw(inside)
            result.inserted += store_plays(conn, result.user_id, result.sync_id, inside)
            oldest = min(i.played_at for i in page.items)
            if oldest < floor:
                result.stop_reason = floor_reason
                return result
            cursor = _before_cursor(page.cursors.before if page.cursors else None, oldest)
            if cursor >= before:
                result.stop_reason = "no_progress"
                return result
            before = cursor
    except RateLimitedError as exc:
        result.stop_reason = "rate_limited"
        result.error = str(exc)
        if exc.retry_after is not None:
            result.rate_limited_until = now + timedelta(seconds=exc.retry_after)
        return result


def _before_cursor(cursor: str | None, oldest: datetime) -> int:
    """Spotify's `before` cursor when it sent one, else the oldest play's time."""
    if cursor:
        try:
            return int(cursor)
        except ValueError:
            pass
    return to_ms(oldest)
