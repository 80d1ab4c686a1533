"""A poll: fetch what the user played since the newest stored play, store it, notice gaps.

Spotify keeps only about the last 50 plays. The poll asks with `after` one millisecond before the
newest stored `played_at`, so that when nothing was missed the answer includes that stored play
again (the overlap). A full page of 50 without it means plays may have been lost: the poll then
walks back with `before` to look for the overlap, and if the API runs out first it records a gap
(domain rule: record it, do not hide it). Storing is idempotent, so the overlap costs nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from orchestration.spotify.client import PAGE_LIMIT, SpotifyClient
from orchestration.spotify.errors import RateLimitedError
from orchestration.spotify.models import PlayHistory
from orchestration.spotify.storage import SyncResult, newest_played_at, store_plays

MAX_POLL_REQUESTS = 10  # a poll normally needs one; the rest is room to look for the overlap


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    """Unix milliseconds, exactly (float timestamps can be 1 ms off, which would break the overlap)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def poll(client: SpotifyClient, conn: psycopg.Connection, result: SyncResult, now: datetime) -> SyncResult:
    """Fill `result` (counts, gap flag, stop reason) while fetching and storing."""
    stored_newest = newest_played_at(conn, result.user_id)
    result.window_start, result.window_end = stored_newest, now
    try:
        _poll(client, conn, result, stored_newest)
    except RateLimitedError as exc:
        result.stop_reason = "rate_limited"
        result.error = str(exc)
        result.rate_limited_until = _until(now, exc.retry_after)
    return result


def _poll(client: SpotifyClient, conn: psycopg.Connection, result: SyncResult, stored: datetime | None) -> None:
    if stored is None:  # nothing stored yet: the latest page is all there is to compare with
        _fetch(client, conn, result)
        result.stop_reason = "caught_up"
        return
    page = _fetch(client, conn, result, after=to_ms(stored) - 1)
    overlap = any(i.played_at <= stored for i in page)
    # Spotify may answer an `after` query with the plays nearest the cursor: if the page is full and
    # did overlap, newer plays may follow; keep reading forward until a page is not full.
    while overlap and len(page) == PAGE_LIMIT:
        if _out_of_requests(result):
            return
        page = _fetch(client, conn, result, after=to_ms(max(i.played_at for i in page)))
    if overlap or len(page) < PAGE_LIMIT:
        # Not full: that was everything after the cursor, whether or not the stored play came back.
        result.stop_reason = "caught_up"
        return
    # A full page, none of it stored before: look further back for the overlap.
    oldest = min(i.played_at for i in page)
    while True:
        if _out_of_requests(result):
            result.gap_detected = True  # unproven either way; say so rather than hide it
            return
        older = _fetch(client, conn, result, before=to_ms(oldest))
        if any(i.played_at <= stored for i in older):
            result.stop_reason = "caught_up"
            return
        if not older or min(i.played_at for i in older) >= oldest:
            result.gap_detected = True  # the API ran out before reaching what was stored
            result.stop_reason = "caught_up"
            return
        oldest = min(i.played_at for i in older)


def _fetch(
    client: SpotifyClient,
    conn: psycopg.Connection,
    result: SyncResult,
    *,
    after: int | None = None,
    before: int | None = None,
) -> list[PlayHistory]:
    try:
        page = client.recently_played(limit=PAGE_LIMIT, after=after, before=before)
    finally:
        result.requests = client.budget.requests
    result.saw(page.items)
    result.inserted += store_plays(conn, result.user_id, result.sync_id, page.items)
    return list(page.items)


def _out_of_requests(result: SyncResult) -> bool:
    if result.requests >= MAX_POLL_REQUESTS:
        result.stop_reason = "max_requests"
        return True
    return False


def _until(now: datetime, retry_after: float | None) -> datetime | None:
    return now + timedelta(seconds=retry_after) if retry_after is not None else None
