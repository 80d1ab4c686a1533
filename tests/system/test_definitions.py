"""Loading the Dagster definitions has no side effects: importing them runs nothing, and building
them (what Dagster does when it loads the code location) reads the settings of that moment and the
prepared dbt manifest — no subprocess (no `dbt parse`), no database connection.

Checked in fresh interpreters, on a copy of the dbt project without target/ (a new clone), with the
virtualenv off PATH, and with subprocess.Popen and psycopg.connect patched to raise."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: forbid side effects, then import (and, with --build, build) the definitions.
PROBE = r"""
import json, os, pkgutil, subprocess, sys, importlib
import psycopg
import dagster, dagster_dbt  # the libraries' own imports may spawn (platform.architecture runs `file`)

def refuse(*args, **kwargs):
    raise AssertionError(f"side effect while loading the definitions: {args[:1]!r}")

subprocess.Popen = refuse
psycopg.connect = refuse

import orchestration.definitions
import orchestration.defs
modules = [m.name for m in pkgutil.walk_packages(orchestration.defs.__path__, "orchestration.defs.")]
for name in modules:
    importlib.import_module(name)
out = {"modules": modules}
# Settings are read when the definitions are built, not at import.
os.environ["INBOX_SENSOR_INTERVAL_SECONDS"] = "17"
os.environ["POLL_INTERVAL_SECONDS"] = "12"
try:
    defs = orchestration.definitions.defs()
except Exception as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
else:
    out["jobs"] = sorted(job.name for job in defs.jobs)
    out["sensors"] = {s.name: s.minimum_interval_seconds for s in defs.sensors}
    out["schedules"] = {s.name: s.default_status.value for s in defs.schedules}
    out["pools"] = sorted(orchestration.definitions.pools(defs))
print(json.dumps(out))
"""


@pytest.fixture
def fresh_clone(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the dbt project without target/, and an environment without the virtualenv on PATH."""
    project = tmp_path / "dbt_project"
    shutil.copytree(REPO / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    env = {**os.environ, "DBT_PROJECT_DIR": str(project), "PATH": path or "/usr/bin:/bin"}
    for key in ("DAGSTER_IS_DEV_CLI", "INBOX_SENSOR_INTERVAL_SECONDS", "POLL_INTERVAL_SECONDS"):
        env.pop(key, None)
    return project, env


def probe(env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_definitions_load_without_side_effects_and_need_a_prepared_manifest(
    fresh_clone: tuple[Path, dict[str, str]],
) -> None:
    project, env = fresh_clone

    unprepared = probe(env)
    assert {"orchestration.defs.dbt.assets", "orchestration.defs.spotify.sensors"} <= set(unprepared["modules"])
    assert "spotify-history prepare" in unprepared["error"]  # a clear error, not a parse behind the user's back
    assert not (project / "target").exists()

    # The explicit step (`up` runs it too), with the dbt beside this Python although it is not on PATH.
    prepare = subprocess.run(
        [str(Path(sys.executable).with_name("spotify-history")), "prepare", "--no-database"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert prepare.returncode == 0, prepare.stderr[-1500:]
    assert (project / "target" / "manifest.json").is_file()

    loaded = probe(env)
    assert "error" not in loaded, loaded.get("error")
    assert loaded["jobs"] == [
        "backup", "import_export", "prune_run_history", "refresh_marts", "spotify_sync", "spotify_top_snapshot"
    ]  # fmt: skip
    assert loaded["schedules"] == {"backup_daily": "STOPPED", "prune_daily": "RUNNING"}, "backups off until BACKUP_DIR"
    assert loaded["sensors"] == {
        "inbox_sensor": 17,
        "refresh_marts": 15,
        "spotify_sensor": 12,
        "spotify_top_sensor": 60,
        "interrupted_runs_failed": 30,
        "interrupted_runs_canceled": 30,
    }
    assert loaded["pools"] == ["dbt", "spotify"]
