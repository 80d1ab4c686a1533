"""The spotify sensor: an initial sync after each login, then a poll of every usable link every
POLL_INTERVAL_SECONDS; it also keeps the spotify_users partitions in step with linked users. The
spotify_top_sensor: a top-lists snapshot right after each `auth login` (its authorization is newer than
the user's last snapshot), then once a day."""

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from orchestration.config import Settings, get_settings
from orchestration.db import connect, ensure_schema
from orchestration.defs.spotify.checks import token_check_evaluation
from orchestration.defs.spotify.jobs import (
    JOB_NAME,
    MODE_TAG,
    TOP_JOB_NAME,
    USER_TAG,
    spotify_sync_job,
    spotify_top_job,
    sync_run_config,
)
from orchestration.defs.spotify.partitions import SPOTIFY_USERS, partition_key, spotify_users
from orchestration.spotify.links import LinkedUser, linked_users
from orchestration.spotify.top import SnapshotState, users_to_snapshot
from orchestration.users import list_all


def plan_runs(users: list[LinkedUser], busy: set[str], now: datetime, poll_interval: int) -> list[dg.RunRequest]:
    """Which users to sync now: an initial sync after each login, then a poll every poll_interval."""
    requests = []
    today = now.date()
    for user in users:
        if not user.syncable or user.name in busy:
            continue  # paused, needs_reauth, logged out, or a run of theirs is queued or going
        if user.rate_limited_until is not None and user.rate_limited_until > now:
            continue  # Spotify said when to come back
        tags = {USER_TAG: user.name, "spotify_history/trigger": "sensor"}
        if user.authorized_at is not None and (
            user.last_initial_sync_at is None or user.last_initial_sync_at < user.authorized_at
        ):
            requests.append(
                dg.RunRequest(
                    run_key=f"initial_sync:{user.name}:{user.authorized_at.isoformat()}",
                    partition_key=partition_key(user.name, today),
                    run_config=sync_run_config("initial_sync"),
                    tags={**tags, MODE_TAG: "initial_sync"},
                )
            )
        elif user.last_poll_at is None or (now - user.last_poll_at).total_seconds() >= poll_interval:
            requests.append(
                dg.RunRequest(
                    run_key=f"poll:{user.name}:{now.isoformat()}",
                    partition_key=partition_key(user.name, today),
                    run_config=sync_run_config("poll"),
                    tags={**tags, MODE_TAG: "poll"},
                )
            )
    return requests


def busy_users(instance: dg.DagsterInstance, job_name: str = JOB_NAME) -> set[str]:
    """Users with a run of `job_name` queued or going (a second one would only wait for the pool)."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=job_name,
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        )
    )
    return {run.tags[USER_TAG] for run in runs if USER_TAG in run.tags}


def plan_syncs(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    ensure_schema()
    with connect() as conn:
        users = linked_users(conn)
        all_names = {user.name for user in list_all(conn)}
    wanted = {u.name for u in users}
    existing = set(context.instance.get_dynamic_partitions(SPOTIFY_USERS))
    partition_requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if wanted - existing:
        partition_requests.append(spotify_users.build_add_request(sorted(wanted - existing)))
    if existing - all_names:  # users that no longer exist
        partition_requests.append(spotify_users.build_delete_request(sorted(existing - all_names)))

    # Report the token check when who needs re-authorization changes (not on every tick).
    cursor = json.loads(context.cursor) if context.cursor else {}
    reauth = sorted(u.name for u in users if u.token_status == "needs_reauth")
    events = [token_check_evaluation(reauth)] if cursor.get("needs_reauth") != reauth else []

    now = datetime.now(UTC)
    requests = plan_runs(users, busy_users(context.instance), now, get_settings().poll_interval_seconds)
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests,
        asset_events=events,
        cursor=json.dumps({"needs_reauth": reauth}),
        skip_reason=None if requests else "no linked user is due for a poll",
    )


def spotify_sensor(settings: Settings | None = None) -> dg.SensorDefinition:
    """Built with the definitions, so POLL_INTERVAL_SECONDS is read then, not at import."""
    settings = settings or get_settings()
    return dg.sensor(
        name="spotify_sensor",
        job=spotify_sync_job,
        # Look often (new logins start their initial sync quickly); each user is polled every
        # POLL_INTERVAL_SECONDS.
        minimum_interval_seconds=min(30, settings.poll_interval_seconds),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Keeps the spotify_users partitions in step with linked users, runs the initial sync after "
        "each `auth login`, then polls every active user every POLL_INTERVAL_SECONDS (paused and needs_reauth "
        "users are skipped).",
    )(plan_syncs)


# -- the top-lists sensor ----------------------------------------------------------------------

SNAPSHOT_EVERY = timedelta(days=1)
RETRY_AFTER = timedelta(hours=1)
"""A failed or rate-limited snapshot is tried again after this long, not on every tick."""


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
    requests = plan_snapshots(states, busy_users(context.instance, TOP_JOB_NAME), datetime.now(UTC))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[spotify_users.build_add_request(missing)] if missing else [],
        skip_reason=None if requests else "no linked user is due for a top-lists snapshot",
    )
