#!/usr/bin/env python
"""Benchmark of export imports: records/s and peak memory (RSS) of importing a large synthetic export.

    .venv/bin/python benchmarks/import_benchmark.py                      # 1 M records, multi-file ZIP
    .venv/bin/python benchmarks/import_benchmark.py --single-file        # 1 M records in one JSON file
    .venv/bin/python benchmarks/import_benchmark.py --records 200000     # smaller
    .venv/bin/python benchmarks/import_benchmark.py --breakdown          # where the time goes

The export is generated once per (records, seed, layout) and cached in benchmarks/out/. Everything
runs against a throwaway SPOTIFY_HISTORY_HOME (a temporary folder with its own embedded Postgres,
removed afterwards) unless --home DIR or --keep-home is given. With DATABASE_URL set, that database
is used instead, and the benchmark's users (bench-*) and their rows stay in it.

Each timed part runs in its own child process, so its peak RSS is that of the import alone, not of
the generation or of another part:

* import: orchestration.imports.importer.import_path into an empty user;
* re-import: the same file again for the same user (every record a duplicate);
* cli: `spotify-history import PATH --user NAME --json` for a second, empty user: the same import as
  a Dagster run, including Dagster's start-up, the in-process run's bookkeeping and its checks of the
  imported rows (the three are reported apart: import, row checks, start-up and bookkeeping);
* parse alone (the limit measured alongside): the same files read and parsed by the importer's JSON
  parser into Python objects, nothing else (msgspec; a file up to 16 MB at once, as the importer
  reads it, a larger one checked by the guard and parsed slice by slice).

Each rate is printed beside its target (issue 12) and whether it is met.

--breakdown instead times the pieces: the sha256, reading (inflate only), JSON parsing only, parsing
+ row building, instrumented imports (time the writer spends in COPY and in moving files into the raw
table, and waiting for the parsing side) and the database side alone (the same import with its rows
parsed and encoded beforehand, in memory).

The output is human-readable lines and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
# Issue 12's targets. import_path on a multi-file ZIP: 120 000 records/s, or 0.9 x the rate of parsing the
# JSON alone (measured in the same run) when that is lower; through the CLI: 100 000 records/s with less
# than 2 s of start-up and run bookkeeping (outside the import and the run's checks of the imported rows,
# which are reported beside it); one large JSON file: 100 000 records/s. Peak RSS below 300 MB everywhere.
TARGET_ZIP_RECORDS_PER_SECOND = 120_000
TARGET_PARSE_SHARE = 0.9
TARGET_CLI_RECORDS_PER_SECOND = 100_000
TARGET_CLI_OVERHEAD_SECONDS = 2.0
TARGET_SINGLE_FILE_RECORDS_PER_SECOND = 100_000
TARGET_PEAK_RSS_MB = 300
BUSY_CORES = 0.25  # other work above this many cores during a timed part makes its figures noisy
WAIT_QUIET_ENV = "IMPORT_BENCHMARK_WAIT_QUIET"  # --wait-quiet, handed down to the child processes
# Inherited values would point the children at another Dagster instance.
DAGSTER_ENV = ("DAGSTER_HOME", "SPOTIFY_HISTORY_DAGSTER_PG_URL")


# -- measuring --------------------------------------------------------------------------------------


def _mb(kib: int) -> float:
    """ru_maxrss is in KiB on Linux."""
    return round(kib / 1024, 1)


def _busy_cpu() -> float:
    """CPU seconds the whole machine has spent busy so far (all processes and cores, kernel included)."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu() -> float | None:
    """CPU seconds used so far by the embedded server (all its processes); None for an external one."""
    import psutil

    from orchestration.config import get_settings

    settings = get_settings()
    pid_file = settings.embedded_pgdata / "postmaster.pid"
    if settings.database_url is not None or not pid_file.exists():
        return None
    postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
    times = postmaster.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system  # exited backends
    for child in postmaster.children():
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue  # exited meanwhile: counted in children_* next time
        total += t.user + t.system
    return total


