"""The synthetic demo export: a history that ends before now (an export never holds future plays) and looks
like a listener's, so that every tool has something true-looking to say on a fresh clone's demo."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from export_files import load_export_folder, parse_time

from orchestration.demo.synthetic_export import recent_end, write_export

ZONE = "America/New_York"


def test_benchmark_history_ends_exactly_at_its_end(tmp_path: Path) -> None:
    end = recent_end()
    write_export(tmp_path / "export", 3000, seed=2024, end=end)
    records = [r for f in load_export_folder(tmp_path / "export") for r in f.records]

    ends = [parse_time(r["ts"]) for r in records]
    assert len(records) == 3000
    assert max(ends) == end.replace(microsecond=0)
    offline = [r["offline_timestamp"] for r in records if r["offline_timestamp"]]
    assert offline and max(offline) <= end.timestamp()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[datetime, list[dict[str, Any]]]:
    end = recent_end()
    folder = tmp_path_factory.mktemp("demo") / "export"
    write_export(folder, 20_000, seed=2024, end=end, listener_zone=ZONE)
    return end, [r for f in load_export_folder(folder) for r in f.records]


def _plays(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r for r in records if r["master_metadata_track_name"] and r["ms_played"] >= 30_000 and not r["incognito_mode"]
    ]


def test_demo_history_ends_before_now_and_is_deterministic(demo: tuple[datetime, list[dict[str, Any]]],
                                                           tmp_path: Path) -> None:  # fmt: skip
    end, records = demo
    ends = [parse_time(r["ts"]) for r in records]
    assert len(records) == 20_000
    assert end - timedelta(days=2) < max(ends) <= end.replace(microsecond=0)
    assert max(ends) < datetime.now(UTC) - timedelta(hours=23)
    offline = [r["offline_timestamp"] for r in records if r["offline_timestamp"]]
    assert offline and max(offline) <= end.timestamp()
    write_export(tmp_path / "again", 20_000, seed=2024, end=end, listener_zone=ZONE)
    assert [r for f in load_export_folder(tmp_path / "again") for r in f.records] == records


def test_demo_listener_has_a_long_tail_albums_and_discoveries(demo: tuple[datetime, list[dict[str, Any]]]) -> None:
    _, records = demo
    plays = _plays(records)
    artists = Counter(r["master_metadata_album_artist_name"] for r in plays)
    songs = Counter(r["spotify_track_uri"] for r in plays)
    assert artists.most_common(1)[0][1] / len(plays) < 0.15, "no artist near 15 % of plays"
    assert len(artists) > 200
    assert songs.most_common(1)[0][1] / len(plays) < 0.03
    assert 0.3 < 1 - len(songs) / len(plays) < 0.9, "repeat rate like a person's, not 0.975"
    albums = {(r["master_metadata_album_artist_name"], r["master_metadata_album_album_name"]) for r in plays}
    assert len(albums) > len(artists)
    # New artists arrive month by month, not all in the first one.
    first: dict[str, str] = {}
    for r in sorted(plays, key=lambda r: r["ts"]):
        first.setdefault(r["master_metadata_album_artist_name"], r["ts"][:7])
    months = sorted({r["ts"][:7] for r in plays})
    per_month = Counter(first.values())
    assert sum(1 for m in months[1:-1] if per_month[m] > 0) >= 0.8 * len(months[1:-1])
    assert per_month[months[0]] < 0.5 * len(artists)


def test_demo_listener_has_a_rhythm_sessions_and_skips(demo: tuple[datetime, list[dict[str, Any]]]) -> None:
    _, records = demo
    music = [r for r in records if r["master_metadata_track_name"]]
    plays = _plays(records)
    local = [parse_time(r["ts"]).astimezone(ZoneInfo(ZONE)) for r in plays]
    hours = Counter(t.hour for t in local)
    assert sum(hours[h] for h in (2, 3, 4)) * 20 < sum(hours[h] for h in (18, 19, 20)), "nights are quiet"
    days = Counter(t.date() for t in local)
    span = (max(days) - min(days)).days + 1
    assert 0.05 < 1 - len(days) / span < 0.4, "some days without music, most with"
    # Real extended exports (../shared/testdata/exports): ~32 % skipped, ~21 % skipped null, ~55 % shuffle.
    skipped = Counter(r["skipped"] for r in music)
    assert 0.2 < skipped[True] / len(music) < 0.45
    assert 0.1 < skipped[None] / len(music) < 0.3
    assert any(r["skipped"] is None and r["reason_end"] == "fwdbtn" for r in music)
    assert 0.35 < sum(r["shuffle"] for r in music) / len(music) < 0.75
    ends = Counter(r["reason_end"] for r in music)
    assert {"trackdone", "fwdbtn", "endplay", "backbtn"} <= set(ends) and ends.most_common(1)[0][0] == "trackdone"
    # Plays come in sessions: most follow the previous one within a few seconds of its end.
    ordered = sorted(plays, key=lambda r: r["ts"])
    gaps = [
        (parse_time(b["ts"]) - timedelta(milliseconds=b["ms_played"]) - parse_time(a["ts"])).total_seconds()
        for a, b in itertools.pairwise(ordered)
    ]
    assert sum(1 for g in gaps if g <= 30 * 60) > 0.7 * len(gaps)
    assert sum(1 for g in gaps if g > 30 * 60) > 100
    assert any(r["episode_name"] for r in records) and any(r["audiobook_title"] for r in records)
