"""What a server deployment sets (issue 22, item 2): `prepare --wait-for-database`, the forwarded-header
trust and the default public URL of `serve-api`, and inbox folders a host user can add files to."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from api_support import free_port
from click.testing import CliRunner

from orchestration.inbox import user_folder

CLI = Path(sys.executable).with_name("spotify-history")


def test_prepare_waits_for_the_database_then_says_why_it_gave_up(tmp_path: Path) -> None:
    secret = "not-the-real-password-42"
    url = f"postgresql://spotify:{secret}@127.0.0.1:{free_port()}/spotify_history"  # nothing listens there
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DAGSTER_", "SPOTIFY_HISTORY"))}
    env |= {"DATABASE_URL": url, "SPOTIFY_HISTORY_HOME": str(tmp_path)}
    done = subprocess.run(
        [str(CLI), "prepare", "--wait-for-database", "3"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "waiting up to 3 s for database spotify_history on 127.0.0.1:" in done.stderr
    assert "error: cannot reach the database: database spotify_history on 127.0.0.1:" in done.stderr
    assert "did not accept connections within 3 s" in done.stderr
    assert secret not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("env", "trusted", "public"),
    [
        ({}, "127.0.0.1", "http://127.0.0.1:{port}"),
        ({"FORWARDED_ALLOW_IPS": "", "PUBLIC_BASE_URL": ""}, "127.0.0.1", "http://127.0.0.1:{port}"),
        (
            {"FORWARDED_ALLOW_IPS": "172.16.0.0/12", "PUBLIC_BASE_URL": "https://history.example.org"},
            "172.16.0.0/12",
            "https://history.example.org",
        ),
    ],
)
def test_serve_api_trusts_forwarded_headers_from_forwarded_allow_ips(
    home: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], trusted: str, public: str
) -> None:
    import uvicorn

    from orchestration.cli import main
    from orchestration.config import reload_settings

    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs, public=os.environ["PUBLIC_BASE_URL"])
    )
    for key in ("FORWARDED_ALLOW_IPS", "PUBLIC_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # serve-api drops the owner's credentials from its environment: monkeypatch puts them back after.
    for key in (
        "DATABASE_URL",
        "DAGSTER_DATABASE_URL",
        "SPOTIFY_HISTORY_DAGSTER_PG_URL",
        "PGPASSWORD",
        "API_DATABASE_URL",
    ):
        if key in os.environ:
            monkeypatch.setenv(key, os.environ[key])
        else:
            monkeypatch.delenv(key, raising=False)
    reload_settings()
    port = free_port()
    try:
        result = CliRunner().invoke(main, ["serve-api", "--port", str(port)])
    finally:
        monkeypatch.undo()
        reload_settings()
    assert result.exit_code == 0, result.output
    assert (seen["proxy_headers"], seen["forwarded_allow_ips"]) == (True, trusted)
    assert seen["public"] == public.format(port=port)


def test_a_new_user_folder_is_as_group_writable_as_the_inbox(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    root.chmod(0o2775)  # docs/deployment.md: the inbox shared with the host user's group
    old = os.umask(0o022)  # the services' umask
    try:
        folder = user_folder(root, "alice")
        private = user_folder(tmp_path / "private", "bob")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(folder.stat().st_mode)
    assert mode & stat.S_IWGRP and mode & stat.S_ISGID, oct(mode)
    assert not stat.S_IMODE(private.stat().st_mode) & stat.S_IWGRP  # a private inbox stays private
    folder.chmod(0o755)
    assert stat.S_IMODE(user_folder(root, "alice").stat().st_mode) == 0o755  # existing folders are left alone
