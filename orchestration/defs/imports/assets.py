"""Dagster wiring for export imports: file partitions, the raw-table asset, the job and the inbox sensor.

The work itself is orchestration.loading.importer.import_path; this module only maps it onto
partitions (one per imported file), run config, metadata and a sensor.
"""

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration import users as users_repo
from orchestration.config import get_settings
from orchestration.db import connect, ensure_schema
from orchestration.exports.formats import FORMATS
from orchestration.exports.sources import Source, describe
from orchestration.loading.importer import ImportFailedError, ImportResult, Progress, import_path

RAW_SOURCE = "spotify_raw"
"""dbt source name of the raw schema; raw-table asset keys are [RAW_SOURCE, table]."""
export_files = dg.DynamicPartitionsDefinition(name="export_files")
RAW_EXPORT_KEYS = {fmt.name: dg.AssetKey([RAW_SOURCE, fmt.table]) for fmt in FORMATS}

# Application tables dbt reads (dbt source "app"). Not produced by an asset, but every import
# writes a registry row and user commands change users: they report that, so the marts that read
# these tables refresh too.
APP_USERS = dg.AssetKey(["app", "users"])
APP_IMPORTS = dg.AssetKey(["app", "imports"])
app_tables = [
    dg.AssetSpec(APP_USERS, description="Users: names, time zones, status (app.users).", group_name="app"),
    dg.AssetSpec(APP_IMPORTS, description="The import registry (app.imports).", group_name="app"),
]


def partition_key_for(user: str, source: Source) -> str:
    """`<user>/<sha256 prefix>/<file name>`: readable in the UI, unique per user and content."""
    name = re.sub(r"[^A-Za-z0-9._ -]+", "_", source.path.name).replace("..", "_")[:80] or "import"
    return f"{user}/{source.sha256[:12]}/{name}"


def user_of(partition_key: str) -> str:
    return partition_key.split("/", 1)[0]


class ImportConfig(dg.Config):
    path: str | None = None
    """File or folder to import. Empty: re-import the file this partition was created from."""


@dg.multi_asset(
    name="import_export_file",
    specs=[
        dg.AssetSpec(
            key,
            description=f"Raw rows from the privacy export: {fmt.description}. One row per record, personal "
            "fields dropped; loaded by imports (one partition per imported file).",
            group_name="raw",
            kinds={"postgres"},
            skippable=False,
            metadata={"table": f"raw.{fmt.table}"},
        )
        for fmt, key in ((f, RAW_EXPORT_KEYS[f.name]) for f in FORMATS)
    ],
    partitions_def=export_files,
    op_tags={"kind": "import"},
)
def import_export_file(
    context: dg.AssetExecutionContext, config: ImportConfig, import_progress: dg.ResourceParam[Progress]
) -> Iterator[dg.MaterializeResult]:
    """Import one export file (ZIP, JSON or folder) for the user named in the partition key."""
    partition_key = context.partition_key
    user = user_of(partition_key)
    path = Path(config.path) if config.path else _path_of_partition(partition_key)
    context.log.info(f"importing {path} for user {user!r}")
    progress = _LoggingProgress(context, import_progress)
    try:
        result = import_path(path, user, progress=progress, partition_key=partition_key, run_id=context.run_id)
    except (ImportFailedError, users_repo.UserError) as exc:
        context.log_event(dg.AssetMaterialization(APP_IMPORTS, description=f"failed import of {path.name}"))
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    context.log_event(dg.AssetMaterialization(APP_IMPORTS, metadata={"import_id": result.import_id}))
    context.log.info(
        f"{result.records:,} records read, {result.inserted:,} inserted, {result.duplicates:,} already stored "
        f"({result.seconds:.1f} s, {result.timings['records_per_second']:,} records/s)"
    )
    for fmt in FORMATS:
        yield dg.MaterializeResult(asset_key=RAW_EXPORT_KEYS[fmt.name], metadata=_metadata(result, fmt.table))


def _metadata(result: ImportResult, table: str) -> dict[str, Any]:
    counts = result.tables.get(table, {"records": 0, "inserted": 0, "duplicates": 0})
    return {
        "records": dg.MetadataValue.int(counts["records"]),
        "inserted": dg.MetadataValue.int(counts["inserted"]),
        "duplicates": dg.MetadataValue.int(counts["duplicates"]),
        "import_records": dg.MetadataValue.int(result.records),
        "import_inserted": dg.MetadataValue.int(result.inserted),
        "formats": dg.MetadataValue.json(result.formats),
        "time_span": dg.MetadataValue.text(
            f"{result.min_ts:%Y-%m-%d %H:%M} – {result.max_ts:%Y-%m-%d %H:%M} UTC"
            if result.min_ts and result.max_ts
            else "none"
        ),
        "skipped_files": dg.MetadataValue.json(result.skipped_files),
        "source": dg.MetadataValue.text(result.source),
        "sha256": dg.MetadataValue.text(result.sha256),
        "import_id": dg.MetadataValue.int(result.import_id),
        "seconds": dg.MetadataValue.float(result.seconds),
    }