class Meter:
    """Wall time of a block of work and the CPU time spent meanwhile by Python, Postgres and the rest.

    Python is this process and the children it waited for in the block (the import's parsing
    process), or only those children (RUSAGE_CHILDREN: a CLI run and what it started).
    "Other" is every other process on the machine plus kernel work such as writeback: when it is
    large, something else competed for the CPUs and the figures are noisy.
    """

    def __init__(self, who: int = resource.RUSAGE_SELF) -> None:
        self._who = who

    @staticmethod
    def _cpu(who: int) -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> Meter:
        self._pg, self._busy = _postgres_cpu(), _busy_cpu()
        self._own, self._children = self._cpu(self._who), self._cpu(resource.RUSAGE_CHILDREN)
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.children_cpu = self._cpu(resource.RUSAGE_CHILDREN) - self._children
        own = self._cpu(self._who) - self._own
        self.python_cpu = own if self._who == resource.RUSAGE_CHILDREN else own + self.children_cpu
        busy, pg = _busy_cpu() - self._busy, _postgres_cpu()
        self.postgres_cpu = None if pg is None or self._pg is None else pg - self._pg
        self.other_cpu = busy - self.python_cpu - (self.postgres_cpu or 0.0)

    def figures(self, records: int) -> dict[str, Any]:
        figures = {
            "records": records,
            "seconds": round(self.seconds, 2),
            "records_per_second": round(records / self.seconds),
            "python_cpu_seconds": round(self.python_cpu, 2),
            "postgres_cpu_seconds": None if self.postgres_cpu is None else round(self.postgres_cpu, 2),
            "other_cpu_seconds": round(self.other_cpu, 2),
        }
        if self._who == resource.RUSAGE_SELF:
            figures["parsing_process_cpu_seconds"] = round(self.children_cpu, 2)
        return figures


def wait_until_quiet(timeout: float) -> None:
    """Wait until the rest of the machine uses less than BUSY_CORES (shared machines, CI runners)."""
    deadline = time.monotonic() + timeout
    while True:
        before = _busy_cpu()
        time.sleep(3)
        busy = (_busy_cpu() - before) / 3
        if busy < BUSY_CORES or time.monotonic() > deadline:
            return
        print(f"waiting: the machine is busy ({busy:.1f} cores in use)", file=sys.stderr, flush=True)


def measure_all(parts: dict[str, Callable[[], dict[str, Any]]]) -> dict[str, Any]:
    """Measure each part in turn, each after a wait for a quiet machine if --wait-quiet asks for one."""
    timeout = float(os.environ.get(WAIT_QUIET_ENV) or 0)
    results = {}
    for key, measure in parts.items():
        if timeout:
            wait_until_quiet(timeout)
        results[key] = measure()
    return results


def run_measured(cmd: list[str]) -> tuple[list[str], float]:
    """Run cmd to completion; returns its stdout lines and its peak RSS in MB."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=REPO)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # not proc.wait(): wait4 also returns the child's usage
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{err.read()}")
    return out.splitlines(), _mb(usage.ru_maxrss)


# -- the synthetic export ---------------------------------------------------------------------------


def ensure_export(records: int, seed: int, single_file: bool) -> Path:
    """The cached export (generated in a child process when missing); returns the path to import."""
    name = f"export-{records}-seed{seed}"
    target = OUT / (f"{name}-single" if single_file else f"{name}.zip")
    if not target.exists():
        partial = target.with_name(f".tmp-{target.name}")
        shutil.rmtree(partial, ignore_errors=True)
        partial.unlink(missing_ok=True)
        print(f"generating {records:,} records into {target.relative_to(REPO)} ...", flush=True)
        cmd = [sys.executable, "-m", "orchestration.demo.synthetic_export", "--out", str(partial)]
        cmd += ["--records", str(records), "--seed", str(seed), *(["--single-file"] if single_file else [])]
        subprocess.run(cmd, check=True, cwd=REPO)
        partial.rename(target)
    if single_file:  # a folder holding the one JSON file: import that file itself
        return next(target.rglob("*.json"))
    return target


# -- the environment: SPOTIFY_HISTORY_HOME, database, users ---------------------------------------


@contextmanager
def benchmark_home(home: Path | None, keep: bool) -> Iterator[Path]:
    """Point this process (and so its children) at `home`, or at a throwaway one removed afterwards."""
    throwaway = home is None
    home = home or Path(tempfile.mkdtemp(prefix="spotify-history-bench-"))
    os.environ["SPOTIFY_HISTORY_HOME"] = str(home)
    for key in DAGSTER_ENV:
        os.environ.pop(key, None)
    from orchestration.config import reload_settings
    from orchestration.db import ensure_schema

    settings = reload_settings()
    ensure_schema()
    try:
        yield home
    finally:
        if throwaway and not keep:
            from orchestration.db import embedded

            if settings.database_url is None:
                embedded.stop(settings.embedded_pgdata)
            shutil.rmtree(home, ignore_errors=True)
        else:
            print(f"kept SPOTIFY_HISTORY_HOME={home}")


def add_user(name: str) -> str:
    from orchestration import users
    from orchestration.db import connect

    with connect() as conn:
        users.add(conn, name, "UTC")
    return name


def code_version() -> str:
    """The commit measured, marked when orchestration/ has uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", "orchestration", "pyproject.toml")
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if dirty else "")


