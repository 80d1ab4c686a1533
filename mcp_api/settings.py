"""The API's own settings, read once from the environment.

mcp_api never imports orchestration: it knows the database only through API_DATABASE_URL, a
URL for the read-only role (`spotify-history serve-api` computes it for the embedded server).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Loopback Host headers the MCP endpoint always answers (the SDK's own defaults).
LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]")


def _split(value: object) -> object:
    """Lists from the environment as `a,b,c` (or a JSON list)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class ApiSettings(BaseSettings):
    # env_ignore_empty: `KEY=` in .env means unset (the default), not an empty value.
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False, env_ignore_empty=True)

    api_database_url: SecretStr | None = Field(
        default=None, description="Postgres URL of the read-only API role (spotify_history_api)."
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where clients reach the API (HTTPS on 443 for ChatGPT); the OpenAPI `servers` URL.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Browser origins allowed to call the API (comma-separated)."
    )
    admin_api_key: SecretStr | None = Field(
        default=None, description="A key that may read any user (pass user_id). Unset: no admin key."
    )
    mcp_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host headers the MCP endpoint answers besides loopback and PUBLIC_BASE_URL's host "
        "(DNS-rebinding protection); `name:*` allows any port.",
    )
    rate_limit_per_minute: int = Field(default=120, ge=0, description="Requests per key and minute; 0 = no limit.")
    max_request_bytes: int = Field(default=64 * 1024, ge=1024, description="Largest request body accepted.")
    api_pool_size: int = Field(default=8, ge=1, le=100, description="Database connections of one API process.")
    api_cache_entries: int = Field(
        default=2048, ge=0, description="Tool answers kept until the next marts build (per process); 0 = none."
    )
    api_cache_seconds: float = Field(default=600, ge=0, description="The longest a cached answer is used.")
    oauth_loopback_client_metadata: bool = Field(
        default=False,
        description="Tests and development only: also accept Client ID Metadata Documents served over plain "
        "http from a loopback address (never in production: the document's host proves nothing there).",
    )

    @field_validator("cors_origins", "mcp_allowed_hosts", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split(value)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("PUBLIC_BASE_URL must be an http(s) URL such as https://history.example.org")
        return value.rstrip("/")

    @property
    def public_host(self) -> str:
        return urlsplit(self.public_base_url).netloc

    @property
    def public_origin(self) -> str:
        parts = urlsplit(self.public_base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def mcp_resource(self) -> str:
        """This server's MCP endpoint as an OAuth resource (RFC 8707): what tokens are bound to."""
        return f"{self.public_base_url}/mcp"

    @property
    def oauth_enabled(self) -> bool:
        """OAuth needs an issuer clients may trust: https, or loopback http (RFC 8414, RFC 8252)."""
        parts = urlsplit(self.public_base_url)
        return parts.scheme == "https" or parts.hostname in ("127.0.0.1", "localhost", "::1")

    def allowed_hosts(self) -> list[str]:
        """Host headers the MCP endpoint accepts: loopback, PUBLIC_BASE_URL's host, MCP_ALLOWED_HOSTS."""
        hosts = [*LOOPBACK_HOSTS, self.public_host, *self.mcp_allowed_hosts]
        return list(dict.fromkeys(hosts))

    def allowed_origins(self) -> list[str]:
        origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*", self.public_origin, *self.cors_origins]
        return list(dict.fromkeys(origins))


@lru_cache(maxsize=1)
def get_settings() -> ApiSettings:
    return ApiSettings()
