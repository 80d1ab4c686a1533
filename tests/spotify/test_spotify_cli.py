"""`spotify-history auth …` and `poll`, run as a person would: in a subprocess, against the fake."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from export_files import CLI
from spotify_support import ago, fake_env, plays, user_status
from stored import run_cli

from orchestration.config import get_settings
from orchestration.demo.fake_spotify import FakeSpotify


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(fake: FakeSpotify, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k: v for k, v in fake_env(fake).items() if v is not None})
    env.update(extra)
    return env


def cli_login_no_browser(user: str, fake: FakeSpotify) -> subprocess.CompletedProcess[str]:
    """`auth login --no-browser`: read the printed URL, 'consent' in a browser, paste the redirect URL."""
    env = env_for(fake, SPOTIFY_REDIRECT_PORT=str(free_port()))
    proc = subprocess.Popen(
        [str(CLI), "auth", "login", "--user", user, "--no-browser"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    url = ""
    for line in proc.stdout:
        if line.strip().startswith("http"):
            url = line.strip()
            break
    assert url.startswith(fake.url + "/authorize?"), url
    # The browser is elsewhere: the redirect to 127.0.0.1 would not load; its URL is what gets pasted.
    location = httpx.get(url, follow_redirects=False).headers["location"]
    out, err = proc.communicate(location + "\n", timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture
def name() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


def test_without_client_id_login_explains_what_to_configure(home: Path, name: str) -> None:
    assert run_cli("users", "add", name).returncode == 0
    env = dict(os.environ)
    env.pop("SPOTIFY_CLIENT_ID", None)
    proc = run_cli("auth", "login", "--user", name, env=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "SPOTIFY_CLIENT_ID" in proc.stderr and "http://127.0.0.1:8888/callback" in proc.stderr


def test_login_status_poll_logout(conn: psycopg.Connection, name: str, fake_spotify: FakeSpotify) -> None:
    assert run_cli("users", "add", name).returncode == 0
    fake_spotify.add_account(f"sp-{name}", "CLI Listener")
    fake_spotify.sign_in(f"sp-{name}")
    fake_spotify.add_plays(f"sp-{name}", plays(ago(hours=3), 4))

    login = cli_login_no_browser(name, fake_spotify)
    assert login.returncode == 0, login.stderr
    assert f"linked {name} to Spotify account CLI Listener" in login.stdout
    (authorize,) = fake_spotify.requests_to("authorize")
    assert authorize.params["redirect_uri"].startswith("http://127.0.0.1:")

    env = env_for(fake_spotify)
    polled = run_cli("poll", "--user", name, "--json", env=env)
    assert polled.returncode == 0, polled.stderr
    result = json.loads(polled.stdout.strip().splitlines()[-1])
    assert (result["status"], result["inserted"], result["kind"]) == ("succeeded", 4, "poll")

    status = run_cli("auth", "status", "--json", env=env)
    (mine,) = [json.loads(line) for line in status.stdout.splitlines() if json.loads(line)["user"] == name]
    assert (mine["token"], mine["display_name"], mine["last_poll_status"]) == ("linked", "CLI Listener", "succeeded")

    out = run_cli("auth", "logout", "--user", name, env=env)
    assert out.returncode == 0 and "forgot" in out.stdout
    status = run_cli("auth", "status", "--json", env=env)
    (mine,) = [json.loads(line) for line in status.stdout.splitlines() if json.loads(line)["user"] == name]
    assert mine["token"] == "not_linked"
    # No token ever reached the terminal.
    printed = login.stdout + login.stderr + polled.stdout + polled.stderr + status.stdout
    assert not [t for t in fake_spotify.issued_tokens if t in printed]
    assert user_status(conn, name) == "active"


def test_rotate_key_with_the_key_file(conn: psycopg.Connection, name: str, fake_spotify: FakeSpotify) -> None:
    from spotify_support import link

    from orchestration.spotify.tokens import TokenCipher, TokenStore

    assert run_cli("users", "add", name).returncode == 0
    link(name, fake_spotify)
    key_file = get_settings().token_key_file
    before = key_file.read_text()

    rotated = run_cli("auth", "rotate-key", env=env_for(fake_spotify))
    assert rotated.returncode == 0, rotated.stderr
    after = key_file.read_text()
    assert after != before and len([line for line in after.splitlines() if not line.startswith("#")]) == 1
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    for key in (line for line in after.splitlines() if not line.startswith("#")):
        assert key not in rotated.stdout + rotated.stderr  # keys are never printed
    # Every token opens with the new key alone.
    conn.commit()
    store = TokenStore(TokenCipher.from_settings(get_settings()))
    (uid,) = conn.execute("select user_id from app.users where name = %s", (name,)).fetchone()
    tokens = store.load(conn, uid)
    assert tokens is not None and tokens.refresh_token.get_secret_value() in fake_spotify.issued_tokens


def test_generate_key_prints_a_fernet_key() -> None:
    from cryptography.fernet import Fernet

    proc = run_cli("auth", "generate-key")
    assert proc.returncode == 0
    Fernet(proc.stdout.strip().encode())


def test_login_for_an_unknown_user_fails_plainly(home: Path, fake_spotify: FakeSpotify) -> None:
    proc = run_cli("auth", "login", "--user", "nobody-here", "--no-browser", env=env_for(fake_spotify))
    assert proc.returncode != 0 and "no user named 'nobody-here'" in proc.stderr
