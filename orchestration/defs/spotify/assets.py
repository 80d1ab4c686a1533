"""The Spotify assets: API plays (raw.api_recently_played, one partition per (user, UTC day)) and the
daily top-lists snapshot (raw.spotify_top_items, one partition per linked user).

A run that stores new plays materializes the partition (and the automation rebuilds the marts); a
run that stores nothing reports an observation instead, so idle polls cost no dbt build and the
asset's history shows when data actually arrived.
"""

from collections.abc import Iterator
from datetime import date
from typing import Any

import dagster as dg

from orchestration.db import connect
from orchestration.defs.shared.keys import API_PLAYS, APP_SYNCS, APP_TOKENS, APP_USERS, RAW_SOURCE
from orchestration.defs.shared.load_checks import load_check_result
from orchestration.defs.spotify.checks import check_specs, gap_check_result, iso, rows_check_result, token_check_result
from orchestration.defs.spotify.partitions import api_partitions, day_window, partition_key, spotify_users, utc_today
from orchestration.spotify.storage import SyncResult, days_written
from orchestration.spotify.sync import run_sync
from orchestration.spotify.top import SnapshotResult, take_snapshot

TOP_ITEMS = dg.AssetKey([RAW_SOURCE, "spotify_top_items"])
APP_TOP_SNAPSHOTS = dg.AssetKey(["app", "spotify_top_snapshots"])
APP_MARTS_BUILDS = dg.AssetKey(["app", "marts_builds"])
TOP_ROWS_CHECK = "snapshot_rows_stored"

MODES = ("auto", "poll", "backfill", "initial_sync")


class SpotifySyncConfig(dg.Config):
    mode: str = "auto"
    """auto: poll for today's partition, backfill the day for past ones; initial_sync: walk back
    INITIAL_SYNC_MAX_DAYS from now (what the sensor runs for a newly linked user)."""


@dg.asset(
    key=API_PLAYS,
    partitions_def=api_partitions,
    pool="spotify",
    group_name="raw",
    kinds={"postgres"},
    description="Plays from Spotify's recently-played API (raw.api_recently_played), one row per play. "
    "Partition (user, UTC day): today's is polled with `after`, past days are backfilled best-effort "
    "with `before` (Spotify keeps only about the last 50 plays). Materialized only when a run stores new "
    "plays; a run that finds none is an observation.",
    metadata={"table": "raw.api_recently_played"},
    check_specs=check_specs,
    op_tags={"kind": "spotify"},
    output_required=False,
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
    # A run that stored nothing and did not fail is only observed: a materialization of a table dbt
    # reads would start a marts build (the marts show its poll time at the next build).
    news = result.inserted > 0 or result.status not in ("succeeded", "rate_limited")
    sync_event = dg.AssetMaterialization if news else dg.AssetObservation
    context.log_event(sync_event(APP_SYNCS, metadata={"sync_id": result.sync_id, "user": user}))
    if result.status == "needs_reauth":
        # app.users changed (status): the marts that show it refresh too.
        context.log_event(dg.AssetMaterialization(APP_USERS, description=f"{user} needs re-authorization"))
        context.log_event(dg.AssetMaterialization(APP_TOKENS, description=f"{user}: authorization refused"))
    yield token_check_result()
    yield gap_check_result(user, result)
    yield rows_check_result(result)
    if result.status not in ("succeeded", "rate_limited"):
        raise dg.Failure(description=result.error or f"{mode} failed", allow_retries=False)
    if not result.inserted:
        context.log_event(
            dg.AssetObservation(
                API_PLAYS,
                partition=context.partition_key,
                description=f"{mode} of {user}: no new plays",
                metadata=result_metadata(result),
            )
        )
        return
    if mode == "initial_sync":
        for other_day in days_of_sync(result.sync_id) - {day}:
            context.log_event(
                dg.AssetMaterialization(
                    API_PLAYS,
                    partition=partition_key(user, other_day),
                    description=f"written by the initial sync of {user} (sync {result.sync_id})",
                    metadata={"sync_id": result.sync_id},
                )
            )
    yield dg.MaterializeResult(metadata=result_metadata(result))


def days_of_sync(sync_id: int) -> set[date]:
    with connect() as conn:
        return days_written(conn, sync_id)


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
        "window": dg.MetadataValue.text(f"{iso(result.window_start)} – {iso(result.window_end)}"),
        "newest_played_at": dg.MetadataValue.text(iso(result.newest_played_at)),
        "sync_id": dg.MetadataValue.int(result.sync_id),
        **(
            {"rate_limited_until": dg.MetadataValue.text(iso(result.rate_limited_until))}
            if result.rate_limited_until
            else {}
        ),
    }


# -- Spotify's top lists: orchestration.spotify.top.take_snapshot, one snapshot per run --------

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
            TOP_ROWS_CHECK,
            asset=TOP_ITEMS,
            description="The items this snapshot wrote are all there: as many as it reported, all of its user.",
        )
    ],
)
def spotify_top_items(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    user = context.partition_key
    context.log.info(f"snapshot of the top lists of {user!r}")
    result = take_snapshot(user, run_id=context.run_id)
    context.log.info(top_summary(result))
    context.log_event(
        dg.AssetMaterialization(APP_TOP_SNAPSHOTS, metadata={"snapshot_id": result.snapshot_id, "user": user})
    )
    if result.status not in ("succeeded", "rate_limited"):
        raise dg.Failure(description=result.error or "snapshot failed", allow_retries=False)
    yield load_check_result(TOP_ROWS_CHECK, "spotify_top_items", result.snapshot_id, result.user_id, result.items)
    yield dg.MaterializeResult(
        metadata={
            "status": dg.MetadataValue.text(result.status),
            "snapshot_id": dg.MetadataValue.int(result.snapshot_id),
            "items": dg.MetadataValue.int(result.items),
            "requests": dg.MetadataValue.int(result.requests),
            "lists": dg.MetadataValue.json(result.counts or {}),
        }
    )


def top_summary(result: SnapshotResult) -> str:
    text = f"top snapshot {result.status}: {result.requests} request(s), {result.items} item(s)"
    return text + (f"; {result.error}" if result.error else "")
