"""Polls and backfills against the fake: idempotent storage, gaps, every stop condition, and the
client's answers to each error switch (429 + Retry-After, 5xx, transport errors, 401)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from spotify_support import ago, api_rows, link, plays, user_id

from orchestration.config import Settings, get_settings
from orchestration.demo.fake_spotify import FakeSpotify
from orchestration.spotify.accounts import client_for
from orchestration.spotify.errors import RateLimitedError, SpotifyUnavailableError
from orchestration.spotify.sync import run_sync
from orchestration.spotify.transport import Budget


class Sleeps(list[float]):
    """Records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def settings_with(**values: object) -> Settings:
    return get_settings().model_copy(update=values)


@pytest.fixture
def linked(user: str, fake_spotify: FakeSpotify) -> str:
    link(user, fake_spotify)
    return user


def account(user: str) -> str:
    return f"sp-{user}"


# -- polling ------------------------------------------------------------------------------------------


def test_two_polls_store_each_play_once(conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify) -> None:
    first = plays(ago(hours=3), 20)
    fake_spotify.add_plays(account(linked), first)

    one = run_sync(linked, "poll")
    assert (one.status, one.fetched, one.inserted, one.gap_detected) == ("succeeded", 20, 20, False)
    assert one.stop_reason == "caught_up"

    fake_spotify.add_plays(account(linked), plays(ago(hours=1), 5, offset=20))
    two = run_sync(linked, "poll")
    # The newest stored play comes back as the overlap (it proves nothing was skipped); 5 are new.
    assert (two.fetched, two.inserted, two.gap_detected) == (6, 5, False)
    last_poll = fake_spotify.requests_to("recently_played")[-1]
    assert int(last_poll.params["after"]) == int(first[-1].played_at.timestamp() * 1000) - 1

    three = run_sync(linked, "poll")
    assert (three.fetched, three.inserted) == (1, 0)
    rows = api_rows(conn, linked)
    assert len(rows) == 25 == len({r[0] for r in rows})
    # played_at keeps its milliseconds.
    assert rows[0][0] == first[0].played_at and rows[0][0].microsecond == 123_000
    assert rows[0][1] == first[0].track.uri


def test_stored_columns(conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify) -> None:
    (play,) = plays(ago(hours=2), 1, offset=5)  # track 5 has two artists
    fake_spotify.add_plays(account(linked), [type(play)(play.played_at, play.track, "spotify:playlist:abc")])
    run_sync(linked, "poll")
    conn.commit()
    row = conn.execute(
        """
        select track_id, track_uri, track_name, artists, first_artist_name, album_id, album_name, album_uri,
               duration_ms, isrc, context_type, context_uri, sync_id is not null
        from raw.api_recently_played where user_id = %s
        """,
        (user_id(conn, linked),),
    ).fetchone()
    t = play.track
    assert row == (
        t.id,
        t.uri,
        t.name,
        [{"id": aid, "name": name, "uri": f"spotify:artist:{aid}"} for aid, name in t.artists],
        t.artists[0][1],
        t.album_id,
        t.album_name,
        f"spotify:album:{t.album_id}",
        t.duration_ms,
        t.isrc,
        "playlist",
        "spotify:playlist:abc",
        True,
    )
    assert len(t.artists) == 2
    assert t.isrc.startswith("QZFAK")  # external_ids.isrc as the fake serves it, stored as given


def test_a_full_page_that_misses_the_stored_plays_is_a_gap(
    conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify
) -> None:
    fake_spotify.add_plays(account(linked), plays(ago(hours=10), 3))
    run_sync(linked, "poll")
    # 60 plays since: Spotify keeps only the last 50, so the 10 oldest of them are lost.
    fake_spotify.add_plays(account(linked), plays(ago(hours=6), 60, offset=3))
    gap = run_sync(linked, "poll")
    assert (gap.fetched, gap.inserted, gap.gap_detected) == (50, 50, True)
    assert len(api_rows(conn, linked)) == 53
    conn.commit()
    assert conn.execute(
        "select gap_detected, status from app.spotify_syncs where sync_id = %s", (gap.sync_id,)
    ).fetchone() == (True, "succeeded")


def test_49_new_plays_still_overlap(conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify) -> None:
    fake_spotify.add_plays(account(linked), plays(ago(hours=10), 3))
    run_sync(linked, "poll")
    fake_spotify.add_plays(account(linked), plays(ago(hours=6), 49, offset=3))
    result = run_sync(linked, "poll")
    assert (result.fetched, result.inserted, result.gap_detected) == (50, 49, False)


def test_more_than_a_page_since_the_last_poll_is_read_forward(
    conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify
) -> None:
    fake_spotify.retention = 100  # an API that keeps more than 50: the poll pages forward with `after`
    fake_spotify.add_plays(account(linked), plays(ago(hours=10), 3))
    run_sync(linked, "poll")
    fake_spotify.add_plays(account(linked), plays(ago(hours=6), 60, offset=3))
    result = run_sync(linked, "poll")
    assert (result.inserted, result.gap_detected, result.requests) == (60, False, 2)


