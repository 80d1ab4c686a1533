"""Helpers shared by the export-ingestion tests.

The expected side of every comparison is computed here from the export JSON itself, with a
description of the formats written independently of orchestration.exports.formats: if the
product maps a key to the wrong column, drops a record or keeps a personal field, the
comparison with what these helpers derive from the files fails.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parents[1]
SHARED_EXPORTS = Path(os.environ.get("SPOTIFY_TEST_EXPORTS") or REPO.parent / "shared" / "testdata" / "exports")
"""The real-export corpus (not in the repository): $SPOTIFY_TEST_EXPORTS, default ../shared/testdata/exports.
Tests that need it request the `shared_exports` fixture (or call require_shared_exports) and skip without it."""
CLI = Path(sys.executable).with_name("spotify-history")

EXTENDED_FOLDER = "Spotify Extended Streaming History"
ACCOUNT_FOLDER = "MyData"

PERSONAL_KEYS = frozenset({"username", "ip_addr", "ip_addr_decrypted", "user_agent_decrypted"})
SCRUBBED_IP = "192.0.2.0"

EXTENDED_KEYS = (
    "ts",
    "platform",
    "ms_played",
    "conn_country",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "audiobook_chapter_uri",
    "audiobook_chapter_title",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "offline_timestamp",
    "incognito_mode",
)


@dataclass(frozen=True)
class Format:
    """One export format as the tests see it: raw table and JSON key -> raw column."""

    name: str
    table: str
    columns: dict[str, str]
    marker: str
    """A key only this format's records have."""

    @property
    def time_key(self) -> str:
        return "ts" if "ts" in self.columns else "endTime"


FORMATS = (
    Format("extended", "extended_streams", {k: k for k in EXTENDED_KEYS}, "ts"),
    Format(
        "account_music",
        "account_music_streams",
        {
            "endTime": "end_time",
            "artistName": "artist_name",
            "trackName": "track_name",
            "msPlayed": "ms_played",
        },
        "trackName",
    ),
    Format(
        "account_podcast",
        "account_podcast_streams",
        {
            "endTime": "end_time",
            "podcastName": "podcast_name",
            "episodeName": "episode_name",
            "msPlayed": "ms_played",
        },
        "podcastName",
    ),
    Format(
        "account_audiobook",
        "account_audiobook_streams",
        {
            "endTime": "end_time",
            "audiobookName": "audiobook_name",
            "chapterName": "chapter_name",
            "authorName": "author_name",
            "msPlayed": "ms_played",
        },
        "audiobookName",
    ),
)
FORMATS_BY_NAME = {f.name: f for f in FORMATS}
RAW_TABLES = tuple(f.table for f in FORMATS)


def format_of(record: dict[str, Any]) -> Format:
    return next(f for f in FORMATS if f.marker in record)


def parse_time(text: str) -> datetime:
    """`ts` (2024-01-31T23:59:59Z) or `endTime` (2024-01-31 23:59), both UTC, as an aware datetime."""
    pattern = "%Y-%m-%dT%H:%M:%SZ" if "T" in text else "%Y-%m-%d %H:%M"
    return datetime.strptime(text, pattern).replace(tzinfo=UTC)


def expected_extra(fmt: Format, record: dict[str, Any]) -> dict[str, Any] | None:
    extra = {k: v for k, v in record.items() if k not in fmt.columns and not is_personal(k)}
    return extra or None


def is_personal(key: str) -> bool:
    return key in PERSONAL_KEYS or key.startswith("ip_addr")


def _canonical(extra: dict[str, Any] | None) -> str | None:
    return None if extra is None else json.dumps(extra, sort_keys=True, ensure_ascii=False)


def expected_row(fmt: Format, record: dict[str, Any]) -> tuple[Any, ...]:
    """The stored fields of a record in column order: times as aware UTC, missing keys None."""
    values = [record.get(key) for key in fmt.columns]
    values[0] = parse_time(values[0])
    return (*values, _canonical(expected_extra(fmt, record)))


def require_shared_exports() -> Path:
    """The corpus folder; skips the calling test when it is absent (a clone with nothing beside it)."""
    import pytest

    if not SHARED_EXPORTS.is_dir():
        pytest.skip(f"real-export corpus not found at {SHARED_EXPORTS}: set SPOTIFY_TEST_EXPORTS to its folder")
    return SHARED_EXPORTS


