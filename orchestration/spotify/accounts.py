"""Linked Spotify accounts: finishing a login, forgetting it, and tokens that refresh themselves.

A login stores the tokens (encrypted) and the Spotify user id and display name with the user.
StoredTokenSource hands the client a current access token, refreshing it under a row lock so two
processes never spend the same refresh token (Spotify may rotate it: the new one is persisted in
the same transaction). `invalid_grant` marks the user `needs_reauth`; their data stays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import psycopg
from pydantic import SecretStr

from orchestration import users
from orchestration.config import Settings
from orchestration.db import connect
from orchestration.spotify.client import SpotifyClient
from orchestration.spotify.errors import InvalidGrantError, NotLinkedError, OAuthError
from orchestration.spotify.models import TokenResponse
from orchestration.spotify.oauth import SCOPES, Authorization, CallbackServer, SpotifyApp, refresh
from orchestration.spotify.tokens import TokenCipher, TokenStore
from orchestration.spotify.transport import Budget

REQUIRED_SCOPE = "user-read-recently-played"
LOGIN_TIMEOUT_SECONDS = 300.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_http(settings: Settings) -> httpx.Client:
    return httpx.Client(timeout=settings.spotify_timeout_seconds, follow_redirects=False)


@dataclass(frozen=True)
class LinkResult:
    user: str
    spotify_user_id: str
    display_name: str | None
    scope: str


class _JustIssued:
    """The TokenSource of a login in progress: the access token just received, nothing to refresh."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def access_token(self) -> str:
        return self._token.get_secret_value()

    def refreshed_access_token(self, rejected: str) -> str:
        raise OAuthError("Spotify rejected the access token it just issued")


def complete_login(
    user_name: str, app: SpotifyApp, auth: Authorization, code: str, *, settings: Settings, http: httpx.Client
) -> LinkResult:
    """Exchange the code, look up the Spotify account, store everything for the user."""
    budget = Budget.from_settings(settings)
    tokens = auth.exchange(http, code, budget)
    if REQUIRED_SCOPE not in tokens.scope.split():
        raise OAuthError(f"Spotify did not grant {REQUIRED_SCOPE!r} (granted: {tokens.scope or 'nothing'})")
    me = SpotifyClient(app.api_base_url, _JustIssued(tokens.access_token), budget, http).me()
    store = TokenStore(TokenCipher.from_settings(settings))
    with connect(autocommit=True) as conn, conn.transaction():
        user = users.get(conn, user_name)
        other = conn.execute(
            """
            select u.name from app.users u join app.spotify_tokens t using (user_id)
            where u.spotify_user_id = %s and u.user_id <> %s and t.invalidated_at is null
            """,
            (me.id, user.user_id),
        ).fetchone()
        if other:
            raise OAuthError(
                f"that Spotify account is already linked to user {other[0]!r} "
                f"(spotify-history auth logout --user {other[0]} first)"
            )
        store.save_login(conn, user.user_id, tokens, utcnow())
        conn.execute(
            """
            update app.users set spotify_user_id = %s, spotify_display_name = %s,
                status = case when status = 'needs_reauth' then 'active' else status end, updated_at = now()
            where user_id = %s
            """,
            (me.id, me.display_name, user.user_id),
        )
    return LinkResult(user_name, me.id, me.display_name, tokens.scope)


def login_with_opener(
    user_name: str,
    app: SpotifyApp,
    opener: Callable[[str], object],
    *,
    settings: Settings,
    http: httpx.Client,
    port: int | None = None,
    timeout: float = LOGIN_TIMEOUT_SECONDS,
) -> LinkResult:
    """The browser flow: listen on the loopback port, open the consent page, catch the redirect.

    `opener` shows the URL to a browser (webbrowser.open; tests and the demo fetch it with httpx,
    which follows the fake's redirect to the callback)."""
    users_check(user_name)
    with CallbackServer(app.redirect_port if port is None else port) as server:
        auth = Authorization(app, server.port)
        opener(auth.url)
        redirected_to = server.wait(timeout)
    code = auth.code_from_redirect(redirected_to)
    return complete_login(user_name, app, auth, code, settings=settings, http=http)


def users_check(user_name: str) -> None:
    """Fail before Spotify is asked anything when the user does not exist."""
    with connect() as conn:
        users.get(conn, user_name)


def logout(user_name: str) -> bool:
    """Forget the user's tokens (their Spotify id, name and data stay). False: nothing was stored."""
    with connect(autocommit=True) as conn, conn.transaction():
        user = users.get(conn, user_name)
        return TokenStore.delete(conn, user.user_id)


class StoredTokenSource:
    """Access tokens of one user from the encrypted store, refreshed when needed."""

    def __init__(
        self,
        user_id: int,
        app: SpotifyApp,
        store: TokenStore,
        http: httpx.Client,
        budget: Budget,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.user_id = user_id
        self._app = app
        self._store = store
        self._http = http
        self._budget = budget
        self._now = now

    def access_token(self) -> str:
        with connect(autocommit=True) as conn:
            tokens = self._store.load(conn, self.user_id)
        if tokens is None or tokens.invalidated_at is not None:
            raise self._not_linked(tokens is not None)
        if tokens.access_token_valid(self._now()):
            assert tokens.access_token is not None
            return tokens.access_token.get_secret_value()
        return self._refresh(rejected=None)

    def refreshed_access_token(self, rejected: str) -> str:
        return self._refresh(rejected)

    def _refresh(self, rejected: str | None) -> str:
        invalid: InvalidGrantError | None = None
        with connect(autocommit=True) as conn, conn.transaction():
            # The row lock makes concurrent refreshes of one user queue up: the second one finds the
            # first one's fresh token instead of spending a refresh token that may have rotated.
            tokens = self._store.load(conn, self.user_id, for_update=True)
            if tokens is None or tokens.invalidated_at is not None:
                raise self._not_linked(tokens is not None)
            now = self._now()
            if tokens.access_token_valid(now) and tokens.access_token is not None:
                current = tokens.access_token.get_secret_value()
                if current != rejected:
                    return current
            try:
                fresh: TokenResponse = refresh(
                    self._http, self._app, tokens.refresh_token.get_secret_value(), self._budget
                )
            except InvalidGrantError as exc:
                self._store.mark_invalid(conn, self.user_id, now)
                mark_needs_reauth(conn, self.user_id)
                invalid = exc
            else:
                self._store.save_refresh(conn, self.user_id, fresh, now)
                return fresh.access_token.get_secret_value()
        raise invalid

    def _not_linked(self, needs_reauth: bool) -> NotLinkedError:
        if needs_reauth:
            return NotLinkedError("Spotify refused this user's authorization: log in again (auth login)")
        return NotLinkedError("this user has no Spotify login (spotify-history auth login --user NAME)")


def mark_needs_reauth(conn: psycopg.Connection, user_id: int) -> None:
    conn.execute("update app.users set status = 'needs_reauth', updated_at = now() where user_id = %s", (user_id,))


def client_for(user_id: int, *, settings: Settings, http: httpx.Client, budget: Budget | None = None) -> SpotifyClient:
    app = SpotifyApp.from_settings(settings)
    budget = budget or Budget.from_settings(settings)
    store = TokenStore(TokenCipher.from_settings(settings))
    return SpotifyClient(app.api_base_url, StoredTokenSource(user_id, app, store, http, budget), budget, http)


__all__ = [
    "SCOPES",
    "LinkResult",
    "StoredTokenSource",
    "client_for",
    "complete_login",
    "login_with_opener",
    "logout",
    "mark_needs_reauth",
]
