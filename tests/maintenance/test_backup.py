"""`spotify-history backup` / `restore`: run as a user would, in new homes with their own embedded Postgres.

A listener is imported, built, given an API key and a Spotify link in home A; A is backed up; the backup is
restored into new homes. The restored home answers the same (every mart, every raw row count, the key), before
and after `refresh`; without A's token key the Spotify link reads needs_reauth, with it linked; a home that
holds data is refused unless --force; a file that is not a backup is refused by name.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from homes import cli, environment, python

EXPORT = Path(__file__).resolve().parents[1] / "fixtures" / "exports" / "extended-berlin"

SNAPSHOT = """
import json
from orchestration.db import connect
with connect() as conn:
    out = {}
    for schema, table in conn.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('marts', 'raw') and table_type = 'BASE TABLE' order by 1, 2"
    ).fetchall():
        out[f"{schema}.{table}"] = conn.execute(
            "select count(*), md5(coalesce(string_agg(t::text, ',' order by t::text), '')) "
            f'from "{schema}"."{table}" t'
        ).fetchone()
    out["keys"] = conn.execute("select string_agg(hash, ',' order by key_id) from app.api_keys").fetchone()
    print(json.dumps(out, default=str))
"""

STORE_TOKEN = """
from pydantic import SecretStr
from orchestration.config import get_settings
from orchestration.db import connect
from orchestration.spotify.tokens import TokenCipher
cipher = TokenCipher.from_settings(get_settings())
with connect() as conn:
    conn.execute(
        "insert into app.spotify_tokens (user_id, refresh_token_enc) "
        "select user_id, %s from app.users where name = 'alice'",
        (cipher.encrypt(SecretStr("refresh-token-of-alice")),),
    )
    conn.commit()
"""


def snapshot(env: dict[str, str]) -> dict[str, object]:
    return json.loads(python(env, SNAPSHOT))


def token_status(env: dict[str, str]) -> str:
    lines = [json.loads(line) for line in cli(env, "auth", "status", "--json").stdout.splitlines() if line]
    return next(link["token"] for link in lines if link["user"] == "alice")


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("backup")
    yield root
    for home in root.iterdir():
        if (home / "postgres").exists():
            cli(environment(home), "db", "stop", ok=False)


@pytest.fixture(scope="module")
def original(homes: Path) -> tuple[dict[str, str], Path, dict[str, object]]:
    env = environment(homes / "a")
    cli(env, "users", "add", "alice", "--timezone", "Europe/Berlin")
    cli(env, "import", "--user", "alice", str(EXPORT))
    cli(env, "refresh")
    cli(env, "api-key", "create", "--user", "alice")
    python(env, STORE_TOKEN)
    assert token_status(env) == "linked"
    backup = homes / "alice.backup"
    done = cli(env, "backup", str(backup))
    assert "token key is not in the backup" in done.stdout
    return env, backup, snapshot(env)


def test_restore_into_a_new_home_answers_the_same(original: tuple[dict[str, str], Path, dict[str, object]],
                                                  homes: Path) -> None:  # fmt: skip
    _, backup, before = original
    env = environment(homes / "b")
    done = cli(env, "restore", str(backup))
    assert "needs re-auth: alice" in done.stdout
    restored = snapshot(env)
    assert restored == before
    assert before["marts.top_artists"][0] > 0 and before["raw.extended_streams"][0] > 0  # type: ignore[index]
    assert token_status(env) == "needs_reauth", "without A's key the link cannot be used"
    assert "alice" in cli(env, "users", "list").stdout and "extended-berlin" in cli(env, "imports").stdout
    cli(env, "refresh")
    after = snapshot(env)
    assert {k: v for k, v in after.items() if k.startswith("raw.")} == {
        k: v for k, v in before.items() if k.startswith("raw.")
    }
    for mart in ("marts.top_artists", "marts.top_tracks", "marts.listening_heatmap", "marts.repeat_rate"):
        if mart in before:
            assert after[mart] == before[mart], mart


def test_with_the_token_key_the_spotify_link_survives(original: tuple[dict[str, str], Path, dict[str, object]],
                                                      homes: Path) -> None:  # fmt: skip
    env_a, backup, _ = original
    home = homes / "c"
    (home / "secrets").mkdir(parents=True)
    key = Path(env_a["SPOTIFY_HISTORY_HOME"]) / "secrets" / "token_encryption.key"
    shutil.copy(key, home / "secrets" / "token_encryption.key")
    (home / "secrets" / "token_encryption.key").chmod(0o600)
    env = environment(home)
    done = cli(env, "restore", str(backup))
    assert "needs re-auth" not in done.stdout
    assert token_status(env) == "linked"


def test_a_home_with_data_is_refused_unless_forced(original: tuple[dict[str, str], Path, dict[str, object]]) -> None:
    env, backup, before = original
    refused = cli(env, "restore", str(backup), ok=False)
    assert refused.returncode == 1
    assert "already holds data" in refused.stderr and "--force" in refused.stderr
    assert snapshot(env) == before
    cli(env, "restore", str(backup), "--force")
    assert snapshot(env) == before


def test_a_file_that_is_not_a_backup_is_refused(homes: Path, tmp_path: Path) -> None:
    env = environment(homes / "d")
    junk = tmp_path / "notes.backup"
    junk.write_text("not a backup")
    done = cli(env, "restore", str(junk), ok=False)
    assert done.returncode == 1 and "is not a spotify-history backup" in done.stderr
    missing = cli(env, "restore", str(tmp_path / "missing.backup"), ok=False)
    assert missing.returncode != 0 and "missing.backup" in missing.stderr


def test_the_daily_backup_job_writes_and_keeps_the_newest(home: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from orchestration.config import reload_settings
    from orchestration.defs.maintenance.backups import backup_job, backup_schedule
    from orchestration.maintenance.backup import read_manifest

    monkeypatch.setenv("BACKUP_KEEP", "2")
    monkeypatch.delenv("BACKUP_DIR", raising=False)
    settings = reload_settings()
    assert backup_schedule(settings).default_status.value == "STOPPED"
    assert not backup_job.execute_in_process(raise_on_error=False).success, "no BACKUP_DIR: the run fails"

    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    settings = reload_settings()
    assert backup_schedule(settings).default_status.value == "RUNNING"
    written = []
    for _ in range(3):
        assert backup_job.execute_in_process().success
        written.append(max((tmp_path / "backups").glob("spotify-history-*.backup")))
    kept = sorted((tmp_path / "backups").glob("*.backup"))
    assert len(kept) == 2 and kept[-1] == written[-1]
    assert read_manifest(kept[-1]).databases == ["app", "dagster"]
    monkeypatch.undo()
    reload_settings()
