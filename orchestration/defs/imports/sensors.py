"""The inbox sensor: one import run per new file in $SPOTIFY_HISTORY_HOME/inbox/<user>/ (INBOX_DIR)."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from orchestration import users as users_repo
from orchestration.config import Settings, get_settings
from orchestration.db import connect, ensure_schema
from orchestration.defs.imports.assets import export_files, partition_key_for
from orchestration.defs.imports.jobs import import_export_job, import_run_config
from orchestration.imports.reading.sources import describe
from orchestration.inbox import user_folder

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


def find_new_files(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """One run request per new or changed file that has stopped changing (the cursor remembers the rest)."""
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
        folder = user_folder(settings.inbox_root, user.name)
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


def inbox_sensor(settings: Settings | None = None) -> dg.SensorDefinition:
    """Built with the definitions, so INBOX_SENSOR_INTERVAL_SECONDS is read then, not at import."""
    settings = settings or get_settings()
    return dg.sensor(
        name="inbox_sensor",
        job=import_export_job,
        minimum_interval_seconds=settings.inbox_sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches $SPOTIFY_HISTORY_HOME/inbox/<user>/ (INBOX_DIR) and imports each new ZIP, JSON "
        "file or folder as its own partition.",
    )(find_new_files)
