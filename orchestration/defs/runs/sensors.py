"""Runs that ended without finishing their registry rows: the `interrupted_runs` sensors.

When Dagster reports a run failed or canceled — a step process killed, a run canceled mid-import,
a run that run monitoring gave up on — the import (app.imports) or Spotify sync (app.spotify_syncs)
it was recording may still read 'running'. These sensors mark such rows failed ("interrupted"); the
rule lives in the core (orchestration.imports.registry), which also applies it when the next import
starts, for processes that died outside any run Dagster could watch.
"""

from __future__ import annotations

import dagster as dg

from orchestration.db import connect
from orchestration.imports.registry import mark_run_interrupted


def mark_interrupted(context: dg.RunStatusSensorContext) -> dg.SkipReason | None:
    """Mark the run's unfinished registry rows failed ("interrupted")."""
    with connect() as conn:
        changed = mark_run_interrupted(conn, context.dagster_run.run_id)
    if not any(changed.values()):
        return dg.SkipReason("no unfinished import or sync in this run")
    context.log.info(f"marked interrupted: {changed['imports']} import(s), {changed['spotify_syncs']} sync(s)")
    return None


def _sensor(status: dg.DagsterRunStatus, name: str) -> dg.RunStatusSensorDefinition:
    return dg.run_status_sensor(
        run_status=status,
        name=name,
        description=f"Marks imports and Spotify syncs of {status.value.lower()} runs failed ('interrupted').",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
    )(mark_interrupted)


interrupted_runs_sensors = [
    _sensor(dg.DagsterRunStatus.FAILURE, "interrupted_runs_failed"),
    _sensor(dg.DagsterRunStatus.CANCELED, "interrupted_runs_canceled"),
]
