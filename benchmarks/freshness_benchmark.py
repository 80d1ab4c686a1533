#!/usr/bin/env python
"""Benchmark: how long after a poll run ends its plays are visible through the API (target ≤ 60 s).

    .venv/bin/python benchmarks/freshness_benchmark.py               # 3 polls that store plays
    .venv/bin/python benchmarks/freshness_benchmark.py --polls 5 --wait-quiet 30

The real system on a throwaway SPOTIFY_HISTORY_HOME (deleted at the end): the Dagster daemon with
the project's definitions and their default sensors and automation (no webserver), `spotify-history
serve-api` with its answer cache on (the default), and the fake Spotify of orchestration/demo/fake_spotify.py
in this process, with a listener who plays a track every LISTEN_PERIOD (linked through the real OAuth
code path, as `spotify-history up --demo` does). Only POLL_INTERVAL_SECONDS is shortened (to
--poll-interval), so that polls come often enough to measure several; it decides when a poll starts,
not what happens after it ends.

Per poll run that stored plays: from the run's end (Dagster's record) until the API's
history.coverage (asked every 0.25 s with the listener's key) reports the newest play the poll
stored, split into: run end → the marts build run's start (the refresh_marts sensor and the run
launcher), and that start → the API answering with the play (the build writes sync_status, whose
stamp retires the cached answers, before the run ends). Prints one line per poll,
each figure with the target and met/missed, and one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from api_benchmark import CpuMeter, free_port  # noqa: E402

TARGET_SECONDS = 60.0
USER = "fresh"
LISTEN_PERIOD = timedelta(seconds=20)
POLL_JOB = "spotify_sync"


def cli(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def start_fake_spotify() -> Any:
    """The fake Spotify with a listener who keeps listening, linked to USER (as the demo does)."""
    from orchestration.config import reload_settings
    from orchestration.demo.fake_spotify import FakeSpotify, Listening, make_catalog
    from orchestration.demo.spotify import DEMO_ACCOUNT, DEMO_CLIENT_ID, link_demo_user

    fake = FakeSpotify(client_id=DEMO_CLIENT_ID)
    fake.add_account(DEMO_ACCOUNT, "Benchmark Listener", listening=Listening(make_catalog(), period=LISTEN_PERIOD))
    url = fake.start()
    os.environ.update(
        {"SPOTIFY_CLIENT_ID": DEMO_CLIENT_ID, "SPOTIFY_ACCOUNTS_BASE_URL": url, "SPOTIFY_API_BASE_URL": url}
    )
    reload_settings()
    link_demo_user(USER)
    return fake


def newest_stored_play(conn: Any) -> datetime | None:
    row = conn.execute("select max(played_at) from raw.api_recently_played").fetchone()
    return row[0] if row else None


def api_last_play(port: int, key: str) -> datetime | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/history/coverage?days=2", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            body = json.loads(answer.read())
    except OSError:
        return None  # 503 until the first build, or the server is starting
    last = body.get("by_source", {}).get("api", {}).get("last_play")
    return datetime.fromisoformat(last) if last else None


def finished_runs(instance: Any, job_name: str | None, after: float) -> list[Any]:
    import dagster as dg

    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=50
    )
    return sorted((r for r in records if (r.end_time or 0) > after), key=lambda r: r.end_time)


def started_runs(instance: Any, after: float) -> list[Any]:
    """Runs of any status that started after `after`, oldest first."""
    records = instance.get_run_records(limit=50)
    return sorted((r for r in records if (r.start_time or 0) > after), key=lambda r: r.start_time)


def measure(polls: int, poll_interval: int, timeout: float, wait_quiet: float) -> list[dict[str, Any]]:
    import dagster as dg
    import psycopg

    from orchestration import users
    from orchestration.cli.run import prepare_services
    from orchestration.db import app_database_url, embedded

    home = Path(os.environ["SPOTIFY_HISTORY_HOME"])
    dagster_home = prepare_services()
    url = app_database_url()
    with psycopg.connect(url, autocommit=True) as conn:
        users.add(conn, USER, "Europe/Berlin")
    fake = start_fake_spotify()
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "POLL_INTERVAL_SECONDS": str(poll_interval)}
    key = subprocess.run(
        [cli("spotify-history"), "api-key", "create", "--user", USER],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = free_port()
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    code = ["-m", "orchestration.definitions"]
    procs = [
        subprocess.Popen(
            [cli("dagster-daemon"), "run", *code],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(logs / "daemon.log").open("w"),
            start_new_session=True,
        ),
        subprocess.Popen(
            [cli("spotify-history"), "serve-api", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stderr=(logs / "api.log").open("w"),
        ),
    ]
    results: list[dict[str, Any]] = []
    try:
        with (
            dg.DagsterInstance.from_config(str(dagster_home)) as instance,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            meter = CpuMeter(procs[1].pid, int((home / "postgres" / "postmaster.pid").read_text().split()[0]))
            deadline = time.monotonic() + timeout
            # The first poll is the initial sync after the login, and its build the first one (every
            # table created): measured are the polls after the API has answered once.
            while api_last_play(port, key) is None:
                if time.monotonic() > deadline:
                    raise SystemExit("timed out: the API never answered with the initial sync's plays")
                time.sleep(1)
            seen = time.time()
            deadline = time.monotonic() + timeout  # from here: for each poll
            while len(results) < polls and time.monotonic() < deadline:
                runs = finished_runs(instance, POLL_JOB, seen)
                if not runs:
                    time.sleep(0.5)
                    continue
                poll = runs[0]
                seen = poll.end_time
                newest = newest_stored_play(conn)
                visible = api_last_play(port, key)
                if newest is None or (visible is not None and visible >= newest):
                    continue  # stored nothing new (or it is already visible: an earlier build took it)
                meter.start()
                while (visible := api_last_play(port, key)) is None or visible < newest:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"timed out: the API never showed the play of {newest}")
                    time.sleep(0.25)
                shown = time.time()
                # The build that showed them: the first run after the poll that is not a poll (the API
                # sees a build's marts as soon as it has written sync_status, before the run ends).
                build = next(
                    (
                        r
                        for r in started_runs(instance, poll.end_time)
                        if r.dagster_run.job_name != POLL_JOB and r.start_time and r.start_time <= shown
                    ),
                    None,
                )
                results.append(
                    {
                        "poll_run": poll.dagster_run.run_id,
                        "newest_play": newest.isoformat(),
                        "seconds": round(shown - poll.end_time, 1),
                        "to_build_start": round(build.start_time - poll.end_time, 1) if build else None,
                        "build_start_to_api": round(shown - build.start_time, 1) if build else None,
                        "cores": meter.cores(),
                    }
                )
                print(line(results[-1]), flush=True)
                seen = shown
                deadline = time.monotonic() + timeout
                if wait_quiet:
                    meter.wait_quiet(wait_quiet)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(procs[0].pid, signal.SIGTERM)
        procs[1].terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        time.sleep(2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(procs[0].pid, signal.SIGKILL)  # what the daemon's runs left behind
        fake.stop()
        embedded.stop(home / "postgres")
    return results


def line(r: dict[str, Any]) -> str:
    met = "met" if r["seconds"] <= TARGET_SECONDS else "MISSED"
    return (
        f"poll {r['poll_run'][:8]}: plays visible {r['seconds']:>5} s after the poll run ended "
        f"(target ≤ {TARGET_SECONDS:.0f} s: {met}) = sensor + launch {r['to_build_start']} s, "
        f"build start → API {r['build_start_to_api']} s; cores api/pg/other "
        f"{r['cores']['api']}/{r['cores']['postgres']}/{r['cores']['other']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, default=3, help="polls that store plays to measure")
    parser.add_argument("--poll-interval", type=int, default=90, help="POLL_INTERVAL_SECONDS of the run (s)")
    parser.add_argument(
        "--timeout", type=float, default=1200, help="give up waiting for the first answer, or for a poll, after SECONDS"
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0.0, metavar="SECONDS",
        help="after each measurement, wait up to SECONDS until other work uses < 0.25 cores",
    )  # fmt: skip
    parser.add_argument("--keep-home", action="store_true", help="keep the throwaway SPOTIFY_HISTORY_HOME")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))  # still stop what was started
    home = Path(tempfile.mkdtemp(prefix="freshness-bench-"))
    os.environ["SPOTIFY_HISTORY_HOME"] = str(home)
    for name in ("DATABASE_URL", "DAGSTER_HOME", "API_DATABASE_URL", "DAGSTER_DATABASE_URL"):
        os.environ.pop(name, None)
    try:
        results = measure(args.polls, args.poll_interval, args.timeout, args.wait_quiet)
    finally:
        if not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)
    worst = max((r["seconds"] for r in results), default=None)
    print(
        f"\nworst of {len(results)} polls: {worst} s (target ≤ {TARGET_SECONDS:.0f} s: "
        f"{'met' if worst is not None and worst <= TARGET_SECONDS else 'MISSED'})"
    )
    summary = {
        "benchmark": "freshness",
        "target_seconds": TARGET_SECONDS,
        "poll_interval_seconds": args.poll_interval,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": datetime.now(UTC).isoformat(),
        "results": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
