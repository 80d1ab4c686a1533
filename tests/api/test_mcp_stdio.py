"""`spotify-history mcp --user NAME`: the MCP tools over stdio, as local clients start them. The SDK's
stdio client lists and calls every tool of the registry (answers equal to the HTTP API's for the
same listener); stdout carries nothing but protocol; the command imports no Dagster, dbt or FastAPI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import World, live_server, sample_arguments
from mcp.client import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_wire import MODERN, assert_svg_icons, modern_body

from mcp_api.tools import TOOLS

COMMAND = str(Path(sys.executable).with_name("spotify-history"))


@pytest.fixture(scope="module")
def base(data: World) -> Iterator[str]:
    with live_server(clock=None) as url:  # the real clock, as the stdio server has
        yield url


def server_params(user: str) -> StdioServerParameters:
    return StdioServerParameters(command=COMMAND, args=["mcp", "--user", user], env=dict(os.environ))


def test_stdio_lists_and_calls_every_tool(data: World, base: str) -> None:
    listener = data["efrrowini"]

    async def work() -> tuple[list[Any], dict[str, Any]]:
        async with (
            stdio_client(server_params(listener.name)) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = (await session.list_tools()).tools
            results = {t.name: await session.call_tool(t.name, sample_arguments(t.input_schema)) for t in tools}
            return tools, results

    tools, results = asyncio.run(work())
    assert [t.name for t in tools] == list(TOOLS)
    for tool in tools:
        assert tool.input_schema == TOOLS[tool.name].args.model_json_schema()
        result = results[tool.name]
        assert not result.is_error, (tool.name, result.content)
        args = sample_arguments(tool.input_schema)
        response = httpx.post(
            f"{base}/mcp/call", json={"tool": tool.name, "args": args}, headers=listener.auth, timeout=30
        )
        assert result.structured_content == response.json()["result"], tool.name


def test_stdio_reads_one_listener_only(data: World) -> None:
    a, b = data["efrrowini"], data["allisonkra"]

    async def work() -> Any:
        async with (
            stdio_client(server_params(a.name)) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await session.call_tool("ops.sync_status", {"user_id": b.name})

    refused = asyncio.run(work())
    assert refused.is_error and "only its own user" in refused.content[0].text  # type: ignore[union-attr]


def test_stdout_is_protocol_only(data: World) -> None:
    """Every stdout line is a JSON-RPC message. How fast the server starts is measured by
    benchmarks/api_benchmark.py (a duration asserted here fails on a busy machine); the timeout only
    ends a hang."""
    listener = data["vnegi10"]
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]  # fmt: skip
    process = subprocess.Popen(
        [COMMAND, "mcp", "--user", listener.name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    assert process.stdin is not None and process.stdout is not None
    hang = threading.Timer(120, process.kill)  # a server that never answers fails the test, not the suite
    hang.start()
    try:
        process.stdin.write(json.dumps(messages[0]).encode() + b"\n")
        process.stdin.flush()
        first = process.stdout.readline()  # the initialize reply before the rest is sent, as clients do
        rest, stderr = process.communicate(b"".join(json.dumps(m).encode() + b"\n" for m in messages[1:]))
    finally:
        hang.cancel()
    lines = [first, *rest.splitlines()]
    replies = [json.loads(line) for line in lines if line.strip()]  # every stdout line is JSON-RPC
    assert all(r["jsonrpc"] == "2.0" for r in replies)
    assert [r.get("id") for r in replies] == [1, 2]
    assert replies[0]["result"]["serverInfo"]["name"] == "spotify-history"
    assert len(replies[1]["result"]["tools"]) == len(TOOLS)
    assert process.returncode == 0, stderr.decode()


def test_the_sdk_default_client_negotiates_the_current_revision(data: World) -> None:
    """The SDK's default Client probes with server/discover and keeps 2026-07-28; mode='legacy'
    still initializes (2025-11-25). Both list the icons and call a tool."""
    listener = data["allisonkra"]

    async def work(mode: str) -> tuple[str, bool, Any, list[Any], Any]:
        async with Client(server_params(listener.name), mode=mode) as client:
            tools = (await client.list_tools()).tools
            call = await client.call_tool("ops.sync_status", {})
            discovered = client.session.discover_result is not None
            return client.protocol_version, discovered, client.server_info, tools, call

    for mode, version, discovered in (("auto", MODERN, True), ("legacy", "2025-11-25", False)):
        negotiated, probed, server, tools, call = asyncio.run(work(mode))
        assert (negotiated, probed) == (version, discovered), mode
        assert server is not None and server.name == "spotify-history"
        assert_svg_icons(server.icons)
        assert [t.name for t in tools] == list(TOOLS)
        for tool in tools:
            assert_svg_icons(tool.icons)
        assert call.is_error is False and call.structured_content["users"][0]["user_name"] == listener.name


def test_a_raw_stdio_exchange_without_initialize(data: World) -> None:
    """server/discover, tools/list and tools/call as lines on stdin, each with its own `_meta`."""
    listener = data["vnegi10"]
    messages = [
        modern_body("server/discover"),
        modern_body("tools/list"),
        modern_body("tools/call", {"name": "ops.sync_status", "arguments": {}}),
    ]
    process = subprocess.Popen(
        [COMMAND, "mcp", "--user", listener.name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
    )
    assert process.stdin is not None and process.stdout is not None
    hang = threading.Timer(120, process.kill)  # ends a hang
    hang.start()
    try:
        replies = []
        for message in messages:  # one at a time: stdin's end would cancel requests still in flight
            process.stdin.write(json.dumps(message).encode() + b"\n")
            process.stdin.flush()
            replies.append(json.loads(process.stdout.readline()))
        _, stderr = process.communicate(b"")
    finally:
        hang.cancel()
    assert process.returncode == 0, stderr.decode()
    assert [r["id"] for r in replies] == [m["id"] for m in messages]
    assert all("result" in r for r in replies), replies
    found, listed, called = (r["result"] for r in replies)
    assert MODERN in found["supportedVersions"]
    assert_svg_icons(found["_meta"]["io.modelcontextprotocol/serverInfo"]["icons"])
    assert [t["name"] for t in listed["tools"]] == list(TOOLS)
    for tool in listed["tools"]:
        assert_svg_icons(tool["icons"])
    assert called["structuredContent"]["users"][0]["user_name"] == listener.name


def test_unknown_user_fails_clearly_on_stderr(home: Path) -> None:
    done = subprocess.run(
        [COMMAND, "mcp", "--user", "nobody-here"], capture_output=True, env=dict(os.environ), timeout=60, input=b""
    )
    assert done.returncode == 1 and done.stdout == b""
    assert b"no user named 'nobody-here'" in done.stderr


def test_the_stdio_path_imports_no_dagster_dbt_or_fastapi() -> None:
    probe = (
        "import sys, orchestration.cli, orchestration.cli.mcp, mcp_api.doors.stdio, orchestration.users, "
        "orchestration.db.roles, orchestration.db\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dagster', 'dbt', 'fastapi', 'dagster_dbt'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
