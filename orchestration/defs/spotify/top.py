"""Dagster wiring for Spotify's top lists: the daily snapshot asset, its job, sensor and CLI runner.

The work is orchestration.spotify.top.take_snapshot. The asset is partitioned by the linked user
(the dynamic `spotify_users` partitions the Spotify sensor keeps in step with logins). The
`spotify_top_sensor` takes a snapshot right after each `auth login` (its authorization is newer than
the user's last snapshot) and then once a day; `spotify-history snapshot-top` takes one now.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg

from orchestration.db import connect, ensure_schema
from orchestration.defs.keys import RAW_SOURCE
from orchestration.defs.load_checks import load_check_result
from orchestration.defs.spotify.jobs import USER_TAG
from orchestration.defs.spotify.partitions import SPOTIFY_USERS, spotify_users
from orchestration.defs.spotify.sensors import busy_users
from orchestration.spotify.top import SnapshotResult, SnapshotState, take_snapshot, users_to_snapshot

TOP_ITEMS = dg.AssetKey([RAW_SOURCE, "spotify_top_items"])
APP_TOP_SNAPSHOTS = dg.AssetKey(["app", "spotify_top_snapshots"])
APP_MARTS_BUILDS = dg.AssetKey(["app", "marts_builds"])
JOB_NAME = "spotify_top_snapshot"
ROWS_CHECK = "snapshot_rows_stored"
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
    check_specs=[
        dg.AssetCheckSpec(
            ROWS_CHECK,
            asset=TOP_ITEMS,
            description="The items this snapshot wrote are all there: as many as it reported, all of its user.",
        )
    ],
)
def spotify_top_items(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    user = context.partition_key
    context.log.info(f"snapshot of the top lists of {user!r}")
    result = take_snapshot(user, run_id=context.run_id)
    context.log.info(summary(result))
    context.log_event(
        dg.AssetMaterialization(APP_TOP_SNAPSHOTS, metadata={"snapshot_id": result.snapshot_id, "user": user})
    )
    if result.status not in ("succeeded", "rate_limited"):
        raise dg.Failure(description=result.error or "snapshot failed", allow_retries=False)
    yield load_check_result(ROWS_CHECK, "spotify_top_items", result.snapshot_id, result.user_id, result.items)
    yield dg.MaterializeResult(
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
    # The asset's own check only: a dbt test on the raw table would start a dbt process in every snapshot.
    selection=dg.AssetSelection.assets(spotify_top_items).without_checks()
    | dg.AssetSelection.checks(*spotify_top_items.check_keys),
    partitions_def=spotify_users,
    description="Snapshot Spotify's top artists and tracks (three time ranges) for one user.",
)


# -- the sensor -------------------------------------------------------------------------------------


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
    with connect() as conn:
        states = users_to_snapshot(conn)
    existing = set(context.instance.get_dynamic_partitions(SPOTIFY_USERS))
    missing = sorted({s.name for s in states} - existing)
    requests = plan_snapshots(states, busy_users(context.instance, JOB_NAME), datetime.now(UTC))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[spotify_users.build_add_request(missing)] if missing else [],
        skip_reason=None if requests else "no linked user is due for a top-lists snapshot",
    )
