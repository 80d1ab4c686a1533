"""`users delete NAME`: a listener and every row of theirs, in one transaction; other listeners untouched.

Which tables: every base table of the application database, in every schema, with a `user_id` column — the
app tables (imports, syncs, tokens, API keys, OAuth grants, link codes, top-list snapshots), the raw tables,
and dbt's intermediate tables and marts — then `app.users` itself, whose foreign keys take the OAuth codes and
tokens of the listener's grants along (they name the grant, not the user). Found in information_schema at
delete time rather than listed here, so a table added later is not forgotten.

Why dbt's tables are deleted from here and not left to the next build: the incremental models recompute only
the users and days that got new raw rows (int_streams) or new int_streams rows (the day-grain marts, the
catalog). A listener who disappears gets neither, so their rows would survive every incremental build until a
full refresh. Deleting them in the same transaction as the raw rows leaves the dbt state consistent: the
watermarks and batch logs are per model, not per user, and nothing of the listener is left to recompute.

Concurrency: the transaction first takes the per-user raw-write lock (imports and polls of this listener
hold it while they write, so one under way finishes first and its rows are deleted too). A marts build that
read the listener's new rows before the deletion committed could still write their mart rows after it; `users
delete` refuses while a marts build is recorded as running, so run it between builds (the CLI says so).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from orchestration import users
from orchestration.imports.raw_writer import lock_user_raw_rows

USERS_TABLE = ("app", "users")
SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "pg_toast")


@dataclass(frozen=True)
class Deleted:
    name: str
    user_id: int
    rows: dict[str, int] = field(default_factory=dict)
    """Rows deleted per table (`schema.table`), tables without rows of the listener left out."""

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def user_tables(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(schema, table) of every base table with a user_id column, app.users last."""
    rows = conn.execute(
        """
        select c.table_schema, c.table_name
        from information_schema.columns c
        join information_schema.tables t using (table_schema, table_name)
        where c.column_name = 'user_id' and t.table_type = 'BASE TABLE'
          and c.table_schema <> all(%s) and c.table_schema not like 'pg\\_temp%%'
        order by c.table_schema, c.table_name
        """,
        (list(SYSTEM_SCHEMAS),),
    ).fetchall()
    tables = [(schema, table) for schema, table in rows if (schema, table) != USERS_TABLE]
    return [*tables, USERS_TABLE]


def running_build(conn: psycopg.Connection, run_is_over: Callable[[str], bool]) -> str | None:
    """When the marts build that is running started, if one is. A row left `running` by a build whose
    process stopped (its Dagster run is over: `run_is_over(run_id)`) does not count, as in start_marts_build."""
    rows = conn.execute(
        "select started_at::text, dagster_run_id from app.marts_builds where status = 'running' order by started_at"
    ).fetchall()
    for started_at, run_id in rows:
        if run_id is not None and not run_is_over(run_id):
            return str(started_at)
    return None


def delete_user(conn: psycopg.Connection, name: str, run_is_over: Callable[[str], bool]) -> Deleted:
    """Delete the listener `name` and every row of theirs; one transaction, committed here.

    Raises users.UserError when there is no such listener or a marts build is running (`run_is_over`: whether
    a Dagster run has ended).
    """
    user = users.get(conn, name)
    started = running_build(conn, run_is_over)
    if started:
        conn.rollback()
        raise users.UserError(
            f"a marts build is running (since {started}): wait for it to end, then delete {name!r} again "
            "(a build under way could write rows of theirs after the deletion)"
        )
    deleted: dict[str, int] = {}
    with conn.transaction():
        lock_user_raw_rows(conn, user.user_id)
        conn.execute("select 1 from app.users where user_id = %s for update", (user.user_id,))
        for schema, table in user_tables(conn):
            cur = conn.execute(f'delete from "{schema}"."{table}" where user_id = %s', (user.user_id,))
            if cur.rowcount:
                deleted[f"{schema}.{table}"] = cur.rowcount
    conn.commit()
    return Deleted(user.name, user.user_id, deleted)
