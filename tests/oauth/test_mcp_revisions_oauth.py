"""The 2026-07-28 revision with OAuth, as a remote connector speaks it: the SDK's default (probing)
client, given only the server URL and a listener at the consent page, connects through the OAuth
flow and negotiates 2026-07-28; the access token it got then carries raw `server/discover`,
`tools/list` and `tools/call` requests; a bad token gets the challenge whatever the request names."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from api_support import World, live_server
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from mcp_wire import MODERN, assert_svg_icons, modern
from oauth_support import REDIRECT_URI, HeadlessListener, MemoryStorage, link_code

from mcp_api.tools import TOOLS


@pytest.fixture(scope="module")
def base(data: World) -> Iterator[str]:
    with live_server() as url:
        yield url


def metadata() -> OAuthClientMetadata:
    return OAuthClientMetadata(
        client_name="Revision Assistant",
        redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )


def test_the_default_client_connects_with_oauth_and_the_token_carries_raw_requests(base: str, data: World) -> None:
    listener = data["efrrowini"]
    headless = HeadlessListener(link_code(listener.name))
    storage = MemoryStorage()
    provider = OAuthClientProvider(f"{base}/mcp", metadata(), storage, headless.redirect, headless.callback)

    async def work() -> tuple[str, bool, list[Any], Any]:
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        ):
            tools = (await client.list_tools()).tools
            call = await client.call_tool("ops.sync_status", {})
            return client.protocol_version, client.session.discover_result is not None, tools, call

    version, discovered, tools, call = asyncio.run(work())
    assert version == MODERN and discovered
    assert [t.name for t in tools] == list(TOOLS) and all(t.icons for t in tools)
    assert call.is_error is False and call.structured_content["users"][0]["user_name"] == listener.name
    assert len(headless.pages) == 1  # one consent, then the token

    assert storage.tokens is not None
    bearer = {"Authorization": f"Bearer {storage.tokens.access_token}"}
    found = modern(base, bearer, "server/discover")
    assert found.status_code == 200, found.text
    assert MODERN in found.json()["result"]["supportedVersions"]
    listed = modern(base, bearer, "tools/list")
    assert listed.status_code == 200, listed.text
    for tool in listed.json()["result"]["tools"]:
        assert_svg_icons(tool["icons"])
    called = modern(base, bearer, "tools/call", {"name": "ops.sync_status", "arguments": {}})
    assert called.status_code == 200, called.text
    expected = httpx.post(
        f"{base}/mcp/call", json={"tool": "ops.sync_status", "args": {}}, headers=listener.auth, timeout=30
    ).json()["result"]
    assert called.json()["result"]["structuredContent"] == expected


def test_a_bad_token_gets_the_challenge_on_every_modern_method(base: str) -> None:
    bearer = {"Authorization": "Bearer sho_" + "A" * 43}
    for method in ("server/discover", "tools/list", "tools/call"):
        params = {"name": "ops.sync_status", "arguments": {}} if method == "tools/call" else None
        refused = modern(base, bearer, method, params)
        assert refused.status_code == 401, (method, refused.text)
        assert "resource_metadata=" in refused.headers["www-authenticate"]
