"""Test fixtures: one real embedded Postgres per test session, in a temporary SPOTIFY_HISTORY_HOME.

Nothing is mocked except Spotify's web service (later issues): imports, dbt and Dagster runs go
against this server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from support import require_shared_exports

if TYPE_CHECKING:
    from orchestration.spotify.fake import FakeSpotify


@pytest.fixture(scope="session", autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh SPOTIFY_HISTORY_HOME with its own embedded Postgres, for the whole session."""
    path = tmp_path_factory.mktemp("home")
    saved = {k: os.environ.get(k) for k in ("SPOTIFY_HISTORY_HOME", "DATABASE_URL", "DAGSTER_HOME")}
    os.environ["SPOTIFY_HISTORY_HOME"] = str(path)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("DAGSTER_HOME", None)
    os.environ["INBOX_SETTLE_SECONDS"] = "0"
    from orchestration.config import reload_settings
    from orchestration.db import ensure_schema

    settings = reload_settings()
    ensure_schema()
    yield path
    from orchestration.db import embedded

    embedded.stop(settings.embedded_pgdata)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """The dbt manifest the Dagster definitions are built from: loading them parses nothing, so the
    session prepares it, like `spotify-history up` does (a no-op when it is up to date)."""
    from orchestration.defs.dbt.project import prepare_manifest

    return prepare_manifest()


@pytest.fixture
def conn(home: Path) -> Iterator[psycopg.Connection]:
    from orchestration.db import connect

    with connect() as c:
        yield c


@pytest.fixture
def user(conn: psycopg.Connection) -> str:
    """A new user with a unique name, so tests sharing the server never see each other's rows."""
    from orchestration import users

    name = f"u{uuid.uuid4().hex[:10]}"
    users.add(conn, name, "UTC")
    return name


@pytest.fixture(scope="session")
def shared_exports() -> Path:
    """The real-export corpus ($SPOTIFY_TEST_EXPORTS); tests requesting it skip when it is absent."""
    return require_shared_exports()


@pytest.fixture
def fake_spotify() -> Iterator[FakeSpotify]:
    """The fake Spotify on a free loopback port, with settings (SPOTIFY_*_BASE_URL …) pointing at it."""
    from spotify_support import environment, fake_env

    from orchestration.spotify.fake import FakeSpotify

    fake = FakeSpotify()
    with fake.running(), environment(**fake_env(fake)):
        yield fake
