"""`spotify-history prune`: in a home of its own (its Dagster instance holds only this test's runs), real
import runs — two that succeed, one that fails — then `prune --keep-days 0` deletes the finished runs with
their event logs and compute logs and keeps the failed one (FAILED_RUN_RETENTION_DAYS), a run that has not
started, and the import records ops.latest_job_runs reads; `--failed-keep-days 0` deletes the failed one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from homes import cli, environment, python

EXPORT = Path(__file__).resolve().parents[1] / "fixtures" / "exports"

RUNS = """
import json
from orchestration.db import connect
from orchestration.instance import get_instance
instance = get_instance()
runs = {r.dagster_run.run_id: r.dagster_run.status.value for r in instance.get_run_records()}
events = {run_id: len(instance.all_logs(run_id)) for run_id in runs}
with connect() as conn:
    imports = conn.execute("select count(*) from app.imports").fetchone()[0]
print(json.dumps({"runs": runs, "events": events, "imports": imports}))
"""

NOT_STARTED = """
from orchestration.defs.maintenance.pruning import prune_job
from orchestration.instance import get_instance
print(get_instance().create_run_for_job(prune_job).run_id)
"""


def runs(env: dict[str, str]) -> dict[str, object]:
    return json.loads(python(env, RUNS))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    root = tmp_path_factory.mktemp("prune")
    env = environment(root / "home")
    cli(env, "users", "add", "alice", "--timezone", "Europe/Berlin")
    cli(env, "import", "--user", "alice", str(EXPORT / "extended-berlin"))
    cli(env, "import", "--user", "alice", str(EXPORT / "account-new-york"))
    bad = root / "Streaming_History_Audio_bad.json"
    bad.write_text('[{"ts": "2024-01-01T00:00:00Z", "ms_played": 5')
    assert cli(env, "import", "--user", "alice", str(bad), ok=False).returncode != 0
    yield env, root / "home"
    cli(env, "db", "stop", ok=False)


def test_prune_deletes_finished_runs_and_their_logs_and_keeps_the_rest(home: tuple[dict[str, str], Path]) -> None:
    env, path = home
    waiting = python(env, NOT_STARTED)
    before = runs(env)
    statuses = sorted(v for k, v in before["runs"].items() if k != waiting)  # type: ignore[union-attr]
    assert statuses == ["FAILURE", "SUCCESS", "SUCCESS"], before
    succeeded = [k for k, v in before["runs"].items() if v == "SUCCESS"]  # type: ignore[union-attr]
    assert all(before["events"][k] > 0 for k in succeeded)  # type: ignore[index]
    logs = path / "dagster" / "storage"
    assert all((logs / run_id).is_dir() for run_id in succeeded), "compute logs were captured"

    done = cli(env, "prune", "--keep-days", "0")
    assert "deleted 2 finished runs" in done.stdout and "0 failed runs" in done.stdout
    after = runs(env)
    assert set(after["runs"].values()) == {"FAILURE", "NOT_STARTED"}  # type: ignore[union-attr]
    assert waiting in after["runs"]  # type: ignore[operator]
    assert not any((logs / run_id).exists() for run_id in succeeded)
    assert after["imports"] == before["imports"] == 3, "the import records stay"

    done = cli(env, "prune", "--keep-days", "0", "--failed-keep-days", "0")
    assert "1 failed runs" in done.stdout
    assert list(runs(env)["runs"].values()) == ["NOT_STARTED"]  # type: ignore[union-attr]


def test_prune_keeps_recent_runs_by_default(home: tuple[dict[str, str], Path]) -> None:
    env, _ = home
    cli(env, "import", "--user", "alice", str(EXPORT / "account-kolkata"))
    done = cli(env, "prune")
    assert "deleted 0 finished runs older than 30 days" in done.stdout
    assert "SUCCESS" in runs(env)["runs"].values()  # type: ignore[operator]
