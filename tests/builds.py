"""dbt builds and mart snapshots for the tests: import, build, compare full and incremental."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

# -- dbt builds and marts -------------------------------------------------------------------------

MART_SCHEMA = "marts"
SAVED_SCHEMA = "test_saved_incremental"
"""Where full_refresh_snapshot parks the incremental state while a full refresh runs."""
BATCH_COLUMNS = frozenset(
    {
        "batch_at",
        "source_batch_at",
        "built_at",
        "renamed",
        "previous_track_name",
        "previous_artist_name",
        "previous_album_name",
    }
)
"""When a row was (re)built, and what the last rewrite changed (int_streams): the only columns an
incremental and a full build may disagree on."""


def app_conn() -> psycopg.Connection:
    """An autocommit connection: reading between dbt builds must not hold locks dbt waits for."""
    from orchestration.db import connect

    return connect(autocommit=True)


def new_user(timezone: str, prefix: str = "m") -> tuple[str, int]:
    """A user nobody else uses, in `timezone`: (name, user_id)."""
    import uuid

    from orchestration import users

    with app_conn() as conn:
        user = users.add(conn, f"{prefix}{uuid.uuid4().hex[:10]}", timezone)
    return user.name, user.user_id


def import_as(user: str, path: Path) -> dict[str, Any]:
    """Import `path` for `user` as a Dagster run (what `spotify-history import` does); its registry row."""
    from orchestration.cli.in_process import run_import
    from orchestration.imports.importer import NoProgress

    row = run_import(path, user, NoProgress())
    assert row["status"] == "succeeded", row
    return row


BUILT_DATABASES: set[str] = set()
"""Application databases a build() of this session succeeded on (see ensure_built)."""


def build(full_refresh: bool = False) -> dict[str, Any]:
    """`dbt build` as the refresh_marts Dagster job; it must succeed with no failed test."""
    from orchestration.cli.in_process import run_refresh
    from orchestration.db import app_database_url

    summary = run_refresh(full_refresh=full_refresh)
    assert summary["success"], f"dbt build failed: {summary['error']}"
    assert summary["failed_tests"] == [], summary["failed_tests"]
    BUILT_DATABASES.add(app_database_url())
    return summary


def run_models(full_refresh: bool = False, select: str | None = None) -> None:
    """The dbt models alone: `dbt run` (no data tests, no Dagster run); `select`: only these models.

    For tests of what the models compute (incremental == full refresh): a whole build() adds ≈ 150
    data tests as Dagster asset checks and the run's event log, minutes over a module's many builds,
    while the data tests themselves run in every build() of the other marts tests.
    """
    from orchestration.db import app_database_url
    from orchestration.defs.dbt.project import dbt_project, run_dbt

    # A target folder per test worker: parallel workers must not write one manifest or parse state.
    target = Path(dbt_project().project_dir) / "target" / f"tests-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    args = ["run", "--quiet", *(["--full-refresh"] if full_refresh else []), *(["--select", select] if select else [])]
    proc = run_dbt(args, target_path=target, capture_output=True, check=False)
    assert proc.returncode == 0, f"dbt run failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"
    BUILT_DATABASES.add(app_database_url())


POLLED_TRACK_URI = "spotify:track:4uLU6hMCjMI75M1A2tKUQC"


def polled_play(played_at: str, title: str, uri: str = POLLED_TRACK_URI) -> dict[str, Any]:
    """A recently-played item as Spotify's API sends it (artist "API Artist", album "API Album")."""
    return {
        "played_at": played_at,
        "track": {
            "id": uri.rsplit(":", 1)[-1],
            "uri": uri,
            "name": title,
            "duration_ms": 200_000,
            "artists": [{"name": "API Artist"}],
            "album": {"name": "API Album"},
        },
    }


def store_polled_plays(user_id: int, plays: Sequence[dict[str, Any]]) -> int:
    """Spotify recently-played items (the API's JSON shape) stored as a poll stores them; how many were new."""
    from orchestration.spotify.models import PlayHistory
    from orchestration.spotify.storage import finish_sync, start_sync, store_plays

    items = [PlayHistory.model_validate(play) for play in plays]
    with app_conn() as conn:
        sync = start_sync(conn, user_id=user_id, kind="poll", partition_key=None, run_id=None)
        sync.saw(items)
        sync.inserted = store_plays(conn, user_id, sync.sync_id, items)
        sync.status = "succeeded"
        finish_sync(conn, sync)
    return sync.inserted


def import_rows(user: str, path: Path) -> dict[str, Any]:
    """Import `path` for `user` with the importer alone (no Dagster run): for tests of what the models
    make of raw rows; the import runs themselves are tested in test_dagster_imports."""
    from orchestration.imports.importer import import_path

    return import_path(path, user).as_json()


def ensure_built() -> None:
    """Every dbt model exists in the current database: build() unless one already succeeded this session.

    For tests that need the relations, not a particular build (the dbt unit tests read their
    models' parents' column types): in a whole run they reuse an earlier build, alone they build.
    """
    from orchestration.db import app_database_url

    if app_database_url() not in BUILT_DATABASES or missing_models():
        build()