def test_a_newest_first_after_page_is_completed_walking_back(
    conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify
) -> None:
    fake_spotify.retention = 100
    fake_spotify.after_returns_newest = True  # the page skips the plays right after the cursor
    fake_spotify.add_plays(account(linked), plays(ago(hours=10), 3))
    run_sync(linked, "poll")
    fake_spotify.add_plays(account(linked), plays(ago(hours=6), 60, offset=3))
    result = run_sync(linked, "poll")
    # `before` from the page's oldest play reaches the stored ones: nothing was lost.
    assert (result.inserted, result.gap_detected, result.requests) == (60, False, 2)
    assert len(api_rows(conn, linked)) == 63


# -- backfill ------------------------------------------------------------------------------------------


def day_window(days_ago: int) -> tuple[datetime, datetime]:
    start = datetime.combine((datetime.now(UTC) - timedelta(days=days_ago)).date(), datetime.min.time(), UTC)
    return start, start + timedelta(days=1)


def test_backfill_of_a_day_stops_at_the_window_start_and_is_idempotent(
    conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify
) -> None:
    start, end = day_window(3)
    fake_spotify.add_plays(account(linked), plays(start - timedelta(hours=2), 10, timedelta(minutes=30)))
    # 10 plays from 22:00 the day before, every 30 min: 6 fall on the day (00:00 … 02:30).
    result = run_sync(linked, "backfill", window=(start, end))
    assert (result.stop_reason, result.inserted, result.requests) == ("window_start", 6, 1)
    assert all(start <= r[0] < end for r in api_rows(conn, linked))
    again = run_sync(linked, "backfill", window=(start, end))
    assert (again.stop_reason, again.inserted, again.fetched) == ("window_start", 0, 6)


def test_backfill_stops_on_an_empty_page(conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify) -> None:
    start, end = day_window(2)
    fake_spotify.add_plays(account(linked), plays(start + timedelta(hours=5), 8))
    result = run_sync(linked, "backfill", window=(start, end))
    assert (result.stop_reason, result.inserted, result.requests) == ("empty_page", 8, 2)


def test_backfill_stops_when_the_cursor_does_not_move(
    conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify
) -> None:
    start, end = day_window(1)
    fake_spotify.add_plays(account(linked), plays(start + timedelta(hours=1), 8))
    fake_spotify.ignore_before = True  # a broken cursor: every page is the newest one
    result = run_sync(linked, "backfill", window=(start, end))
    assert (result.stop_reason, result.requests) == ("no_progress", 2)


def test_initial_sync_stops_at_max_days(conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify) -> None:
    fake_spotify.retention = 200
    fake_spotify.add_plays(account(linked), plays(ago(days=39, hours=12), 40, timedelta(days=1)))  # one a day
    result = run_sync(linked, "initial_sync", settings=settings_with(initial_sync_max_days=30))
    assert result.stop_reason == "max_days"
    stored = api_rows(conn, linked)
    assert len(stored) == 30 and stored[0][0] > ago(days=30)


def test_backfill_stops_at_max_requests(conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify) -> None:
    fake_spotify.retention = 500
    fake_spotify.add_plays(account(linked), plays(ago(days=2), 160, timedelta(minutes=5)))
    result = run_sync(linked, "initial_sync", settings=settings_with(initial_sync_max_requests=2))
    assert (result.stop_reason, result.requests, result.inserted) == ("max_requests", 2, 100)


def test_backfill_ends_cleanly_when_rate_limited(
    conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify
) -> None:
    fake_spotify.add_plays(account(linked), plays(ago(hours=5), 5))
    fake_spotify.inject("recently_played", 429, retry_after=7200)
    started = datetime.now(UTC)
    result = run_sync(linked, "initial_sync")
    ended = datetime.now(UTC)
    assert (result.status, result.stop_reason, result.inserted) == ("rate_limited", "rate_limited", 0)
    # Retry-After counted from when the sync ran, however long that took (no duration bound).
    assert result.rate_limited_until is not None
    assert started + timedelta(seconds=7200) <= result.rate_limited_until <= ended + timedelta(seconds=7200)
    assert "7200" in (result.error or "")


def test_a_window_older_than_max_days_asks_nothing(linked: str, fake_spotify: FakeSpotify) -> None:
    result = run_sync(linked, "backfill", window=day_window(45))
    assert (result.stop_reason, result.requests) == ("max_days", 0)


# -- the client's error switches -----------------------------------------------------------------------


def test_429_waits_retry_after_then_succeeds(linked: str, fake_spotify: FakeSpotify) -> None:
    fake_spotify.add_plays(account(linked), plays(ago(hours=1), 3))
    fake_spotify.inject("recently_played", 429, times=2, retry_after=3)
    sleeps = Sleeps()
    result = run_sync(linked, "poll", sleep=sleeps)
    assert (result.status, result.inserted) == ("succeeded", 3)
    assert sleeps == [3, 3]


