"""Demo mode without Spotify credentials: the fake Spotify on loopback, with a listener who keeps
listening (a play every few minutes), and the demo user linked to it through the real OAuth code path.

`spotify-history up` calls start_demo_spotify() when SPOTIFY_CLIENT_ID is unset; the environment
it returns points the Dagster processes at the fake, so the spotify_sensor polls end to end.
"""

from __future__ import annotations

import os

import httpx

from orchestration.config import reload_settings
from orchestration.demo.fake_spotify import FakeSpotify, Listening, make_catalog
from orchestration.spotify.accounts import LinkResult, login_with_opener, new_http
from orchestration.spotify.oauth import SpotifyApp

DEMO_CLIENT_ID = "demo-client-id"
DEMO_ACCOUNT = "demo-listener"
DEMO_POLL_INTERVAL_SECONDS = "120"  # the demo shows polls within minutes; real accounts default to 10


def start_demo_spotify() -> tuple[FakeSpotify, dict[str, str]]:
    """Start the fake (in a background thread of this process); returns it and the environment to use."""
    fake = FakeSpotify(client_id=DEMO_CLIENT_ID)
    fake.add_account(DEMO_ACCOUNT, "Demo Listener", listening=Listening(make_catalog()))
    url = fake.start()
    env = {
        "SPOTIFY_CLIENT_ID": DEMO_CLIENT_ID,
        "SPOTIFY_ACCOUNTS_BASE_URL": url,
        "SPOTIFY_API_BASE_URL": url,
        "POLL_INTERVAL_SECONDS": os.environ.get("POLL_INTERVAL_SECONDS", DEMO_POLL_INTERVAL_SECONDS),
    }
    os.environ.update(env)
    reload_settings()
    return fake, env


def link_demo_user(user: str) -> LinkResult:
    """Log `user` in to the fake the way a person logs in to Spotify: consent page, redirect, PKCE exchange.

    Done at every start: the fake keeps its tokens in memory, so the ones stored last time are gone."""
    settings = reload_settings()

    def consent(url: str) -> None:  # a browser that says yes
        httpx.get(url, follow_redirects=True, timeout=10).raise_for_status()

    with new_http(settings) as http:
        return login_with_opener(
            user, SpotifyApp.from_settings(settings), consent, settings=settings, http=http, port=0
        )
