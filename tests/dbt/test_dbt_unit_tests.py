"""The dbt unit tests (the duplicate rules, the 30-second and incognito rules, time zones across a DST
change and the date line, local-URI resolution) pass against the real Postgres.

Production refreshes leave them out (`--exclude-resource-type unit_test`): they test the SQL, not the
data, so they run here, in CI.
"""

from __future__ import annotations

import json
from pathlib import Path

from builds import ensure_built

from orchestration.defs.dbt.project import run_dbt


def test_every_dbt_unit_test_runs_and_passes(home: Path, tmp_path: Path) -> None:
    ensure_built()  # unit tests read the column types of their models' parents: those must exist
    target = tmp_path / "target"
    done = run_dbt(
        ["test", "--select", "test_type:unit", "--log-path", str(tmp_path)],
        target_path=target,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    manifest = json.loads((target / "manifest.json").read_text())
    unit_tests = set(manifest.get("unit_tests", {}))
    results = {
        r["unique_id"]: r["status"]
        for r in json.loads((target / "run_results.json").read_text())["results"]
        if r["unique_id"].startswith("unit_test.")
    }
    assert len(unit_tests) >= 15, "the dedup, play and time-zone unit tests are missing"
    assert set(results) == unit_tests
    assert set(results.values()) == {"pass"}, {uid: s for uid, s in results.items() if s != "pass"}
