"""The raw tables an import writes, as one multi-asset partitioned by imported file.

The work itself is orchestration.imports.importer.import_path; this module only maps it onto
partitions (one per imported file), run config and metadata.
"""

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration import users as users_repo
from orchestration.db import connect, ensure_schema
from orchestration.defs.imports.checks import check_results, check_specs
from orchestration.defs.shared.keys import APP_IMPORTS, RAW_SOURCE
from orchestration.imports import registry
from orchestration.imports.importer import ImportFailedError, ImportResult, Progress, import_path
from orchestration.imports.parser_process import ParsingAhead
from orchestration.imports.reading.formats import FORMATS
from orchestration.imports.reading.sources import Source

export_files = dg.DynamicPartitionsDefinition(name="export_files")
RAW_EXPORT_KEYS = {fmt.name: dg.AssetKey([RAW_SOURCE, fmt.table]) for fmt in FORMATS}


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
    check_specs=check_specs(RAW_EXPORT_KEYS),
    partitions_def=export_files,
    op_tags={"kind": "import"},
)
def import_export_file(
    context: dg.AssetExecutionContext,
    config: ImportConfig,
    import_progress: dg.ResourceParam[Progress],
    import_parsing_ahead: dg.ResourceParam[ParsingAhead],
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Import one export file (ZIP, JSON or folder) for the user named in the partition key."""
    partition_key = context.partition_key
    user = user_of(partition_key)
    path = Path(config.path) if config.path else _path_of_partition(partition_key)
    context.log.info(f"importing {path} for user {user!r}")
    progress = _LoggingProgress(context, import_progress)
    try:
        result = import_path(
            path,
            user,
            progress=progress,
            partition_key=partition_key,
            run_id=context.run_id,
            ahead=import_parsing_ahead,
        )
    except (ImportFailedError, users_repo.UserError) as exc:
        progress.flush()
        context.log_event(dg.AssetMaterialization(APP_IMPORTS, description=f"failed import of {path.name}"))
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    progress.flush()
    context.log_event(dg.AssetMaterialization(APP_IMPORTS, metadata={"import_id": result.import_id}))
    context.log.info(
        f"{result.records:,} records read, {result.inserted:,} inserted, {result.duplicates:,} already stored "
        f"({result.seconds:.1f} s, {result.timings['records_per_second']:,} records/s)"
    )
    for fmt in FORMATS:
        yield dg.MaterializeResult(asset_key=RAW_EXPORT_KEYS[fmt.name], metadata=_metadata(result, fmt.table))
    yield from check_results(result, RAW_EXPORT_KEYS)


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
    ensure_schema()
    with connect() as conn:
        path = registry.source_path_of_partition(conn, partition_key)
    if path is None:
        raise dg.Failure(
            description=f"partition {partition_key!r} has no known file; launch it with run config "
            "ops: {import_export_file: {config: {path: ...}}}",
            allow_retries=False,
        )
    return Path(path)


class _LoggingProgress:
    """Logs the import's files to the run log and forwards byte progress to another sink.

    The files done are logged together, one message every LOG_EVERY_SECONDS (and one at the end): each log
    event is a write to Dagster's storage on the thread that feeds the import's COPY, and a message per
    file cost a 1 M-record export (63 files) 0.16 s.
    """

    LOG_EVERY_SECONDS = 2.0

    def __init__(self, context: dg.AssetExecutionContext, inner: Progress) -> None:
        self._log = context.log
        self._inner = inner
        self._done: list[str] = []
        self._logged_at = time.monotonic()

    def started(self, total_bytes: int, files: int) -> None:
        self._log.info(f"{files} JSON file(s), {total_bytes / 1e6:,.1f} MB to read")
        self._logged_at = time.monotonic()
        self._inner.started(total_bytes, files)

    def advanced(self, nbytes: int) -> None:
        self._inner.advanced(nbytes)

    def file_done(self, name: str, format_name: str | None, records: int) -> None:
        if format_name is None:
            self._done.append(f"skipped {name}: not listening history")
        else:
            self._done.append(f"{name}: {records:,} records ({format_name})")
        if time.monotonic() - self._logged_at >= self.LOG_EVERY_SECONDS:
            self.flush()
        self._inner.file_done(name, format_name, records)

    def flush(self) -> None:
        """Log the files done since the last message."""
        if self._done:
            self._log.info("\n".join(self._done))
            self._done = []
        self._logged_at = time.monotonic()
