"""`spotify-history serve-api` serves the API as the read-only role; `api-key` issues the keys it checks."""

from __future__ import annotations

import json
import os
import subprocess
import time

import httpx
from api_support import World, free_port
from export_files import CLI
from stored import run_cli

from orchestration.db.roles import API_ROLE, with_role


def test_serve_api_answers_with_keys_as_the_api_role(data: World) -> None:
    listener = data["vnegi10"]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("API_DATABASE_URL", "PUBLIC_BASE_URL")}
    server = subprocess.Popen(
        [str(CLI), "serve-api", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve-api did not come up"
            time.sleep(0.2)
        auth = {"Authorization": f"Bearer {listener.key}"}
        status = httpx.get(f"{base}/v1/ops/sync-status", headers=auth)
        assert status.status_code == 200, status.text
        assert status.json()["users"][0]["user_name"] == listener.name
        assert httpx.get(f"{base}/v1/ops/sync-status").status_code == 401
        assert httpx.get(f"{base}/openapi.json").json()["servers"] == [{"url": base}]
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "mcp_api.access"]
    assert [line["status"] for line in access if line["path"] == "/v1/ops/sync-status"] == [200, 401]
    assert listener.key not in stderr and listener.key[13:] not in stderr


def test_the_api_role_url_is_the_same_server_as_another_user() -> None:
    from psycopg.conninfo import conninfo_to_dict

    url = with_role("postgresql://owner:secret@db.example:5433/spotify_history?sslmode=require", API_ROLE, "pw")
    params = conninfo_to_dict(url)
    assert params == {
        "host": "db.example",
        "port": "5433",
        "dbname": "spotify_history",
        "sslmode": "require",
        "user": API_ROLE,
        "password": "pw",
    }
    assert "secret" not in url


def test_serve_api_and_api_key_are_commands() -> None:
    help_text = run_cli("--help").stdout
    assert "serve-api" in help_text and "api-key" in help_text
    serve_help = run_cli("serve-api", "--help").stdout
    assert "--host" in serve_help and "--port" in serve_help
    key_help = run_cli("api-key", "--help").stdout
    assert all(word in key_help for word in ("create", "list", "revoke"))
