"""Test fixtures: one real embedded Postgres per test session, in a temporary SPOTIFY_HISTORY_HOME.

Nothing is mocked except Spotify's web service: imports, dbt and Dagster runs go against this
server. The server is opt-in: a test that touches the database requests `home` (directly or
through `conn`, `user`, `own_database` or another fixture that does); pure tests run without
any server, and one that connects without asking fails with a message saying so.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from export_files import require_shared_exports

if TYPE_CHECKING:
    from api_support import World

    from orchestration.demo.fake_spotify import FakeSpotify

DATABASE_FIXTURE = "home"
_server_requested = False


@pytest.fixture(scope="session", autouse=True)
def session_home() -> Iterator[Path]:
    """A fresh SPOTIFY_HISTORY_HOME for the session (no server yet): nothing a test does lands in ./.data.

    Not under pytest's numbered temporary folders: those are pruned by other pytest sessions of the
    same user, which on a shared machine took the data folder from under a running server.
    """
    path = Path(tempfile.mkdtemp(prefix="spotify-history-test-home-"))
    names = ("SPOTIFY_HISTORY_HOME", "DATABASE_URL", "DAGSTER_DATABASE_URL", "DAGSTER_HOME", "INBOX_SETTLE_SECONDS")
    saved = {k: os.environ.get(k) for k in names}
    os.environ["SPOTIFY_HISTORY_HOME"] = str(path)
    for name in ("DATABASE_URL", "DAGSTER_DATABASE_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)
    os.environ["INBOX_SETTLE_SECONDS"] = "0"
    from orchestration.config import reload_settings
    from orchestration.db import embedded

    settings = reload_settings()
    start_server = embedded.server_uri

    def only_for_home(*args: Any, **kwargs: Any) -> Any:
        # Also catches module- and session-scoped fixtures, which run before the per-test guard below.
        if not _server_requested:
            raise RuntimeError(f"the test session's Postgres starts only through the `{DATABASE_FIXTURE}` fixture")
        return start_server(*args, **kwargs)

    embedded.server_uri = only_for_home  # type: ignore[assignment]
    yield path
    embedded.server_uri = start_server  # type: ignore[assignment]
    embedded.stop(settings.embedded_pgdata)  # started by `home`, or by a subprocess of a test that asked for it
    shutil.rmtree(path, ignore_errors=True)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def pytest_configure(config: pytest.Config) -> None:
    """Prepare the dbt manifest the Dagster definitions are built from, like `spotify-history up` does
    (a no-op when it is up to date): loading the definitions parses nothing. Done once, before any
    test worker starts (pytest-xdist runs this first in the controlling process), so no two
    processes write dbt_project/target at once."""
    if hasattr(config, "workerinput"):
        return
    from orchestration.defs.dbt.project import prepare_manifest

    prepare_manifest()


API_LISTENERS = "api-listeners"
# What mostly waits on processes of its own (a fresh `up` for minutes, a chain of dbt builds, the
# deployment topology) or builds a costly fixture (the API listeners) starts first, in this order: while
# one worker waits, the other runs the rest.
FIRST = ("test_first_start", API_LISTENERS, "test_incremental_marts", "test_deployment")


def _module(item: pytest.Item) -> str:
    found = getattr(item, "module", None)  # test functions have one; other items (none here) may not
    return found.__name__.rsplit(".", 1)[-1] if found else ""


def _group(item: pytest.Item) -> str:
    return API_LISTENERS if "data" in getattr(item, "fixturenames", ()) else _module(item)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Under `pytest -n N --dist loadgroup` (scripts/test), keep what shares a costly fixture on one
    worker: every test of the API listeners (`data`, built once per worker session) together, and each
    other module's tests together (their module-scoped databases and builds). Marked as each item is
    collected: pytest-xdist reads the marks in its pytest_collection_modifyitems, which may run before
    any of ours."""
    item.add_marker(pytest.mark.xdist_group(_group(item)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The groups of FIRST first (scripts/test keeps this order: --no-loadscope-reorder), then collection order."""
    items.sort(key=lambda item: FIRST.index(_group(item)) if _group(item) in FIRST else len(FIRST))


@pytest.fixture(scope="session")
def home(session_home: Path) -> Path:
    """The session's home with its embedded Postgres running and migrated (started on first request)."""
    from orchestration.db import ensure_schema
    from orchestration.instance import prepare

    global _server_requested
    _server_requested = True
    ensure_schema()
    prepare()  # Dagster's storage URL now, before a test points DATABASE_URL elsewhere (own_database)
    skip_disk_flushes()
    return session_home


def skip_disk_flushes() -> None:
    """The session's server is thrown away afterwards: its commits need not wait for the disk (every
    dbt model, Dagster event and import commits; on this 2-core machine a flush costs 1.5-3 ms)."""
    from orchestration.config import get_settings
    from orchestration.db import embedded

    with psycopg.connect(embedded.server_uri(get_settings().embedded_pgdata), autocommit=True) as admin:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            admin.execute(f"alter system set {setting} = off")
        admin.execute("select pg_reload_conf()")


@pytest.fixture(autouse=True)
def _database_only_when_requested(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, session_home: Path
) -> None:
    """Using the session's Postgres from a test that did not request `home` is a clear error, not a
    server started by accident (tests that run a server of their own are free to connect to it)."""
    if DATABASE_FIXTURE in request.fixturenames:
        return
    from orchestration.db import embedded

    message = (
        f"{request.node.nodeid} uses the test session's Postgres without requesting the `{DATABASE_FIXTURE}` "
        "fixture (directly, or through `conn`, `user` or a fixture that requests it)"
    )

    def refuse_to_start(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(message)

    connect = psycopg.Connection.connect

    def connect_unless_session_server(conninfo: str = "", *args: Any, **kwargs: Any) -> Any:
        if str(session_home) in str(conninfo):
            raise RuntimeError(message)
        return connect(conninfo, *args, **kwargs)

    monkeypatch.setattr(embedded, "server_uri", refuse_to_start)
    monkeypatch.setattr(psycopg, "connect", connect_unless_session_server)
    monkeypatch.setattr(psycopg.Connection, "connect", connect_unless_session_server)


@pytest.fixture(scope="module")
def own_database(home: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty (migrated) application database on the session's server, for one test module.

    For modules whose rows would otherwise make every later dbt build of the shared database slower
    (bulk imports), or whose dbt builds must not depend on what other modules left (full-refresh
    comparisons): their dbt builds read only their own rows. Dagster's storage stays shared.
    """
    from orchestration.config import reload_settings
    from orchestration.db import dagster_database_url, embedded, ensure_schema

    settings = reload_settings()
    name = "test_" + request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    url = embedded.server_uri(settings.embedded_pgdata, name)
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "DAGSTER_DATABASE_URL")}
    os.environ["DAGSTER_DATABASE_URL"] = dagster_database_url(settings)
    os.environ["DATABASE_URL"] = url
    reload_settings()
    ensure_schema()
    yield url
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reload_settings()


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

    from orchestration.demo.fake_spotify import FakeSpotify

    fake = FakeSpotify()
    with fake.running(), environment(**fake_env(fake)):
        yield fake


@pytest.fixture(scope="module")
def data(home: Path) -> World:
    """The API tests' listeners: the committed exports (tests/fixtures/exports) imported and built once per session."""
    from api_support import world

    return world()
