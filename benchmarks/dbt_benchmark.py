#!/usr/bin/env python
"""Benchmark of the dbt build: a full build over ~1 M plays, then an incremental build after 50 new plays.

    .venv/bin/python benchmarks/dbt_benchmark.py                        # 1.7 M records ≈ 1 M plays
    .venv/bin/python benchmarks/dbt_benchmark.py --records 200000       # smaller, quicker
    .venv/bin/python benchmarks/dbt_benchmark.py --wait-quiet 600       # wait for an idle machine first

The raw data is the synthetic export of import_benchmark.py (Spotify's layout, podcasts, audiobooks,
skips, incognito and duplicate rows: about 59 % of the records are plays), imported for one user with
the real importer. It lives in a kept SPOTIFY_HISTORY_HOME (benchmarks/out/dbt-home, or --home), so a
second run skips generation and import. Each run then times, as `dbt` child processes:

* full build: `dbt build --full-refresh` (every model rebuilt from scratch, and every dbt data test);
* incremental build after a poll: 50 new plays stored as a poll of Spotify's API stores them
  (raw.api_recently_played), then `dbt build` — what the refresh_marts sensor runs after a poll;
* incremental build after an import: 50 new plays in a small Streaming_History_Audio file, imported
  like any export, then `dbt build`;
* no-op build: `dbt build` again with nothing new.

Every build runs what a refresh runs (orchestration.defs.dbt.assets.BUILD_ARGS: data tests, no unit tests).
dbt's run_results.json splits each build into model and test time and names the slowest nodes. Each
incremental build is checked: the marts must count exactly 50 more plays afterwards. The output is
readable lines and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from import_benchmark import OUT, REPO, Meter, benchmark_home, code_version, ensure_export, machine, wait_until_quiet

TARGET_FULL_SECONDS = 60
TARGET_INCREMENTAL_SECONDS = 15
USER = "bench-dbt"
PROJECT = REPO / "dbt_project"
TARGET_PATH = OUT / "dbt-target"  # not dbt_project/target: the manifest Dagster reads stays untouched
DBT = str(Path(sys.executable).with_name("dbt"))


def ensure_raw_data(records: int, seed: int) -> int:
    """The user's raw rows: the synthetic export imported once. Returns the raw row count."""
    from orchestration import users
    from orchestration.db import connect
    from orchestration.loading.importer import import_path

    with connect() as conn:
        if conn.execute("select 1 from app.users where name = %s", (USER,)).fetchone() is None:
            users.add(conn, USER, "Europe/Berlin")
        (have,) = conn.execute(
            "select count(*) from raw.extended_streams s join app.users u using (user_id) where u.name = %s", (USER,)
        ).fetchone() or (0,)
    if have == 0:
        export = ensure_export(records, seed, single_file=False)
        print(f"importing {export.name} for {USER} ...", flush=True)
        import_path(export, USER)
        with connect() as conn:
            conn.execute("analyze")
            conn.commit()
        return ensure_raw_data(records, seed)
    return int(have)


def _known_tracks() -> tuple[datetime, list[dict[str, Any]]]:
    """The user's last stream and some tracks of their history (so new plays are of known artists)."""
    from orchestration.db import connect

    with connect() as conn:
        last, tracks = conn.execute(
            """
            select max(s.ts),
                   (select jsonb_agg(t) from (
                       select distinct master_metadata_track_name as track, master_metadata_album_artist_name as artist,
                              master_metadata_album_album_name as album, spotify_track_uri as uri
                       from raw.extended_streams e
                       where e.user_id = u.user_id and spotify_track_uri is not null
                       limit 200) t)
            from raw.extended_streams s join app.users u using (user_id)
            where u.name = %s group by u.user_id
            """,
            (USER,),
        ).fetchone() or (None, None)
    assert last is not None and tracks, "no raw data for the benchmark user"
    return last, tracks


def _new_play_times(count: int) -> list[datetime]:
    """After everything stored so far (the last poll or import), 4 minutes apart."""
    from orchestration.db import connect

    with connect() as conn:
        (newest,) = conn.execute(
            """
            select greatest((select max(ts) from raw.extended_streams),
                            (select max(played_at) from raw.api_recently_played))
            """
        ).fetchone() or (None,)
    start = max(newest or datetime.now(UTC), datetime.now(UTC) - timedelta(days=2)) + timedelta(minutes=5)
    return [start + timedelta(minutes=4 * i) for i in range(count)]


def poll_new_plays(count: int) -> None:
    """`count` plays as a poll of Spotify's recently-played endpoint stores them (raw.api_recently_played)."""
    from orchestration.db import connect
    from orchestration.spotify.models import PlayHistory
    from orchestration.spotify.storage import finish_sync, start_sync, store_plays

    _, tracks = _known_tracks()
    items = []
    for i, played_at in enumerate(_new_play_times(count)):
        track = tracks[(i * 7) % len(tracks)]
        track_id = track["uri"].rsplit(":", 1)[-1]
        items.append(
            PlayHistory.model_validate(
                {
                    "played_at": played_at.isoformat(),
                    "track": {
                        "id": track_id,
                        "uri": track["uri"],
                        "name": track["track"],
                        "duration_ms": 200_000,
                        "artists": [{"name": track["artist"]}],
                        "album": {"name": track["album"]},
                    },
                }
            )
        )
    with connect(autocommit=True) as conn:
        (user_id,) = conn.execute("select user_id from app.users where name = %s", (USER,)).fetchone() or (0,)
        sync = start_sync(conn, user_id=user_id, kind="poll", partition_key=None, run_id=None)
        sync.saw(items)
        sync.inserted = store_plays(conn, user_id, sync.sync_id, items)
        sync.status = "succeeded"
        finish_sync(conn, sync)
    assert sync.inserted == count, f"stored {sync.inserted} of {count} polled plays"


