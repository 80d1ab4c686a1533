"""The MCP door with a real client: the official SDK's Streamable HTTP client against a real uvicorn
on 127.0.0.1 lists the tools (with input and output schemas) and calls them (structured results equal
to the JSON dispatcher's)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import httpx2
import pytest
from api_support import ADMIN_KEY, World, live_server, plays_in
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mcp_api.tools import TOOLS


@pytest.fixture(scope="module")
def base(data: World) -> Iterator[str]:
    with live_server(mcp_allowed_hosts=["history.example.org"]) as url:
        yield url


async def _session(base: str, key: str, work: Any) -> Any:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await work(session)


def run(base: str, key: str, work: Any) -> Any:
    return asyncio.run(_session(base, key, work))


def dispatcher(base: str, key: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/mcp/call", json={"tool": tool, "args": args}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    return response.json()["result"]  # type: ignore[no-any-return]


def test_lists_every_tool_with_schemas(base: str, data: World) -> None:
    async def work(session: ClientSession) -> Any:
        return (await session.list_tools()).tools

    tools = run(base, data["efrrowini"].key, work)
    assert [t.name for t in tools] == list(TOOLS)
    for tool in tools:
        registered = TOOLS[tool.name]
        assert tool.input_schema == registered.args.model_json_schema()
        assert tool.output_schema == registered.result.model_json_schema()
        assert tool.description == registered.description
        assert tool.annotations is not None and tool.annotations.read_only_hint is True


def test_calls_return_structured_results(base: str, data: World) -> None:
    listener = data["efrrowini"]
    calls = [
        ("history.top_artists", {"start": "2024-07-01", "end": "2024-12-31", "limit": 5}),
        ("history.taste_summary", {"days": 120}),
        ("history.coverage", {"start": "2024-01-01", "end": "2024-12-31"}),
        ("history.listening_heatmap", {}),
        ("ops.sync_status", {}),
    ]

    async def work(session: ClientSession) -> Any:
        return [await session.call_tool(name, args) for name, args in calls]

    results = run(base, listener.key, work)
    for (name, args), result in zip(calls, results, strict=True):
        assert result.is_error is False, (name, result.content)
        expected = dispatcher(base, listener.key, name, args)
        assert result.structured_content == expected, name
        assert json.loads(result.content[0].text) == expected  # the same JSON as text
    assert results[0].structured_content["total_plays"] == len(
        plays_in(listener.ref, date(2024, 7, 1), date(2024, 12, 31))
    )


def test_errors_come_back_as_tool_errors(base: str, data: World) -> None:
    me, other = data["efrrowini"], data["vnegi10"]

    async def work(session: ClientSession) -> Any:
        return [
            await session.call_tool("history.top_artists", {"limit": 99}),
            await session.call_tool("history.top_artists", {"days": 3, "start": "2024-01-01"}),
            await session.call_tool("history.top_artists", {"user_id": other.name}),
            await session.call_tool("history.nothing", {}),
            await session.call_tool("history.repeat_rate", {"days": 36500}),
            await session.call_tool("history.coverage", {"all_time": True, "end": "2024-01-01"}),
        ]

    too_many, both, foreign, unknown, years, all_time = run(base, me.key, work)
    assert all(r.is_error for r in (too_many, both, foreign, unknown, years, all_time))
    assert too_many.content[0].text == "limit must be a whole number between 1 and 50, not 99"
    assert "days cannot be combined with start/end" in both.content[0].text
    assert years.content[0].text == (
        "days must be a whole number between 1 and 10000 (about 27 years), not 36500; "
        "for the whole history use all_time: true"
    )
    assert "leave out days, start and end" in all_time.content[0].text
    assert "own user" in foreign.content[0].text and other.name not in foreign.content[0].text
    assert "unknown tool" in unknown.content[0].text


def test_the_admin_key_over_mcp(base: str, data: World) -> None:
    listener = data["vnegi10"]

    async def work(session: ClientSession) -> Any:
        return await session.call_tool(
            "history.top_tracks", {"user_id": listener.name, "start": "2021-01-01", "end": "2021-12-31"}
        )

    result = run(base, ADMIN_KEY, work)
    assert result.is_error is False and result.structured_content["user"] == listener.name


def test_no_key_no_mcp(base: str) -> None:
    response = httpx.post(
        f"{base}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 401

    async def work(session: ClientSession) -> Any:
        return None

    with pytest.raises(ExceptionGroup) as refused:  # the SDK's task group wraps the HTTP error
        run(base, "shk_00000000_" + "A" * 43, work)
    assert "error response" in str(refused.value.exceptions)  # the 401 above, as the SDK reports it


def test_only_allowed_hosts(base: str, data: World) -> None:
    """DNS-rebinding protection: Host headers other than loopback, PUBLIC_BASE_URL's and MCP_ALLOWED_HOSTS
    are refused."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {
        **data["efrrowini"].auth,
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-06-18",
    }
    refused = httpx.post(f"{base}/mcp", json=body, headers={**headers, "Host": "attacker.example"})
    assert refused.status_code == 421
    allowed = httpx.post(f"{base}/mcp", json=body, headers={**headers, "Host": "history.example.org"})
    assert allowed.status_code == 200, allowed.text
    assert {t["name"] for t in allowed.json()["result"]["tools"]} == set(TOOLS)