def machine() -> dict[str, Any]:
    from orchestration.db import connect

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    with connect() as conn:
        row = conn.execute("select version()").fetchone()
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "python": platform.python_version(),
        "postgres": str(row[0]).split(",")[0] if row else "unknown",
        "ram_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
    }


# -- child processes: one timed part each ----------------------------------------------------------


def child(part: str, path: Path, user: str) -> dict[str, Any]:
    """Run one part in a child process; returns its figures and the child's peak RSS.

    An import that started a parsing process reports both peaks, and the peak RSS is their sum (an upper
    bound: wait4 alone gives the larger of the two).
    """
    lines, peak_mb = run_measured([sys.executable, __file__, "--child", part, "--path", str(path), "--user", user])
    figures = json.loads(lines[-1])
    if figures.get("parsing_process_peak_rss_mb"):
        peak_mb = figures["importing_process_peak_rss_mb"] + figures["parsing_process_peak_rss_mb"]
    return {**figures, "peak_rss_mb": round(peak_mb, 1)}


def timed_import(path: Path, user: str) -> tuple[Any, Meter]:
    """import_path() once, measured; returns its ImportResult and the Meter."""
    from orchestration.db import connect
    from orchestration.imports.importer import import_path

    with connect() as conn, Meter() as meter:
        result = import_path(path, user, conn=conn)
    return result, meter


def child_import(path: Path, user: str) -> dict[str, Any]:
    rss_before = _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    result, meter = timed_import(path, user)
    return {
        **meter.figures(result.records),
        "inserted": result.inserted,
        "duplicates": result.duplicates,
        "files": len(result.files),
        "rss_before_import_mb": rss_before,
        "importing_process_peak_rss_mb": _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        # At least the parsing process's peak (Linux also carries over the RSS it was forked with).
        "parsing_process_peak_rss_mb": _mb(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss),
    }


def cli_import(path: Path, user: str) -> dict[str, Any]:
    """`spotify-history import --json` in a child process: the import as a Dagster run.

    Besides the import itself the run checks the rows it wrote (the asset checks, timed from the run's
    events); the rest of the time is start-up and the run's bookkeeping.
    """
    exe = Path(sys.executable).with_name("spotify-history")
    with Meter(resource.RUSAGE_CHILDREN) as meter:
        lines, peak_mb = run_measured([str(exe), "import", str(path), "--user", user, "--json"])
    summary = json.loads(lines[-1])
    figures = meter.figures(summary["records"])
    in_run = sum(i["seconds"] for i in summary["imports"])
    checks = sum(checks_seconds(i["run_id"]) for i in summary["imports"])
    return {
        **figures,
        "inserted": summary["inserted"],
        "import_seconds_in_run": round(in_run, 2),
        "row_checks_seconds": round(checks, 2),
        "startup_and_bookkeeping_seconds": round(figures["seconds"] - in_run - checks, 2),
        "peak_rss_mb": peak_mb,
    }


def prepare_dagster() -> None:
    """`spotify-history prepare`, as `up` runs it before any service: Dagster's storage tables exist before the
    CLI's run (a fresh instance's first run would otherwise create them, a cost paid once per installation)."""
    exe = Path(sys.executable).with_name("spotify-history")
    subprocess.run([str(exe), "prepare"], check=True, cwd=REPO, stdout=subprocess.DEVNULL)