def test_too_many_429s_end_the_run(linked: str, fake_spotify: FakeSpotify) -> None:
    fake_spotify.inject("recently_played", 429, times=10, retry_after=1)
    sleeps = Sleeps()
    result = run_sync(linked, "poll", settings=settings_with(spotify_max_rate_limits=3), sleep=sleeps)
    assert (result.status, result.stop_reason) == ("rate_limited", "rate_limited")
    assert sleeps == [1, 1, 1] and "4 times" in (result.error or "")


def test_retry_after_longer_than_the_budget_ends_the_run(linked: str, fake_spotify: FakeSpotify) -> None:
    fake_spotify.inject("recently_played", 429, retry_after=60)
    sleeps = Sleeps()
    result = run_sync(linked, "poll", settings=settings_with(spotify_run_budget_seconds=30), sleep=sleeps)
    assert (result.status, sleeps) == ("rate_limited", [])


def test_5xx_is_retried_with_exponential_backoff(linked: str, fake_spotify: FakeSpotify) -> None:
    fake_spotify.add_plays(account(linked), plays(ago(hours=1), 2))
    fake_spotify.inject("recently_played", 500, times=3)
    sleeps = Sleeps()
    result = run_sync(linked, "poll", sleep=sleeps)
    assert (result.status, result.inserted) == ("succeeded", 2)
    assert sleeps == [0.5, 1.0, 2.0]


def test_persistent_5xx_fails_the_run_with_a_reason(
    conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify
) -> None:
    fake_spotify.inject("recently_played", 503, times=100)
    sleeps = Sleeps()
    result = run_sync(linked, "poll", settings=settings_with(spotify_max_retries=2), sleep=sleeps)
    assert result.status == "failed" and "HTTP 503" in (result.error or "")
    assert sleeps == [0.5, 1.0]
    conn.commit()
    assert conn.execute("select status, error from app.spotify_syncs where sync_id = %s", (result.sync_id,)).fetchone()[
        0
    ] == ("failed")


def test_transport_errors_are_retried_then_reported(linked: str, conn: psycopg.Connection) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]  # nothing listens there once the socket is closed
    settings = settings_with(spotify_api_base_url=f"http://127.0.0.1:{closed_port}", spotify_max_retries=2)
    sleeps = Sleeps()
    with httpx.Client() as http:
        client = client_for(user_id(conn, linked), settings=settings, http=http, budget=_budget(settings, sleeps))
        with pytest.raises(SpotifyUnavailableError, match="ConnectError"):
            client.me()
    assert sleeps == [0.5, 1.0]


def test_401_refreshes_once_and_retries(linked: str, fake_spotify: FakeSpotify) -> None:
    fake_spotify.add_plays(account(linked), plays(ago(hours=1), 2))
    fake_spotify.expire_access_tokens()
    result = run_sync(linked, "poll")
    assert (result.status, result.inserted) == ("succeeded", 2)
    grants = [r.params["grant_type"] for r in fake_spotify.requests_to("token")]
    assert grants == ["authorization_code", "refresh_token"]


def test_injected_401_is_answered_with_a_refresh(linked: str, fake_spotify: FakeSpotify) -> None:
    fake_spotify.inject("me", 401)
    with httpx.Client() as http:
        assert client_for_user(linked, http).me().id == account(linked)
    assert [r.params["grant_type"] for r in fake_spotify.requests_to("token")][-1] == "refresh_token"


def test_invalid_grant_during_a_poll_needs_reauth(
    conn: psycopg.Connection, linked: str, fake_spotify: FakeSpotify
) -> None:
    fake_spotify.expire_access_tokens()
    fake_spotify.inject("token", 400, error="invalid_grant")
    fake_spotify.add_plays(account(linked), plays(ago(hours=1), 2))
    result = run_sync(linked, "poll")
    assert result.status == "needs_reauth" and f"auth login --user {linked}" in (result.error or "")
    conn.commit()
    assert conn.execute("select status from app.users where name = %s", (linked,)).fetchone() == ("needs_reauth",)
    assert api_rows(conn, linked) == []
    # Data stays, polling stops: the next attempt does not even ask Spotify.
    before = len(fake_spotify.requests)
    assert run_sync(linked, "poll").status == "needs_reauth"
    assert len(fake_spotify.requests) == before


def test_rate_limit_from_the_budget_directly() -> None:
    sleeps = Sleeps()
    budget = Budget(seconds=10, max_retry_after=100, max_rate_limits=5, max_retries=1, sleep=sleeps)
    response = httpx.Response(429, headers={"Retry-After": "20"})
    from orchestration.spotify.transport import send

    with pytest.raises(RateLimitedError) as info:
        send(lambda: response, budget, "GET /x")
    assert info.value.retry_after == 20 and sleeps == []


def _budget(settings: Settings, sleeps: Sleeps) -> Budget:
    return Budget.from_settings(settings, sleep=sleeps)


def client_for_user(name: str, http: httpx.Client):  # type: ignore[no-untyped-def]
    from orchestration.db import connect

    with connect() as c:
        uid = user_id(c, name)
    return client_for(uid, settings=get_settings(), http=http)
