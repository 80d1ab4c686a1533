"""The synthetic demo export: a history that ends before now (an export never holds future plays)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from export_files import load_export_folder, parse_time

from orchestration.demo.synthetic_export import recent_end, write_export


def test_demo_history_ends_a_day_before_now(tmp_path: Path) -> None:
    end = recent_end()
    write_export(tmp_path / "export", 3000, seed=2024, end=end)
    records = [r for f in load_export_folder(tmp_path / "export") for r in f.records]

    ends = [parse_time(r["ts"]) for r in records]
    assert len(records) == 3000
    assert max(ends) == end.replace(microsecond=0)
    assert max(ends) < datetime.now(UTC) - timedelta(hours=23)
    offline = [r["offline_timestamp"] for r in records if r["offline_timestamp"]]
    assert offline and max(offline) <= end.timestamp()
    assert min(ends) > end - timedelta(days=60), "the history is recent: it spans about n x the mean gap"
