"""/mcp serves both protocol eras to a real uvicorn: the SDK's default (probing) client negotiates the
2026-07-28 revision, a raw `server/discover` + `tools/list` + `tools/call` exchange without
`initialize` works with an API key, handshake-era clients (2025-06-18, 2025-11-25) still
`initialize`; the routing headers open nothing the key does not; the server and every tool carry
inline SVG icons. (The same with an OAuth token: tests/oauth/test_mcp_revisions_oauth.py; over stdio:
tests/api/test_mcp_stdio.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from api_support import World, live_server
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_wire import HANDSHAKE_ERAS, MODERN, assert_svg_icons, initialize, legacy, modern, modern_body, modern_headers

from mcp_api.tools import TOOLS

BROWSER_ORIGIN = "https://assistant.example"
HINTS = {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False}


@pytest.fixture(scope="module")
def base(data: World) -> Iterator[str]:
    with live_server(cors_origins=[BROWSER_ORIGIN]) as url:
        yield url


def dispatcher(base: str, auth: dict[str, str], tool: str, args: dict[str, Any]) -> Any:
    response = httpx.post(f"{base}/mcp/call", json={"tool": tool, "args": args}, headers=auth, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["result"]


async def _sdk_client(base: str, auth: dict[str, str], mode: str) -> dict[str, Any]:
    sent: list[str | None] = []  # the Mcp-Method of every POST the client makes (None: a handshake-era one)

    async def record(request: httpx2.Request) -> None:
        if request.method == "POST":
            sent.append(request.headers.get("mcp-method"))

    async with (
        httpx2.AsyncClient(headers=auth, timeout=30, event_hooks={"request": [record]}) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client,
    ):
        tools = (await client.list_tools()).tools
        call = await client.call_tool("history.coverage", {"start": "2024-01-01", "end": "2024-12-31"})
        return {
            "version": client.protocol_version,
            "discovered": client.session.discover_result is not None,
            "server": client.server_info,
            "tools": tools,
            "call": call,
            "sent": sent,
        }


def test_the_sdk_default_client_negotiates_the_current_revision(base: str, data: World) -> None:
    listener = data["efrrowini"]
    seen = asyncio.run(_sdk_client(base, listener.auth, "auto"))
    assert seen["version"] == MODERN == "2026-07-28"
    assert seen["discovered"], "the server did not answer server/discover"
    assert seen["sent"][0] == "server/discover" and None not in seen["sent"]  # no initialize, no fallback
    assert seen["server"] is not None and seen["server"].name == "spotify-history"
    assert_svg_icons(seen["server"].icons)  # serverInfo rides the discover result's _meta
    assert [t.name for t in seen["tools"]] == list(TOOLS)
    for tool in seen["tools"]:
        assert tool.title == TOOLS[tool.name].title
        assert_svg_icons(tool.icons)
    call = seen["call"]
    assert call.is_error is False, call.content
    args = {"start": "2024-01-01", "end": "2024-12-31"}
    assert call.structured_content == dispatcher(base, listener.auth, "history.coverage", args)


def test_the_sdk_legacy_client_still_initializes(base: str, data: World) -> None:
    seen = asyncio.run(_sdk_client(base, data["efrrowini"].auth, "legacy"))
    assert seen["version"] == "2025-11-25" and not seen["discovered"]
    assert seen["sent"][0] is None  # initialize, sent without routing headers
    assert_svg_icons(seen["server"].icons)
    assert all(t.icons for t in seen["tools"]) and seen["call"].is_error is False


def test_a_raw_exchange_without_initialize(base: str, data: World) -> None:
    listener = data["vnegi10"]
    discover = modern(base, listener.auth, "server/discover")
    assert discover.status_code == 200, discover.text
    assert "mcp-session-id" not in discover.headers  # the revision has no sessions
    found = discover.json()["result"]
    assert MODERN in found["supportedVersions"] and "tools" in found["capabilities"]
    assert "Spotify listening history" in found["instructions"]
    server = found["_meta"]["io.modelcontextprotocol/serverInfo"]
    assert server["name"] == "spotify-history" and server["title"] == "Spotify listening history"
    assert_svg_icons(server["icons"])

    listed = modern(base, listener.auth, "tools/list")
    assert listed.status_code == 200, listed.text
    tools = listed.json()["result"]["tools"]
    assert [t["name"] for t in tools] == list(TOOLS)
    for tool in tools:
        assert tool["title"] == TOOLS[tool["name"]].title and tool["annotations"] == HINTS
        assert tool["inputSchema"] == TOOLS[tool["name"]].args.model_json_schema()
        assert_svg_icons(tool["icons"])

    args = {"start": "2021-01-01", "end": "2021-12-31", "limit": 3}
    called = modern(base, listener.auth, "tools/call", {"name": "history.top_tracks", "arguments": args})
    assert called.status_code == 200, called.text
    result = called.json()["result"]
    assert result.get("isError") is not True, result
    assert result["structuredContent"] == dispatcher(base, listener.auth, "history.top_tracks", args)

    wrong = modern(base, listener.auth, "tools/call", {"name": "history.top_tracks", "arguments": {"limit": 99}})
    assert wrong.json()["result"]["isError"] is True  # a tool error, as in the handshake era


@pytest.mark.parametrize("version", HANDSHAKE_ERAS)
def test_handshake_eras_still_initialize(base: str, data: World, version: str) -> None:
    listener = data["allisonkra"]
    hello = initialize(base, listener.auth, version)
    assert hello.status_code == 200, hello.text
    result = hello.json()["result"]
    assert result["protocolVersion"] == version and result["serverInfo"]["name"] == "spotify-history"
    assert_svg_icons(result["serverInfo"]["icons"])
    listed = legacy(base, listener.auth, version, "tools/list", {})
    assert listed.status_code == 200, listed.text
    for tool in listed.json()["result"]["tools"]:
        assert_svg_icons(tool["icons"])
    called = legacy(base, listener.auth, version, "tools/call", {"name": "ops.sync_status", "arguments": {}})
    assert called.status_code == 200 and called.json()["result"]["structuredContent"] == dispatcher(
        base, listener.auth, "ops.sync_status", {}
    )


def test_routing_headers_open_nothing(base: str, data: World) -> None:
    """The key is checked before the SDK reads Mcp-Method: a modern request without a valid key is
    refused whatever it names; one whose headers disagree with its body is refused by the SDK; the
    Host check applies to the revision too."""
    me, other = data["efrrowini"], data["vnegi10"]
    for auth in ({}, {"Authorization": "Bearer shk_00000000_" + "A" * 43}):
        for method in ("server/discover", "tools/list"):
            refused = modern(base, auth, method)
            assert refused.status_code == 401, (auth, method, refused.text)
    body = modern_body("tools/call", {"name": "ops.sync_status", "arguments": {}})
    headers = {**modern_headers(body, me.auth), "Mcp-Method": "tools/list"}
    mismatch = httpx.post(f"{base}/mcp", json=body, headers=headers, timeout=30)
    assert mismatch.status_code == 400 and mismatch.json()["error"]["code"] == -32020, mismatch.text
    renamed = httpx.post(f"{base}/mcp", json=body, headers={**headers, "Mcp-Method": "tools/call", "Mcp-Name": "x"})
    assert renamed.status_code == 400 and "mcp-name header" in renamed.json()["error"]["message"].casefold()
    no_meta = httpx.post(
        f"{base}/mcp",
        json={"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}},
        headers=modern_headers({"method": "tools/list"}, me.auth),
        timeout=30,
    )
    assert no_meta.status_code == 400 and "_meta" in no_meta.json()["error"]["message"]
    rebinding = httpx.post(f"{base}/mcp", json=body, headers={**modern_headers(body, me.auth), "Host": "evil.example"})
    assert rebinding.status_code == 421
    # Reading another listener over the revision is refused like any other call.
    foreign = modern(base, me.auth, "tools/call", {"name": "ops.sync_status", "arguments": {"user_id": other.name}})
    assert foreign.json()["result"]["isError"] is True and "only its own user" in str(foreign.json())


def test_browsers_may_send_the_routing_headers(base: str) -> None:
    preflight = httpx.options(
        f"{base}/mcp",
        headers={
            "Origin": BROWSER_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version, mcp-method, mcp-name",
        },
        timeout=30,
    )
    assert preflight.status_code == 200, preflight.text
    allowed = {h.strip().casefold() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"mcp-method", "mcp-name", "mcp-protocol-version", "authorization"} <= allowed


def test_the_json_catalog_shows_titles_and_icons(base: str, data: World) -> None:
    catalog = httpx.get(f"{base}/mcp/tools", headers=data["efrrowini"].auth, timeout=30).json()["tools"]
    for entry in catalog:
        assert entry["title"] == TOOLS[entry["name"]].title
        assert_svg_icons(entry["icons"])
