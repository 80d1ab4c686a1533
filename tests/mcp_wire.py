"""The MCP wire by hand, for the tests of both protocol eras: a 2026-07-28 request (no `initialize`;
`_meta` with the protocol version and client capabilities in every request, and the headers that
route it) and a handshake-era `initialize`; checks for the icons every listing must carry."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import httpx

MODERN = "2026-07-28"
HANDSHAKE_ERAS = ("2025-06-18", "2025-11-25")
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
# The methods whose Mcp-Name header repeats a param of the body (the revision's routing headers).
NAME_PARAM = {"tools/call": "name", "resources/read": "uri", "prompts/get": "name"}

_ids = itertools.count(1)


def modern_body(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "0"},
    }
    return {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": {**(params or {}), "_meta": meta}}


def modern_headers(body: dict[str, Any], auth: dict[str, str]) -> dict[str, str]:
    headers = {**ACCEPT, **auth, "MCP-Protocol-Version": MODERN, "Mcp-Method": body["method"]}
    if body["method"] in NAME_PARAM:
        headers["Mcp-Name"] = body["params"][NAME_PARAM[body["method"]]]
    return headers


def modern(base: str, auth: dict[str, str], method: str, params: dict[str, Any] | None = None) -> httpx.Response:
    """One self-contained 2026-07-28 POST to /mcp."""
    body = modern_body(method, params)
    return httpx.post(f"{base}/mcp", json=body, headers=modern_headers(body, auth), timeout=30)


def initialize(base: str, auth: dict[str, str], version: str) -> httpx.Response:
    """A handshake-era client's first POST."""
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw-test", "version": "0"}}
    body = {"jsonrpc": "2.0", "id": next(_ids), "method": "initialize", "params": params}
    return httpx.post(f"{base}/mcp", json=body, headers={**ACCEPT, **auth}, timeout=30)


def legacy(base: str, auth: dict[str, str], version: str, method: str, params: dict[str, Any]) -> httpx.Response:
    """A handshake-era request after `initialize` (stateless: no session id to carry)."""
    body = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}
    return httpx.post(f"{base}/mcp", json=body, headers={**ACCEPT, **auth, "MCP-Protocol-Version": version}, timeout=30)


def assert_svg_icons(icons: list[Any]) -> None:
    """At least one icon, each an inline SVG (nothing for a host to fetch). Accepts wire dicts or SDK models."""
    assert icons, "no icons"
    for icon in icons:
        wire = icon if isinstance(icon, dict) else icon.model_dump(by_alias=True, exclude_none=True)
        assert wire["mimeType"] == "image/svg+xml" and wire["sizes"] == ["any"], wire
        prefix = "data:image/svg+xml;base64,"
        assert wire["src"].startswith(prefix), wire["src"][:60]
        svg = base64.b64decode(wire["src"][len(prefix) :], validate=True).decode()
        assert svg.startswith("<svg") and svg.endswith("</svg>") and "http://www.w3.org/2000/svg" in svg
        assert "href" not in svg  # no external reference either
