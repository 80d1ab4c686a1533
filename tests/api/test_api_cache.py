"""Tool answers are cached until the marts are rebuilt: a repeated call is served from memory, and
the first call after a dbt build reads the new marts, in every API process (each has its own cache)."""

from __future__ import annotations

from pathlib import Path

from api_support import create_key, make_app
from builds import build, import_as, new_user
from export_files import EXTENDED_FOLDER, extended_record, write_json
from fastapi.testclient import TestClient


def plays_file(path: Path, day: str, count: int) -> Path:
    records = [
        extended_record(
            f"{day}T{8 + i // 60:02d}:{i % 60:02d}:00Z", 120_000, master_metadata_album_artist_name="Cached"
        )
        for i in range(count)
    ]
    return write_json(path, records)


def test_answers_are_cached_until_the_next_build(home: Path, tmp_path: Path) -> None:
    name, _ = new_user("UTC", prefix="cache")
    import_as(name, plays_file(tmp_path / EXTENDED_FOLDER / "Streaming_History_Audio_2024_0.json", "2024-12-20", 3))
    build()
    auth = {"Authorization": f"Bearer {create_key(name)}"}
    request = {"tool": "history.top_artists", "args": {"days": 30}}

    with TestClient(make_app()) as client:
        cache = client.app.state.runtime.cache  # type: ignore[attr-defined]
        first = client.post("/mcp/call", json=request, headers=auth).json()
        assert first["result"]["items"][0]["plays"] == 3
        hits = cache.hits
        assert client.post("/mcp/call", json=request, headers=auth).json() == first
        assert cache.hits == hits + 1
        # Other arguments are another answer.
        assert client.post("/mcp/call", json={**request, "args": {"days": 29}}, headers=auth).json()["success"]
        assert cache.hits == hits + 1

        # ops.latest_job_runs reads the live registry: never from the cache.
        runs = {"tool": "ops.latest_job_runs", "args": {}}
        assert client.post("/mcp/call", json=runs, headers=auth).json()["success"]
        assert client.post("/mcp/call", json=runs, headers=auth).json()["success"]
        assert cache.hits == hits + 1

        # A second API process (its own app, its own cache) with the same answer cached.
        with TestClient(make_app()) as other:
            other_cache = other.app.state.runtime.cache  # type: ignore[attr-defined]
            assert other.post("/mcp/call", json=request, headers=auth).json() == first
            assert other.post("/mcp/call", json=request, headers=auth).json() == first
            assert other_cache.hits == 1

            import_as(
                name, plays_file(tmp_path / EXTENDED_FOLDER / "Streaming_History_Audio_2024_1.json", "2024-12-21", 2)
            )
            build()
            # Each process reads the build stamp with the key: both drop their older answers.
            for one, its_cache, hits_before in ((client, cache, hits + 1), (other, other_cache, 1)):
                after = one.post("/mcp/call", json=request, headers=auth).json()
                assert after["result"]["items"][0]["plays"] == 5, "a build must make the cached answer stale"
                assert its_cache.hits == hits_before


def test_no_cache_when_switched_off(home: Path) -> None:
    app = make_app(api_cache_entries=0)
    assert app.state.runtime.cache is None
