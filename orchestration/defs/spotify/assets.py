"""Dagster wiring for the Spotify connection: the API-plays asset, its checks, the job and the sensor.

The work is orchestration.spotify.sync.run_sync; this module maps it onto partitions
(user × UTC day), run config, metadata, asset checks and a sensor that needs no manual step:

* partitions: dynamic "spotify_users" (kept in step with linked users by the sensor) × daily;
* a run for (user, today) polls with `after`; a run for (user, past day) backfills that day with
  `before` (so a backfill over a date range is launched from the UI); mode `initial_sync` walks
  back INITIAL_SYNC_MAX_DAYS in one run, which the sensor launches when a user links Spotify;
* pool "spotify" bounds the calls toward Spotify (the instance's default pool limit is 1).
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import dagster as dg

from orchestration.config import get_settings
from orchestration.db import connect, ensure_schema
from orchestration.defs.imports import APP_USERS, RAW_SOURCE
from orchestration.spotify.storage import SyncResult
from orchestration.spotify.sync import run_sync

API_PLAYS = dg.AssetKey([RAW_SOURCE, "api_recently_played"])
APP_SYNCS = dg.AssetKey(["app", "spotify_syncs"])
APP_TOKENS = dg.AssetKey(["app", "spotify_tokens"])
JOB_NAME = "spotify_sync"
USER_TAG = "spotify_history/user"
MODE_TAG = "spotify_history/spotify_mode"

SPOTIFY_USERS = "spotify_users"
spotify_users = dg.DynamicPartitionsDefinition(name=SPOTIFY_USERS)
# The API keeps only ~50 plays, so old days hold nothing to fetch; the start only bounds the UI.
# end_offset=1: today's partition exists (polls materialize it).
spotify_days = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_offset=1)
api_partitions = dg.MultiPartitionsDefinition({"date": spotify_days, "user": spotify_users})

spotify_app_tables = [
    dg.AssetSpec(APP_SYNCS, description="One row per poll/backfill run (app.spotify_syncs).", group_name="app"),
    dg.AssetSpec(
        APP_TOKENS,
        description="Encrypted Spotify tokens per user (app.spotify_tokens); dbt reads only presence and expiry.",
        group_name="app",
    ),
]

TOKEN_CHECK = "spotify_authorization_valid"
GAP_CHECK = "no_missed_plays"

MODES = ("auto", "poll", "backfill", "initial_sync")


class SpotifySyncConfig(dg.Config):
    mode: str = "auto"
    """auto: poll for today's partition, backfill the day for past ones; initial_sync: walk back
    INITIAL_SYNC_MAX_DAYS from now (what the sensor runs for a newly linked user)."""


def partition_key(user: str, day: date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day.isoformat(), "user": user})


def utc_today() -> date:
    return datetime.now(UTC).date()


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


@dg.asset(
    key=API_PLAYS,
    partitions_def=api_partitions,
    pool="spotify",
    group_name="raw",
    kinds={"postgres"},
    description="Plays from Spotify's recently-played API (raw.api_recently_played), one row per play. "
    "Partition (user, UTC day): today's is polled with `after`, past days are backfilled best-effort "
    "with `before` (Spotify keeps only about the last 50 plays).",
    metadata={"table": "raw.api_recently_played"},
    check_specs=[
        dg.AssetCheckSpec(
            TOKEN_CHECK,
            asset=API_PLAYS,
            description="Fails while a linked user's Spotify authorization was refused (status needs_reauth): "
            "they must run `spotify-history auth login --user NAME` again. Their data is kept.",
        ),
        dg.AssetCheckSpec(
            GAP_CHECK,
            asset=API_PLAYS,
            description="Warns when a poll found a full page of new plays that does not reach the plays already "
            "stored: plays in between were lost (poll more often).",
        ),
    ],
    op_tags={"kind": "spotify"},
)
def api_recently_played(context: dg.AssetExecutionContext, config: SpotifySyncConfig) -> Iterator[Any]:
    """Poll, backfill a day, or run the initial sync for the partition's user."""
    pk = context.partition_key
    keys = (
        pk.keys_by_dimension
        if isinstance(pk, dg.MultiPartitionKey)
        else api_partitions.get_partition_key_from_str(pk).keys_by_dimension
    )
    user, day = keys["user"], date.fromisoformat(keys["date"])
    if config.mode not in MODES:
        raise dg.Failure(description=f"mode must be one of {', '.join(MODES)}", allow_retries=False)
    mode = config.mode if config.mode != "auto" else ("poll" if day >= utc_today() else "backfill")
    window = day_window(day) if mode == "backfill" else None
    context.log.info(f"{mode} for user {user!r}" + (f", UTC day {day}" if window else ""))
    result = run_sync(user, mode, window=window, partition_key=context.partition_key, run_id=context.run_id)
    context.log.info(summary(result))
    context.log_event(dg.AssetMaterialization(APP_SYNCS, metadata={"sync_id": result.sync_id, "user": user}))
    if result.status == "needs_reauth":
        # app.users changed (status): the marts that show it refresh too.
        context.log_event(dg.AssetMaterialization(APP_USERS, description=f"{user} needs re-authorization"))
        context.log_event(dg.AssetMaterialization(APP_TOKENS, description=f"{user}: authorization refused"))
    yield token_check_result()
    yield dg.AssetCheckResult(
        check_name=GAP_CHECK,
        passed=not result.gap_detected,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"user": user, "sync_id": result.sync_id, "kind": result.kind},
        description=f"plays of {user} may be missing before {_iso(result.oldest_played_at)}"
        if result.gap_detected
        else None,
    )
    if result.status not in ("succeeded", "rate_limited"):
        raise dg.Failure(description=result.error or f"{mode} failed", allow_retries=False)
    if mode == "initial_sync":
        for other_day in _days_written(result.sync_id) - {day}:
            context.log_event(
                dg.AssetMaterialization(
                    API_PLAYS,
                    partition=partition_key(user, other_day),
                    description=f"written by the initial sync of {user} (sync {result.sync_id})",
                    metadata={"sync_id": result.sync_id},
                )
            )
    yield dg.MaterializeResult(metadata=result_metadata(result))


