"""Keys and isolation: no key or a wrong key is a 401 in every door, a key sees only its own user,
the admin key may name any user, keys are stored hashed and revocable, and each key is rate limited."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import ADMIN_KEY, Listener, World, create_key, make_app, sample_arguments
from builds import app_conn
from click.testing import CliRunner
from fastapi.testclient import TestClient

from mcp_api.tools import TOOLS
from orchestration.cli import main


@pytest.fixture(scope="module")
def client(data: World) -> Iterator[TestClient]:
    with TestClient(make_app()) as c:
        yield c


def call(client: TestClient, headers: dict[str, str], tool: str = "history.top_artists", **args: Any) -> Any:
    return client.post("/mcp/call", json={"tool": tool, "args": args}, headers=headers)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- authentication -------------------------------------------------------------------------------

PROTECTED = ["/mcp/tools", "/v1/history/top-artists", "/v1/ops/sync-status"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        bearer("not-a-key"),
        bearer("shk_00000000_" + "A" * 43),  # well-formed, unknown
        bearer(ADMIN_KEY + "x"),
        bearer(ADMIN_KEY[:-1]),
    ],
    ids=["none", "empty", "no-token", "basic", "garbage", "unknown", "admin+x", "admin-prefix"],
)
def test_no_key_or_a_wrong_key_is_401_everywhere(client: TestClient, headers: dict[str, str]) -> None:
    responses = [client.get(path, headers=headers) for path in PROTECTED]
    responses.append(call(client, headers))
    responses.append(client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers))
    for response in responses:
        assert response.status_code == 401, (response.request.url, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error_type"] == "unauthorized"


def test_a_key_with_a_wrong_secret_is_401(client: TestClient, data: World) -> None:
    key = data["efrrowini"].key
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")  # same prefix (finds the row), other secret
    assert call(client, bearer(tampered)).status_code == 401


def test_public_paths_need_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/openapi.json").status_code == 200


# -- isolation ------------------------------------------------------------------------------------


def test_each_key_reads_its_own_user(client: TestClient, data: World) -> None:
    for listener in data.listeners.values():
        result = call(client, listener.auth, "ops.sync_status").json()["result"]
        assert [u["user_name"] for u in result["users"]] == [listener.name]
        top = call(client, listener.auth, start="2000-01-01", end="2026-12-31").json()["result"]
        assert top["user"] == listener.name and top["total_plays"] == listener.ref.total_plays


def test_a_key_may_name_its_own_user(client: TestClient, data: World) -> None:
    me = data["vnegi10"]
    for ref in (me.name, me.user_id, str(me.user_id)):
        response = call(client, me.auth, user_id=ref)
        assert response.status_code == 200, response.text
        assert response.json()["result"]["user"] == me.name


@pytest.mark.parametrize("tool", list(TOOLS))
def test_a_key_naming_another_user_is_refused_in_every_tool(client: TestClient, data: World, tool: str) -> None:
    me, other = data["efrrowini"], data["vnegi10"]
    required = sample_arguments(TOOLS[tool].args.model_json_schema())
    for ref in (other.name, other.user_id, str(other.user_id), "nobody-at-all", 999_999):
        response = call(client, me.auth, tool, user_id=ref, **required)
        assert response.status_code == 403, (ref, response.text)
        assert other.name not in response.text
    path = TOOLS[tool].path
    response = client.get(path, params={"user_id": other.name, **required}, headers=me.auth)
    assert response.status_code == 403


def test_the_mcp_door_refuses_other_users_too(data: World) -> None:
    """Same rule through /mcp (a JSON-RPC call here; test_api_mcp uses the SDK's client)."""
    me, other = data["efrrowini"], data["vnegi10"]
    with TestClient(make_app(), base_url="http://127.0.0.1:8000") as c:
        response = c.post(
            "/mcp",
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "history.top_artists", "arguments": {"user_id": other.name}},
            },
            headers={**me.auth, "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"},
        )
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["isError"] is True
    assert "own user" in result["content"][0]["text"]


def test_the_admin_key_reads_any_user(client: TestClient, data: World) -> None:
    admin = bearer(ADMIN_KEY)
    for listener in data.listeners.values():
        for ref in (listener.name, listener.user_id):
            result = call(client, admin, user_id=ref, start="2000-01-01", end="2026-12-31").json()["result"]
            assert result["user"] == listener.name and result["total_plays"] == listener.ref.total_plays


def test_the_admin_key_must_name_a_user_for_history(client: TestClient) -> None:
    response = call(client, bearer(ADMIN_KEY))
    assert response.status_code == 400 and "user_id" in response.json()["error"]


def test_the_admin_key_without_user_sees_every_user_in_ops(client: TestClient, data: World) -> None:
    names = {u["user_name"] for u in call(client, bearer(ADMIN_KEY), "ops.sync_status").json()["result"]["users"]}
    assert {listener.name for listener in data.listeners.values()} | {data.empty.name} <= names
    imports = call(client, bearer(ADMIN_KEY), "ops.latest_imports", limit=50).json()["result"]["items"]
    assert {listener.name for listener in data.listeners.values()} <= {i["user_name"] for i in imports}


