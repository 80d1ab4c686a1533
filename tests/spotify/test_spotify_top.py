"""Spotify's top lists: the daily snapshot asset runs for real in Dagster against the fake Spotify
(after a login, then daily; 429 waited out, 401 refreshed once, a refused refresh is needs_reauth),
`snapshot-top` takes one as a Dagster run, dbt serves the latest snapshot and keeps the history, and
spotify.get_top answers the same through all three doors."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import psycopg
import pytest
from api_support import create_key, live_server
from builds import build
from click.testing import CliRunner
from doors import call_all
from spotify_support import ago, link, plays, user_id

from orchestration.db import connect
from orchestration.defs.spotify.assets import TOP_ITEMS
from orchestration.defs.spotify.jobs import TOP_JOB_NAME as JOB_NAME
from orchestration.defs.spotify.sensors import plan_snapshots, spotify_top_sensor
from orchestration.demo.fake_spotify import FakePlay, FakeSpotify
from orchestration.spotify.top import users_to_snapshot


def users_to_snapshot_now() -> list:
    with connect() as conn:
        return users_to_snapshot(conn)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def evaluate(instance: dg.DagsterInstance, user: str) -> list[dg.RunRequest]:
    result = spotify_top_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return [r for r in result.run_requests or [] if r.partition_key == user]


def execute(instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """What the daemon does with the sensor's run request, in this process."""
    from orchestration.definitions import defs

    return (
        defs()
        .resolve_job_def(JOB_NAME)
        .execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False
        )
    )


def listening(fake: FakeSpotify, account: str) -> list[FakePlay]:
    """Recent plays (short term) favouring the first tracks, and older ones (long term only) of others."""
    recent = [p for i in range(6) for p in plays(ago(days=10 - i), 6 - i, timedelta(minutes=5))]
    old = plays(ago(days=400), 12, timedelta(hours=3), offset=20)
    fake.add_plays(account, recent + old)
    return recent + old


def expected(history: list[FakePlay], entity: str, since: datetime | None) -> list[str]:
    """The fake's ranking, computed here: plays in the range, most played first, then by id."""
    counts: Counter[tuple[str, str]] = Counter()
    for p in history:
        if since is None or p.played_at > since:
            counts[(p.track.id, p.track.name) if entity == "tracks" else p.track.artists[0]] += 1
    return [key[1] for key in sorted(counts, key=lambda k: (-counts[k], k[0]))]


def snapshot_rows(conn: psycopg.Connection, name: str) -> list[dict[str, Any]]:
    conn.commit()
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            """
            select i.* from raw.spotify_top_items i join app.users u using (user_id)
            where u.name = %s order by snapshot_id, entity, time_range, rank
            """,
            (name,),
        ).fetchall()


def test_a_login_then_daily_snapshots_served_by_all_three_doors(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify, instance: dg.DagsterInstance
) -> None:
    link(user, fake_spotify)
    history = listening(fake_spotify, f"sp-{user}")

    # Right after the login the sensor asks for a snapshot of this user.
    (request,) = evaluate(instance, user)
    assert request.tags["spotify_history/trigger"] == "sensor (login)"
    result = execute(instance, request)
    assert result.success
    (materialized,) = [m for m in result.get_asset_materialization_events() if m.asset_key == TOP_ITEMS]
    meta = {k: v.value for k, v in materialized.materialization.metadata.items()}
    rows = snapshot_rows(conn, user)
    assert meta["status"] == "succeeded" and meta["items"] == len(rows) > 0
    assert meta["requests"] == 6  # artists and tracks for three ranges
    (check,) = result.get_asset_check_evaluations()
    assert (check.check_name, check.passed, check.metadata["stored"].value) == ("snapshot_rows_stored", True, len(rows))
    lists: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        lists.setdefault((row["entity"], row["time_range"]), []).append(row)
    assert set(lists) == {(e, r) for e in ("artists", "tracks") for r in ("short_term", "medium_term", "long_term")}
    for items in lists.values():
        assert [r["rank"] for r in items] == list(range(1, len(items) + 1))
    short = [r["item_name"] for r in lists["tracks", "short_term"]]
    assert short == expected(history, "tracks", ago(weeks=4))[:50]
    assert [r["item_name"] for r in lists["tracks", "long_term"]] == expected(history, "tracks", None)[:50]
    assert len(lists["tracks", "long_term"]) > len(lists["tracks", "short_term"])
    assert all(r["genres"] is not None and r["popularity"] is not None for r in lists["artists", "long_term"])
    assert all(r["artists"] and r["album_name"] for r in lists["tracks", "short_term"])

    # Just taken: nothing due. A day later: the daily one.
    assert evaluate(instance, user) == []
    for table, column in (("spotify_top_snapshots", "started_at"), ("spotify_tokens", "authorized_at")):
        conn.execute(
            f"update app.{table} set {column} = {column} - interval '25 hours' where user_id = %s",
            (user_id(conn, user),),
        )
    conn.commit()
    (daily,) = evaluate(instance, user)
    assert daily.tags["spotify_history/trigger"] == "sensor (daily)"
    fake_spotify.add_plays(f"sp-{user}", plays(ago(hours=2), 40, timedelta(minutes=2), offset=33))
    assert execute(instance, daily).success
    snapshots = {r["snapshot_id"] for r in snapshot_rows(conn, user)}
    assert len(snapshots) == 2

    build()
    # dbt keeps both snapshots and marks the newest of each list.
    latest = conn.execute(
        "select count(distinct snapshot_id) filter (where is_latest), count(distinct snapshot_id) "
        "from marts.spotify_top where user_id = %s",
        (user_id(conn, user),),
    ).fetchone()
    assert latest == (1, 2)
    key = create_key(user)
    with live_server() as base:
        everything = fake_spotify.accounts[f"sp-{user}"].plays
        top = call_all(base, key, "spotify.get_top", entity="tracks", time_range="short_term", limit=5)
        assert (top["entity"], top["time_range"], top["note"]) == ("tracks", "short_term", None)
        assert [i["name"] for i in top["items"]] == expected(everything, "tracks", ago(weeks=4))[:5]
        assert [i["rank"] for i in top["items"]] == [1, 2, 3, 4, 5]
        assert all(i["uri"].startswith("spotify:track:") and i["artists"] and "genres" not in i for i in top["items"])
        assert datetime.fromisoformat(top["snapshot_at"]) > ago(hours=1)
        artists = call_all(base, key, "spotify.get_top", entity="artists")
        assert artists["time_range"] == "medium_term"
        assert [i["name"] for i in artists["items"]] == expected(everything, "artists", ago(days=182))[:10]
        assert all("genres" in i and "popularity" in i and "artists" not in i for i in artists["items"])
        runs = call_all(base, key, "ops.latest_job_runs", kind="top_snapshot")
        assert [(r["kind"], r["status"], r["counts"]["requests"]) for r in runs["items"]] == [
            ("top_snapshot", "succeeded", 6)
        ] * 2


