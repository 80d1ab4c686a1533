"""The daily pruning of Dagster's run history (orchestration/maintenance/prune.py): on by default, since
every poll is a run and nothing else bounds them."""

import dagster as dg

from orchestration.config import Settings, get_settings


@dg.op(description="Delete finished runs older than RUN_RETENTION_DAYS (failed: FAILED_RUN_RETENTION_DAYS).")
def prune_runs(context: dg.OpExecutionContext) -> None:
    from orchestration.maintenance.prune import prune

    settings = get_settings()
    pruned = prune(context.instance, settings.run_retention_days, settings.failed_run_retention_days)
    context.log.info(
        f"deleted {pruned.runs:,} runs older than {settings.run_retention_days:g} days and {pruned.failed_runs:,} "
        f"failed runs older than {settings.failed_run_retention_days:g} days, with their logs"
    )


@dg.job(name="prune_run_history", description="Delete old runs, their logs and ticks (`spotify-history prune`).")
def prune_job() -> None:
    prune_runs()


def prune_schedule(settings: Settings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="prune_daily",
        job=prune_job,
        cron_schedule="45 3 * * *",
        execution_timezone=settings.default_timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Keeps RUN_RETENTION_DAYS of runs (failed: FAILED_RUN_RETENTION_DAYS).",
    )
