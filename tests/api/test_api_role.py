"""The API's database role reads the marts and nothing else, by privilege (not by habit): every
write fails, raw, staging, intermediate and token tables cannot be read, and a full refresh of the
marts (dbt drops and recreates them) keeps it that way."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from api_support import World, api_url, make_app
from builds import app_conn, build
from fastapi.testclient import TestClient
from psycopg import sql

API_ROLE = "spotify_history_api"
DENIED = (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)


@pytest.fixture
def api(data: World) -> Iterator[psycopg.Connection]:
    with psycopg.connect(api_url(), autocommit=True) as conn:
        yield conn


def relations(schemas: tuple[str, ...]) -> list[tuple[str, str]]:
    with app_conn() as conn:
        rows = conn.execute(
            "select table_schema, table_name from information_schema.tables where table_schema = any(%s) order by 1, 2",
            (list(schemas),),
        ).fetchall()
    return [(schema, name) for schema, name in rows]


def rel(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def test_the_api_connects_as_the_api_role(api: psycopg.Connection) -> None:
    row = api.execute("select current_user, current_setting('default_transaction_read_only')").fetchone()
    assert row == (API_ROLE, "on")
    superuser = api.execute("select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user")
    assert superuser.fetchone() == (False, False, False)


def test_it_reads_every_mart(api: psycopg.Connection) -> None:
    marts = relations(("marts",))
    assert {"top_artists", "top_tracks", "repeat_rate", "listening_heatmap", "coverage", "sync_status"} <= {
        name for _, name in marts
    }
    for schema, name in marts:
        api.execute(sql.SQL("select * from {} limit 1").format(rel(schema, name)))


@pytest.mark.parametrize(
    "statement",
    [
        "insert into marts.top_artists (user_id, local_date, artist_name, plays) values (1, '2024-01-01', 'x', 1)",
        "update marts.top_artists set plays = plays + 1",
        "delete from marts.top_artists",
        "truncate marts.coverage",
        "drop table marts.top_tracks",
        "create table marts.mine (x int)",
        "create table public.mine (x int)",
        "insert into app.api_keys (user_id, prefix, hash) values (1, 'shk_x', repeat('0', 64))",
        "update app.api_keys set revoked_at = null",
        "delete from app.api_keys",
        "update app.users set timezone = 'UTC'",
        "insert into raw.extended_streams (user_id) values (1)",
        "grant select on raw.extended_streams to public",
    ],
)
def test_every_write_fails(api: psycopg.Connection, statement: str) -> None:
    """Refused twice over: the session is read-only, and the role lacks the privilege."""
    with pytest.raises(DENIED):
        api.execute(statement)  # type: ignore[arg-type]
    with pytest.raises(psycopg.errors.InsufficientPrivilege), api.transaction():
        api.execute("set transaction read write")
        api.execute(statement)  # type: ignore[arg-type]


def test_not_even_temporary_tables(api: psycopg.Connection) -> None:
    # PUBLIC may create temporary tables in a database by default; the read-only session still may not.
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        api.execute("create temporary table mine (x int)")


def test_nothing_outside_the_marts_is_readable(api: psycopg.Connection) -> None:
    others = relations(("raw", "app", "staging", "intermediate", "analytics"))
    names = {f"{schema}.{name}" for schema, name in others}
    assert {"raw.extended_streams", "app.users", "app.imports", "intermediate.int_streams"} <= names
    assert "app.spotify_tokens" in names  # the Spotify tokens (migration 0003)
    # The API's own app tables: key checks, and OAuth for /mcp (clients, grants, codes, tokens, link
    # codes; migration 0009; pending consents and wrong-code counters, 0014). Every other relation,
    # users and Spotify tokens included, stays closed.
    api_tables = {"api_keys", "oauth_clients", "oauth_grants", "oauth_codes", "oauth_tokens", "link_codes",
                  "oauth_pending", "oauth_consent_failures"}  # fmt: skip
    for schema, name in others:
        if schema == "app" and name in api_tables:
            continue
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            api.execute(sql.SQL("select 1 from {} limit 1").format(rel(schema, name)))


def test_only_the_key_columns_it_checks(api: psycopg.Connection) -> None:
    api.execute("select key_id, user_id, prefix, hash, revoked_at from app.api_keys limit 1")
    for column in ("name", "created_at"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            api.execute(sql.SQL("select {} from app.api_keys limit 1").format(sql.Identifier(column)))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        api.execute("select * from app.api_keys limit 1")


def test_privileges_as_the_catalog_states_them(data: World) -> None:
    with app_conn() as conn:
        for schema, name in relations(("marts",)):
            privileges = conn.execute(
                "select has_table_privilege(%s, format('%%I.%%I', %s::text, %s::text), p) from unnest(%s::text[]) p",
                (API_ROLE, schema, name, ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES"]),
            ).fetchall()
            assert [p for (p,) in privileges] == [True, False, False, False, False, False], name
        for schema in ("raw", "staging", "intermediate", "public"):
            row = conn.execute("select has_schema_privilege(%s, %s, 'CREATE')", (API_ROLE, schema)).fetchone()
            assert row == (False,), schema


def test_a_full_refresh_keeps_the_marts_readable(data: World) -> None:
    """dbt drops and recreates the marts in a full refresh; its grants config grants them again."""
    with app_conn() as conn:
        before = conn.execute("select oid from pg_class where oid = 'marts.top_artists'::regclass").fetchone()
    build(full_refresh=True)
    with app_conn() as conn:
        after = conn.execute("select oid from pg_class where oid = 'marts.top_artists'::regclass").fetchone()
    assert before != after, "the full refresh recreated the table"
    listener = data["efrrowini"]
    with TestClient(make_app()) as client:
        response = client.post(
            "/mcp/call",
            json={"tool": "history.top_artists", "args": {"start": "2000-01-01", "end": "2026-12-31"}},
            headers=listener.auth,
        )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["total_plays"] == listener.ref.total_plays