def checks_seconds(run_id: str) -> float:
    """How long the run's checks of the imported rows took: from the last raw table's materialization to
    the last check's result (the asset yields its materializations, then computes each check)."""
    from dagster import DagsterEventType

    from orchestration.defs.shared.keys import RAW_SOURCE
    from orchestration.instance import get_instance

    events = [r for r in get_instance().all_logs(run_id) if r.dagster_event is not None]
    materialized = [
        r.timestamp
        for r in events
        if r.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION
        and r.dagster_event.asset_key is not None
        and r.dagster_event.asset_key.path[0] == RAW_SOURCE
    ]
    checked = [r.timestamp for r in events if r.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION]
    return max(checked) - max(materialized) if checked and materialized else 0.0


# -- --breakdown: where the time goes ----------------------------------------------------------------


def _source(path: Path) -> Any:
    from orchestration.imports.reading.sources import Limits, open_source

    return open_source(path, Limits.from_settings())


def _entries(path: Path) -> list[Any]:
    return _source(path).entries  # type: ignore[no-any-return]


def _read_only(entry: Any) -> int:
    with entry.opener() as stream:
        while stream.read(1 << 16):
            pass
    return 0


def _parse_only(entry: Any) -> int:
    """The importer's JSON parsing alone, into Python objects: a file up to WHOLE_FILE_BYTES read and parsed
    at once by msgspec (as the importer reads it), a larger one through the guard, slice by slice."""
    from orchestration.imports.reading.reader import NotHistory, _guarded, read_whole
    from orchestration.imports.reading.slices import decode, record_slices
    from orchestration.imports.reading.sources import Limits
    from orchestration.imports.reading.whole import WHOLE_FILE_BYTES

    if entry.size <= WHOLE_FILE_BYTES:
        try:
            return len(decode(read_whole(entry, None).removeprefix(b"\xef\xbb\xbf")))
        except ValueError:  # not JSON: not history either
            return 0
    stream = entry.opener()
    try:
        guarded = _guarded(entry, stream, Limits.from_settings(), strict=False)
        return sum(len(decode(text)) for text in record_slices(guarded))
    except NotHistory:
        return 0
    finally:
        stream.close()


def child_parse(path: Path, user: str) -> dict[str, Any]:
    return _stage(path, _parse_only)


def _ijson_only(entry: Any) -> int:
    import ijson

    with entry.opener() as stream:
        return sum(1 for _ in ijson.items(stream, "item"))


def _history(entry: Any) -> Any:
    from orchestration.imports.reading.reader import NotHistory, open_history_file

    try:
        return open_history_file(entry)
    except NotHistory:
        return None


def _rows(entry: Any) -> int:
    history = _history(entry)
    return 0 if history is None else sum(1 for _ in history.rows)


def _stage(path: Path, per_entry: Callable[[Any], int]) -> dict[str, Any]:
    entries = _entries(path)
    with Meter() as meter:
        records = sum(per_entry(e) for e in entries)
    return meter.figures(records)


Patch = dict[tuple[Any, str], Callable[[Callable[..., Any]], Any]]


@contextmanager
def patched(patches: Patch) -> Iterator[None]:
    """Replace each attribute (owner, name) by make(original) for the duration of the block."""
    originals = {(owner, name): getattr(owner, name) for owner, name in patches}
    for (owner, name), make in patches.items():
        setattr(owner, name, make(originals[owner, name]))
    try:
        yield
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)


def _timing(spent: dict[str, float]) -> Patch:
    """Add the wall time of the importer's loading loop and of RawWriter's steps to `spent`."""
    from orchestration.imports import importer
    from orchestration.imports.raw_writer import RawWriter

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[fn.__name__] = spent.get(fn.__name__, 0.0) + time.perf_counter() - started

        return wrapper

    return dict.fromkeys([(importer, "_load"), (RawWriter, "write"), (RawWriter, "end_file")], timed)


def _prebuilt_messages(path: Path) -> Patch:
    """The importer's parsing side answered from messages made beforehand, in memory (COPY text included)."""
    from orchestration.imports import importer
    from orchestration.imports.parsing import Message, parse_source
    from orchestration.imports.reading.sources import Limits

    messages: list[Message] = []
    parse_source(_source(path), Limits.from_settings(), messages.append)

    @contextmanager
    def prebuilt(*_args: Any) -> Iterator[Iterator[Message]]:
        yield iter(messages)

    return {(importer, "_parser"): lambda _original: prebuilt}


