"""`spotify-history users …`."""

from __future__ import annotations

import click

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
