"""Schema migrations for what the project owns (schemas app and raw).

Plain SQL files in migrations/, applied in name order, each once, each in its own transaction,
under an advisory lock so concurrent processes (daemon, CLI, tests) do not race.
"""

from __future__ import annotations

from importlib import resources

import psycopg

from orchestration.db.connection import connect

_LOCK_ID = 0x5907_1F1  # arbitrary, constant: "spotify history migrations"
_applied_urls: set[str] = set()


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("orchestration.db") / "migrations"
    files = sorted((p.name, p.read_text(encoding="utf-8")) for p in folder.iterdir() if p.name.endswith(".sql"))
    return files


def upgrade(url: str | None = None) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    applied_now: list[str] = []
    with connect(url) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "create schema if not exists app;"
                "create table if not exists app.schema_migrations ("
                " name text primary key, applied_at timestamptz not null default now())"
            )
            conn.commit()
            done = {row[0] for row in conn.execute("select name from app.schema_migrations")}
            for name, text in migration_files():
                if name in done:
                    continue
                with conn.transaction():
                    conn.execute(text)  # trusted SQL shipped with the package
                    conn.execute("insert into app.schema_migrations (name) values (%s)", (name,))
                applied_now.append(name)
            conn.commit()
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_ID,))
            conn.commit()
    return applied_now


def ensure_schema(url: str | None = None) -> None:
    """upgrade() once per process and database; cheap to call from every entry point."""
    from orchestration.db.connection import app_database_url

    key = url or app_database_url()
    if key in _applied_urls:
        return
    upgrade(key)
    _applied_urls.add(key)


def pending(url: str | None = None) -> list[str]:
    with connect(url) as conn:
        try:
            done = {row[0] for row in conn.execute("select name from app.schema_migrations")}
        except psycopg.errors.UndefinedTable:
            done = set()
    return [name for name, _ in migration_files() if name not in done]