def _path_of_partition(partition_key: str) -> Path:
    with connect() as conn:
        ensure_schema()
        row = conn.execute(
            "select source_path from app.imports where partition_key = %s order by started_at desc limit 1",
            (partition_key,),
        ).fetchone()
    if row is None:
        raise dg.Failure(
            description=f"partition {partition_key!r} has no known file; launch it with run config "
            "ops: {import_export_file: {config: {path: ...}}}",
            allow_retries=False,
        )
    return Path(row[0])


class _LoggingProgress:
    """Logs each file to the run log and forwards byte progress to another sink."""

    def __init__(self, context: dg.AssetExecutionContext, inner: Progress) -> None:
        self._log = context.log
        self._inner = inner

    def started(self, total_bytes: int, files: int) -> None:
        self._log.info(f"{files} JSON file(s), {total_bytes / 1e6:,.1f} MB to read")
        self._inner.started(total_bytes, files)

    def advanced(self, nbytes: int) -> None:
        self._inner.advanced(nbytes)

    def file_done(self, name: str, format_name: str | None, records: int) -> None:
        if format_name is None:
            self._log.info(f"skipped {name}: not listening history")
        else:
            self._log.info(f"{name}: {records:,} records ({format_name})")
        self._inner.file_done(name, format_name, records)


import_export_job = dg.define_asset_job(
    "import_export",
    selection=dg.AssetSelection.assets(*RAW_EXPORT_KEYS.values()),
    partitions_def=export_files,
    description="Import one privacy-export file into the raw tables.",
)


def import_run_config(path: Path) -> dict[str, Any]:
    return {"ops": {"import_export_file": {"config": {"path": str(path)}}}}


# -- inbox sensor ---------------------------------------------------------------------------------

IMPORTABLE_SUFFIXES = (".zip", ".json")


def _candidates(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_symlink():
            continue
        if path.is_dir() or path.suffix.lower() in IMPORTABLE_SUFFIXES:
            yield path


def _fingerprint(path: Path) -> tuple[str, float]:
    """Size and mtime (newest file inside, for folders): changes whenever the content may have."""
    if path.is_dir():
        stats = [p.stat() for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
        size = sum(s.st_size for s in stats)
        mtime = max((s.st_mtime for s in stats), default=path.stat().st_mtime)
    else:
        st = path.stat()
        size, mtime = st.st_size, st.st_mtime
    return f"{size}:{mtime:.6f}", mtime


@dg.sensor(
    name="inbox_sensor",
    job=import_export_job,
    minimum_interval_seconds=get_settings().inbox_sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches $SPOTIFY_HISTORY_HOME/inbox/<user>/ (INBOX_DIR) and imports each new ZIP, JSON "
    "file or folder as its own partition.",
)
def inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    settings = get_settings()
    ensure_schema()
    with connect() as conn:
        all_users = users_repo.list_all(conn)
    if not all_users:
        return dg.SkipReason("no users yet (spotify-history users add NAME)")
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    now = time.time()
    requests: list[dg.RunRequest] = []
    new_partitions: list[str] = []
    waiting = 0
    for user in all_users:
        folder = settings.inbox_root / user.name
        folder.mkdir(parents=True, exist_ok=True)
        for path in _candidates(folder):
            fingerprint, mtime = _fingerprint(path)
            key = f"{user.name}/{path.name}"
            if seen.get(key) == fingerprint:
                continue
            if now - mtime < settings.inbox_settle_seconds:
                waiting += 1  # still being copied; look again next tick
                continue
            if user.status == "paused":
                context.log.info(f"user {user.name!r} is paused; not importing {path.name}")
                continue
            try:
                source = describe(path)
            except Exception as exc:  # unreadable now; the import run would say the same
                context.log.warning(f"cannot read {path}: {exc}")
                continue
            partition_key = partition_key_for(user.name, source)
            new_partitions.append(partition_key)
            requests.append(
                dg.RunRequest(
                    run_key=f"{key}:{fingerprint}",
                    partition_key=partition_key,
                    run_config=import_run_config(path),
                    tags={"spotify_history/user": user.name, "spotify_history/trigger": "inbox"},
                )
            )
            seen[key] = fingerprint
    if not requests:
        return dg.SkipReason(f"no new files ({waiting} still being written)" if waiting else "no new files")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[export_files.build_add_request(sorted(set(new_partitions)))],
        cursor=json.dumps(seen, sort_keys=True),
    )