def _instrumented_import(path: Path, user: str, patches: Patch | None = None) -> dict[str, Any]:
    spent: dict[str, float] = {}
    with patched({**_timing(spent), **(patches or {})}):
        result, meter = timed_import(path, user)
    load, copy, flush = spent["_load"], spent.get("write", 0.0), spent.get("end_file", 0.0)
    return {
        **meter.figures(result.records),
        "inserted": result.inserted,
        "outside_load_seconds": round(meter.seconds - load, 2),  # sha256, scan, registry, commit
        "writer_copy_seconds": round(copy, 2),  # COPY into the stage (and slices of large files moved)
        "writer_flush_seconds": round(flush, 2),  # each file moved from the stage into the raw table
        "writer_waits_for_parser_seconds": round(load - copy - flush, 2),
    }


def _sha256(path: Path) -> dict[str, Any]:
    from orchestration.imports.reading.sources import describe

    with Meter() as meter:
        describe(path)  # what the importer does first: the file's kind, size and sha256
    return meter.figures(0)


def child_breakdown(path: Path, user: str) -> dict[str, Any]:
    stage = functools.partial(_stage, path)
    return measure_all(
        {
            "sha256": functools.partial(_sha256, path),
            "read_inflate_only": functools.partial(stage, _read_only),
            "ijson_parse_only": functools.partial(stage, _ijson_only),
            "parse_only": functools.partial(stage, _parse_only),
            "parse_and_build_rows": functools.partial(stage, _rows),
            "import_instrumented": functools.partial(_instrumented_import, path, user),
            "reimport_instrumented": functools.partial(_instrumented_import, path, user),
            # The same import with parsing done beforehand: what the database side alone allows.
            "database_only": lambda: _instrumented_import(path, add_user(f"{user}-db"), _prebuilt_messages(path)),
        }
    )


CHILD_PARTS: dict[str, Callable[[Path, str], dict[str, Any]]] = {
    "import": child_import,
    "parse": child_parse,
    "breakdown": child_breakdown,
}


# -- report ------------------------------------------------------------------------------------------

PARTS = {
    "parse": "parse alone (limit)",
    "import": "import (import_path)",
    "reimport": "re-import (duplicates)",
    "cli": "CLI (Dagster run)",
}
_SHOWN = {"records", "seconds", "records_per_second", "inserted", "duplicates", "files", "peak_rss_mb"}


def _line(label: str, f: dict[str, Any]) -> str:
    """One line per measured part; keys not shown in the first line (timings, CPU) on a second one."""
    rate = f"{f['records']:>9,} records {f['seconds']:>6.2f} s {f['records_per_second']:>8,}/s" if f["records"] else ""
    text = f"{label:<24} {rate:>45}" if rate else f"{label:<24} {f['seconds']:>33.2f} s"
    if "inserted" in f:
        text += f" {f['inserted']:>9,} new"
    if "peak_rss_mb" in f:
        text += f"  peak RSS {f['peak_rss_mb']:,.0f} MB"
    if f.get("other_cpu_seconds", 0) > BUSY_CORES * f["seconds"]:
        text += f"  [NOISY: other work used {f['other_cpu_seconds'] / f['seconds']:.1f} cores]"
    details = ", ".join(
        f"{k.removesuffix('_seconds')} {v:,.2f} s" if k.endswith("_seconds") else f"{k} {v}"
        for k, v in f.items()
        if k not in _SHOWN and v is not None
    )
    return f"{text}\n{'':<24} ({details})" if details else text


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 12's rows this run measured: each with its target, the figure and whether it is met."""
    rows: list[dict[str, Any]] = []
    single = result["layout"] == "single JSON file"
    if "import" in result:
        rate = result["import"]["records_per_second"]
        if single:
            target = TARGET_SINGLE_FILE_RECORDS_PER_SECOND
            rows.append({"row": "import, one JSON file", "records_per_second": rate, "target": target})
            rss = result["import"]["peak_rss_mb"]
            rows.append({"row": "import, one JSON file: peak RSS MB", "value": rss, "below": TARGET_PEAK_RSS_MB})
        else:
            target = TARGET_ZIP_RECORDS_PER_SECOND
            if "parse" in result:
                target = min(target, round(TARGET_PARSE_SHARE * result["parse"]["records_per_second"]))
            rows.append({"row": "import, multi-file ZIP", "records_per_second": rate, "target": target})
    if "cli" in result:
        cli = result["cli"]
        rate, target = cli["records_per_second"], TARGET_CLI_RECORDS_PER_SECOND
        rows.append({"row": "import through the CLI", "records_per_second": rate, "target": target})
        overhead = cli["startup_and_bookkeeping_seconds"]
        rows.append(
            {"row": "CLI: start-up and run bookkeeping s", "value": overhead, "below": TARGET_CLI_OVERHEAD_SECONDS}
        )
    rss = max((result[k]["peak_rss_mb"] for k in PARTS if k in result), default=None)
    if rss is not None:
        rows.append({"row": "highest peak RSS MB", "value": rss, "below": TARGET_PEAK_RSS_MB})
    for row in rows:
        row["met"] = row["records_per_second"] >= row["target"] if "target" in row else row["value"] < row["below"]
    return rows


