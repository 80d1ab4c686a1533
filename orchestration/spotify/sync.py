"""One sync run for one user — a poll, a backfill window or the initial sync — with its registry row.

This is what the Dagster asset, the `poll` command and the tests call. Spotify's failures do not
raise here: they end the run with a status the caller reports (`rate_limited` is a clean end,
`needs_reauth` and `failed` are not). Anything else (a database error, a bug) is recorded, then raised.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from orchestration import users
from orchestration.config import Settings, get_settings
from orchestration.db import connect, ensure_schema
from orchestration.spotify.accounts import client_for, new_http, utcnow
from orchestration.spotify.backfill import backfill
from orchestration.spotify.errors import InvalidGrantError, NotLinkedError, SpotifyError
from orchestration.spotify.polling import poll
from orchestration.spotify.storage import SyncResult, finish_sync, start_sync
from orchestration.spotify.tokens import TokenKeyError
from orchestration.spotify.transport import Budget


def run_sync(
    user_name: str,
    kind: str,
    *,
    window: tuple[datetime, datetime] | None = None,
    partition_key: str | None = None,
    run_id: str | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
    http: httpx.Client | None = None,
    sleep: Callable[[float], None] | None = None,
) -> SyncResult:
    """kind: 'poll', 'initial_sync' (the last INITIAL_SYNC_MAX_DAYS days) or 'backfill' (`window`)."""
    settings = settings or get_settings()
    now = now or utcnow()
    if kind == "backfill" and window is None:
        raise ValueError("a backfill needs a window")
    ensure_schema()
    own_http = http is None
    http = http or new_http(settings)
    try:
        with connect(autocommit=True) as conn:
            user = users.get(conn, user_name)
            result = start_sync(conn, user_id=user.user_id, kind=kind, partition_key=partition_key, run_id=run_id)
            try:
                budget = Budget.from_settings(settings, **({"sleep": sleep} if sleep is not None else {}))
                client = client_for(user.user_id, settings=settings, http=http, budget=budget)
                if kind == "poll":
                    poll(client, conn, result, now)
                else:
                    start, end = window or (now - timedelta(days=settings.initial_sync_max_days), now)
                    backfill(
                        client,
                        conn,
                        result,
                        window_start=start,
                        window_end=end,
                        now=now,
                        max_days=settings.initial_sync_max_days,
                        max_requests=settings.initial_sync_max_requests,
                    )
                result.status = "rate_limited" if result.stop_reason == "rate_limited" else "succeeded"
            except InvalidGrantError as exc:
                result.status, result.stop_reason = "needs_reauth", "needs_reauth"
                result.error = f"{exc}; the user must authorize again: spotify-history auth login --user {user_name}"
            except NotLinkedError as exc:
                result.status = "needs_reauth" if user.status == "needs_reauth" else "failed"
                result.stop_reason = result.status
                result.error = f"{exc}: spotify-history auth login --user {user_name}"
            except (SpotifyError, TokenKeyError) as exc:
                result.status, result.stop_reason, result.error = "failed", "error", str(exc)
            except BaseException as exc:
                result.status, result.stop_reason, result.error = "failed", "error", f"{type(exc).__name__}: {exc}"
                finish_sync(conn, result)
                raise
            finish_sync(conn, result)
            return result
    finally:
        if own_http:
            http.close()
