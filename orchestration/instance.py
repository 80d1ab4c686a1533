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