def import_new_plays(count: int) -> None:
    """`count` plays in a small Streaming_History_Audio file, imported like any export."""
    from orchestration.loading.importer import import_path

    _, tracks = _known_tracks()
    records = []
    for i, ts in enumerate(_new_play_times(count)):
        track = tracks[(i * 7) % len(tracks)]
        records.append(
            {
                "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "platform": "android",
                "ms_played": 180_000,
                "conn_country": "DE",
                "master_metadata_track_name": track["track"],
                "master_metadata_album_artist_name": track["artist"],
                "master_metadata_album_album_name": track["album"],
                "spotify_track_uri": track["uri"],
                "episode_name": None,
                "episode_show_name": None,
                "spotify_episode_uri": None,
                "reason_start": "trackdone",
                "reason_end": "trackdone",
                "shuffle": False,
                "skipped": False,
                "offline": False,
                "offline_timestamp": None,
                "incognito_mode": False,
            }
        )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"Streaming_History_Audio_{records[0]['ts'][:4]}_new.json"
        path.write_text(json.dumps(records))
        import_path(path, USER)


def marts_plays() -> int:
    from orchestration.db import connect

    with connect() as conn:
        row = conn.execute(
            "select plays from marts.sync_status m join app.users u using (user_id) where u.name = %s", (USER,)
        ).fetchone()
    return int(row[0]) if row else 0


def dbt_build(*extra: str) -> dict[str, Any]:
    """One `dbt build` as a child process: wall and CPU time, and run_results' model/test split."""
    from orchestration.db import libpq_env
    from orchestration.defs.dbt.assets import BUILD_ARGS  # what a refresh runs: no unit tests

    cmd = [DBT, *BUILD_ARGS, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT)]
    cmd += ["--target-path", str(TARGET_PATH), "--log-path", str(OUT / "dbt-logs"), *extra]
    with tempfile.TemporaryFile("w+") as log, Meter(resource.RUSAGE_CHILDREN) as meter:
        done = subprocess.run(cmd, cwd=PROJECT, env={**os.environ, **libpq_env()}, stdout=log, stderr=log)
        if done.returncode != 0:
            log.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed:\n{log.read()[-6000:]}")
    results = json.loads((TARGET_PATH / "run_results.json").read_text())["results"]

    def seconds(kind: str) -> float:
        return round(sum(r["execution_time"] for r in results if r["unique_id"].split(".")[0] == kind), 2)

    slowest = sorted(results, key=lambda r: -r["execution_time"])[:6]
    return {
        "seconds": round(meter.seconds, 2),
        "models_seconds": seconds("model"),
        "tests_seconds": seconds("test") + seconds("unit_test"),
        "nodes": len(results),
        "slowest": [{"node": r["unique_id"].split(".")[-1], "seconds": round(r["execution_time"], 2)} for r in slowest],
        "dbt_cpu_seconds": round(meter.python_cpu, 2),
        "postgres_cpu_seconds": None if meter.postgres_cpu is None else round(meter.postgres_cpu, 2),
        "other_cpu_seconds": round(meter.other_cpu, 2),
    }


def report(result: dict[str, Any]) -> None:
    print(f"\n{result['plays']:,} plays ({result['raw_rows']:,} raw rows) — commit {result['commit']}")
    parts = (
        ("full", TARGET_FULL_SECONDS),
        ("incremental_poll", TARGET_INCREMENTAL_SECONDS),
        ("incremental_import", TARGET_INCREMENTAL_SECONDS),
        ("noop", None),
    )
    for part, target in parts:
        f = result[part]
        verdict = "" if target is None else f"  target < {target} s: {'met' if f['seconds'] < target else 'MISSED'}"
        print(
            f"{part:>18}: {f['seconds']:7.2f} s (models {f['models_seconds']:.2f} s, tests {f['tests_seconds']:.2f} s"
            f" summed over threads); CPU dbt {f['dbt_cpu_seconds']} / postgres {f['postgres_cpu_seconds']}"
            f" / other {f['other_cpu_seconds']} s{verdict}"
        )
        print(" " * 20 + "slowest: " + ", ".join(f"{n['node']} {n['seconds']} s" for n in f["slowest"]))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_700_000, help="synthetic export records (≈ 59 %% plays)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--new-plays", type=int, default=50)
    parser.add_argument("--home", type=Path, default=OUT / "dbt-home", help="SPOTIFY_HISTORY_HOME, kept")
    parser.add_argument("--wait-quiet", type=float, default=0, help="wait up to this many seconds for an idle machine")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    with benchmark_home(args.home, keep=True):
        raw_rows = ensure_raw_data(args.records, args.seed)
        quiet = (lambda: wait_until_quiet(args.wait_quiet)) if args.wait_quiet else (lambda: None)
        quiet()
        print("full build ...", flush=True)
        full = dbt_build("--full-refresh")
        incremental = {}
        for kind, add in (("poll", poll_new_plays), ("import", import_new_plays)):
            before = marts_plays()
            add(args.new_plays)
            quiet()
            print(f"incremental build after {args.new_plays} new plays ({kind}) ...", flush=True)
            incremental[kind] = dbt_build()
            if marts_plays() - before != args.new_plays:
                raise SystemExit(f"incremental build ({kind}): {marts_plays() - before} new plays in the marts")
        quiet()
        noop = dbt_build()
        result = {
            "commit": code_version(),
            "machine": machine(),
            "raw_rows": raw_rows,
            "plays": marts_plays(),
            "full": full,
            "incremental_poll": incremental["poll"],
            "incremental_import": incremental["import"],
            "noop": noop,
        }
    report(result)


if __name__ == "__main__":
    main()
