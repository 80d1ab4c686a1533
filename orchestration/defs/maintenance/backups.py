"""The daily backup: `spotify-history backup` into BACKUP_DIR, keeping the newest BACKUP_KEEP files.

Off by default: without BACKUP_DIR the schedule is defined but stopped (the UI shows it, a click starts it,
and then each run fails with a message saying to set BACKUP_DIR).
"""

from datetime import UTC, datetime

import dagster as dg

from orchestration.config import Settings, get_settings


@dg.op(description="Back up the databases into BACKUP_DIR; remove backups beyond BACKUP_KEEP.")
def backup_databases(context: dg.OpExecutionContext) -> None:
    from orchestration.maintenance.backup import backup, keep_newest

    settings = get_settings()
    if settings.backup_dir is None:
        raise dg.Failure("BACKUP_DIR is not set: set it to a folder (on another disk, ideally) to take daily backups")
    target = settings.backup_dir / f"spotify-history-{datetime.now(UTC):%Y%m%d-%H%M%S.%f}.backup"
    manifest = backup(target, on_step=context.log.info)
    removed = keep_newest(settings.backup_dir, settings.backup_keep)
    counts = ", ".join(f"{n:,} {t}" for t, n in manifest.counts.items())
    context.log.info(f"wrote {target} ({target.stat().st_size:,} bytes; {counts}); removed {len(removed)} older")


@dg.job(name="backup", description="Back up listeners, raw rows, marts and run history (`spotify-history backup`).")
def backup_job() -> None:
    backup_databases()


def backup_schedule(settings: Settings) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="backup_daily",
        job=backup_job,
        cron_schedule="30 3 * * *",
        execution_timezone=settings.default_timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING if settings.backup_dir else dg.DefaultScheduleStatus.STOPPED,
        description="Off until BACKUP_DIR is set; keeps the newest BACKUP_KEEP backups.",
    )
