"""The API's read-only database role (created by migration 0004_api.sql) and how to connect as it."""

from __future__ import annotations

import hashlib
import hmac

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from orchestration.config import Settings, get_settings
from orchestration.db.connection import app_database_url

API_ROLE = "spotify_history_api"
READER_ROLE = "spotify_history_reader"


class RoleError(RuntimeError):
    """The API role cannot be used; the message says what to do."""


def api_database_url(settings: Settings | None = None) -> str:
    """API_DATABASE_URL if set; otherwise the application database as the API role.

    Embedded server: same socket, the role needs no password (local trust). DATABASE_URL: the
    role gets a password derived from the owner's (HMAC, so it is stable across restarts and
    processes and reveals nothing about the owner's), set here with the owner's connection.
    """
    settings = settings or get_settings()
    if settings.api_database_url is not None:
        return settings.api_database_url.get_secret_value()
    owner = app_database_url(settings)
    if settings.database_url is None:
        return with_role(owner, API_ROLE, None)
    owner_password = str(conninfo_to_dict(owner).get("password") or "")
    if not owner_password:
        return with_role(owner, API_ROLE, None)
    password = hmac.new(owner_password.encode(), API_ROLE.encode(), hashlib.sha256).hexdigest()
    try:
        with psycopg.connect(owner, autocommit=True) as conn:
            conn.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(API_ROLE), sql.Literal(password)))
    except psycopg.Error as exc:
        raise RoleError(
            f"cannot set the password of role {API_ROLE} ({str(exc).strip().splitlines()[0]}): "
            "create the role as docs/chatgpt-integration.md shows and set API_DATABASE_URL"
        ) from exc
    return with_role(owner, API_ROLE, password)


def with_role(url: str, user: str, password: str | None) -> str:
    """The same server and database, as another role (a libpq connection string)."""
    params = {k: v for k, v in conninfo_to_dict(url).items() if k not in ("user", "password")}
    if password:
        params["password"] = password
    return make_conninfo("", **params, user=user)


def check_api_role(url: str) -> None:
    """Connect as the API role and read what it must be able to read; RoleError otherwise."""
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("select key_id, user_id, prefix, hash, revoked_at from app.api_keys limit 0")
    except psycopg.Error as exc:
        raise RoleError(f"the API role cannot read app.api_keys: {str(exc).strip().splitlines()[0]}") from exc


def marts_built(url: str) -> bool:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute("select to_regclass('marts.sync_status') is not null").fetchone() == (True,)
