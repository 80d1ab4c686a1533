#!/usr/bin/env python
"""Benchmark of the API: per tool p50/p99 latency and requests/s, one uvicorn worker, 10 M plays.

    .venv/bin/python benchmarks/api_benchmark.py                 # prepare (once) + measure
    .venv/bin/python benchmarks/api_benchmark.py --prepare-only  # only generate + build the marts
    .venv/bin/python benchmarks/api_benchmark.py --seconds 5     # shorter measurements
    .venv/bin/python benchmarks/api_benchmark.py --plays-per-user 20000 --home /tmp/api-bench-small  # a quick try
    .venv/bin/python benchmarks/api_benchmark.py --stdio-only    # only the stdio server's start-up
    .venv/bin/python benchmarks/api_benchmark.py --no-cache --only history.skips  # some tools only

Data: 10 users × 1 M synthetic plays (plus 10 % streams that are not plays: skips, podcasts), ending
now, over ~15 years. The raw rows are generated in SQL (generate_series into raw.extended_streams,
a Zipf-like catalogue of 3 000 artists × 40 tracks, one registry row per user) and the marts are built
by dbt (`dbt run` after each user: incremental, as in production): nothing is written into the marts
directly. All of it lives in
its own SPOTIFY_HISTORY_HOME (benchmarks/out/api-home, kept between runs: the build takes a while).

Measurement: `spotify-history serve-api` (one uvicorn worker, the read-only role, JSON access logs to a
file, rate limit off) on 127.0.0.1, and a load generator in a separate process: plain asyncio HTTP/1.1
keep-alive connections, each request with the key of one of the 10 users in turn, default arguments
(days=90, limit=10) unless a variant says otherwise. Per tool two runs:

* latency: 1 connection, one request after the other → p50 / p99;
* throughput: 8 connections → requests/s (and the p50 / p99 under that load).

The API caches answers until the next marts build (API_CACHE_ENTRIES). The load repeats the same
requests, so with the cache on (default) the timed runs measure warm answers; --no-cache measures
every request against Postgres.

Stdio start-up: `spotify-history mcp --user NAME` (the server local clients start) is started STDIO_RUNS
times; each time it is sent `initialize` and, once it has answered, the CPU seconds (user + system) the
process has used are read: the work it does from start until it answers its first request (target
< 2 s). CPU rather than wall time, because on a shared machine the wall time measures the other
processes as well; the wall time is printed beside it.

Prints one line per tool and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / "benchmarks" / "out" / "api-home"  # --home
USERS = 10
PLAYS_PER_USER = 1_000_000  # --plays-per-user
NON_PLAYS_PER_USER = PLAYS_PER_USER // 10
SPAN_DAYS = 15 * 365
ZONES = [
    "Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "America/Los_Angeles",
    "Australia/Sydney", "Asia/Kolkata", "Europe/London", "America/Sao_Paulo", "Africa/Nairobi",
]  # fmt: skip
TARGETS = {"p50_ms": 10.0, "p99_ms": 50.0, "rps": 300.0}
STDIO_TARGET_CPU_S = 2.0
STDIO_RUNS = 5
CASES: list[tuple[str, str]] = [
    ("history.taste_summary", "/v1/history/taste-summary"),
    ("history.top_artists", "/v1/history/top-artists"),
    ("history.top_tracks", "/v1/history/top-tracks"),
    ("history.listening_heatmap", "/v1/history/listening-heatmap"),
    ("history.repeat_rate", "/v1/history/repeat-rate"),
    ("history.coverage", "/v1/history/coverage"),
    ("ops.sync_status", "/v1/ops/sync-status"),
    ("ops.latest_imports", "/v1/ops/latest-imports"),
    ("history.top_artists 365 days", "/v1/history/top-artists?days=365"),
    ("history.top_tracks 365 days", "/v1/history/top-tracks?days=365"),
    # Not a stored window (marts.recent_rankings keeps 90 and 365 days): computed from the day rows.
    ("history.top_tracks 364 days*", "/v1/history/top-tracks?days=364"),
    ("history.top_artists 30 days*", "/v1/history/top-artists?days=30"),
    ("history.search", "/v1/history/search?q=artist%201234"),
    ("spotify.get_top", "/v1/spotify/get-top?entity=artists"),
    ("ops.latest_job_runs", "/v1/ops/latest-job-runs"),
    # The insight tools (issue 23): defaults and all_time.
    ("history.top_albums", "/v1/history/top-albums"),
    ("history.top_albums all_time", "/v1/history/top-albums?all_time=true"),
    ("history.discoveries", "/v1/history/discoveries"),
    ("history.discoveries all_time", "/v1/history/discoveries?all_time=true"),
    ("history.discoveries tracks all_time", "/v1/history/discoveries?type=track&all_time=true"),
    ("history.sessions", "/v1/history/sessions"),
    ("history.sessions all_time", "/v1/history/sessions?all_time=true"),
    ("history.skips", "/v1/history/skips"),
    ("history.skips all_time", "/v1/history/skips?all_time=true"),
]


def user_name(i: int) -> str:
    return f"bench{i:02d}"


# -- data -------------------------------------------------------------------------------------------

# One user's raw rows: plays (music, ≥ 30 s, not private) and other streams, one every ~430 s,
# ending an hour ago. Artist and track popularity are skewed like real listening (power laws).
GENERATE = """
insert into raw.extended_streams (
    user_id, import_id, source_file, record_no, occurrence, ts, platform, ms_played,
    master_metadata_track_name, master_metadata_album_artist_name, master_metadata_album_album_name,
    spotify_track_uri, episode_name, episode_show_name, spotify_episode_uri,
    reason_start, reason_end, shuffle, skipped, offline, incognito_mode)
