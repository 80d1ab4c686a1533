"""The Spotify connection as Dagster runs it: sensor → initial sync and polls, checks, metadata,
secrets kept out of the event log, and the end-to-end path poll → dbt → marts with rule 3."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from spotify_support import ago, api_rows, link, plays, user_id, user_status

from orchestration import users
from orchestration.defs.shared.keys import API_PLAYS
from orchestration.defs.spotify.checks import GAP_CHECK, TOKEN_CHECK
from orchestration.defs.spotify.jobs import OP_NAME, sync_run_config
from orchestration.defs.spotify.partitions import partition_key, spotify_users
from orchestration.defs.spotify.sensors import spotify_sensor
from orchestration.demo.fake_spotify import FakeSpotify


def sync_job() -> dg.JobDefinition:
    from orchestration.definitions import defs

    return defs().resolve_job_def("spotify_sync")


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def evaluate(instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    result = spotify_sensor()(dg.build_sensor_context(instance=instance, cursor=cursor))
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def requests_for(result: dg.SensorResult, name: str) -> list[dg.RunRequest]:
    return [r for r in result.run_requests or [] if r.tags.get("spotify_history/user") == name]


def execute(instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """What the daemon does with a run request, in this process."""
    return sync_job().execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        run_config=request.run_config,
        tags=request.tags,
        raise_on_error=False,
    )


def run_partition(instance: dg.DagsterInstance, name: str, day: Any, mode: str = "auto") -> dg.ExecuteInProcessResult:
    if not instance.has_dynamic_partition(spotify_users.name, name):
        instance.add_dynamic_partitions(spotify_users.name, [name])
    return sync_job().execute_in_process(
        instance=instance,
        partition_key=partition_key(name, day),
        run_config=sync_run_config(mode),
        raise_on_error=False,
    )


def materialization(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (event,) = [m for m in result.asset_materializations_for_node(OP_NAME) if m.asset_key == API_PLAYS][-1:]
    return {k: v.value for k, v in event.metadata.items()}


def observation(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """A run that stored nothing reports its figures as an observation (no marts build follows)."""
    assert not [m for m in result.asset_materializations_for_node(OP_NAME) if m.asset_key == API_PLAYS]
    (event,) = [
        e.event_specific_data.asset_observation  # type: ignore[union-attr]
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION
        and e.event_specific_data.asset_observation.asset_key == API_PLAYS  # type: ignore[union-attr]
    ]
    return {k: v.value for k, v in event.metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_a_linked_user_is_synced_by_the_sensor_with_no_manual_step(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify, instance: dg.DagsterInstance
) -> None:
    link(user, fake_spotify)
    fake_spotify.add_plays(f"sp-{user}", plays(ago(days=2), 30, timedelta(hours=1)))

    first = evaluate(instance)
    assert user in instance.get_dynamic_partitions(spotify_users.name)
    (initial,) = requests_for(first, user)
    assert initial.tags["spotify_history/spotify_mode"] == "initial_sync"
    result = execute(instance, initial)
    assert result.success
    meta = materialization(result)
    assert (meta["kind"], meta["inserted"], meta["stop_reason"]) == ("initial_sync", 30, "empty_page")
    # The days the initial sync wrote show as materialized partitions of those days.
    days = {m.partition for m in result.asset_materializations_for_node(OP_NAME)}
    assert {partition_key(user, (ago(days=2) + timedelta(hours=h)).date()) for h in range(30)} <= days

    second = evaluate(instance)
    (poll,) = requests_for(second, user)
    assert poll.tags["spotify_history/spotify_mode"] == "poll"
    fake_spotify.add_plays(f"sp-{user}", plays(ago(minutes=30), 3, offset=30))
    polled = execute(instance, poll)
    assert polled.success
    meta = materialization(polled)
    assert (meta["fetched"], meta["inserted"], meta["gap_detected"]) == (4, 3, False)
    assert len(api_rows(conn, user)) == 33
    rows_check = checks(polled)["sync_rows_stored"]
    assert rows_check.passed and rows_check.metadata["stored"].value == 3, rows_check.description

    # Just polled: not due again until POLL_INTERVAL_SECONDS have passed.
    assert requests_for(evaluate(instance), user) == []
    # Paused users are skipped.
    users.set_status(conn, user, "paused")
    conn.execute(
        "update app.spotify_syncs set started_at = started_at - interval '1 day' where user_id = %s and kind = 'poll'",
        (user_id(conn, user),),
    )
    conn.commit()
    assert requests_for(evaluate(instance), user) == []
    users.set_status(conn, user, "active")
    assert [r.tags["spotify_history/spotify_mode"] for r in requests_for(evaluate(instance), user)] == ["poll"]


def test_needs_reauth_fails_the_run_and_the_token_check(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify, instance: dg.DagsterInstance
) -> None:
    link(user, fake_spotify)
    fake_spotify.revoke_refresh_tokens()
    fake_spotify.expire_access_tokens()

    result = run_partition(instance, user, datetime.now(UTC).date(), "poll")

    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert f"spotify-history auth login --user {user}" in str(failure.step_failure_data.error.message)  # type: ignore[union-attr]
    token_check = checks(result)[TOKEN_CHECK]
    assert not token_check.passed
    assert user in token_check.metadata["users_needing_reauth"].value  # type: ignore[operator]
    assert user_status(conn, user) == "needs_reauth"
    # The sensor skips the user and reports the failing check (once, when it changes).
    sensed = evaluate(instance)
    assert requests_for(sensed, user) == []
    (evaluation,) = [e for e in sensed.asset_events if isinstance(e, dg.AssetCheckEvaluation)]
    assert not evaluation.passed and user in evaluation.metadata["users_needing_reauth"].value  # type: ignore[operator]
    again = evaluate(instance, sensed.cursor)
    assert not [e for e in again.asset_events if isinstance(e, dg.AssetCheckEvaluation)]
    # Logging in again clears it: the next sensor tick reports the check without this user.
    link(user, fake_spotify)
    healed = evaluate(instance, again.cursor)
    reported = [e for e in healed.asset_events if isinstance(e, dg.AssetCheckEvaluation)]
    assert reported and user not in reported[0].metadata["users_needing_reauth"].value  # type: ignore[operator]
    assert requests_for(healed, user)


def test_a_past_day_partition_is_a_backfill_with_its_stop_reason(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify, instance: dg.DagsterInstance
) -> None:
    link(user, fake_spotify)
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    start = datetime.combine(day, datetime.min.time(), UTC)
    fake_spotify.add_plays(f"sp-{user}", plays(start - timedelta(hours=1), 6, timedelta(minutes=20)))

    result = run_partition(instance, user, day)  # mode "auto": a past day is backfilled

    assert result.success
    meta = materialization(result)
    assert (meta["kind"], meta["stop_reason"], meta["inserted"]) == ("backfill", "window_start", 3)
    assert meta["window"].startswith(start.isoformat(timespec="milliseconds"))
    assert checks(result)[GAP_CHECK].passed
    again = observation(run_partition(instance, user, day))
    assert again["inserted"] == 0 and len(api_rows(conn, user)) == 3


def test_gap_check_warns(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify, instance: dg.DagsterInstance
) -> None:
    link(user, fake_spotify)
    fake_spotify.add_plays(f"sp-{user}", plays(ago(hours=12), 2))
    assert run_partition(instance, user, datetime.now(UTC).date(), "poll").success
    fake_spotify.add_plays(f"sp-{user}", plays(ago(hours=8), 55, offset=2))
    result = run_partition(instance, user, datetime.now(UTC).date(), "poll")
    assert result.success
    gap = checks(result)[GAP_CHECK]
    assert not gap.passed and gap.severity == dg.AssetCheckSeverity.WARN
    assert materialization(result)["gap_detected"] is True


def test_rate_limit_ends_the_run_cleanly(user: str, fake_spotify: FakeSpotify, instance: dg.DagsterInstance) -> None:
    link(user, fake_spotify)
    fake_spotify.inject("recently_played", 429, retry_after=3600)
    result = run_partition(instance, user, datetime.now(UTC).date(), "poll")
    assert result.success
    meta = observation(result)  # nothing stored
    assert (meta["stop_reason"], meta["status"]) == ("rate_limited", "rate_limited")
    # The sensor respects Retry-After: no poll before that time.
    assert requests_for(evaluate(instance), user) == []


def test_tokens_never_reach_logs_events_or_run_config(
    conn: psycopg.Connection,
    user: str,
    fake_spotify: FakeSpotify,
    instance: dg.DagsterInstance,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    link(user, fake_spotify)
    fake_spotify.add_plays(f"sp-{user}", plays(ago(hours=2), 3))
    fake_spotify.expire_access_tokens()  # force a refresh inside the run
    ok = run_partition(instance, user, datetime.now(UTC).date(), "poll")
    fake_spotify.revoke_refresh_tokens()
    fake_spotify.expire_access_tokens()
    failed = run_partition(instance, user, datetime.now(UTC).date(), "poll")
    assert ok.success and not failed.success
    secrets = set(fake_spotify.issued_tokens)
    assert len(secrets) >= 4

    texts = [caplog.text]
    for run in (ok, failed):
        texts += [json.dumps(dg.serialize_value(e)) for e in instance.all_logs(run.run_id)]  # type: ignore[arg-type]
        record = instance.get_run_by_id(run.run_id)
        assert record is not None
        texts.append(json.dumps(record.run_config) + json.dumps(record.tags))
    conn.commit()
    tables = conn.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_schema in ('app', 'raw') and table_type = 'BASE TABLE'"
    ).fetchall()
    for (table,) in tables:
        texts.append(str(conn.execute(f"select string_agg(t::text, ' ') from {table} t").fetchone()))
    leaks = [s for s in secrets for text in texts if s in text]
    assert leaks == []


# -- end to end: poll → dbt → marts --------------------------------------------------------------------


def extended_row(ts: datetime, uri: str, name: str, artist: str, ms: int) -> dict[str, Any]:
    return {
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": "android",
        "ms_played": ms,
        "conn_country": "DE",
        "ip_addr": "192.0.2.0",
        "master_metadata_track_name": name,
        "master_metadata_album_artist_name": artist,
        "master_metadata_album_album_name": "From the export",
        "spotify_track_uri": uri,
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "offline_timestamp": 0,
        "incognito_mode": False,
    }


def test_poll_then_dbt_counts_api_plays_once_against_an_overlapping_export(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify, tmp_path: Path
) -> None:
    from orchestration.cli.in_process import run_refresh
    from orchestration.imports.importer import import_path
    from orchestration.instance import get_instance

    link(user, fake_spotify)
    timeline = plays(ago(hours=6), 6, timedelta(minutes=7))
    fake_spotify.add_plays(f"sp-{user}", timeline)
    # The export has the first 4 of these streams, its `ts` 1-19 s off (seconds only), plus one older.
    export = [
        extended_row(p.played_at + timedelta(seconds=s), p.track.uri, p.track.name, p.track.artists[0][1], 150_000)
        for p, s in zip(timeline[:4], (1, -5, 12, 19), strict=True)
    ]
    export.append(extended_row(ago(days=3), timeline[0].track.uri, timeline[0].track.name, "x", 200_000))
    path = tmp_path / "Streaming_History_Audio_2026_0.json"
    path.write_text(json.dumps(export))
    assert import_path(path, user).inserted == 5

    instance = get_instance()  # the shared instance (pool "spotify" from dagster.yaml)
    polled = run_partition(instance, user, datetime.now(UTC).date(), "poll")
    assert polled.success and materialization(polled)["inserted"] == 6

    summary = run_refresh()
    print("SUMMARY", summary)
    assert summary["success"], summary
    assert summary["failed_tests"] == []

    uid = user_id(conn, user)
    conn.commit()
    streams = conn.execute(
        """
        select stream_source, duplicate_rule, is_play, ms_is_estimated, ms_listened, track_name
        from intermediate.int_streams where user_id = %s order by ended_at, stream_source
        """,
        (uid,),
    ).fetchall()
    api = [s for s in streams if s[0] == "api"]
    assert [s[1] for s in api] == ["api_vs_export"] * 4 + [None, None]
    durations = [p.track.duration_ms for p in timeline[4:]]
    assert [(s[2], s[3], s[4]) for s in api[4:]] == [(True, True, d) for d in durations]
    matched_exports = [s for s in streams if s[0] == "extended" and s[4] == 150_000]
    # Export rows win ms_played, the API wins metadata (its track names, not the export's).
    assert [(s[1], s[2], s[3], s[5]) for s in matched_exports] == [
        (None, True, False, p.track.name) for p in timeline[:4]
    ]
    (plays_total,) = conn.execute("select plays from marts.sync_status where user_id = %s", (uid,)).fetchone()
    assert plays_total == 7  # 4 matched + 2 API-only + 1 export-only
    (api_streams,) = conn.execute(
        "select sum(streams) from marts.coverage where user_id = %s and source = 'api'", (uid,)
    ).fetchone()
    assert api_streams == 2
    (estimated,) = conn.execute("select sum(ms_estimated) from marts.top_tracks where user_id = %s", (uid,)).fetchone()
    assert estimated == sum(durations)
    status = conn.execute(
        """
        select token_status, last_poll_status, last_poll_inserted, api_last_played_at, gaps_detected,
               last_poll_at is not null, spotify_linked
        from marts.sync_status where user_id = %s
        """,
        (uid,),
    ).fetchone()
    assert status == ("linked", "succeeded", 6, timeline[-1].played_at, 0, True, True)
