"""history.search, spotify.get_top and ops.latest_job_runs on the committed exports (tests/fixtures/exports),
through all three doors; expected answers come from the export files (tests/reference.py), not from the
marts. Every door lists every tool of the registry."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import ADMIN_KEY, World, create_key, live_server, minutes
from builds import build, new_user
from doors import call_all, dispatcher, list_all
from export_files import extended_records, write_json
from reference import Stream
from stored import run_cli

from mcp_api.tools import TOOLS

NEW_TOOLS = {"spotify.get_top", "history.search", "ops.latest_job_runs"}


@pytest.fixture(scope="module")
def base(data: World) -> Iterator[str]:
    with live_server() as url:
        yield url


def plain(text: str) -> str:
    """What a listener types: lower case, no accents (Python's own fold, not the product's)."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).lower()


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def expect_item(plays: list[Stream]) -> dict[str, Any]:
    return {
        "plays": len(plays),
        "minutes": minutes(sum(s.ms_played for s in plays)),
        "first_played": min(s.ended_at for s in plays),
        "last_played": max(s.ended_at for s in plays),
    }


def got_item(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "plays": item["plays"],
        "minutes": item["minutes"],
        "first_played": when(item["first_played"]),
        "last_played": when(item["last_played"]),
    }


def test_every_door_lists_every_tool(base: str, data: World) -> None:
    listed = list_all(base, data["efrrowini"].key)
    assert len(TOOLS) >= 11 and set(TOOLS) >= NEW_TOOLS
    assert listed == {"catalog": list(TOOLS), "openapi": list(TOOLS), "mcp": list(TOOLS)}
    document = httpx.get(f"{base}/openapi.json").json()
    operations = {op["operationId"] for methods in document["paths"].values() for op in methods.values()}
    assert {"spotify_get_top", "history_search", "ops_latest_job_runs"} <= operations


@pytest.mark.parametrize(
    ("case", "artist"),
    [("efrrowini", "Elley Duhé"), ("efrrowini", "Måneskin"), ("allisonkra", "Tyler, The Creator"), ("vnegi10", None)],
)
def test_search_finds_an_artist_whatever_the_case_and_accents(
    base: str, data: World, case: str, artist: str | None
) -> None:
    listener = data[case]
    by_artist: dict[str | None, list[Stream]] = {}
    for s in listener.ref.plays:
        by_artist.setdefault(s.creator, []).append(s)
    artist = artist or max((a for a in by_artist if a), key=lambda a: len(by_artist[a]))  # the most played
    result = call_all(base, listener.key, "history.search", q=plain(artist).replace(",", ""), type="artist")
    first = result["items"][0]
    assert (first["type"], first["name"]) == ("artist", artist)
    assert "artist" not in first and "uri" not in first
    assert got_item(first) == expect_item(by_artist[artist])


def test_search_counts_a_song_across_its_releases(base: str, data: World) -> None:
    """ "Let Go" by Ark Patrol has four track URIs (releases) in the extended fixture: one song, reported with its
    most played URI."""
    listener = data["efrrowini"]
    song = [s for s in listener.ref.plays if (s.creator, s.item) == ("Ark Patrol", "Let Go")]
    uris = Counter(s.uri for s in song)
    assert len(uris) == 4
    result = call_all(base, listener.key, "history.search", q="let go ark", type="track", limit=50)
    (item,) = [i for i in result["items"] if (i["name"], i.get("artist")) == ("Let Go", "Ark Patrol")]
    assert got_item(item) == expect_item(song)
    top = max(uris.values())
    assert item["uri"] == min(u for u, n in uris.items() if n == top and u)
    # "let go ark": every word starts a word of the track or its artist; the exact title ranks first.
    exact = call_all(base, listener.key, "history.search", q="LET GO", type="track")
    assert exact["items"][0]["name"].lower() == "let go"
    ranks = [(i["name"].lower() != "let go", -i["plays"]) for i in exact["items"] if i["name"].lower() == "let go"]
    assert ranks == sorted(ranks)


def test_search_of_every_type_finds_non_latin_names_and_respects_limit(base: str, data: World) -> None:
    listener = data["allisonkra"]
    result = call_all(base, listener.key, "history.search", q="物語")
    names = {(i["type"], i["name"]) for i in result["items"]}
    assert ("artist", "物語シリーズ") in names and ("track", "輔翼") in names
    shows = call_all(base, listener.key, "history.search", q="a", type="show", limit=3)
    assert len(shows["items"]) <= 3 and all(i["type"] == "show" for i in shows["items"])
    assert shows["items"] and all(any(w.startswith("a") for w in plain(i["name"]).split()) for i in shows["items"])
    # Account exports carry no album names; the extended one does.
    every = call_all(base, data["efrrowini"].key, "history.search", q="lana del rey", limit=50)
    assert {"artist", "track", "album"} <= {i["type"] for i in every["items"]}
    assert call_all(base, listener.key, "history.search", q="zzqxv nothing like this")["items"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"q": "?!…"}, "letter or digit"),
        ({"q": ""}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "a", "type": "song"}, "type"),
        ({"q": "a", "limit": 51}, "limit"),
        ({}, "q"),
    ],
)
def test_search_refuses_bad_arguments(base: str, data: World, args: dict[str, Any], message: str) -> None:
    response = dispatcher(base, data["efrrowini"].key, "history.search", args)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_type"] == "invalid_arguments" and message in body["error"]


