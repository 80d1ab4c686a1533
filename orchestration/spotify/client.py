"""The Spotify Web API client: typed answers, the transport's retry rules, one refresh on 401.

The base URL is configurable (SPOTIFY_API_BASE_URL) so the fake Spotify can stand in. Tokens come
from a TokenSource (accounts.StoredTokenSource: the encrypted store plus refresh); the client only
puts them in the Authorization header, which is never logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from orchestration.spotify.errors import SpotifyApiError
from orchestration.spotify.models import Me, RecentlyPlayedPage, TimeRange, TopArtistsPage, TopTracksPage
from orchestration.spotify.transport import Budget, send

PAGE_LIMIT = 50  # Spotify's maximum for recently-played
M = TypeVar("M", bound=BaseModel)


class TokenSource(Protocol):
    def access_token(self) -> str:
        """A current access token (refreshed first if it is about to expire)."""
        ...

    def refreshed_access_token(self, rejected: str) -> str:
        """A new access token after Spotify rejected `rejected` with 401."""
        ...


class SpotifyClient:
    def __init__(self, api_base_url: str, tokens: TokenSource, budget: Budget, http: httpx.Client) -> None:
        self._base = api_base_url.rstrip("/")
        self._tokens = tokens
        self._http = http
        self.budget = budget

    def me(self) -> Me:
        return self._get("/v1/me", {}, Me)

    def recently_played(
        self, *, limit: int = PAGE_LIMIT, after: int | None = None, before: int | None = None
    ) -> RecentlyPlayedPage:
        """One page, newest first. `after`/`before` are Unix milliseconds (exclusive, mutually exclusive)."""
        if after is not None and before is not None:
            raise ValueError("after and before are mutually exclusive")
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        if before is not None:
            params["before"] = before
        return self._get("/v1/me/player/recently-played", params, RecentlyPlayedPage)

    def top_tracks(self, time_range: TimeRange = "medium_term", limit: int = 20) -> TopTracksPage:
        return self._get("/v1/me/top/tracks", {"time_range": time_range, "limit": limit}, TopTracksPage)

    def top_artists(self, time_range: TimeRange = "medium_term", limit: int = 20) -> TopArtistsPage:
        return self._get("/v1/me/top/artists", {"time_range": time_range, "limit": limit}, TopArtistsPage)

    def _request(self, url: str, params: dict[str, Any], token: str) -> Callable[[], httpx.Response]:
        headers = {"Authorization": f"Bearer {token}"}
        return lambda: self._http.get(url, params=params, headers=headers)

    def _get(self, path: str, params: dict[str, Any], model: type[M]) -> M:
        url = self._base + path
        token = self._tokens.access_token()
        refreshed = False
        while True:
            response = send(self._request(url, params, token), self.budget, f"GET {path}")
            if response.status_code == 401 and not refreshed:
                # Expired or revoked access token: one refresh, then one more try.
                token = self._tokens.refreshed_access_token(token)
                refreshed = True
                continue
            if response.status_code != 200:
                raise SpotifyApiError(
                    f"GET {path}: HTTP {response.status_code} {_error_message(response)}".strip(),
                    response.status_code,
                )
            try:
                return model.model_validate_json(response.content)
            except ValidationError as exc:
                raise SpotifyApiError(
                    f"GET {path}: unexpected answer ({exc.error_count()} problem(s), first: "
                    f"{exc.errors()[0]['loc']} {exc.errors()[0]['msg']})",
                    response.status_code,
                ) from None


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", ""))
    return str(error or "")
