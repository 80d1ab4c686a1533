"""`spotify-history users …`."""

from __future__ import annotations

from pathlib import Path

import click
import psycopg

from orchestration import users as repo
from orchestration.cli.common import database, fail


@click.group()
def users() -> None:
    """People whose listening is kept. A user needs no Spotify account to import exports."""


@users.command("add")
@click.argument("name")
@click.option("--timezone", "timezone", help="IANA zone, e.g. Europe/Berlin (default: DEFAULT_TIMEZONE)")
def add(name: str, timezone: str | None) -> None:
    """Add a user."""
    from orchestration.config import get_settings

    with database() as conn:
        try:
            user = repo.add(conn, name, timezone or get_settings().default_timezone)
        except repo.UserError as exc:
            fail(str(exc))
    _changed(f"added {user.name}")
    click.echo(f"added user {user.name} (time zone {user.timezone})")


@users.command("list")
def list_users() -> None:
    """List users."""
    with database() as conn:
        rows = repo.list_all(conn)
    if not rows:
        click.echo("no users yet: spotify-history users add NAME")
        return
    click.echo(f"{'NAME':<20} {'STATUS':<13} {'TIME ZONE':<24} SPOTIFY")
    for u in rows:
        spotify = u.spotify_display_name or u.spotify_user_id or "-"
        click.echo(f"{u.name:<20} {u.status:<13} {u.timezone:<24} {spotify}")


def _set_status(name: str, status: str, verb: str) -> None:
    with database() as conn:
        try:
            repo.set_status(conn, name, status)
        except repo.UserError as exc:
            fail(str(exc))
    _changed(f"{verb} {name}")
    click.echo(f"{verb} {name}")


def _changed(description: str) -> None:
    from orchestration.instance import report_users_changed

    report_users_changed(description)


@users.command()
@click.argument("name")
def pause(name: str) -> None:
    """Stop automatic work (polling, inbox imports) for a user; data is kept."""
    _set_status(name, "paused", "paused")


@users.command()
@click.argument("name")
def resume(name: str) -> None:
    """Resume automatic work for a paused user."""
    _set_status(name, "active", "resumed")


@users.command("set-timezone")
@click.argument("name")
@click.argument("zone")
def set_timezone(name: str, zone: str) -> None:
    """Set the IANA time zone in which a user's days and hours are counted."""
    with database() as conn:
        try:
            user = repo.set_timezone(conn, name, zone)
        except repo.UserError as exc:
            fail(str(exc))
    _changed(f"{user.name}: time zone {user.timezone}")
    click.echo(f"{user.name}: time zone {user.timezone} (the marts are rebuilt in that zone on the next refresh)")


@users.command("export")
@click.argument("name")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: ./Streaming_History_Audio_NAME.json, a name importers take as extended history).",
)
@click.option(
    "--no-refresh", is_flag=True, help="Fail instead of building the marts when they are behind the raw rows."
)
def export(name: str, out: Path | None, no_refresh: bool) -> None:
    """Write every stored stream of a user (all sources, duplicates left out) as one JSON array in Spotify's
    extended-history shape: `spotify-history import FILE --user OTHER` gives the same plays and top lists.

    The duplicates are the marts' own (dbt's int_streams): when they are behind the raw rows (an import or a
    poll since the last build), the marts are built first, unless --no-refresh.
    """
    from orchestration.cli.progress import CountProgress
    from orchestration.maintenance import export as exporting

    path = out or Path(exporting.default_file_name(name))
    with database() as conn:
        try:
            user = repo.get(conn, name)
            lag = _behind(conn, user.user_id)
        except (repo.UserError, exporting.ExportError) as exc:
            fail(str(exc))
        if lag:
            if no_refresh:
                fail(f"{lag}: run `spotify-history refresh` first")
            click.echo(f"{lag}: building them first ...", err=True)
            _refresh()
        try:
            result = exporting.export_user(conn, user.user_id, path, CountProgress("streams"))
        except exporting.ExportError as exc:
            fail(str(exc))
    click.echo(f"wrote {result.streams:,} streams of {name} to {result.path} ({result.bytes:,} bytes)")


def _behind(conn: psycopg.Connection, user_id: int) -> str | None:
    """What the marts lack of the user's raw rows, in words; None when they hold all of them."""
    from orchestration.maintenance.export import ExportError, behind

    try:
        lag = behind(conn, user_id)
    except ExportError:
        return "the marts were never built"
    finally:
        conn.rollback()
    return f"the marts are behind the raw rows ({lag})" if lag else None


def _refresh() -> None:
    from orchestration.cli.in_process import run_refresh

    summary = run_refresh()
    if not summary["success"]:
        fail(summary["error"] or "dbt build failed (see the run in the Dagster UI)")


@users.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
def delete(name: str, yes: bool) -> None:
    """Delete a user and everything stored of them: raw rows, imports, polls, Spotify tokens, API keys, OAuth
    grants and tokens, their rows in the marts, and their Dagster partitions. Other users are untouched.

    Their inbox folder is left alone (its path is printed). There is no undo: `export` or `backup` first.
    """
    from orchestration.config import get_settings
    from orchestration.instance import forget_user_partitions, run_is_over
    from orchestration.maintenance.deletion import delete_user

    with database() as conn:
        try:
            repo.get(conn, name)
        except repo.UserError as exc:
            fail(str(exc))
        conn.rollback()  # no transaction open while the question waits
        if not yes:
            click.confirm(
                f"delete user {name} and every row of theirs (plays, imports, tokens, keys, OAuth grants)? "
                "This cannot be undone",
                abort=True,
                err=True,
            )
        try:
            deleted = delete_user(conn, name, run_is_over)
        except repo.UserError as exc:
            fail(str(exc))
    partitions = forget_user_partitions(name)
    _changed(f"deleted {name}")
    click.echo(f"deleted user {name}: {deleted.total:,} rows in {len(deleted.rows)} tables")
    for table, rows in sorted(deleted.rows.items()):
        click.echo(f"  {table:<40} {rows:>12,}")
    if partitions:
        click.echo(f"  Dagster partitions: {len(partitions)}")
    inbox = get_settings().inbox_root / name
    if inbox.exists():
        click.echo(f"their inbox folder is left as it is: {inbox}")