def test_get_top_of_an_export_only_listener_is_empty_and_says_why(base: str, data: World) -> None:
    listener = data["vnegi10"]
    result = call_all(base, listener.key, "spotify.get_top", entity="tracks", time_range="long_term")
    assert (result["entity"], result["time_range"], result["items"], result["snapshot_at"]) == (
        "tracks",
        "long_term",
        [],
        None,
    )
    assert "not linked a Spotify account" in result["note"] and "history.top_tracks" in result["note"]
    response = dispatcher(base, listener.key, "spotify.get_top", {})
    assert response.status_code == 400 and "entity" in response.json()["error"]


def test_a_running_build_is_listed_as_running_then_as_it_ended(base: str, data: World) -> None:
    """The build's row is written before dbt starts and completed when it ends; the tool reads it live."""
    from orchestration.marts_builds import finish_marts_build, start_marts_build

    key = data["efrrowini"].key
    build_id = start_marts_build(None, False, datetime.now(UTC), run_is_over=lambda _: False)
    try:
        (running,) = call_all(base, key, "ops.latest_job_runs", kind="marts_build", limit=1)["items"]
        assert (running["id"], running["status"], running["finished_at"], running["user"]) == (
            build_id,
            "running",
            None,
            None,
        )
    finally:
        finish_marts_build(build_id, None, error="stopped by the test")
    (ended,) = call_all(base, key, "ops.latest_job_runs", kind="marts_build", limit=1)["items"]
    assert (ended["id"], ended["status"], ended["error"]) == (build_id, "failed", "stopped by the test")
    assert ended["finished_at"] is not None


def test_the_build_that_just_ran_is_listed_after_an_import_and_refresh(base: str, tmp_path: Path) -> None:
    name, _ = new_user("Europe/Berlin", prefix="jobs")
    key = create_key(name)
    export = write_json(tmp_path / "Streaming_History_Audio_2020_0.json", extended_records(5))
    imported = run_cli("import", str(export), "--user", name, "--json")
    assert imported.returncode == 0, imported.stderr[-2000:]
    before = datetime.now(UTC)
    refreshed = run_cli("refresh", "--json")
    assert refreshed.returncode == 0, refreshed.stderr[-2000:]
    summary = json.loads(refreshed.stdout.strip().splitlines()[-1])

    items = call_all(base, key, "ops.latest_job_runs", limit=50)["items"]
    latest = next(i for i in items if i["kind"] == "marts_build")
    assert latest["status"] == "succeeded" and latest["error"] is None
    assert when(latest["started_at"]) >= before and latest["finished_at"] is not None
    assert latest["counts"]["models"] == summary["models"] > 0
    (mine,) = [i for i in items if i["kind"] == "import"]
    assert (mine["user"], mine["status"], mine["counts"]["inserted"]) == (name, "succeeded", 5)


def test_latest_job_runs_lists_imports_and_marts_builds_newest_first(base: str, data: World) -> None:
    build()  # listed the moment it ends (the registry is read live)
    listener = data["efrrowini"]
    result = call_all(base, listener.key, "ops.latest_job_runs", limit=50)
    items = result["items"]
    starts = [when(i["started_at"]) for i in items]
    assert starts == sorted(starts, reverse=True)
    (imported,) = [i for i in items if i["kind"] == "import"]
    assert imported["user"] == listener.name and imported["status"] == "succeeded"
    assert imported["counts"]["inserted"] > 0 and imported["error"] is None
    builds = [i for i in items if i["kind"] == "marts_build"]
    # Builds serve every user (user null); other tests of the session may have failed builds on purpose.
    assert builds and all(b["user"] is None for b in builds) and builds[0]["status"] == "succeeded"
    assert builds[0]["counts"]["models"] > 0 and builds[0]["counts"]["tests"] > 0
    assert {i["user"] for i in items} <= {listener.name, None}  # nobody else's runs
    only = call_all(base, listener.key, "ops.latest_job_runs", kind="marts_build", limit=1)
    assert [i["id"] for i in only["items"]] == [builds[0]["id"]]
    # The admin key without user_id: every user's runs.
    everyone = call_all(base, ADMIN_KEY, "ops.latest_job_runs", kind="import", limit=50)
    assert {data[c].name for c in ("efrrowini", "vnegi10", "allisonkra")} <= {i["user"] for i in everyone["items"]}
    mine = call_all(base, ADMIN_KEY, "ops.latest_job_runs", kind="import", user_id=listener.name)
    assert {i["user"] for i in mine["items"]} == {listener.name}
    bad = dispatcher(base, listener.key, "ops.latest_job_runs", {"kind": "dinner"})
    assert bad.status_code == 400 and "kind" in bad.json()["error"]
