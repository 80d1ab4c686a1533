#!/usr/bin/env python
"""Benchmark of Dagster's run history over a month of polls: storage per day with and without pruning.

    .venv/bin/python benchmarks/run_history_benchmark.py                        # 30 days × 144 polls, keep 7
    .venv/bin/python benchmarks/run_history_benchmark.py --days 10 --polls-per-day 24 --keep-days 3

One listener linked to the fake Spotify (orchestration/demo/spotify.py, which keeps playing), polled through
the real Dagster instance of a home of its own (benchmarks/out/run-history-*, made anew each time): every poll
is a real `spotify_sync` run, in this process as `spotify-history poll` runs it, with its event log in the
`dagster` database and its compute logs under DAGSTER_HOME/storage. Time is compressed: a "day" is the
polls_per_day runs made one after the other; with pruning, the end of each day deletes the runs of the days
before the last keep_days (orchestration/maintenance/prune.py, `prune_before` with that day's boundary —
what the daily prune_run_history job does with RUN_RETENTION_DAYS). Printed per day and mode: runs kept, the
`dagster` database's size (pg_database_size: space freed by deletes is reused, so it stops growing rather
than shrinks) and the compute logs' size. Sensor ticks and automation evaluations are not made here (no
daemon runs): the daemon purges those itself (dagster.yaml `retention:`).

Prints one line per day and mode and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
USER = "bench"


def _bytes_under(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def child(days: int, polls_per_day: int, keep_days: int, prune: bool) -> None:
    """One mode, in the home SPOTIFY_HISTORY_HOME points at (a process of its own: settings are per home)."""
    from orchestration import users
    from orchestration.cli.in_process import run_spotify_sync
    from orchestration.db import connect, ensure_schema
    from orchestration.demo.spotify import link_demo_user, start_demo_spotify
    from orchestration.instance import get_instance
    from orchestration.maintenance.prune import prune_before

    ensure_schema()
    fake, _ = start_demo_spotify()
    with connect() as conn:
        users.add(conn, USER, "Europe/Berlin")
        conn.commit()
    link_demo_user(USER)
    instance = get_instance()
    storage = Path(os.environ["DAGSTER_HOME"]) / "storage"
    day_ends: list[datetime] = []
    try:
        for day in range(1, days + 1):
            started = time.monotonic()
            for _ in range(polls_per_day):
                run_spotify_sync(USER)
            day_ends.append(datetime.now(UTC))
            if prune and day > keep_days:
                cutoff = day_ends[day - keep_days - 1]
                prune_before(instance, cutoff, cutoff)
            with connect() as conn:
                (size,) = conn.execute("select pg_database_size('dagster')").fetchone() or (0,)
            runs = len(instance.get_run_records())
            print(
                json.dumps(
                    {
                        "day": day,
                        "runs": runs,
                        "dagster_db_bytes": size,
                        "compute_log_bytes": _bytes_under(storage),
                        "seconds": round(time.monotonic() - started, 1),
                    }
                ),
                flush=True,
            )
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--polls-per-day", type=int, default=144, help="polls per simulated day (the default interval: 144)"
    )
    parser.add_argument("--keep-days", type=int, default=7, help="days of runs the pruning mode keeps")
    parser.add_argument("--child", choices=["prune", "keep"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.days, args.polls_per_day, args.keep_days, args.child == "prune")
        return
    results: dict[str, list[dict[str, Any]]] = {}
    for mode in ("keep", "prune"):
        home = OUT / f"run-history-{mode}"
        shutil.rmtree(home, ignore_errors=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY_", "DAGSTER_", "PG", "POLL_"))}
        env.pop("DATABASE_URL", None)
        env["SPOTIFY_HISTORY_HOME"] = str(home)
        command = [sys.executable, __file__, "--child", mode, "--days", str(args.days),
                   "--polls-per-day", str(args.polls_per_day), "--keep-days", str(args.keep_days)]  # fmt: skip
        rows = []
        with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                row = json.loads(line)
                rows.append(row)
                print(
                    f"{'with pruning' if mode == 'prune' else 'no pruning  '} day {row['day']:>3}: "
                    f"{row['runs']:>6} runs, dagster db {row['dagster_db_bytes'] / 2**20:8.1f} MB, "
                    f"compute logs {row['compute_log_bytes'] / 2**20:7.1f} MB  ({row['seconds']} s)",
                    flush=True,
                )
        if proc.returncode:
            sys.exit(f"{mode}: the run failed ({proc.returncode})")
        subprocess.run([str(Path(sys.executable).with_name("spotify-history")), "db", "stop"], env=env, check=False)
        results[mode] = rows
    print(json.dumps({"days": args.days, "polls_per_day": args.polls_per_day, "keep_days": args.keep_days, **results}))


if __name__ == "__main__":
    main()
