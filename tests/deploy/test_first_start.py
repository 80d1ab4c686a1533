"""A fresh `spotify-history up` (what `scripts/run` starts: demo mode, a new home) shows only green
runs: Dagster's storage tables and pools are created before the webserver and the daemon start, so the
first runs do not fail on their race (InFailedSqlTransaction on concurrency_limits for pool "dbt").

Everything runs for real — embedded Postgres, webserver, daemon, run workers, dbt, the demo's fake
Spotify — on a new temporary home and free ports; everything started is stopped at the end."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
WATCH_SECONDS = 120  # "the first minutes" (at least)
# Then the runs started by then must finish; a loaded machine runs them slowly, so wait long.
MORE_SECONDS = 900

# Reads every run's job and status from the instance of the home in SPOTIFY_HISTORY_HOME.
READ_RUNS = r"""
import json
from orchestration.instance import get_instance
runs = get_instance().get_runs()
print(json.dumps([[r.run_id, r.job_name, r.status.value] for r in runs]))
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def new_home(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a first start: a new SPOTIFY_HISTORY_HOME, demo mode, quick sensors and polls."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DAGSTER_", "PG"))}
    for key in ("DATABASE_URL", "DAGSTER_DATABASE_URL", "INBOX_DIR", "TOKEN_ENCRYPTION_KEY", "POLL_INTERVAL_SECONDS"):
        env.pop(key, None)
    env |= {
        "SPOTIFY_HISTORY_HOME": str(home),
        "SPOTIFY_REDIRECT_PORT": "0",
        "POLL_INTERVAL_SECONDS": "20",
        "INBOX_SENSOR_INTERVAL_SECONDS": "5",
        "INBOX_SETTLE_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",  # the test reads up's output as it comes
    }
    yield env
    # The embedded Postgres outlives `up` (every command shares it): stop it.
    subprocess.run([str(BIN / "spotify-history"), "db", "stop"], env=env, capture_output=True, timeout=120, check=False)


def runs(env: dict[str, str]) -> list[tuple[str, str, str]]:
    proc = subprocess.run(
        [sys.executable, "-c", READ_RUNS], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [tuple(r) for r in json.loads(proc.stdout.strip().splitlines()[-1])]


def stop(up: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a user stops `up` (it stops its services); then make sure nothing of the group is left."""
    if up.poll() is None:
        os.killpg(up.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            up.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(up.pid, signal.SIGKILL)
    up.wait(timeout=30)


def test_every_run_of_a_fresh_up_succeeds(new_home: dict[str, str], tmp_path: Path) -> None:
    log = (tmp_path / "up.log").open("wb")
    dagster_port, api_port = free_port(), free_port()
    up = subprocess.Popen(
        [
            str(BIN / "spotify-history"),
            "up",
            "--demo",
            "--dagster-port",
            str(dagster_port),
            "--api-port",
            str(api_port),
        ],
        env=new_home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: webserver, daemon, run workers, API
    )
    try:
        # The window: the first WATCH_SECONDS, longer on a slow machine until the demo's first import and
        # sync have started (at most WATCH_SECONDS more).
        started_at = time.monotonic()
        # Read the instance only once `up` has prepared it and started the services (reading earlier
        # would itself race to create Dagster's tables).
        while "Dagster UI:" not in (tmp_path / "up.log").read_text(errors="replace"):
            assert up.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
            assert time.monotonic() - started_at < 600, "up did not start its services"
            time.sleep(2)
        seen: list[tuple[str, str, str]] = []
        while time.monotonic() - started_at < 2 * WATCH_SECONDS:
            time.sleep(10)
            assert up.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
            seen = runs(new_home)
            jobs = {job for _, job, _ in seen}
            if time.monotonic() - started_at >= WATCH_SECONDS and {"import_export", "spotify_sync"} <= jobs:
                break
        started = {run_id for run_id, _, _ in seen}
        deadline = time.monotonic() + MORE_SECONDS
        while time.monotonic() < deadline and any(s not in FINISHED for i, _, s in seen if i in started):
            time.sleep(10)
            seen = runs(new_home)
    finally:
        stop(up)
        log.close()
    mine = [(job, status) for run_id, job, status in seen if run_id in started]
    jobs = {job for job, _ in mine}
    # The demo's first minutes: the inbox import, the spotify syncs, the marts refreshes.
    assert {"import_export", "spotify_sync"} <= jobs, mine
    failed = [(job, status) for job, status in mine if status in ("FAILURE", "CANCELED")]
    assert not failed, f"{failed} of {mine}; log: {(tmp_path / 'up.log').read_text()[-3000:]}"
    assert all(status == "SUCCESS" for _, status in mine), mine
