"""What can go wrong talking to Spotify, as exceptions whose messages are meant for people.

No message ever carries a token: they name the user, the endpoint and Spotify's error code.
"""

from __future__ import annotations


class SpotifyError(Exception):
    """Base class."""


class NotConfiguredError(SpotifyError):
    """SPOTIFY_CLIENT_ID (or another setting) is missing."""


class OAuthError(SpotifyError):
    """The authorization did not complete (denied, state mismatch, bad code, timeout…)."""


class InvalidGrantError(OAuthError):
    """Spotify refused the refresh token (`invalid_grant`): the user must authorize again."""


class NotLinkedError(SpotifyError):
    """The user has no stored Spotify tokens (never logged in, logged out, or needs re-auth)."""


class RateLimitedError(SpotifyError):
    """Spotify asked to wait longer than this run may (or answered 429 too often)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SpotifyUnavailableError(SpotifyError):
    """5xx answers or transport errors persisted through every retry."""


class SpotifyApiError(SpotifyError):
    """Any other error answer from the Web API."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
