"""Dagster wiring for Spotify's top lists: the daily snapshot asset, its job, sensor and CLI runner.

The work is orchestration.spotify.top.take_snapshot. The asset is partitioned by the linked user
(the dynamic `spotify_users` partitions the Spotify sensor keeps in step with logins). The
`spotify_top_sensor` takes a snapshot right after each `auth login` (its authorization is newer than
the user's last snapshot) and then once a day; `spotify-history snapshot-top` takes one now.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from orchestration.db import connect, ensure_schema
from orchestration.defs.imports import RAW_SOURCE
from orchestration.defs.spotify import SPOTIFY_USERS, USER_TAG, spotify_users
from orchestration.spotify.top import SnapshotResult, take_snapshot

TOP_ITEMS = dg.AssetKey([RAW_SOURCE, "spotify_top_items"])
APP_TOP_SNAPSHOTS = dg.AssetKey(["app", "spotify_top_snapshots"])
APP_MARTS_BUILDS = dg.AssetKey(["app", "marts_builds"])
JOB_NAME = "spotify_top_snapshot"
SNAPSHOT_EVERY = timedelta(days=1)
RETRY_AFTER = timedelta(hours=1)
"""A failed or rate-limited snapshot is tried again after this long, not on every tick."""

top_app_tables = [
    dg.AssetSpec(
        APP_TOP_SNAPSHOTS,
        description="One row per top-lists snapshot run (app.spotify_top_snapshots), whatever its outcome.",
        group_name="app",
    ),
    dg.AssetSpec(
        APP_MARTS_BUILDS,
        description="One row per dbt build of the marts (app.marts_builds), recorded by the dbt asset.",
        group_name="app",
    ),
]


@dg.asset(
    key=TOP_ITEMS,
    partitions_def=spotify_users,
    pool="spotify",
    group_name="raw",
    kinds={"postgres"},
    description="Spotify's own top artists and tracks (GET /v1/me/top/…, 50 each) for the short, medium and "
    "long term, one snapshot per run (raw.spotify_top_items). Partition: the linked user.",
    metadata={"table": "raw.spotify_top_items"},
    op_tags={"kind": "spotify"},
)
def spotify_top_items(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    user = context.partition_key
    context.log.info(f"snapshot of the top lists of {user!r}")
    result = take_snapshot(user, run_id=context.run_id)
    context.log.info(summary(result))
    context.log_event(
        dg.AssetMaterialization(APP_TOP_SNAPSHOTS, metadata={"snapshot_id": result.snapshot_id, "user": user})
    )
    if result.status not in ("succeeded", "rate_limited"):
        raise dg.Failure(description=result.error or "snapshot failed", allow_retries=False)
    return dg.MaterializeResult(
        metadata={
            "status": dg.MetadataValue.text(result.status),
            "snapshot_id": dg.MetadataValue.int(result.snapshot_id),
            "items": dg.MetadataValue.int(result.items),
            "requests": dg.MetadataValue.int(result.requests),
            "lists": dg.MetadataValue.json(result.counts or {}),
        }
    )


def summary(result: SnapshotResult) -> str:
    text = f"top snapshot {result.status}: {result.requests} request(s), {result.items} item(s)"
    return text + (f"; {result.error}" if result.error else "")


spotify_top_job = dg.define_asset_job(
    JOB_NAME,
    # Without the dbt source tests of the raw table as checks: every marts build runs those anyway.
    selection=dg.AssetSelection.assets(spotify_top_items).without_checks(),
    partitions_def=spotify_users,
    description="Snapshot Spotify's top artists and tracks (three time ranges) for one user.",
)


# -- the sensor -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotState:
    name: str
    authorized_at: datetime
    last_success_at: datetime | None
    last_attempt_at: datetime | None


def users_to_snapshot() -> list[SnapshotState]:
    """Active users with a usable Spotify authorization, with their last snapshot (attempt)."""
    with connect() as conn:
        rows = conn.execute(
            """
            select u.name, t.authorized_at,
                   (select max(started_at) from app.spotify_top_snapshots s
                     where s.user_id = u.user_id and s.status = 'succeeded'),
                   (select max(started_at) from app.spotify_top_snapshots s where s.user_id = u.user_id)
            from app.users u join app.spotify_tokens t using (user_id)
            where u.status = 'active' and t.invalidated_at is null
            order by u.name
            """
        ).fetchall()
    return [SnapshotState(*row) for row in rows]


def plan_snapshots(states: list[SnapshotState], busy: set[str], now: datetime) -> list[dg.RunRequest]:
    """A snapshot after each login, then one a day; a failed attempt waits RETRY_AFTER."""
    requests = []
    for s in states:
        if s.name in busy or (s.last_attempt_at is not None and now - s.last_attempt_at < RETRY_AFTER):
            continue
        after_login = s.last_success_at is None or s.last_success_at < s.authorized_at
        if after_login or now - s.last_success_at >= SNAPSHOT_EVERY:  # type: ignore[operator]
            why = "login" if after_login else "daily"
            requests.append(
                dg.RunRequest(
                    run_key=f"top:{s.name}:{why}:{now.isoformat()}",
                    partition_key=s.name,
                    tags={USER_TAG: s.name, "spotify_history/trigger": f"sensor ({why})"},
                )
            )
    return requests


def busy_users(instance: dg.DagsterInstance) -> set[str]:
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=JOB_NAME,
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        )
    )
    return {run.tags[USER_TAG] for run in runs if USER_TAG in run.tags}


@dg.sensor(
    name="spotify_top_sensor",
    job=spotify_top_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Snapshots Spotify's top lists of every active linked user right after `auth login`, then once "
    "a day (a failed snapshot is retried after an hour).",
)
def spotify_top_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    ensure_schema()
    states = users_to_snapshot()
    existing = set(context.instance.get_dynamic_partitions(SPOTIFY_USERS))
    missing = sorted({s.name for s in states} - existing)
    requests = plan_snapshots(states, busy_users(context.instance), datetime.now(UTC))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[spotify_users.build_add_request(missing)] if missing else [],
        skip_reason=None if requests else "no linked user is due for a top-lists snapshot",
    )


# -- the CLI's run ----------------------------------------------------------------------------------


class SnapshotRunError(Exception):
    def __init__(self, message: str, run_id: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


def run_top_snapshot(user: str) -> dict[str, Any]:
    """A snapshot of `user`'s top lists as a run of the spotify_top_snapshot job; returns its registry row."""
    import psycopg.rows

    from orchestration.definitions import defs
    from orchestration.defs.in_process import QUIET_CONSOLE, _failure_message
    from orchestration.instance import get_instance

    instance = get_instance()
    if not instance.has_dynamic_partition(spotify_users.name, user):
        instance.add_dynamic_partitions(spotify_users.name, [user])
    result = defs.resolve_job_def(JOB_NAME).execute_in_process(
        instance=instance,
        partition_key=user,
        run_config=QUIET_CONSOLE,
        tags={USER_TAG: user, "spotify_history/trigger": "cli"},
        raise_on_error=False,
    )
    with connect() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(
            """
            select snapshot_id, status, requests, items, error, started_at, finished_at
            from app.spotify_top_snapshots where dagster_run_id = %s order by snapshot_id desc limit 1
            """,
            (result.run_id,),
        ).fetchone()
    if not result.success:
        raise SnapshotRunError((row or {}).get("error") or _failure_message(result), result.run_id)
    if row is None:
        raise SnapshotRunError("the run succeeded but recorded no snapshot", result.run_id)
    return {**row, "run_id": result.run_id}
