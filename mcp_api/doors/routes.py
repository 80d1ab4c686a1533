"""Two HTTP doors over the registry: the JSON dispatcher (GET /mcp/tools, POST /mcp/call, the
seed-compatible shape) and one GET per tool for ChatGPT Actions (/v1/..., in the OpenAPI document).

No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at runtime.
"""

import inspect
import json
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from mcp_api.doors.runtime import Runtime
from mcp_api.errors import BadArguments, NotFound
from mcp_api.tools import TOOLS, Tool
from mcp_api.tools.icons import tool_icons


class ErrorBody(BaseModel):
    success: bool = False
    error: str
    error_type: str
    request_id: str | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid arguments (the message says which and why)."},
    401: {"model": ErrorBody, "description": "Missing or invalid API key."},
    403: {"model": ErrorBody, "description": "The key may not read the user named in user_id."},
    404: {"model": ErrorBody, "description": "No such user, or no data for the user yet."},
    429: {"model": ErrorBody, "description": "Rate limit exceeded; see Retry-After."},
    503: {"model": ErrorBody, "description": "The database or the marts are not available yet."},
}


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def tool_list() -> dict[str, Any]:
    return {
        "tools": [
            {
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "input_schema": t.args.model_json_schema(),
                "output_schema": t.result.model_json_schema(),
                "operation_id": t.operation_id,
                "path": t.path,
                "icons": tool_icons(t.name),  # the same as MCP tools/list shows
            }
            for t in TOOLS.values()
        ]
    }


def dispatcher(runtime: Runtime) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    tools_body = json.dumps(tool_list()).encode()

    @router.get("/mcp/tools")
    async def list_tools() -> Response:
        return json_response(tools_body)

    @router.post("/mcp/call")
    async def call_tool(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadArguments('the body must be JSON: {"tool": NAME, "args": {...}}') from exc
        if not isinstance(body, dict) or not isinstance(body.get("tool"), str):
            raise BadArguments("the body must be a JSON object with a string `tool` and an object `args`")
        tool = TOOLS.get(body["tool"])
        if tool is None:
            raise NotFound(f"unknown tool {body['tool'][:100]!r}; GET /mcp/tools lists them")
        result = await runtime.call(tool, tool.parse(body.get("args")), request.scope)
        return json_response(b'{"success":true,"result":' + result.model_dump_json().encode() + b"}")

    return router


def actions(runtime: Runtime) -> APIRouter:
    router = APIRouter(tags=["tools"])
    for tool in TOOLS.values():
        router.add_api_route(
            tool.path,
            _action_endpoint(runtime, tool),
            methods=["GET"],
            operation_id=tool.operation_id,
            summary=tool.name,
            description=tool.description,
            response_class=Response,
            responses={200: {"model": tool.result, "description": "The result."}, **ERROR_RESPONSES},
        )
    return router


def _action_endpoint(runtime: Runtime, tool: Tool[Any, Any]) -> Any:
    async def endpoint(request: Request, args: Any) -> Response:
        result = await runtime.call(tool, args, request.scope)
        return json_response(result.model_dump_json().encode())

    # The query parameters are the tool's argument model, validated by it (extra ones refused).
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
            inspect.Parameter(
                "args", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[tool.args, Query()]
            ),
        ]
    )
    endpoint.__name__ = tool.operation_id
    return endpoint


def include(app: FastAPI, runtime: Runtime) -> None:
    app.include_router(dispatcher(runtime))
    app.include_router(actions(runtime))