def summary(result: SyncResult) -> str:
    text = (
        f"{result.kind} {result.status}: {result.requests} request(s), {result.fetched} play(s) fetched, "
        f"{result.inserted} new; stop reason {result.stop_reason or '-'}"
    )
    if result.gap_detected:
        text += "; GAP: a full page of new plays did not reach the stored ones"
    if result.error:
        text += f"; {result.error}"
    return text


def result_metadata(result: SyncResult) -> dict[str, Any]:
    return {
        "fetched": dg.MetadataValue.int(result.fetched),
        "inserted": dg.MetadataValue.int(result.inserted),
        "requests": dg.MetadataValue.int(result.requests),
        "gap_detected": dg.MetadataValue.bool(result.gap_detected),
        "stop_reason": dg.MetadataValue.text(result.stop_reason or "-"),
        "status": dg.MetadataValue.text(result.status),
        "kind": dg.MetadataValue.text(result.kind),
        "window": dg.MetadataValue.text(f"{_iso(result.window_start)} – {_iso(result.window_end)}"),
        "newest_played_at": dg.MetadataValue.text(_iso(result.newest_played_at)),
        "sync_id": dg.MetadataValue.int(result.sync_id),
        **(
            {"rate_limited_until": dg.MetadataValue.text(_iso(result.rate_limited_until))}
            if result.rate_limited_until
            else {}
        ),
    }


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="milliseconds") if moment else "-"


def _days_written(sync_id: int) -> set[date]:
    with connect() as conn:
        rows = conn.execute(
            "select distinct (played_at at time zone 'UTC')::date from raw.api_recently_played where sync_id = %s",
            (sync_id,),
        ).fetchall()
    return {row[0] for row in rows}


def users_needing_reauth() -> list[str]:
    with connect() as conn:
        rows = conn.execute(
            """
            select u.name from app.users u join app.spotify_tokens t using (user_id)
            where u.status = 'needs_reauth' or t.invalidated_at is not null
            order by u.name
            """
        ).fetchall()
    return [row[0] for row in rows]


