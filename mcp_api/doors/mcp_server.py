"""The Model Context Protocol door (Streamable HTTP at /mcp), with the official `mcp` SDK.

The SDK's low-level Server is used rather than MCPServer: MCPServer derives schemas from Python
function signatures, while here the registry's pydantic models are the one definition of each
tool's input and output schema, and the same model validates the arguments in all three doors.
Stateless JSON responses: every POST is answered on its own, so any number of clients (and API
processes) work without session affinity.

Both protocol eras are the SDK's: a 2026-07-28 client (no `initialize`; `server/discover`, then
requests that each carry `_meta` with the protocol version and client capabilities, and the
`MCP-Protocol-Version` / `Mcp-Method` / `Mcp-Name` headers) is routed by the SDK's session manager
on the `MCP-Protocol-Version` header to its single-exchange handler, which checks the envelope and
the headers against the body; handshake-era clients (2025-06-18, 2025-11-25) `initialize` as before.
Over stdio, `Server.run` serves whichever era the client's first message opens. The handlers below
are the same for both. Authentication happened before (middleware.KeyAuth: an API
key, or an OAuth access token for this /mcp); over stdio (mcp_api.doors.stdio) the local runtime names its one user.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import BaseRoute

from mcp_api.doors.runtime import Runtime
from mcp_api.errors import ApiError
from mcp_api.tools import TOOLS
from mcp_api.tools.icons import server_icons, tool_icons
from mcp_api.views import resources as view_resources

INSTRUCTIONS = (
    "Answers questions about one person's Spotify listening history (the owner of the API key): top artists "
    "and songs, when they listen, how much they repeat, how complete the history is. Windows: `days` (last N "
    "local days, default 90), `start`/`end` (YYYY-MM-DD) or `all_time: true`. Every answer's `history` gives the "
    "stored dates; an empty window comes with a `note`. Start with history.taste_summary. "
    "history.search finds what they played (plays, first and last play); spotify.get_top is Spotify's own "
    "ranking; ops.latest_job_runs says how fresh the data is."
)

TITLE = "Spotify listening history"

# Every tool only reads the marts: the four hints directory reviews ask for, stated, not left to defaults.
HINTS = types.ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


def _tool_list() -> list[types.Tool]:
    return [
        types.Tool(
            name=t.name,
            title=t.title,
            description=t.description,
            input_schema=t.args.model_json_schema(),
            output_schema=t.result.model_json_schema(),
            annotations=HINTS,
            icons=[types.Icon.model_validate(icon) for icon in tool_icons(t.name)],
            _meta=t.view.tool_meta() if t.view else None,
        )
        for t in TOOLS.values()
    ]


def build_server(runtime: Runtime, version: str) -> Server[Any]:
    tool_list = _tool_list()
    input_schemas = {t.name: t.input_schema for t in tool_list}

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tool_list)

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = TOOLS.get(params.name)
        if tool is None:
            return _error(f"unknown tool {params.name[:100]!r}")
        try:
            # Over stdio there is no HTTP request (mcp_api.doors.stdio.LocalRuntime knows its user).
            scope = ctx.request.scope if ctx.request is not None else {}
            result = await runtime.call(tool, tool.parse(params.arguments), scope)
        except ApiError as exc:
            # Tool errors go back as results with is_error, so the model can read and correct them.
            return _error(exc.message)
        data = result.model_dump(mode="json")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=json.dumps(data, ensure_ascii=False))],
            structured_content=data,
        )

    return Server(
        "spotify-history",
        version=version,
        title=TITLE,
        instructions=INSTRUCTIONS,
        icons=[types.Icon.model_validate(icon) for icon in server_icons()],
        # A 2026-07-28 tools/call is checked against the tool's input schema (Mcp-Param-* headers)
        # before it is dispatched: a lookup, rather than the SDK running tools/list for each call.
        get_tool_input_schema=input_schemas.get,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=view_resources.list_resources,
        on_read_resource=view_resources.read_resource,
    )


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def routes(server: Server[Any], runtime: Runtime) -> list[BaseRoute]:
    """The /mcp route(s), to add to the FastAPI app (whose lifespan runs the session manager)."""
    settings = runtime.settings
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
        max_request_body_size=settings.max_request_bytes,
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=settings.allowed_hosts(),
            allowed_origins=settings.allowed_origins(),
        ),
    )
    return list(app.routes)
