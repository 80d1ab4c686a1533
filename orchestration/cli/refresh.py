"""`spotify-history refresh`: the dbt build, as a Dagster run on the shared instance."""

from __future__ import annotations

import json

import click
import psycopg

from orchestration.cli.common import database, fail


@click.command()
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def refresh(full_refresh: bool, as_json: bool) -> None:
    """Build staging → intermediate → marts with dbt (and run its tests) now.

    The marts also refresh by themselves after new raw data (sensor `refresh_marts`).
    """
    from orchestration.cli.in_process import run_refresh

    with database() as conn:
        summary = run_refresh(full_refresh=full_refresh)
        summary["marts"] = _mart_rows(conn) if summary["success"] else {}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"dbt build: {summary['models']} models, {summary['tests']} tests "
            f"({len(summary['failed_tests'])} failed) in {summary['seconds']} s  [run {summary['run_id'][:8]}]"
        )
        for name, rows in summary["marts"].items():
            click.echo(f"  marts.{name:<20} {rows:>12,} rows")
        for failed in summary["failed_tests"]:
            click.secho(f"  failed test: {failed}", fg="yellow", err=True)
    if not summary["success"]:
        fail(summary["error"] or "dbt build failed (see the run in the Dagster UI)")


def _mart_rows(conn: psycopg.Connection) -> dict[str, int]:
    tables = conn.execute(
        "select table_name from information_schema.tables where table_schema = 'marts' "
        "and table_type = 'BASE TABLE' order by table_name"
    ).fetchall()
    counts: dict[str, int] = {}
    for (name,) in tables:
        row = conn.execute(f'select count(*) from marts."{name}"').fetchone()
        counts[name] = row[0] if row else 0
    return counts