def test_the_admin_key_naming_nobody_is_404(client: TestClient) -> None:
    response = call(client, bearer(ADMIN_KEY), user_id="nobody-at-all")
    assert response.status_code == 404


def test_without_an_admin_key_configured_nothing_is_admin(data: World) -> None:
    with TestClient(make_app(admin_api_key=None)) as c:
        assert call(c, bearer(ADMIN_KEY)).status_code == 401
        assert call(c, bearer("")).status_code == 401


# -- keys: the CLI, storage, revocation -------------------------------------------------------------


def test_keys_are_stored_hashed_and_listed_without_secrets(data: World) -> None:
    listener = data["allisonkra"]
    with app_conn() as conn:
        rows = conn.execute(
            "select prefix, hash, name from app.api_keys where user_id = %s", (listener.user_id,)
        ).fetchall()
        everything = conn.execute("select string_agg(k::text, ' ') from app.api_keys k").fetchone()
    assert (listener.key[:12], hashlib.sha256(listener.key.encode()).hexdigest(), "tests") in rows
    assert everything is not None and listener.key not in everything[0] and listener.key[13:] not in everything[0]
    result = CliRunner().invoke(main, ["api-key", "list", "--user", listener.name])
    assert result.exit_code == 0 and listener.key[:12] in result.output and listener.key not in result.output
    as_json = CliRunner().invoke(main, ["api-key", "list", "--json"])
    assert listener.key[:12] in as_json.output and listener.key not in as_json.output


def test_create_refuses_an_unknown_user(home: Path) -> None:
    result = CliRunner().invoke(main, ["api-key", "create", "--user", "nobody-at-all"])
    assert result.exit_code != 0 and "nobody-at-all" in result.output


def test_a_revoked_key_stops_working_at_once(client: TestClient, data: World) -> None:
    listener: Listener = data["efrrowini"]
    key = create_key(listener.name, "short-lived")
    assert call(client, bearer(key)).status_code == 200
    result = CliRunner().invoke(main, ["api-key", "revoke", key[:12]])
    assert result.exit_code == 0 and "revoked" in result.output
    assert call(client, bearer(key)).status_code == 401
    again = CliRunner().invoke(main, ["api-key", "revoke", key[:12]])
    assert "already revoked" in again.output
    assert call(client, listener.auth).status_code == 200  # the user's other key still works


def test_revoke_by_id_and_unknown_keys(data: World) -> None:
    key = create_key(data["vnegi10"].name)
    with app_conn() as conn:
        row = conn.execute("select key_id from app.api_keys where prefix = %s", (key[:12],)).fetchone()
    assert row is not None
    assert CliRunner().invoke(main, ["api-key", "revoke", str(row[0])]).exit_code == 0
    for unknown in ("shk_ffffffff", "999999999", "99999999999999999999999"):
        result = CliRunner().invoke(main, ["api-key", "revoke", unknown])
        assert result.exit_code != 0 and "no API key" in result.output


# -- rate limit -------------------------------------------------------------------------------------


def test_each_key_is_rate_limited_with_retry_after(data: World) -> None:
    a, b = data["efrrowini"], data["vnegi10"]
    with TestClient(make_app(rate_limit_per_minute=3)) as c:
        statuses = [call(c, a.auth, "ops.sync_status").status_code for _ in range(3)]
        limited = call(c, a.auth, "ops.sync_status")
        other_key = call(c, b.auth, "ops.sync_status")
        gpt = c.get("/v1/ops/sync-status", headers=a.auth)
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429 and gpt.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error_type"] == "rate_limited"
    assert other_key.status_code == 200  # limits are per key


def test_the_rate_limiter_refills() -> None:
    from mcp_api.ratelimit import RateLimiter

    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one per second, bursts of 60
    assert all(limiter.take("k") == 0 for _ in range(60))
    assert limiter.take("k") == pytest.approx(1.0)
    now[0] += 0.5
    assert limiter.take("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.take("k") == 0
    assert RateLimiter(0).take("k") == 0  # 0 = no limit


# -- logs -------------------------------------------------------------------------------------------


def test_logs_carry_request_ids_but_no_keys(client: TestClient, data: World, caplog: pytest.LogCaptureFixture) -> None:
    listener = data["efrrowini"]
    with caplog.at_level(logging.INFO, logger="mcp_api"):
        ok = call(client, listener.auth, "ops.sync_status")
        call(client, bearer(listener.key[:-1] + "x"))
        call(client, bearer(ADMIN_KEY), user_id=listener.name)
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    access = [r for r in caplog.records if r.name == "mcp_api.access"]
    assert len(access) >= 3
    assert any(getattr(r, "request_id", None) == ok.headers["x-request-id"] for r in access)
    assert any(getattr(r, "tool", None) == "ops.sync_status" and getattr(r, "status", None) == 200 for r in access)
    for secret in (listener.key, listener.key[13:], ADMIN_KEY, "Bearer"):
        assert secret not in text


def test_json_log_lines() -> None:
    import json

    from mcp_api.logs import JsonFormatter

    record = logging.LogRecord("mcp_api.access", logging.INFO, "", 0, "request", None, None)
    record.status = 200
    line = json.loads(JsonFormatter().format(record))
    assert (line["msg"], line["status"], line["level"]) == ("request", 200, "info")