# -- export files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFile:
    path: Path
    rel: str
    """Path relative to its export folder (what a folder import records as source_file)."""
    records: list[dict[str, Any]]

    @cached_property
    def format(self) -> Format:
        kinds = {format_of(r).name for r in self.records}
        assert len(kinds) == 1, f"{self.rel} mixes formats {kinds}"
        return FORMATS_BY_NAME[kinds.pop()]

    @property
    def zip_name(self) -> str:
        """Where Spotify's own ZIP puts this file."""
        folder = EXTENDED_FOLDER if self.format.name == "extended" else ACCOUNT_FOLDER
        return f"{folder}/{self.path.name}"

    def rows(self) -> Counter[tuple[Any, ...]]:
        return Counter(expected_row(self.format, r) for r in self.records)


def load_export_folder(folder: Path) -> list[ExportFile]:
    files = [
        ExportFile(path, path.relative_to(folder).as_posix(), json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.rglob("*.json"))
    ]
    assert files, f"no JSON files in {folder}"
    return files


def records_per_format(files: Iterable[ExportFile]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for f in files:
        counts[f.format.name] += len(f.records)
    return dict(counts)


def time_span(files: Iterable[ExportFile]) -> tuple[datetime, datetime]:
    times = [parse_time(r[f.format.time_key]) for f in files for r in f.records]
    return min(times), max(times)


def in_file_duplicates(records: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Records that occur more than once, identical key for key and value for value, with their count."""
    counts = Counter(json.dumps(r, ensure_ascii=False) for r in records)
    return {text: n for text, n in counts.items() if n > 1}


# -- building inputs ------------------------------------------------------------------------------

USERDATA = {
    "username": "listener",
    "email": "listener@example.org",
    "country": "DE",
    "birthdate": "1990-01-01",
}
SEARCH_QUERIES = [
    {
        "platform": "ANDROID",
        "searchTime": "2024-01-02T10:11:12.000Z[UTC]",
        "searchQuery": "daft punk",
        "searchInteractionURIs": ["spotify:artist:4tZwfgrHOc3mvqYlEYSvVi"],
    }
]
NON_HISTORY_ENTRIES = {
    f"{ACCOUNT_FOLDER}/Userdata.json": json.dumps(USERDATA).encode(),
    f"{ACCOUNT_FOLDER}/SearchQueries.json": json.dumps(SEARCH_QUERIES).encode(),
    "ReadMeFirst.pdf": b"%PDF-1.4\n% not really a PDF\n%%EOF\n",
}


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def spotify_zip(path: Path, files: Iterable[ExportFile], *, with_extras: bool = True) -> Path:
    """A ZIP laid out like Spotify's own download, plus the non-history files it ships."""
    files = list(files)
    entries = {f.zip_name: f.path.read_bytes() for f in files}
    assert len(entries) == len(files), "two files would share one name in the ZIP"
    return write_zip(path, {**entries, **(NON_HISTORY_ENTRIES if with_extras else {})})


def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix, so external_attr carries the mode
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def extended_record(ts: str, ms_played: int = 200_000, **fields: Any) -> dict[str, Any]:
    """A v2 extended record for a music stream; `fields` override or add keys."""
    record: dict[str, Any] = {
        "ts": ts,
        "platform": "android",
        "ms_played": ms_played,
        "conn_country": "DE",
        "ip_addr": SCRUBBED_IP,
        "master_metadata_track_name": f"Track at {ts}",
        "master_metadata_album_artist_name": "Some Artist",
        "master_metadata_album_album_name": "Some Album",
        "spotify_track_uri": "spotify:track:0000000000000000000001",
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "offline_timestamp": 1_700_000_000,
        "incognito_mode": False,
    }
    record.update(fields)
    return record


def extended_records(n: int, day: str = "2020-03-01") -> list[dict[str, Any]]:
    return [extended_record(f"{day}T10:{i // 60:02d}:{i % 60:02d}Z", 100_000 + i) for i in range(n)]


def copy_into(folder: Path, *sources: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(src, folder / src.name)) for src in sources]


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
    from orchestration.defs.in_process import run_import
    from orchestration.loading.importer import NoProgress

    row = run_import(path, user, NoProgress())
    assert row["status"] == "succeeded", row
    return row


BUILT_DATABASES: set[str] = set()
"""Application databases a build() of this session succeeded on (see ensure_built)."""


def build(full_refresh: bool = False) -> dict[str, Any]:
    """`dbt build` as the refresh_marts Dagster job; it must succeed with no failed test."""
    from orchestration.db import app_database_url
    from orchestration.defs.in_process import run_refresh

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
    from orchestration.loading.importer import import_path

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
