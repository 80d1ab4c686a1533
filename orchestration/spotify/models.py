"""Typed shapes of the Spotify answers this project reads (pydantic; unknown fields are ignored)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TokenResponse(_Model):
    """POST /api/token. Tokens are SecretStr and validation errors hide their input, so a token can
    never end up in a repr, a log line or an error message."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    access_token: SecretStr
    token_type: str = "Bearer"
    scope: str = ""
    expires_in: int = 3600
    refresh_token: SecretStr | None = None  # present on login; MAY be present (rotated) on refresh


class Me(_Model):
    id: str
    display_name: str | None = None


class Artist(_Model):
    id: str | None = None
    name: str
    uri: str | None = None


class Album(_Model):
    id: str | None = None
    name: str | None = None
    uri: str | None = None


class ExternalIds(_Model):
    isrc: str | None = None


class Track(_Model):
    id: str | None = None  # null for local files
    name: str
    uri: str | None = None
    duration_ms: int | None = None
    artists: list[Artist] = []
    album: Album | None = None
    popularity: int | None = None  # 0-100; in full track objects (top tracks), not in every answer
    external_ids: ExternalIds | None = None


class Context(_Model):
    type: str | None = None
    uri: str | None = None


class PlayHistory(_Model):
    track: Track
    played_at: datetime
    context: Context | None = None


class Cursors(_Model):
    after: str | None = None
    before: str | None = None


class RecentlyPlayedPage(_Model):
    items: list[PlayHistory]
    next: str | None = None
    cursors: Cursors | None = None
    limit: int = 50
    href: str | None = None


class TopArtist(_Model):
    id: str
    name: str
    uri: str | None = None
    genres: list[str] | None = None
    popularity: int | None = None


class TopTracksPage(_Model):
    items: list[Track]
    total: int = 0
    limit: int = 20
    offset: int = 0


class TopArtistsPage(_Model):
    items: list[TopArtist]
    total: int = 0
    limit: int = 20
    offset: int = 0


TimeRange = Literal["short_term", "medium_term", "long_term"]
