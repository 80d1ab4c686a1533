"""The views as MCP resources: `resources/list` names them, `resources/read` returns the HTML with
the extension's MIME type and CSP metadata (no outside domains)."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import INVALID_PARAMS

from mcp_api.views import MIME_TYPE, VIEWS


async def list_resources(
    ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
) -> types.ListResourcesResult:
    return types.ListResourcesResult(
        resources=[
            types.Resource(
                uri=v.uri,
                name=v.name,
                title=v.title,
                description=v.description,
                mime_type=MIME_TYPE,
                size=len(v.html().encode("utf-8")),
                _meta=v.resource_meta(),
            )
            for v in VIEWS.values()
        ]
    )


async def read_resource(
    ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
) -> types.ReadResourceResult:
    view = VIEWS.get(params.uri)
    if view is None:
        raise MCPError(INVALID_PARAMS, f"unknown resource {params.uri[:200]!r}")
    return types.ReadResourceResult(
        contents=[
            types.TextResourceContents(uri=view.uri, mime_type=MIME_TYPE, text=view.html(), _meta=view.resource_meta())
        ]
    )
