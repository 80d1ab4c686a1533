"""One tool call through all three doors of a live API: /mcp/call, the GPT Action GET and MCP
(JSON-RPC tools/call on /mcp); the three answers must be the same JSON."""

from __future__ import annotations

from typing import Any

import httpx

from mcp_api.tools import TOOLS

MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-06-18",
}


def dispatcher(base: str, key: str, tool: str, args: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{base}/mcp/call", json={"tool": tool, "args": args}, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def mcp(base: str, key: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}}
    response = httpx.post(
        f"{base}/mcp", json=body, headers={**MCP_HEADERS, "Authorization": f"Bearer {key}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


def call_all(base: str, key: str, tool: str, **args: Any) -> dict[str, Any]:
    """The tool's result, after checking that the three doors agree on it."""
    via_call = dispatcher(base, key, tool, args)
    assert via_call.status_code == 200, via_call.text
    result: dict[str, Any] = via_call.json()["result"]
    action = httpx.get(base + TOOLS[tool].path, params=args, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert action.status_code == 200, action.text
    assert action.json() == result
    via_mcp = mcp(base, key, tool, args)
    assert not via_mcp.get("isError"), via_mcp
    assert via_mcp["structuredContent"] == result
    return result


def list_all(base: str, key: str) -> dict[str, list[str]]:
    """The tool names each door lists: GET /mcp/tools, the OpenAPI document (operations), MCP tools/list."""
    auth = {"Authorization": f"Bearer {key}"}
    catalog = httpx.get(f"{base}/mcp/tools", headers=auth, timeout=30).json()["tools"]
    document = httpx.get(f"{base}/openapi.json", timeout=30).json()
    listed = httpx.post(
        f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers={**MCP_HEADERS, **auth}
    ).json()["result"]["tools"]
    return {
        "catalog": [t["name"] for t in catalog],
        "openapi": [op["summary"] for methods in document["paths"].values() for op in methods.values()],
        "mcp": [t["name"] for t in listed],
    }