select
    %(user_id)s, %(import_id)s, 'Streaming_History_Audio_synthetic.json', g.i, 1,
    now() - interval '1 hour' - (%(rows)s - g.i) * (%(span)s::float / %(rows)s) * interval '1 second'
        + (random() * 60) * interval '1 second',
    'android',
    case when g.kind = 'play' then 30000 + (random() * 210000)::int
         when g.kind = 'skip' then (random() * 29999)::int
         else (random() * 3600000)::int end,
    case when g.kind <> 'podcast' then 'Track ' || t.track_id end,
    case when g.kind <> 'podcast' then 'Artist ' || t.artist_no end,
    case when g.kind <> 'podcast' then 'Album ' || (t.track_id / 10) end,
    case when g.kind <> 'podcast' then 'spotify:track:' || lpad(to_hex(t.track_id), 22, '0') end,
    case when g.kind = 'podcast' then 'Episode ' || (random() * 500)::int end,
    case when g.kind = 'podcast' then 'Show ' || (power(random(), 3) * 40)::int end,
    null,
    'trackdone', 'trackdone', random() < 0.4, false, false, false
from (
    select i, case when i %% 11 = 0 then (case when i %% 2 = 0 then 'skip' else 'podcast' end) else 'play' end as kind
    from generate_series(1, %(rows)s) as i
) g
cross join lateral (
    select a.artist_no, a.artist_no * 40 + floor(power(random(), 2) * 40)::int as track_id
    from (select floor(power(random(), 2.5) * 3000)::int + 0 * g.i as artist_no) a
) t
"""


def prepare(env: dict[str, str]) -> None:
    """Users, raw rows and marts, unless a previous run made them (a run resumes where one stopped).

    One user at a time: generate the raw rows, then `dbt run`. The first run builds int_streams and
    the marts from scratch, each later one is incremental and works on that user's 1.1 M rows only,
    which fit in memory; one build over all 11 M rows spills gigabytes to disk and takes far longer.
    """
    import psycopg

    from orchestration import users
    from orchestration.config import reload_settings
    from orchestration.db import app_database_url, ensure_schema, libpq_env

    reload_settings()
    ensure_schema()
    url = app_database_url()
    rows = PLAYS_PER_USER + NON_PLAYS_PER_USER
    dbt_env = {**env, **libpq_env(url), "PGOPTIONS": "-c work_mem=1GB"}
    for i in range(1, USERS + 1):
        name = user_name(i)
        with psycopg.connect(url, autocommit=True) as conn:
            existing = conn.execute("select user_id from app.users where name = %s", (name,)).fetchone()
            user = users.get(conn, name) if existing else users.add(conn, name, ZONES[i - 1])
            if _built_plays(conn, user.user_id) >= PLAYS_PER_USER:
                continue
            (have,) = conn.execute(
                "select count(*) from raw.extended_streams where user_id = %s", (user.user_id,)
            ).fetchone() or (0,)
            if have < rows:
                _generate(conn, user.user_id, name, rows, seed=i)
        started = time.monotonic()
        _dbt_run(dbt_env)
        print(f"data: {name}: dbt run in {time.monotonic() - started:.0f} s", flush=True)
    # The per-user tables are rebuilt whole by every build: bring them to the current SQL (cheap).
    _dbt_run(dbt_env, "--select", "sync_status", "imports")
    with psycopg.connect(url, autocommit=True) as conn:
        (plays,) = conn.execute("select coalesce(sum(plays), 0) from marts.sync_status").fetchone() or (0,)
        print(f"data: {plays:,} plays in the marts ({HOME})", flush=True)
        conn.execute("vacuum analyze")


def _built_plays(conn: Any, user_id: int) -> int:
    if conn.execute("select to_regclass('marts.sync_status')").fetchone() == (None,):
        return 0
    row = conn.execute("select plays from marts.sync_status where user_id = %s", (user_id,)).fetchone()
    return int(row[0]) if row else 0


def _generate(conn: Any, user_id: int, name: str, rows: int, seed: int) -> None:
    started = time.monotonic()
    conn.execute("delete from raw.extended_streams where user_id = %s", (user_id,))
    conn.execute("delete from app.imports where user_id = %s", (user_id,))
    (import_id,) = conn.execute(
        """
        insert into app.imports (user_id, source_name, source_path, source_kind, sha256, size_bytes,
                                 status, formats, records, inserted, duplicates, finished_at)
        values (%s, 'synthetic (api benchmark)', 'generated in SQL', 'folder', md5(%s), 0,
                'succeeded', jsonb_build_object('extended', %s::int), %s, %s, 0, now())
        returning import_id
        """,
        (user_id, name, rows, rows, rows),
    ).fetchone() or (0,)
    conn.execute("select setseed(%s)", (seed / 100,))
    conn.execute(GENERATE, {"user_id": user_id, "import_id": import_id, "rows": rows, "span": SPAN_DAYS * 86400})
    conn.execute("analyze raw.extended_streams")
    print(f"data: {name}: {rows:,} raw rows in {time.monotonic() - started:.0f} s", flush=True)


def _dbt_run(env: dict[str, str], *select: str) -> None:
    project = REPO / "dbt_project"
    dbt = str(Path(sys.executable).with_name("dbt"))
    done = subprocess.run(
        [dbt, "run", "--project-dir", str(project), "--profiles-dir", str(project), *select],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(done.stdout[-4000:], file=sys.stderr)
        raise SystemExit("dbt run failed")


# -- load -------------------------------------------------------------------------------------------


async def _connection(
    port: int, requests: list[bytes], deadline: float, latencies: list[float], statuses: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while time.perf_counter() < deadline:
            request = requests[i % len(requests)]
            i += 1
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _load(port: int, requests: list[bytes], connections: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_connection(port, requests[c:] + requests[:c], deadline, latencies, statuses) for c in range(connections))
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2) if ordered else 0.0

    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0.0,
        "statuses": statuses,
    }


class CpuMeter:
    """Cores used during a run: the API process, the Postgres server, this load generator, everything else."""

    def __init__(self, api_pid: int, postmaster_pid: int) -> None:
        import psutil

        self.psutil = psutil
        self.api = psutil.Process(api_pid)
        self.postmaster = psutil.Process(postmaster_pid)
        self.me = psutil.Process()

    def _times(self) -> dict[str, float]:
        def cpu(p: Any) -> float:
            try:
                t = p.cpu_times()
                return float(t.user + t.system)
            except self.psutil.Error:
                return 0.0

        machine = self.psutil.cpu_times()
        return {
            "wall": time.perf_counter(),
            "machine": machine.user
            + machine.system
            + machine.nice
            + getattr(machine, "irq", 0)
            + getattr(machine, "softirq", 0),
            "api": cpu(self.api),
            "postgres": cpu(self.postmaster) + sum(cpu(c) for c in self.postmaster.children(recursive=True)),
            "load": cpu(self.me),
        }

    def start(self) -> None:
        self.before = self._times()

    def cores(self) -> dict[str, float]:
        after = self._times()
        wall = after["wall"] - self.before["wall"]
        used = {k: (after[k] - self.before[k]) / wall for k in ("machine", "api", "postgres", "load")}
        other = used["machine"] - used["api"] - used["postgres"] - used["load"]
        return {"api": round(used["api"], 2), "postgres": round(used["postgres"], 2),
                "load_generator": round(used["load"], 2), "other": round(max(other, 0.0), 2)}  # fmt: skip

    def wait_quiet(self, limit: float) -> None:
        """Wait (up to `limit` s) until other work uses less than a quarter of a core."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self.start()
            time.sleep(1.0)
            if self.cores()["other"] < 0.25:
                return


