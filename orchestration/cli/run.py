"""`spotify-history up` (the whole system, one command) and `demo` (sample data for a first look)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from orchestration.cli.common import database, fail

DEMO_USER = "demo"
DEMO_RECORDS = 20_000


def spotify_configured() -> bool:
    return bool(os.environ.get("SPOTIFY_CLIENT_ID"))


def ensure_demo_data(records: int = DEMO_RECORDS) -> Path | None:
    """Create the demo user and drop a synthetic export into its inbox, once. Returns the file written."""
    from orchestration import users as repo
    from orchestration.config import get_settings
    from orchestration.demo.synthetic_export import recent_end, write_export
    from orchestration.inbox import user_folder

    with database() as conn:
        try:
            repo.get(conn, DEMO_USER)
        except repo.UserError:
            repo.add(conn, DEMO_USER, get_settings().default_timezone)
        zone = repo.get(conn, DEMO_USER).timezone
        imported = conn.execute(
            "select 1 from app.imports i join app.users u using (user_id) where u.name = %s limit 1",
            (DEMO_USER,),
        ).fetchone()
    inbox = get_settings().inbox_root / DEMO_USER
    target = inbox / "my_spotify_data.zip"
    if imported or target.exists():
        return None
    user_folder(get_settings().inbox_root, DEMO_USER)
    partial = inbox / ".my_spotify_data.zip"  # hidden while written, so the sensor waits
    write_export(partial, records, seed=2024, end=recent_end(), listener_zone=zone)
    partial.rename(target)
    return target


@click.command()
@click.option("--records", default=DEMO_RECORDS, show_default=True, type=click.IntRange(100, 5_000_000))
def demo(records: int) -> None:
    """Add user `demo` and drop a synthetic export into its inbox (imported by the inbox sensor)."""
    path = ensure_demo_data(records)
    click.echo(f"wrote {path}" if path else "demo data already present")


def prepare_services(force_parse: bool = False) -> Path:
    """What the webserver and the daemon load or share, made before they start; returns DAGSTER_HOME.

    The dbt manifest (the definitions are built from it; loading them parses nothing), the
    migrations, and the Dagster instance: dagster.yaml, storage tables and pools (see
    instance.prepare_storage).
    """
    from orchestration.config import get_settings
    from orchestration.definitions import build_definitions, pools
    from orchestration.defs.dbt.project import prepare_manifest
    from orchestration.instance import prepare, prepare_storage

    settings = get_settings()
    prepare_manifest(force=force_parse)  # the services build their dbt assets from the current models
    with database():
        pass
    home = prepare(settings)
    prepare_storage(pools(build_definitions(settings)))
    return home


@click.command("prepare")
@click.option("--no-database", is_flag=True, help="Only the dbt manifest (e.g. while building an image).")
@click.option(
    "--wait-for-database",
    "wait_seconds",
    default=0,
    show_default=True,
    type=click.IntRange(0, 3600),
    metavar="SECONDS",
    help="Retry connecting to DATABASE_URL (and DAGSTER_DATABASE_URL) for up to this long first.",
)
def prepare_command(no_database: bool, wait_seconds: int) -> None:
    """Prepare what Dagster loads before starting it yourself: the dbt manifest, the migrations, Dagster's
    storage tables and pools (`up` does this itself)."""
    if no_database:
        from orchestration.defs.dbt.project import prepare_manifest

        click.echo(f"prepared {prepare_manifest()}")
        return
    if wait_seconds:
        _wait_for_database(wait_seconds)
    home = prepare_services()
    click.echo(f"prepared the dbt manifest, the database and the Dagster instance in {home}")


def _wait_for_database(seconds: int) -> None:
    """A server given by URL may still be starting (compose's first start): wait for it, saying so."""
    import psycopg

    from orchestration.config import get_settings
    from orchestration.db.connection import wait_for_server

    settings = get_settings()
    urls = [s.get_secret_value() for s in (settings.database_url, settings.dagster_database_url) if s is not None]
    # The embedded server (no DATABASE_URL) is started on demand by the commands themselves.
    for url in dict.fromkeys(urls):
        try:
            wait_for_server(url, seconds, lambda message: click.echo(message, err=True))
        except psycopg.OperationalError as exc:
            fail(f"cannot reach the database: {exc}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface for the UI and the API.")
@click.option("--dagster-port", default=3000, show_default=True, type=int)
@click.option("--api-port", default=8000, show_default=True, type=int)
@click.option(
    "--demo/--no-demo",
    "with_demo",
    default=None,
    help="Load demo data (default: when no Spotify credentials are configured).",
)
def up(host: str, dagster_port: int, api_port: int, with_demo: bool | None) -> None:
    """Run everything: database, Dagster webserver and daemon (sensors, schedules), the API; Ctrl-C stops."""
    from orchestration.config import get_settings

    settings = get_settings()
    home = prepare_services(force_parse=True)
    fake_spotify = None
    if with_demo if with_demo is not None else not spotify_configured():
        written = ensure_demo_data()
        if written:
            click.echo(f"demo: wrote a synthetic export to {written}; the inbox sensor imports it shortly")
        if not spotify_configured():
            fake_spotify = _demo_spotify()
    env = {
        **os.environ,
        "SPOTIFY_HISTORY_HOME": str(settings.spotify_history_home),
        "DAGSTER_HOME": str(home),
    }
    code = ["-m", "orchestration.definitions"]
    procs = [
        _spawn(["dagster-webserver", *code, "-h", host, "-p", str(dagster_port)], env),
        _spawn(["dagster-daemon", "run", *code], env),
        _spawn(["spotify-history", "serve-api", "--host", host, "--port", str(api_port)], env),
    ]
    click.echo(f"Dagster UI: http://{host}:{dagster_port}   API: http://{host}:{api_port}/healthz   (Ctrl-C stops)")
    try:
        _supervise(procs)
    finally:
        if fake_spotify is not None:
            fake_spotify.stop()


def _demo_spotify() -> Any:
    """No Spotify credentials: run the fake Spotify here and link the demo user to it (see demo/spotify.py)."""
    from orchestration.demo.spotify import link_demo_user, start_demo_spotify
    from orchestration.spotify.errors import SpotifyError
    from orchestration.spotify.tokens import TokenKeyError

    fake, _ = start_demo_spotify()  # also sets SPOTIFY_* in os.environ, which the services inherit
    try:
        linked = link_demo_user(DEMO_USER)
    except (SpotifyError, TokenKeyError) as exc:
        fake.stop()
        fail(f"demo: could not link the fake Spotify: {exc}")
    click.echo(
        f"demo: fake Spotify at {fake.url}; user {DEMO_USER} is linked to {linked.display_name}, "
        "and the spotify_sensor polls it"
    )
    return fake


def _spawn(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    if not cmd[0].startswith("/"):
        cmd = [str(Path(sys.executable).with_name(cmd[0])), *cmd[1:]]
    return subprocess.Popen(cmd, env=env)


def _supervise(procs: list[subprocess.Popen[bytes]]) -> None:
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                p.kill()
    failed = [p for p in procs if p.returncode not in (0, -signal.SIGINT, -signal.SIGTERM, None)]
    if failed and not stopping:
        fail("a service stopped unexpectedly (see its output above)")
