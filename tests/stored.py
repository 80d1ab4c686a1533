"""Reading what the database holds (rows, counts, registry, snapshots of raw) and running the CLI."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from typing import Any

import psycopg
from export_files import CLI, FORMATS, RAW_TABLES, SCRUBBED_IP, ExportFile, Format, _canonical

# -- reading the database -------------------------------------------------------------------------


def user_id(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute("select user_id from app.users where name = %s", (name,)).fetchone()
    assert row is not None, f"no user {name}"
    return int(row[0])


def stored_counts(conn: psycopg.Connection, user: str) -> dict[str, int]:
    """Rows per format stored for a user (formats without rows are left out)."""
    uid = user_id(conn, user)
    counts = {}
    for fmt in FORMATS:
        (n,) = conn.execute(f"select count(*) from raw.{fmt.table} where user_id = %s", (uid,)).fetchone()
        if n:
            counts[fmt.name] = n
    return counts


def stored_identities(conn: psycopg.Connection, user: str) -> list[tuple[Any, ...]]:
    """A user's extended rows as the importer identifies them: (source_file, record_no, ts, record_hash,
    occurrence, ms_played, extra as text), in file order."""
    return conn.execute(
        "select source_file, record_no, ts, record_hash, occurrence, ms_played, extra::text"
        " from raw.extended_streams where user_id = %s order by source_file, record_no",
        (user_id(conn, user),),
    ).fetchall()


def stored_rows(conn: psycopg.Connection, user: str, fmt: Format) -> dict[str, list[tuple[Any, ...]]]:
    """Stored rows per source_file: (record_no, *fields in column order, extra as canonical JSON)."""
    columns = ", ".join(fmt.columns.values())
    by_file: dict[str, list[tuple[Any, ...]]] = {}
    for source_file, record_no, *values, extra in conn.execute(
        f"select source_file, record_no, {columns}, extra from raw.{fmt.table} where user_id = %s",
        (user_id(conn, user),),
    ):
        by_file.setdefault(source_file, []).append((record_no, *values, _canonical(extra)))
    return by_file


def assert_stored_like_files(conn: psycopg.Connection, user: str, files: dict[str, ExportFile]) -> None:
    """Each file's stored rows (keyed by source_file name) are, as a multiset, its JSON records."""
    for fmt in FORMATS:
        expected_names = {name for name, f in files.items() if f.format is fmt}
        stored = stored_rows(conn, user, fmt)
        assert set(stored) == expected_names, f"{fmt.table}: stored source files differ"
        for name in expected_names:
            rows = stored[name]
            want = files[name].rows()
            got = Counter(row[1:] for row in rows)
            missing, unexpected = want - got, got - want
            assert not missing and not unexpected, (
                f"{name}: {sum(missing.values())} record(s) missing, {sum(unexpected.values())} unexpected; "
                f"e.g. missing {list(missing)[:2]}, unexpected {list(unexpected)[:2]}"
            )
            assert sorted(row[0] for row in rows) == list(range(1, len(files[name].records) + 1))


def personal_data_findings(conn: psycopg.Connection, user: str) -> list[str]:
    """Every place a personal field of this user's imports ended up in the database."""
    findings = [
        f"column raw.{table}.{column}"
        for table, column in conn.execute(
            """
            select table_name, column_name from information_schema.columns
            where table_schema = 'raw'
              and (column_name in ('username', 'user_agent_decrypted') or column_name like 'ip\\_addr%%')
            """
        )
    ]
    uid = user_id(conn, user)
    for table in RAW_TABLES:
        (with_keys,) = conn.execute(
            f"""
            select count(*) from raw.{table}
            where user_id = %s and exists (
                select 1 from jsonb_object_keys(coalesce(extra, '{{}}')) k
                where k in ('username', 'user_agent_decrypted') or k like 'ip\\_addr%%')
            """,
            (uid,),
        ).fetchone()
        (with_ip,) = conn.execute(
            f"select count(*) from raw.{table} t where user_id = %s and t::text like %s",
            (uid, f"%{SCRUBBED_IP}%"),
        ).fetchone()
        findings += [
            f"{n} row(s) of raw.{table} {what}"
            for n, what in (
                (with_keys, "with personal keys in extra"),
                (with_ip, f"containing {SCRUBBED_IP}"),
            )
            if n
        ]
    (in_registry,) = conn.execute(
        "select count(*) from app.imports i where user_id = %s and i::text like %s", (uid, f"%{SCRUBBED_IP}%")
    ).fetchone()
    if in_registry:
        findings.append(f"{in_registry} app.imports row(s) containing {SCRUBBED_IP}")
    return findings


def raw_snapshot(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Row count and an md5 over every row of every raw table (all users), ordered by raw_id."""
    conn.commit()  # see other connections' commits
    snapshot = {}
    for table in RAW_TABLES:
        snapshot[table] = conn.execute(
            f"select count(*), md5(coalesce(string_agg(t::text, E'\\n' order by raw_id), '')) from raw.{table} t"
        ).fetchone()
    conn.commit()
    return snapshot


def registry_rows(conn: psycopg.Connection, user: str) -> list[tuple[Any, ...]]:
    """Registry rows of a user, oldest first:
    (import_id, status, error, records, inserted, duplicates, partition_key, dagster_run_id)."""
    conn.commit()
    return conn.execute(
        """
        select import_id, status, error, records, inserted, duplicates, partition_key, dagster_run_id
        from app.imports where user_id = %s order by import_id
        """,
        (user_id(conn, user),),
    ).fetchall()


# -- the command line -----------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`spotify-history ARGS` in a subprocess, with the test session's environment."""
    return subprocess.run(
        [str(CLI), *args],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
