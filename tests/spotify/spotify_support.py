"""Helpers for the Spotify tests: the fake on loopback, settings pointing at it, linked users, plays."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from orchestration.config import Settings, get_settings, reload_settings
from orchestration.demo.fake_spotify import FakePlay, FakeSpotify, FakeTrack, make_catalog
from orchestration.spotify.accounts import LinkResult, login_with_opener
from orchestration.spotify.oauth import SpotifyApp

CATALOG = make_catalog(40, seed=11)


@contextmanager
def environment(**values: str | None) -> Iterator[Settings]:
    """Set (or unset, with None) environment variables and reload settings; restore both after."""
    saved = {k: os.environ.get(k) for k in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield reload_settings()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reload_settings()


def fake_env(fake: FakeSpotify, **extra: str | None) -> dict[str, str | None]:
    return {
        "SPOTIFY_CLIENT_ID": fake.client_id,
        "SPOTIFY_ACCOUNTS_BASE_URL": fake.url,
        "SPOTIFY_API_BASE_URL": fake.url,
        "SPOTIFY_REDIRECT_PORT": "0",
        **extra,
    }


def opener(url: str) -> None:
    """A browser that consents: follow the fake's redirect to the loopback callback."""
    response = httpx.get(url, follow_redirects=True, timeout=10)
    assert response.status_code == 200, response.text


def link(user: str, fake: FakeSpotify, settings: Settings | None = None, account: str | None = None) -> LinkResult:
    """Log `user` in through the real OAuth flow against the fake; returns what was linked."""
    settings = settings or get_settings()
    account = account or f"sp-{user}"
    if account not in fake.accounts:
        fake.add_account(account, f"Listener {user}")
    fake.sign_in(account)
    with httpx.Client(timeout=10) as http:
        return login_with_opener(user, SpotifyApp.from_settings(settings), opener, settings=settings, http=http, port=0)


def plays(start: datetime, count: int, step: timedelta = timedelta(minutes=4), offset: int = 0) -> list[FakePlay]:
    """`count` plays ending `step` apart from `start` (oldest first), tracks cycling through CATALOG."""
    start = start.replace(microsecond=123_000)
    return [FakePlay(start + i * step, CATALOG[(offset + i) % len(CATALOG)]) for i in range(count)]


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def new_account_id() -> str:
    return f"sp-{uuid.uuid4().hex[:10]}"


def user_id(conn: psycopg.Connection, name: str) -> int:
    conn.commit()
    row = conn.execute("select user_id from app.users where name = %s", (name,)).fetchone()
    assert row is not None
    return int(row[0])


def api_rows(conn: psycopg.Connection, name: str) -> list[tuple[Any, ...]]:
    """(played_at, track_uri) of a user's API plays, oldest first."""
    conn.commit()
    return conn.execute(
        """
        select played_at, track_uri from raw.api_recently_played
        where user_id = (select user_id from app.users where name = %s) order by played_at
        """,
        (name,),
    ).fetchall()


def user_status(conn: psycopg.Connection, name: str) -> str:
    conn.commit()
    row = conn.execute("select status from app.users where name = %s", (name,)).fetchone()
    assert row is not None
    return str(row[0])


def track(i: int) -> FakeTrack:
    return CATALOG[i % len(CATALOG)]
