#!/usr/bin/env python
"""Benchmark of the dbt builds: issue 12's dbt rows, each printed with its target and met/missed.

    .venv/bin/python benchmarks/dbt_benchmark.py                        # 1.7 M records ≈ 1 M plays
    .venv/bin/python benchmarks/dbt_benchmark.py --records 200000       # smaller, quicker
    .venv/bin/python benchmarks/dbt_benchmark.py --wait-quiet 600       # wait for an idle machine first
    .venv/bin/python benchmarks/dbt_benchmark.py --large                # 10 users × 1 M raw rows, one build

The raw data of the 1 M run is the synthetic export of import_benchmark.py (Spotify's layout, podcasts,
audiobooks, skips, incognito and duplicate rows: about 59 % of the records are plays), split between two
listeners (the importer refuses end times before 2006, and one export of 1.7 M records would reach back
to 2003) and imported with the real importer. It lives in a kept SPOTIFY_HISTORY_HOME
(benchmarks/out/dbt-home, or --home), so a second run skips generation and import. Each run then times,
as `dbt` child processes:

* full build: `dbt build --full-refresh` (every model rebuilt from scratch, and every dbt data test),
  target ≤ 60 s; beside it the floor: every raw row read through int_streams_unioned and written once;
* incremental build after a poll: 50 new plays stored as a poll of Spotify's API stores them
  (raw.api_recently_played, app.spotify_syncs), then `dbt build --select` of what the refresh_marts
  automation requests after a poll (the models downstream of those two assets in the Dagster asset
  graph, with their tests), target ≤ 8 s; beside it the no-op build below;
* incremental build after an import: 50 new plays in a small Streaming_History_Audio file, imported
  like any export, then `dbt build --select` of what the automation requests after an import;
* no-op build: `dbt build` of the whole project again with nothing new (dbt's fixed cost).

--large generates 10 listeners × 1 M raw rows with api_benchmark.py's SQL generator (its own home,
benchmarks/out/dbt-home-large) and times ONE `dbt build` over all of them: target ≤ 10 min, temporary
files < 2 GB (pg_stat_database.temp_bytes), and ≤ 12 × the 1 M full build of the last 1 M run
(benchmarks/out/dbt-benchmark-1m.json): linear in rows.

Every build runs what a refresh runs (orchestration.defs.dbt.assets.BUILD_ARGS: data tests, no unit tests).
dbt's run_results.json splits each build into model and test time and names the slowest nodes; a part
during which other processes used more than a quarter of a core is flagged NOISY. Each incremental
build is checked: the marts must count exactly 50 more plays afterwards. The output is readable lines
and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from import_benchmark import BUSY_CORES, OUT, REPO, Meter, benchmark_home, code_version, machine, wait_until_quiet

# Issue 12's targets (benchmarks/README.md, "dbt builds").
TARGET_FULL_SECONDS = 60  # dbt build --full-refresh, 1 M plays
TARGET_INCREMENTAL_SECONDS = 8  # dbt build after a poll of 50 plays, 1 M plays stored
TARGET_LARGE_SECONDS = 600  # one dbt build over 10 M raw rows of 10 users
TARGET_LARGE_TEMP_MB = 2048  # ... writing less than this to temporary files
LINEAR_FACTOR = 12  # ... and within this factor of the 1 M full build (linear in rows)
USER = "bench-dbt"  # the listener whose new plays the incremental builds process
USERS = ((USER, "Europe/Berlin"), ("bench-dbt-2", "America/New_York"))
PROJECT = REPO / "dbt_project"
LAST_1M = OUT / "dbt-benchmark-1m.json"  # the last 1 M run, for --large's linearity check
TARGET_PATH = OUT / "dbt-target"  # not dbt_project/target: the manifest Dagster reads stays untouched
DBT = str(Path(sys.executable).with_name("dbt"))


def recent_export(records: int, seed: int) -> Path:
    """import_benchmark's synthetic export, ending a day before now (generated once, cached).

    The importer refuses end times before 2006 or after tomorrow, and the generator's streams are
    ~430 s apart: one export spans at most ~1.5 M records, so the benchmark's records are split
    between USERS listeners.
    """
    target = OUT / f"export-{records}-seed{seed}-recent.zip"
    if not target.exists():
        partial = target.with_name(f".tmp-{target.name}")
        partial.unlink(missing_ok=True)
        print(f"generating {records:,} records into {target.relative_to(REPO)} ...", flush=True)
        cmd = [sys.executable, "-m", "orchestration.demo.synthetic_export", "--out", str(partial), "--recent"]
        subprocess.run([*cmd, "--records", str(records), "--seed", str(seed)], check=True, cwd=REPO)
        partial.rename(target)
    return target


def ensure_raw_data(records: int, seed: int) -> int:
    """The listeners' raw rows: one synthetic export each, imported once. Returns the raw row count."""
    from orchestration import users
    from orchestration.db import connect
    from orchestration.imports.importer import import_path

    for i, (name, zone) in enumerate(USERS):
        with connect() as conn:
            if conn.execute("select 1 from app.users where name = %s", (name,)).fetchone() is None:
                users.add(conn, name, zone)
            (have,) = conn.execute(
                "select count(*) from raw.extended_streams s join app.users u using (user_id) where u.name = %s",
                (name,),
            ).fetchone() or (0,)
        if have == 0:
            export = recent_export(records // len(USERS), seed + i)
            print(f"importing {export.name} for {name} ...", flush=True)
            import_path(export, name)
    with connect() as conn:
        conn.execute("analyze")
        conn.commit()
        (total,) = conn.execute("select count(*) from raw.extended_streams").fetchone() or (0,)
    return int(total)


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


def forget_added_plays() -> None:
    """Remove the plays earlier runs added after their full build (all API rows, the `_new` imports'
    rows), so that each run's new plays start two days back again instead of drifting past now (the
    importer refuses end times after tomorrow). The full build that follows rebuilds from the rest."""
    from orchestration.db import connect, ensure_schema

    ensure_schema()
    with connect() as conn, conn.transaction():
        conn.execute("delete from raw.api_recently_played")
        conn.execute(
            "delete from raw.extended_streams where import_id in "
            "(select import_id from app.imports where source_name like 'Streaming_History_Audio_%%_new.json')"
        )


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
                        # Spotify gives most tracks an ISRC (stg_spotify__api_recently_played tests it).
                        "external_ids": {"isrc": f"QZBENCH{track_id[-5:].upper()}"},
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
    from orchestration.imports.importer import import_path

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


def marts_plays(users: str = "bench-dbt%") -> int:
    """Plays in the marts of the benchmark's listeners (user names LIKE `users`)."""
    from orchestration.db import connect

    with connect() as conn:
        row = conn.execute(
            "select sum(plays) from marts.sync_status m join app.users u using (user_id) where u.name like %s", (users,)
        ).fetchone()
    return int(row[0] or 0) if row else 0


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


def automation_selection(*changed: Any) -> list[str]:
    """The dbt models the refresh_marts automation requests when `changed` (asset keys) were
    materialized: everything downstream of them (eager conditions). What runs after a poll or an import."""
    import dagster as dg

    from orchestration.definitions import defs

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    dbt_keys = set(definitions.resolve_assets_def(dg.AssetKey(["marts", "sync_status"])).keys)
    downstream = dg.AssetSelection.assets(*changed).downstream().resolve(graph)
    return sorted(key.path[-1] for key in downstream & dbt_keys)


def temp_bytes() -> int:
    """Bytes Postgres has written to temporary files in this database so far (sorts and hashes that spilled)."""
    from orchestration.db import connect

    time.sleep(1.0)  # backends report their statistics within a second of finishing
    with connect() as conn:
        row = conn.execute("select temp_bytes from pg_stat_database where datname = current_database()").fetchone()
    return int(row[0]) if row else 0


def scan_and_write_seconds() -> float:
    """The floor of a full build: every raw row read through int_streams_unioned and written once."""
    from orchestration.db import connect

    with connect() as conn:
        started = time.perf_counter()
        conn.execute("create temp table floor_copy as select * from intermediate.int_streams_unioned")
        elapsed = time.perf_counter() - started
        conn.rollback()
    return round(elapsed, 2)


def timed_build(*extra: str) -> dict[str, Any]:
    """dbt_build with the temporary files Postgres wrote meanwhile."""
    before = temp_bytes()
    result = dbt_build(*extra)
    result["temp_mb"] = round((temp_bytes() - before) / 1024**2, 1)
    return result


def noisy(part: dict[str, Any]) -> bool:
    """Other work used more than BUSY_CORES on average during the part."""
    return part["other_cpu_seconds"] > BUSY_CORES * part["seconds"]


def verdict(value: float, limit: float) -> str:
    return "met" if value <= limit else "MISSED"


def report_part(name: str, f: dict[str, Any], target: str) -> None:
    temp = f" temp files {f['temp_mb']} MB;" if "temp_mb" in f else ""
    print(
        f"{name}: {f['seconds']:.2f} s — {target}{'  [NOISY]' if noisy(f) else ''}\n"
        f"    models {f['models_seconds']:.2f} s, tests {f['tests_seconds']:.2f} s (summed over threads), "
        f"{f['nodes']} nodes;{temp} CPU dbt {f['dbt_cpu_seconds']} / postgres {f['postgres_cpu_seconds']}"
        f" / other {f['other_cpu_seconds']} s\n"
        "    slowest: " + ", ".join(f"{n['node']} {n['seconds']} s" for n in f["slowest"])
    )


def report(result: dict[str, Any]) -> None:
    print(f"\n{result['plays']:,} plays ({result['raw_rows']:,} raw rows) — commit {result['commit']}")
    full, poll = result["full"], result["incremental_poll"]
    report_part(
        "full build (--full-refresh), 1 M plays",
        full,
        f"target ≤ {TARGET_FULL_SECONDS} s: {verdict(full['seconds'], TARGET_FULL_SECONDS)}"
        f" (floor: reading and writing every raw row once {result['scan_and_write_seconds']} s)",
    )
    report_part(
        f"incremental build after a poll of {result['new_plays']} plays",
        poll,
        f"target ≤ {TARGET_INCREMENTAL_SECONDS} s: {verdict(poll['seconds'], TARGET_INCREMENTAL_SECONDS)}"
        f" (floor: the no-op build {result['noop']['seconds']} s)",
    )
    report_part(f"incremental build after an import of {result['new_plays']} plays", result["incremental_import"], "—")
    report_part("no-op build", result["noop"], "dbt's fixed cost")
    print(json.dumps(result))


def report_large(result: dict[str, Any]) -> None:
    build = result["build"]
    print(f"\n{result['raw_rows']:,} raw rows, {result['users']} users — commit {result['commit']}")
    linear = result["one_million_full_seconds"]
    linear_text = (
        "no 1 M figure yet (run the 1 M benchmark first)"
        if linear is None
        else f"≤ {LINEAR_FACTOR} × the 1 M full build ({linear} s → {LINEAR_FACTOR * linear:.0f} s): "
        + verdict(build["seconds"], LINEAR_FACTOR * linear)
    )
    report_part(
        "full build, one `dbt build`",
        build,
        f"target ≤ {TARGET_LARGE_SECONDS} s: {verdict(build['seconds'], TARGET_LARGE_SECONDS)};"
        f" temp files < {TARGET_LARGE_TEMP_MB} MB: {verdict(build['temp_mb'], TARGET_LARGE_TEMP_MB)};"
        f" {linear_text} (floor: reading and writing every raw row once {result['scan_and_write_seconds']} s)",
    )
    print(json.dumps(result))


def generate_large(users: int, rows_per_user: int) -> int:
    """`users` listeners × `rows_per_user` raw rows, generated in SQL by api_benchmark's generator."""
    import psycopg
    from api_benchmark import ZONES, _generate, user_name

    from orchestration import users as app_users
    from orchestration.db import app_database_url

    with psycopg.connect(app_database_url(), autocommit=True) as conn:
        for i in range(1, users + 1):
            name = user_name(i)
            existing = conn.execute("select user_id from app.users where name = %s", (name,)).fetchone()
            user = app_users.get(conn, name) if existing else app_users.add(conn, name, ZONES[(i - 1) % len(ZONES)])
            (have,) = conn.execute(
                "select count(*) from raw.extended_streams where user_id = %s", (user.user_id,)
            ).fetchone() or (0,)
            if have != rows_per_user:
                _generate(conn, user.user_id, name, rows_per_user, seed=i)
        conn.execute("vacuum analyze")
        (total,) = conn.execute("select count(*) from raw.extended_streams").fetchone() or (0,)
    return int(total)


def main_large(args: argparse.Namespace) -> None:
    """--large: USERS_LARGE listeners, ~10 M raw rows, one `dbt build` from scratch."""
    from orchestration.db import connect

    with benchmark_home(args.home or OUT / "dbt-home-large", keep=True):
        raw_rows = generate_large(args.large_users, args.large_rows_per_user)
        with connect() as conn:
            built = conn.execute("select to_regclass('intermediate.int_streams')").fetchone() != (None,)
        if args.wait_quiet:
            wait_until_quiet(args.wait_quiet)
        print(f"one dbt build over {raw_rows:,} raw rows ...", flush=True)
        build = timed_build(*(["--full-refresh"] if built else []))
        one_million = json.loads(LAST_1M.read_text())["full"]["seconds"] if LAST_1M.exists() else None
        result = {
            "commit": code_version(),
            "machine": machine(),
            "raw_rows": raw_rows,
            "users": args.large_users,
            "plays": marts_plays("bench%"),
            "build": build,
            "one_million_full_seconds": one_million,
            "scan_and_write_seconds": scan_and_write_seconds(),
        }
    report_large(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_700_000, help="synthetic export records (≈ 59 %% plays)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--new-plays", type=int, default=50)
    parser.add_argument(
        "--home", type=Path, help="SPOTIFY_HISTORY_HOME, kept (default benchmarks/out/dbt-home[-large])"
    )
    parser.add_argument("--wait-quiet", type=float, default=0, help="wait up to this many seconds for an idle machine")
    parser.add_argument("--large", action="store_true", help="10 users × 1 M raw rows generated in SQL, one dbt build")
    parser.add_argument("--large-users", type=int, default=10)
    parser.add_argument("--large-rows-per-user", type=int, default=1_000_000)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.large:
        main_large(args)
        return

    with benchmark_home(args.home or OUT / "dbt-home", keep=True):
        forget_added_plays()
        raw_rows = ensure_raw_data(args.records, args.seed)
        quiet = (lambda: wait_until_quiet(args.wait_quiet)) if args.wait_quiet else (lambda: None)
        quiet()
        print("full build ...", flush=True)
        full = timed_build("--full-refresh")
        from orchestration.defs.imports.assets import RAW_EXPORT_KEYS
        from orchestration.defs.shared.keys import API_PLAYS, APP_IMPORTS, APP_SYNCS

        incremental = {}
        for kind, add, changed in (
            ("poll", poll_new_plays, (API_PLAYS, APP_SYNCS)),
            ("import", import_new_plays, (*RAW_EXPORT_KEYS.values(), APP_IMPORTS)),
        ):
            before = marts_plays()
            add(args.new_plays)
            quiet()
            print(f"incremental build after {args.new_plays} new plays ({kind}) ...", flush=True)
            incremental[kind] = timed_build("--select", *automation_selection(*changed))
            if marts_plays() - before != args.new_plays:
                raise SystemExit(f"incremental build ({kind}): {marts_plays() - before} new plays in the marts")
        quiet()
        noop = timed_build()
        result = {
            "commit": code_version(),
            "machine": machine(),
            "raw_rows": raw_rows,
            "plays": marts_plays(),
            "new_plays": args.new_plays,
            "full": full,
            "incremental_poll": incremental["poll"],
            "incremental_import": incremental["import"],
            "noop": noop,
            "scan_and_write_seconds": scan_and_write_seconds(),
        }
    LAST_1M.write_text(json.dumps(result))
    report(result)


if __name__ == "__main__":
    main()
