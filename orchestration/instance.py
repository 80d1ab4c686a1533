"""The Dagster instance every process shares: DAGSTER_HOME under $SPOTIFY_HISTORY_HOME, Postgres storage.

`dagster dev`, the daemon, the CLI's in-process runs and the tests all go through prepare() so
that a run started anywhere shows up in the same UI.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import suppress
from importlib import resources
from pathlib import Path

from orchestration.config import Settings, get_settings
from orchestration.db import dagster_database_url

URL_ENV = "SPOTIFY_HISTORY_DAGSTER_PG_URL"


def prepare(settings: Settings | None = None) -> Path:
    """Set DAGSTER_HOME (unless the user chose one) and the storage URL; write dagster.yaml if missing."""
    settings = settings or get_settings()
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    template = (resources.files("orchestration") / "dagster_home" / "dagster.yaml").read_text()
    ours = not config.exists() or config.read_text().startswith(template.splitlines()[0])
    if ours and (not config.exists() or config.read_text() != template):
        with suppress(OSError):  # a read-only mount (containers): use the file as it is
            config.write_text(template)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault(URL_ENV, sqlalchemy_url(dagster_database_url(settings)))
    return home


def sqlalchemy_url(url: str) -> str:
    """dagster-postgres needs psycopg2; SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql:// URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def get_instance():
    from dagster import DagsterInstance

    prepare()
    return DagsterInstance.get()


def prepare_storage(pools: Iterable[str]) -> list[str]:
    """Create Dagster's storage tables and the pools' limit rows now, in this one process.

    Started together on a fresh instance, the webserver, the daemon and the first run worker race to
    create both (the first run failed with InFailedSqlTransaction on concurrency_limits for pool
    "dbt"), so `spotify-history up` and `prepare` call this before starting any of them. Pools take
    the instance's default limit (dagster.yaml). Returns the pools created now.
    """
    instance = get_instance()
    # Opening each storage creates its tables (dagster-postgres autocreates them on first use).
    storage = instance.event_log_storage
    _ = instance.run_storage, instance.schedule_storage
    # Only missing pools: initializing an existing one fails inside Dagster (insert, then update in
    # the aborted transaction).
    missing = sorted(set(pools) - storage.get_concurrency_keys())
    for pool in missing:
        storage.initialize_concurrency_limit_to_default(pool)
    return missing


def report_users_changed(description: str) -> None:
    """Tell Dagster that app.users changed (time zone, status…), so dependent marts refresh."""
    import dagster as dg

    from orchestration.defs.shared.keys import APP_USERS

    get_instance().report_runless_asset_event(dg.AssetMaterialization(APP_USERS, description=description))


def run_is_over(run_id: str) -> bool:
    """Whether a Dagster run has ended (or is unknown to this instance)."""
    run = get_instance().get_run_by_id(run_id)
    return run is None or run.is_finished


def forget_user_partitions(user: str) -> list[str]:
    """Delete the dynamic partitions keyed by `user`: theirs of `spotify_users` (the API-plays and top-list
    assets) and of `export_files` (`<user>/<sha256>/<file>`, one per imported file). Returns what was deleted,
    as `partitions_def:key`. Run history stays."""
    from orchestration.defs.imports.assets import export_files, user_of
    from orchestration.defs.spotify.partitions import SPOTIFY_USERS

    instance = get_instance()
    gone = []
    if instance.has_dynamic_partition(SPOTIFY_USERS, user):
        instance.delete_dynamic_partition(SPOTIFY_USERS, user)
        gone.append(f"{SPOTIFY_USERS}:{user}")
    for key in instance.get_dynamic_partitions(export_files.name):
        if user_of(key) == user:
            instance.delete_dynamic_partition(export_files.name, key)
            gone.append(f"{export_files.name}:{key}")
    return gone
