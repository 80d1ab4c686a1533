"""Bounded run history: delete finished Dagster runs older than a cutoff, with their event logs and
compute logs, and old sensor and schedule ticks (`spotify-history prune`, the daily `prune_run_history`
job).

Every poll is a run (144 a day per listener at the default interval), each with ~100 event rows and its
compute-log files: kept forever, a year of polls is gigabytes. Successful (and canceled) runs are kept
RUN_RETENTION_DAYS, failed ones FAILED_RUN_RETENTION_DAYS (a failure is what one looks back for).
Runs that have not ended are never touched. What the product itself records of a run (app.imports,
app.spotify_syncs, app.marts_builds: a row each, read by ops.latest_job_runs) stays: it is small and it
is the listener's history of their data, not Dagster's.

Ticks: the daemon purges them as dagster.yaml's `retention:` says; prune also drops the successful and
skipped ticks older than the runs' cutoff (automation evaluations: the asset daemon keeps 30 days).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.scheduler.instigation import TickStatus

FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.CANCELED]
FAILED = [dg.DagsterRunStatus.FAILURE]
BATCH = 200


@dataclass(frozen=True)
class Pruned:
    runs: int
    failed_runs: int
    tick_instigators: int


def prune(
    instance: dg.DagsterInstance,
    keep_days: float,
    failed_keep_days: float,
    now: datetime | None = None,
    on_run: Callable[[int], None] | None = None,
) -> Pruned:
    """Delete the runs that ended before now − keep_days (failed: now − failed_keep_days)."""
    now = now or datetime.now(UTC)
    return prune_before(instance, now - timedelta(days=keep_days), now - timedelta(days=failed_keep_days), on_run)


def prune_before(
    instance: dg.DagsterInstance,
    finished_before: datetime,
    failed_before: datetime,
    on_run: Callable[[int], None] | None = None,
) -> Pruned:
    """Delete the finished runs last updated before `finished_before`, the failed ones before
    `failed_before`, and the successful and skipped ticks before `finished_before`."""
    runs = _delete_runs(instance, FINISHED, finished_before, on_run)
    failed = _delete_runs(instance, FAILED, failed_before, on_run)
    return Pruned(runs, failed, _purge_ticks(instance, finished_before))


def _delete_runs(
    instance: dg.DagsterInstance,
    statuses: list[dg.DagsterRunStatus],
    before: datetime,
    on_run: Callable[[int], None] | None,
) -> int:
    deleted = 0
    while True:
        records = instance.get_run_records(
            filters=dg.RunsFilter(statuses=statuses, updated_before=before), limit=BATCH, ascending=True
        )
        if not records:
            return deleted
        for record in records:
            run_id = record.dagster_run.run_id
            instance.delete_run(run_id)  # the run and its event log rows
            # a run's compute logs live under its own key prefix ([run_id, "compute_logs", step])
            instance.compute_log_manager.delete_logs(prefix=[run_id])
            deleted += 1
            if on_run:
                on_run(deleted)


def _purge_ticks(instance: dg.DagsterInstance, before: datetime) -> int:
    states = instance.all_instigator_state()
    for state in states:
        instance.purge_ticks(
            state.instigator_origin_id,
            state.selector_id,
            before=before.timestamp(),
            tick_statuses=[TickStatus.SUCCESS, TickStatus.SKIPPED],
        )
    return len(states)