def load_main(args: argparse.Namespace) -> None:
    """The load generator (its own process): reads the plan from stdin, prints results as JSON."""
    plan = json.loads(sys.stdin.read())
    meter = CpuMeter(plan["api_pid"], plan["postmaster_pid"])
    out = {}
    for name, path in CASES:
        if plan["only"] and not any(part in name for part in plan["only"]):
            continue
        requests = [
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{plan['port']}\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
            for key in plan["keys"]
        ]
        asyncio.run(_load(plan["port"], requests, 1, 1.0))  # warm-up: pool, caches, prepared statements
        runs = {}
        for run, connections in (("latency", 1), ("throughput", plan["connections"])):
            meter.wait_quiet(plan["wait_quiet"])
            meter.start()
            runs[run] = asyncio.run(_load(plan["port"], requests, connections, plan["seconds"]))
            runs[run]["cores"] = meter.cores()
        out[name] = runs
        print(json.dumps({name: out[name]}), file=sys.stderr, flush=True)
    print(json.dumps(out))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_keys(env: dict[str, str]) -> list[str]:
    keys = []
    for i in range(1, USERS + 1):
        cmd = [str(Path(sys.executable).with_name("spotify-history")), "api-key", "create", "--user", user_name(i)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        keys.append(done.stdout.strip())
    return keys


def postmaster_pid() -> int:
    return int((HOME / "postgres" / "postmaster.pid").read_text().split()[0])


def measure(
    env: dict[str, str], seconds: float, connections: int, wait_quiet: float, cache: bool, only: list[str] | None = None
) -> dict[str, Any]:
    keys = create_keys(env)
    port = free_port()
    log = HOME / "api.log"
    server_env = {**env, "RATE_LIMIT_PER_MINUTE": "0", "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    if not cache:
        server_env["API_CACHE_ENTRIES"] = "0"
    cli = str(Path(sys.executable).with_name("spotify-history"))
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [cli, "serve-api", "--host", "127.0.0.1", "--port", str(port)], env=server_env, stderr=log_file
        )
        try:
            _wait_until_up(port)
            plan = {
                "port": port,
                "keys": keys,
                "seconds": seconds,
                "connections": connections,
                "api_pid": server.pid,  # serve-api runs uvicorn in its own process (no reloader, no workers)
                "postmaster_pid": postmaster_pid(),
                "wait_quiet": wait_quiet,
                "only": only or [],
            }
            done = subprocess.run(
                [sys.executable, __file__, "--load"],
                input=json.dumps(plan),
                capture_output=True,
                text=True,
                check=True,
            )
            return json.loads(done.stdout)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_until_up(port: int) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the API did not start (see benchmarks/out/api-home/api.log)")


def stdio_start(env: dict[str, str], runs: int = STDIO_RUNS) -> dict[str, Any]:
    """CPU and wall seconds of `spotify-history mcp` from its start until it answers `initialize`.

    The CPU time is read while the server waits for its next message, so it is the start-up and the
    first answer, nothing after.
    """
    import psutil

    cli = str(Path(sys.executable).with_name("spotify-history"))
    initialize = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}
    }  # fmt: skip
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        server = subprocess.Popen(
            [cli, "mcp", "--user", user_name(1)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert server.stdin is not None and server.stdout is not None
        try:
            server.stdin.write(json.dumps(initialize).encode() + b"\n")
            server.stdin.flush()
            reply = json.loads(server.stdout.readline())
            wall.append(time.perf_counter() - started)
            times = psutil.Process(server.pid).cpu_times()
            cpu.append(times.user + times.system)
            if reply.get("result", {}).get("serverInfo", {}).get("name") != "spotify-history":
                raise RuntimeError(f"unexpected answer from the stdio server: {reply}")
        finally:
            server.stdin.close()  # end of input: the server exits
            server.wait(timeout=30)
    return {
        "runs": runs,
        "cpu_s": [round(c, 2) for c in cpu],
        "wall_s": [round(w, 2) for w in wall],
        "cpu_s_median": round(statistics.median(cpu), 2),
        "cpu_s_max": round(max(cpu), 2),
        "target_cpu_s": STDIO_TARGET_CPU_S,
        "met": verdict(max(cpu), STDIO_TARGET_CPU_S),
    }


def report_stdio(stdio: dict[str, Any]) -> None:
    print(
        f"\nstdio server start-up ({stdio['runs']} runs), CPU s until it answered initialize: "
        f"{', '.join(f'{c:.2f}' for c in stdio['cpu_s'])} (median {stdio['cpu_s_median']:.2f}, "
        f"max {stdio['cpu_s_max']:.2f}; target < {stdio['target_cpu_s']:.0f} s: {stdio['met']}); "
        f"wall s {', '.join(f'{w:.2f}' for w in stdio['wall_s'])}"
    )


def verdict(value: float, target: float, higher_is_better: bool = False) -> str:
    ok = value >= target if higher_is_better else value < target
    return "met" if ok else "MISSED"


NOISY_CORES = 0.25
"""Other processes using more than this many cores during a run make its figures noisy."""


def report(results: dict[str, Any], seconds: float, connections: int, cache: bool, stdio: dict[str, Any]) -> None:
    print(
        "\nanswer cache:",
        "on (warm: every timed request is a repeat)" if cache else "off (every request reaches Postgres)",
    )
    print(
        f"targets: p50 < {TARGETS['p50_ms']:.0f} ms and p99 < {TARGETS['p99_ms']:.0f} ms on 1 connection, "
        f"≥ {TARGETS['rps']:.0f} requests/s on {connections}"
    )
    columns = f"{'p50 ms':>7} {'p99 ms':>7} {'req/s':>7} | {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
    print(f"\n{'tool':<30} {columns}  {'p50':<6} {'p99':<6} {'req/s':<6} cores api/pg/other")
    print(f"{'':<30} {'1 connection':>23} | {f'{connections} connections':>23}")
    for name, r in results.items():
        lat, thr = r["latency"], r["throughput"]
        cores = thr["cores"]
        r["met"] = {
            "p50_ms": verdict(lat["p50_ms"], TARGETS["p50_ms"]),
            "p99_ms": verdict(lat["p99_ms"], TARGETS["p99_ms"]),
            "rps": verdict(thr["rps"], TARGETS["rps"], higher_is_better=True),
        }
        noisy = [run for run in ("latency", "throughput") if r[run]["cores"]["other"] > NOISY_CORES]
        r["noisy"] = noisy
        print(
            f"{name:<30} {lat['p50_ms']:>7} {lat['p99_ms']:>7} {lat['rps']:>7} | {thr['rps']:>7} {thr['p50_ms']:>7} "
            f"{thr['p99_ms']:>7}  {r['met']['p50_ms']:<6} {r['met']['p99_ms']:<6} {r['met']['rps']:<6} "
            f"{cores['api']}/{cores['postgres']}/{cores['other']}"
            + (f"  NOISY ({', '.join(noisy)}: other work > {NOISY_CORES} cores)" if noisy else "")
        )
    bad = {n: r["throughput"]["statuses"] for n, r in results.items() if set(r["throughput"]["statuses"]) != {"200"}}
    if bad:
        print(f"non-200 answers: {bad}")
    summary = {
        "benchmark": "api",
        "users": USERS,
        "plays": USERS * PLAYS_PER_USER,
        "seconds_per_run": seconds,
        "connections": connections,
        "cache": cache,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "targets": TARGETS,
        "results": results,
        "stdio_start": stdio,
    }
    report_stdio(stdio)
    print(json.dumps(summary))


def main() -> None:
    global HOME, PLAYS_PER_USER, NON_PLAYS_PER_USER
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each timed run")
    parser.add_argument("--connections", type=int, default=8, help="connections of the throughput runs")
    parser.add_argument(
        "--wait-quiet", type=float, default=0.0, metavar="SECONDS",
        help="before each run, wait up to SECONDS until other work on the machine uses < 0.25 cores",
    )  # fmt: skip
    parser.add_argument(
        "--no-cache", action="store_true", help="serve with API_CACHE_ENTRIES=0: every request reaches Postgres"
    )
    parser.add_argument(
        "--stdio-only", action="store_true", help="measure only the stdio server's start-up (CPU s to the first answer)"
    )
    parser.add_argument(
        "--only", action="append", metavar="TEXT", help="measure only the cases whose name contains TEXT (repeatable)"
    )
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, default=HOME, help="SPOTIFY_HISTORY_HOME of the benchmark data")
    parser.add_argument("--plays-per-user", type=int, default=PLAYS_PER_USER)
    args = parser.parse_args()
    HOME, PLAYS_PER_USER = args.home.resolve(), args.plays_per_user
    NON_PLAYS_PER_USER = PLAYS_PER_USER // 10
    if args.load:
        load_main(args)
        return
    HOME.mkdir(parents=True, exist_ok=True)
    os.environ["SPOTIFY_HISTORY_HOME"] = str(HOME)
    for name in ("DATABASE_URL", "DAGSTER_HOME", "API_DATABASE_URL"):
        os.environ.pop(name, None)
    env = dict(os.environ)
    # The stdio start-up needs only the users: a home prepared before is used as it is (no dbt run).
    if not (args.stdio_only and (HOME / "postgres").is_dir()):
        prepare(env)
    if args.prepare_only:
        return
    stdio = stdio_start(env)
    if args.stdio_only:
        report_stdio(stdio)
        print(json.dumps({"benchmark": "api", "plays": USERS * PLAYS_PER_USER, "stdio_start": stdio}))
        return
    results = measure(env, args.seconds, args.connections, args.wait_quiet, cache=not args.no_cache, only=args.only)
    report(results, args.seconds, args.connections, cache=not args.no_cache, stdio=stdio)


if __name__ == "__main__":
    main()