def missing_models() -> list[str]:
    """dbt models without a relation in the current database (a test may have dropped a view since)."""
    from orchestration.db import connect
    from orchestration.defs.dbt.project import dbt_project

    nodes = json.loads(dbt_project().manifest_path.read_text())["nodes"].values()
    wanted = {(n["schema"], n["alias"]) for n in nodes if n["resource_type"] == "model"}
    with connect() as conn:
        have = set(conn.execute("select table_schema, table_name from information_schema.tables").fetchall())
    return sorted(f"{schema}.{name}" for schema, name in wanted - have)


def relations(conn: psycopg.Connection, schema: str, *, tables_only: bool = False) -> list[str]:
    kinds = ("BASE TABLE",) if tables_only else ("BASE TABLE", "VIEW")
    rows = conn.execute(
        "select table_name from information_schema.tables where table_schema = %s and table_type = any(%s) "
        "order by table_name",
        (schema, list(kinds)),
    ).fetchall()
    return [name for (name,) in rows]


def columns_of(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
        "order by ordinal_position",
        (schema, table),
    ).fetchall()
    return [name for (name,) in rows]


def per_user_relations(conn: psycopg.Connection) -> list[str]:
    """intermediate.int_streams and every mart (table or view) with a user_id column, as schema.name."""
    names = ["intermediate.int_streams"]
    for name in relations(conn, MART_SCHEMA):
        if "user_id" in columns_of(conn, MART_SCHEMA, name):
            names.append(f"{MART_SCHEMA}.{name}")
    return names


def _sort_key(row: tuple[Any, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((v is None, repr(v)) for v in row)


def _hashable(value: Any) -> Any:
    """JSON columns come back as dicts and lists: compare them as canonical JSON text."""
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def user_rows(conn: psycopg.Connection, relation: str, user_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """A relation's rows of these users, every column but the batch stamps, in a fixed order."""
    schema, name = relation.split(".")
    cols = [c for c in columns_of(conn, schema, name) if c not in BATCH_COLUMNS]
    select = ", ".join(f'"{c}"' for c in cols)
    rows = conn.execute(f'select {select} from {schema}."{name}" where user_id = any(%s)', (list(user_ids),)).fetchall()
    return sorted((tuple(_hashable(v) for v in row) for row in rows), key=_sort_key)


def snapshot(user_ids: Sequence[int]) -> dict[str, list[tuple[Any, ...]]]:
    """int_streams and every mart, restricted to these users (see user_rows)."""
    with app_conn() as conn:
        return {rel: user_rows(conn, rel, user_ids) for rel in per_user_relations(conn)}


def full_refresh_snapshot(user_ids: Sequence[int]) -> dict[str, list[tuple[Any, ...]]]:
    """What a full refresh (`run_models(full_refresh=True)`) builds for these users, from the same raw rows.

    The incremental state is parked in a scratch schema and put back afterwards, so the next
    incremental build continues from what the incremental builds made (not from the full
    refresh): a chain of incremental builds is tested as such.
    """
    with app_conn() as conn:
        saved = [
            (schema, name)
            for schema in ("intermediate", MART_SCHEMA)
            for name in relations(conn, schema, tables_only=True)
        ]
        conn.execute(f"drop schema if exists {SAVED_SCHEMA} cascade")
        conn.execute(f"create schema {SAVED_SCHEMA}")
        for schema, name in saved:
            conn.execute(f'create table {SAVED_SCHEMA}."{schema}__{name}" as table {schema}."{name}"')
    try:
        run_models(full_refresh=True)
        return snapshot(user_ids)
    finally:
        with app_conn() as conn, conn.transaction():
            for schema, name in saved:
                cols = ", ".join(f'"{c}"' for c in columns_of(conn, SAVED_SCHEMA, f"{schema}__{name}"))
                conn.execute(f'truncate {schema}."{name}"')
                conn.execute(
                    f'insert into {schema}."{name}" ({cols}) select {cols} from {SAVED_SCHEMA}."{schema}__{name}"'
                )
            conn.execute(f"drop schema {SAVED_SCHEMA} cascade")


def assert_same_snapshots(
    got: dict[str, list[tuple[Any, ...]]], want: dict[str, list[tuple[Any, ...]]], what: str
) -> None:
    """Equal relation by relation; a difference is shown as the rows only one side has."""
    assert sorted(got) == sorted(want), f"{what}: different relations"
    problems = []
    for relation in sorted(want):
        g, w = Counter(got[relation]), Counter(want[relation])
        if g != w:
            only_got, only_want = list((g - w).elements()), list((w - g).elements())
            problems.append(
                f"{relation}: {len(only_got)} row(s) only incremental, {len(only_want)} only full refresh; "
                f"e.g. incremental {only_got[:2]}, full refresh {only_want[:2]}"
            )
    assert not problems, f"{what}: incremental build differs from a full refresh:\n" + "\n".join(problems)


def table_fingerprint(conn: psycopg.Connection, relation: str, order_by: str) -> tuple[int, str]:
    """Row count and md5 over every row of a whole relation (all users, all columns)."""
    schema, name = relation.split(".")
    return conn.execute(
        f"select count(*), md5(coalesce(string_agg(t::text, E'\\n' order by {order_by}), '')) "
        f'from {schema}."{name}" t'
    ).fetchone()
