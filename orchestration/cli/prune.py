"""`spotify-history prune [--keep-days N]` (orchestration/maintenance/prune.py does the work; the daily
`prune_daily` schedule runs the same)."""

from __future__ import annotations

import sys

import click

from orchestration.cli.common import reaching_database


@click.command("prune")
@click.option(
    "--keep-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Keep finished runs of the last N days (default RUN_RETENTION_DAYS, 30); 0 deletes every finished run.",
)
@click.option(
    "--failed-keep-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Keep failed runs of the last N days (default FAILED_RUN_RETENTION_DAYS, 90; at least --keep-days).",
)
def prune_command(keep_days: float | None, failed_keep_days: float | None) -> None:
    """Delete old Dagster runs with their event logs and compute logs, and old sensor ticks. Runs that have
    not ended are never touched; the import, sync and build records ops.latest_job_runs shows are kept."""
    from orchestration.config import get_settings
    from orchestration.instance import get_instance
    from orchestration.maintenance.prune import prune

    settings = get_settings()
    keep = settings.run_retention_days if keep_days is None else keep_days
    keep_failed = settings.failed_run_retention_days if failed_keep_days is None else failed_keep_days
    keep_failed = max(keep_failed, keep)

    def counted(n: int) -> None:
        if sys.stderr.isatty() and n % 50 == 0:
            click.echo(f"\r{n:,} runs deleted ...", nl=False, err=True)

    with reaching_database():
        pruned = prune(get_instance(), keep, keep_failed, on_run=counted)
    if sys.stderr.isatty():
        click.echo("\r", nl=False, err=True)
    click.echo(
        f"deleted {pruned.runs:,} finished runs older than {keep:g} days and {pruned.failed_runs:,} failed runs "
        f"older than {keep_failed:g} days, with their event and compute logs"
    )
