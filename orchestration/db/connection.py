"""Where the database is and how to connect to it.

One rule for every process: DATABASE_URL if set, otherwise the embedded server in
$SPOTIFY_HISTORY_HOME/postgres (started on demand).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from functools import lru_cache

import psycopg
from psycopg.conninfo import conninfo_to_dict

from orchestration.config import Settings, get_settings
from orchestration.db import embedded

APP_DATABASE = "spotify_history"
DAGSTER_DATABASE = "dagster"


def app_database_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return _embedded_url(str(settings.embedded_pgdata), APP_DATABASE)


def dagster_database_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if settings.dagster_database_url is not None:
        return settings.dagster_database_url.get_secret_value()
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return _embedded_url(str(settings.embedded_pgdata), DAGSTER_DATABASE)


@lru_cache(maxsize=8)
def _embedded_url(pgdata: str, database: str) -> str:
    from pathlib import Path

    return embedded.server_uri(Path(pgdata), database)


def connect(url: str | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    """A new connection to the application database."""
    return psycopg.connect(url or app_database_url(), autocommit=autocommit)


def libpq_env(url: str | None = None) -> dict[str, str]:
    """PGHOST … PGDATABASE for psql, dbt and other libpq clients."""
    params = conninfo_to_dict(url or app_database_url())
    return {
        "PGHOST": str(params.get("host") or "localhost"),
        "PGPORT": str(params.get("port") or 5432),
        "PGUSER": str(params.get("user") or "postgres"),
        "PGPASSWORD": str(params.get("password") or ""),
        "PGDATABASE": str(params.get("dbname") or APP_DATABASE),
    }


def export_lines(env: dict[str, str]) -> str:
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in env.items())


def wait_for_server(url: str, seconds: float, on_wait: Callable[[str], None]) -> None:
    """Return once `url` accepts a connection; retry for up to `seconds` (a server still starting).

    On a first start the postgres image runs its init scripts on a socket-only server and only then
    listens on TCP, so a client that comes too early is refused for a while. OperationalError, with
    the last reason, when the server never answered in time. `on_wait` hears the reason once."""
    deadline = time.monotonic() + seconds
    told = False
    while True:
        try:
            psycopg.connect(url, connect_timeout=5).close()
            return
        except psycopg.OperationalError as exc:
            reason = (str(exc).strip().splitlines() or ["no answer"])[0]
            if time.monotonic() >= deadline:
                raise psycopg.OperationalError(
                    f"{where(url)} did not accept connections within {seconds:g} s ({reason})"
                ) from None
            if not told:
                on_wait(f"waiting up to {seconds:g} s for {where(url)}: {reason}")
                told = True
            time.sleep(2)


def where(url: str) -> str:
    """`database NAME on HOST:PORT`, never the credentials."""
    params = conninfo_to_dict(url)
    return f"database {params.get('dbname', '?')} on {params.get('host') or 'localhost'}:{params.get('port') or 5432}"
