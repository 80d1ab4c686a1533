"""A poll that stores nothing costs no marts build: it is an observation of the API-plays asset, not a
materialization, so the refresh_marts automation has nothing to request; a poll with new plays does
request the marts. Real Dagster runs against the fake Spotify and the real automation evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest
from spotify_support import ago, link, plays

from orchestration.definitions import defs as load_defs
from orchestration.defs.shared.keys import API_PLAYS, APP_SYNCS
from orchestration.defs.spotify.jobs import sync_run_config
from orchestration.defs.spotify.partitions import partition_key, spotify_users
from orchestration.demo.fake_spotify import FakeSpotify


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def poll(defs: dg.Definitions, instance: dg.DagsterInstance, user: str) -> dg.ExecuteInProcessResult:
    if not instance.has_dynamic_partition(spotify_users.name, user):
        instance.add_dynamic_partitions(spotify_users.name, [user])
    result = defs.resolve_job_def("spotify_sync").execute_in_process(
        instance=instance,
        partition_key=partition_key(user, datetime.now(UTC).date()),
        run_config=sync_run_config("poll"),
        raise_on_error=False,
    )
    assert result.success
    return result


def requested(defs: dg.Definitions, result: dg.EvaluateAutomationConditionsResult) -> set[dg.AssetKey]:
    dbt_keys = set(defs.resolve_assets_def(dg.AssetKey(["marts", "top_tracks"])).keys)
    return {key for key in dbt_keys if result.get_num_requested(key)}


def materializations(instance: dg.DagsterInstance, key: dg.AssetKey) -> int:
    return len(instance.fetch_materializations(key, limit=1000).records)


def test_an_idle_poll_requests_no_marts_build_and_a_poll_with_new_plays_does(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify, instance: dg.DagsterInstance
) -> None:
    defs = load_defs()
    link(user, fake_spotify)
    fake_spotify.add_plays(f"sp-{user}", plays(ago(minutes=50), 3, timedelta(minutes=5)))
    first = poll(defs, instance, user)
    assert [m.asset_key for m in first.get_asset_materialization_events() if m.asset_key == API_PLAYS]

    start = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=start.cursor)
    assert requested(defs, settled) == set()
    before = (materializations(instance, API_PLAYS), materializations(instance, APP_SYNCS))

    idle = poll(defs, instance, user)
    # Recorded, as an observation with the poll's figures, but nothing a dbt model reads changed.
    assert (materializations(instance, API_PLAYS), materializations(instance, APP_SYNCS)) == before
    observed = [o.metadata for o in _observations(idle) if o.asset_key == API_PLAYS]
    assert [(m["inserted"].value, m["kind"].value) for m in observed] == [(0, "poll")]
    after_idle = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
    assert requested(defs, after_idle) == set(), sorted(k.to_user_string() for k in requested(defs, after_idle))

    fake_spotify.add_plays(f"sp-{user}", plays(ago(minutes=5), 2, offset=3))
    poll(defs, instance, user)
    assert materializations(instance, API_PLAYS) == before[0] + 1
    after_new = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after_idle.cursor)
    wanted = requested(defs, after_new)
    assert {dg.AssetKey(["intermediate", "int_streams"]), dg.AssetKey(["marts", "sync_status"])} <= wanted


def _observations(result: dg.ExecuteInProcessResult) -> list[dg.AssetObservation]:
    return [
        e.event_specific_data.asset_observation  # type: ignore[union-attr]
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION
    ]