def test_snapshot_top_waits_out_a_429_and_refreshes_once_on_401(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify
) -> None:
    """`spotify-history snapshot-top` as a Dagster run on the shared instance, through a 429 and a 401."""
    from orchestration.cli import main
    from orchestration.instance import get_instance

    link(user, fake_spotify)
    listening(fake_spotify, f"sp-{user}")
    fake_spotify.inject("top", 429, retry_after=1)
    fake_spotify.expire_access_tokens()
    refreshes = len(fake_spotify.requests_to("token"))

    done = CliRunner().invoke(main, ["snapshot-top", "--user", user, "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "succeeded" and result["error"] is None
    assert result["requests"] == 9  # six lists + the 429 + the 401 + the refresh (same budget)
    assert len(fake_spotify.requests_to("token")) == refreshes + 1
    assert result["items"] == len(snapshot_rows(conn, user)) > 0
    run = get_instance().get_run_by_id(result["run_id"])
    assert run is not None and run.job_name == JOB_NAME and run.tags["spotify_history/trigger"] == "cli"
    # Never a token in what the command printed.
    assert not [t for t in fake_spotify.issued_tokens if t in done.output]


def test_a_refused_authorization_fails_the_run_and_stores_nothing(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify, instance: dg.DagsterInstance
) -> None:
    link(user, fake_spotify)
    fake_spotify.revoke_refresh_tokens()
    fake_spotify.expire_access_tokens()
    (request,) = evaluate(instance, user)
    result = execute(instance, request)
    assert not result.success
    conn.commit()
    status, error = conn.execute(
        "select status, error from app.spotify_top_snapshots where user_id = %s", (user_id(conn, user),)
    ).fetchone() or (None, None)
    assert status == "needs_reauth" and f"auth login --user {user}" in error
    assert snapshot_rows(conn, user) == []
    # needs_reauth users are not snapshotted again until they log in.
    assert user not in {s.name for s in users_to_snapshot_now()}


def test_plan_retries_failures_after_an_hour_not_every_tick(
    conn: psycopg.Connection, user: str, fake_spotify: FakeSpotify
) -> None:
    link(user, fake_spotify)
    (state,) = [s for s in users_to_snapshot_now() if s.name == user]
    now = datetime.now(UTC)
    assert [r.partition_key for r in plan_snapshots([state], set(), now)] == [user]
    assert plan_snapshots([state], {user}, now) == []  # a run of theirs is queued or going
    failed_now = type(state)(state.name, state.authorized_at, None, now - timedelta(minutes=5))
    assert plan_snapshots([failed_now], set(), now) == []
    failed_before = type(state)(state.name, state.authorized_at, None, now - timedelta(hours=2))
    assert len(plan_snapshots([failed_before], set(), now)) == 1