def verdicts(result: dict[str, Any]) -> list[str]:
    lines = []
    for row in result.get("targets", []):
        if "target" in row:
            figure = f"{row['records_per_second']:>9,}/s (target >= {row['target']:,}/s)"
        else:
            figure = f"{row['value']:>9,} (target < {row['below']:,})"
        lines.append(f"target: {row['row']:<36} {figure}  {'met' if row['met'] else 'MISSED'}")
    return lines


def report(result: dict[str, Any]) -> None:
    m = result["machine"]
    print(f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gb']} GB RAM, Python {m['python']}")
    print(f"database: {m['postgres']}")
    print(f"code: {result['code']}")
    print(f"export: {result['export']} ({result['export_mb']:,} MB, {result['layout']})")
    print("(CPU seconds in brackets: python = the importing process with its parsing process, postgres = the")
    print(" server, other = the rest of the machine; a large 'other' means something else competed for the CPUs)")
    for key, label in PARTS.items():
        if key in result:
            print(_line(label, result[key]))
    breakdown = result.get("breakdown", {})
    for key, value in breakdown.items():
        if isinstance(value, dict):
            print(_line(key.replace("_", " "), value))
    if "peak_rss_mb" in breakdown:
        print(f"breakdown process peak RSS {breakdown['peak_rss_mb']:,.0f} MB (holds all rows for 'database only')")
    for line in verdicts(result):
        print(line)
    print(json.dumps(result))


# -- main --------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="records in the export (default 1 000 000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--single-file", action="store_true", help="one huge JSON file instead of a ZIP")
    parser.add_argument("--home", type=Path, help="use (and keep) this SPOTIFY_HISTORY_HOME")
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary SPOTIFY_HISTORY_HOME")
    parser.add_argument("--skip-cli", action="store_true", help="leave out the CLI (Dagster run) measurement")
    parser.add_argument("--breakdown", action="store_true", help="time the pieces of an import instead")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each timed part, wait up to SECONDS for other processes to leave the CPUs idle",
    )
    parser.add_argument("--child", choices=sorted(CHILD_PARTS), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child:  # environment inherited from the parent, which set it before importing anything
        print(json.dumps(CHILD_PARTS[args.child](args.path, args.user), default=str))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `kill` still cleans up the home
    path = ensure_export(args.records, args.seed, args.single_file)
    with benchmark_home(args.home, args.keep_home):
        prefix = f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
        result: dict[str, Any] = {
            "machine": machine(),
            "code": code_version(),
            "export": str(path.relative_to(REPO)),
            "export_mb": round(path.stat().st_size / 1e6),
            "layout": "single JSON file" if args.single_file else "multi-file ZIP",
        }
        parts: dict[str, Callable[[], dict[str, Any]]] = {}
        if args.breakdown:
            parts["breakdown"] = functools.partial(child, "breakdown", path, add_user(f"{prefix}-breakdown"))
        else:
            user = add_user(f"{prefix}-direct")
            parts["parse"] = functools.partial(child, "parse", path, user)
            parts["import"] = parts["reimport"] = functools.partial(child, "import", path, user)
            if not args.skip_cli:
                prepare_dagster()
                parts["cli"] = functools.partial(cli_import, path, add_user(f"{prefix}-cli"))
        os.environ[WAIT_QUIET_ENV] = str(args.wait_quiet)
        result.update(measure_all(parts))
        result["targets"] = targets(result)
        report(result)


if __name__ == "__main__":
    main()
