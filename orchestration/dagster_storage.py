"""Dagster's Postgres storage, with its connections kept open and its commits not waiting for the disk.

dagster-postgres opens a new server connection for every statement outside the webserver (NullPool),
and each of its autocommitted statements waits for a WAL flush. A dbt build through Dagster stores
about three events per model and data test (≈ 1 000 for this project), so a build spent more time
on those connections and flushes than dbt spent building (measured: ≈ 4 900 connections, 3.7 ms
each, and 1.5–3 ms per commit on the 2-core machine).

So every process — daemon, run workers, webserver, in-process CLI runs — keeps a small pool of
connections, and Dagster's own sessions commit with `synchronous_commit = off`. That trades
durability of the last fraction of a second of run events on a crash of the Postgres server (never
the application data: these settings apply to Dagster's connections only) for bookkeeping that no
longer dominates a run; the database stays consistent either way.

dagster.yaml selects it with `storage: custom:` (orchestration/dagster_home/dagster.yaml).
"""

from __future__ import annotations

from typing import Any

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_config, pg_url_from_config

# Statements of one run are sequential; the daemon's threads and the webserver use a few at once.
POOL_SIZE = 2
MAX_OVERFLOW = 10
POOL_RECYCLE_SECONDS = 3600
SESSION_OPTIONS = "-c synchronous_commit=off"


class PooledPostgresStorage(DagsterPostgresStorage):
    """DagsterPostgresStorage whose run, event-log and schedule storages share these engine settings."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, **kwargs: Any) -> None:
        super().__init__(postgres_url, should_autocreate_tables, **kwargs)
        token_provider = kwargs.get("token_provider")
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            # The same engine the webserver's optimize_for_webserver() builds, without its statement
            # timeout, and checked before use so a restarted server costs a reconnect, not an error.
            storage._engine = create_pg_engine(  # dagster-postgres has no public hook for this
                postgres_url,
                token_provider,
                isolation_level="AUTOCOMMIT",
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
                pool_recycle=POOL_RECYCLE_SECONDS,
                pool_pre_ping=True,
                connect_args={"options": SESSION_OPTIONS},
            )

    @classmethod
    def config_type(cls) -> Any:
        return pg_config()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
