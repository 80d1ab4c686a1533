"""`spotify-history users …` and `spotify-history db …`, run as a user would: in a subprocess."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from stored import run_cli

from orchestration.config import get_settings


@pytest.fixture
def name() -> str:
    """A user name nobody has used yet (the CLI creates the user)."""
    return f"cli-{uuid.uuid4().hex[:8]}"


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    proc = run_cli(*args, env=env)
    assert proc.returncode == 0, f"spotify-history {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def refused(*args: str) -> str:
    """Runs a command that must fail; returns its one-line error."""
    proc = run_cli(*args)
    assert proc.returncode != 0, f"spotify-history {' '.join(args)} succeeded: {proc.stdout}"
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def user_row(conn: psycopg.Connection, name: str) -> tuple[str, str] | None:
    conn.commit()
    return conn.execute("select status, timezone from app.users where name = %s", (name,)).fetchone()


def listed(name: str) -> list[str]:
    """The `users list` columns of one user."""
    rows = [line.split() for line in ok("users", "list").splitlines()]
    (row,) = [r for r in rows if r and r[0] == name]
    return row


def test_add_list_pause_resume(conn: psycopg.Connection, name: str) -> None:
    assert name in ok("users", "add", name, "--timezone", "Europe/Berlin")
    assert user_row(conn, name) == ("active", "Europe/Berlin")
    assert listed(name)[:3] == [name, "active", "Europe/Berlin"]

    ok("users", "pause", name)
    assert user_row(conn, name) == ("paused", "Europe/Berlin")
    assert listed(name)[1] == "paused"

    ok("users", "resume", name)
    assert user_row(conn, name) == ("active", "Europe/Berlin")
    assert listed(name)[1] == "active"


def test_add_uses_the_default_time_zone(conn: psycopg.Connection, name: str) -> None:
    ok("users", "add", name)
    assert user_row(conn, name) == ("active", get_settings().default_timezone)


def test_set_timezone(conn: psycopg.Connection, user: str) -> None:
    assert "America/New_York" in ok("users", "set-timezone", user, "America/New_York")
    assert user_row(conn, user) == ("active", "America/New_York")


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "+02:00", "../../etc/passwd", "", "Europe/Berlin "])
def test_set_timezone_refuses_invalid_zones(conn: psycopg.Connection, user: str, zone: str) -> None:
    message = refused("users", "set-timezone", user, zone)
    assert "time zone" in message and "IANA" in message
    assert user_row(conn, user) == ("active", "UTC")


def test_add_refuses_invalid_zone(conn: psycopg.Connection, name: str) -> None:
    assert "time zone" in refused("users", "add", name, "--timezone", "Nowhere/Atlantis")
    assert user_row(conn, name) is None


def test_add_refuses_a_duplicate(conn: psycopg.Connection, user: str) -> None:
    assert "already exists" in refused("users", "add", user, "--timezone", "Asia/Tokyo")
    assert user_row(conn, user) == ("active", "UTC")


@pytest.mark.parametrize("bad", ["Alice", "has space", "_underscore-first", "x" * 64, "semi;colon", "ünïcode"])
def test_add_refuses_invalid_names(conn: psycopg.Connection, bad: str) -> None:
    assert "invalid user name" in refused("users", "add", bad)
    assert user_row(conn, bad) is None


@pytest.mark.parametrize("command", ["pause", "resume"])
def test_status_of_unknown_user(home: Path, command: str, name: str) -> None:
    assert f"no user named '{name}'" in refused("users", command, name)


def applied_migrations(conn: psycopg.Connection) -> list[str]:
    conn.commit()
    return [row[0] for row in conn.execute("select name from app.schema_migrations order by name")]


def test_db_upgrade_is_idempotent(conn: psycopg.Connection) -> None:
    before = applied_migrations(conn)
    assert before, "the session database is migrated"

    first, second = ok("db", "upgrade"), ok("db", "upgrade")

    assert first.strip() == second.strip() == "schema is up to date"
    assert applied_migrations(conn) == before


def test_db_upgrade_says_what_it_applied(home: Path) -> None:
    """On a new database every migration is applied, and `db upgrade` names them (a release with a
    migration that takes a while, such as 0012 rewriting the raw tables, is best applied this way)."""
    from orchestration.config import get_settings
    from orchestration.db import embedded
    from orchestration.db.migrate import migration_files

    url = embedded.server_uri(get_settings().embedded_pgdata, "test_cli_db_upgrade")
    env = {**os.environ, "DATABASE_URL": url}
    first, second = ok("db", "upgrade", env=env), ok("db", "upgrade", env=env)

    assert first.strip() == "applied: " + ", ".join(name for name, _ in migration_files())
    assert second.strip() == "schema is up to date"


def test_db_url_reaches_the_application_database(conn: psycopg.Connection) -> None:
    url = ok("db", "url").strip()

    with psycopg.connect(url) as other:
        assert other.execute("select current_database()").fetchone() == (conn.info.dbname,)


def test_db_env_alone_is_enough_to_connect(conn: psycopg.Connection) -> None:
    env = {}
    for line in ok("db", "env").splitlines():
        export, assignment = shlex.split(line)
        key, _, value = assignment.partition("=")
        assert export == "export" and key.startswith("PG")
        env[key] = value
    assert {"PGHOST", "PGPORT", "PGUSER", "PGDATABASE"} <= set(env)

    probe = "import psycopg; print(psycopg.connect('').execute('select current_database()').fetchone()[0])"
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == conn.info.dbname