def _token_check(names: list[str]) -> tuple[bool, dict[str, Any], str | None]:
    description = None
    if names:
        description = "must authorize again: " + "; ".join(f"spotify-history auth login --user {n}" for n in names)
    return not names, {"users_needing_reauth": dg.MetadataValue.json(names)}, description


def token_check_result() -> dg.AssetCheckResult:
    """The token check over every linked user (not just this run's), so the latest result is the truth."""
    passed, metadata, description = _token_check(users_needing_reauth())
    return dg.AssetCheckResult(check_name=TOKEN_CHECK, passed=passed, metadata=metadata, description=description)


def token_check_evaluation(names: list[str]) -> dg.AssetCheckEvaluation:
    passed, metadata, description = _token_check(names)
    return dg.AssetCheckEvaluation(
        asset_key=API_PLAYS,
        check_name=TOKEN_CHECK,
        passed=passed,
        metadata=metadata,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
    )


spotify_sync_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.assets(api_recently_played),
    partitions_def=api_partitions,
    description="Poll Spotify, backfill a day, or run the initial sync, for one user.",
)


OP_NAME = "spotify_raw__api_recently_played"  # derived from the asset key


def sync_run_config(mode: str) -> dict[str, Any]:
    return {"ops": {OP_NAME: {"config": {"mode": mode}}}}


# -- the sensor -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkedUser:
    name: str
    status: str
    has_tokens: bool
    invalidated: bool
    authorized_at: datetime | None
    last_poll_at: datetime | None
    last_initial_sync_at: datetime | None
    rate_limited_until: datetime | None


def linked_users() -> tuple[list[LinkedUser], set[str]]:
    """Users ever linked to Spotify (with their sync state), and the names of all users."""
    with connect() as conn:
        rows = conn.execute(
            """
            select u.name, u.status, t.user_id is not null, t.invalidated_at is not null, t.authorized_at,
                   (select max(started_at) from app.spotify_syncs s where s.user_id = u.user_id and s.kind = 'poll'),
                   (select max(started_at) from app.spotify_syncs s
                     where s.user_id = u.user_id and s.kind = 'initial_sync'),
                   (select max(rate_limited_until) from app.spotify_syncs s where s.user_id = u.user_id)
            from app.users u left join app.spotify_tokens t using (user_id)
            where u.spotify_user_id is not null or t.user_id is not null
            order by u.name
            """
        ).fetchall()
        names = {row[0] for row in conn.execute("select name from app.users")}
    return [LinkedUser(*row) for row in rows], names


def plan_runs(users: list[LinkedUser], busy: set[str], now: datetime, poll_interval: int) -> list[dg.RunRequest]:
    """Which users to sync now: an initial sync after each login, then a poll every poll_interval."""
    requests = []
    today = now.date()
    for user in users:
        if user.status != "active" or not user.has_tokens or user.invalidated or user.name in busy:
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
    name="spotify_sensor",
    job=spotify_sync_job,
    # Look often (new logins start their initial sync quickly); each user is polled every
    # POLL_INTERVAL_SECONDS.
    minimum_interval_seconds=min(30, get_settings().poll_interval_seconds),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps the spotify_users partitions in step with linked users, runs the initial sync after "
    "each `auth login`, then polls every active user every POLL_INTERVAL_SECONDS (paused and needs_reauth "
    "users are skipped).",
)
def spotify_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    ensure_schema()
    users, all_names = linked_users()
    wanted = {u.name for u in users}
    existing = set(context.instance.get_dynamic_partitions(SPOTIFY_USERS))
    partition_requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if wanted - existing:
        partition_requests.append(spotify_users.build_add_request(sorted(wanted - existing)))
    if existing - all_names:  # users that no longer exist
        partition_requests.append(spotify_users.build_delete_request(sorted(existing - all_names)))

    # Report the token check when who needs re-authorization changes (not on every tick).
    cursor = json.loads(context.cursor) if context.cursor else {}
    reauth = sorted(u.name for u in users if u.has_tokens and (u.invalidated or u.status == "needs_reauth"))
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
