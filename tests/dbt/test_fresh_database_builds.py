"""Builds on a fresh database, in the order the automation may start them: a Spotify sync can finish
before the first build of the listening marts, and the build it triggers selects sync_status."""

from __future__ import annotations

import pytest
from builds import app_conn, new_user, polled_play, run_models, store_polled_plays

# A database where no listening mart exists yet.
pytestmark = pytest.mark.usefixtures("own_database")


def test_sync_status_builds_before_the_listening_marts_exist() -> None:
    _, uid = new_user("Europe/Berlin", prefix="fresh")
    run_models(select="path:models/staging sync_status")
    with app_conn() as conn:
        assert conn.execute("select to_regclass('marts.coverage')").fetchone() == (None,)
        before = conn.execute(
            "select plays, first_stream_at, api_streams from marts.sync_status where user_id = %s", (uid,)
        ).fetchone()
    assert before == (0, None, 0)

    assert store_polled_plays(uid, [polled_play("2024-05-01T10:00:00Z", "First")]) == 1
    run_models()
    with app_conn() as conn:
        after = conn.execute("select plays, api_streams from marts.sync_status where user_id = %s", (uid,)).fetchone()
    assert after == (1, 1)
