"""`spotify-history db …`: where the database is, migrations, the embedded server."""

from __future__ import annotations

import click

from orchestration.cli.common import fail, reaching_database


@click.group()
def db() -> None:
    """The Postgres database (DATABASE_URL, or the embedded server in $SPOTIFY_HISTORY_HOME)."""


@db.command()
def upgrade() -> None:
    """Apply pending schema migrations (idempotent)."""
    from orchestration.db import upgrade as do_upgrade

    with reaching_database():  # not database(): it would apply them first, and this would say nothing was
        applied = do_upgrade()
    click.echo(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


@db.command()
def url() -> None:
    """Print the connection URL."""
    from orchestration.db import app_database_url

    click.echo(app_database_url())


@db.command()
def env() -> None:
    """Print `export PG…=…` lines:  eval "$(spotify-history db env)"  lets psql and dbt connect."""
    from orchestration.db import libpq_env
    from orchestration.db.connection import export_lines

    click.echo(export_lines(libpq_env()))


@db.command()
def status() -> None:
    """Show where the database is and whether migrations are pending."""
    from orchestration.config import get_settings
    from orchestration.db.connection import libpq_env
    from orchestration.db.migrate import pending

    settings = get_settings()
    where = "DATABASE_URL" if settings.database_url else f"embedded server in {settings.embedded_pgdata}"
    env = libpq_env()
    click.echo(f"database: {env['PGDATABASE']} on {env['PGHOST']}:{env['PGPORT']} ({where})")
    todo = pending()
    click.echo(f"pending migrations: {', '.join(todo)}" if todo else "schema is up to date")


@db.command()
def stop() -> None:
    """Stop the embedded Postgres server (it starts again on the next command)."""
    from orchestration.config import get_settings
    from orchestration.db import embedded

    settings = get_settings()
    if settings.database_url:
        fail("DATABASE_URL is set: the database is external, nothing to stop")
    stopped = embedded.stop(settings.embedded_pgdata)
    click.echo("embedded Postgres stopped" if stopped else "embedded Postgres was not running")
