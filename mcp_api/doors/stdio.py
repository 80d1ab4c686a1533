"""The MCP server over stdio, for local clients (Claude Desktop, Claude Code, Cursor, VS Code):
the same tools as /mcp, for one listener, reading the marts as the read-only role.

    spotify-history mcp --user NAME

Both protocol eras, as over HTTP: the SDK's `Server.run` serves the era the client's first message
opens (a 2026-07-28 request with its `_meta`, or a handshake-era `initialize`).

stdout carries only the protocol (the SDK's stdio transport also points fd 1 at stderr while it
serves, so stray output cannot corrupt it); logs go to stderr. Nothing from FastAPI, Dagster or dbt
is imported here, so the server answers within a second or two of starting.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import anyio
from mcp.server.stdio import stdio_server
from pydantic import BaseModel, SecretStr
from starlette.types import Scope

from mcp_api import auth, tools
from mcp_api.cache import ResultCache
from mcp_api.database import Database
from mcp_api.doors import mcp_server
from mcp_api.doors.runtime import Runtime
from mcp_api.logs import JsonFormatter
from mcp_api.ratelimit import RateLimiter
from mcp_api.settings import ApiSettings
from mcp_api.version import VERSION

log = logging.getLogger("mcp_api.stdio")


class LocalRuntime(Runtime):
    """A runtime whose every call reads one user: the person who started the process (who can read
    the database anyway) needs no key."""

    user_id: int = 0

    async def call(self, tool: tools.Tool[Any, Any], args: BaseModel, scope: Scope) -> BaseModel:
        # The user as the marts know it now (a build since the start changes what cached answers mean).
        rows = await self.database().rows(auth.USERS_BY_REF, {"user_id": self.user_id, "name": None})
        user = auth.user_from_row(self.user_id, rows[0]) if rows else None
        principal = auth.Principal(key_id=None, user_id=self.user_id, user=user)
        return await super().call(tool, args, {"state": {"principal": principal}})


def configure_logging(level: str = "warning") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())


async def serve(database_url: str, user_id: int) -> None:
    settings = ApiSettings(api_database_url=SecretStr(database_url))
    runtime = LocalRuntime(
        settings=settings,
        db=Database(database_url, 2),
        limiter=RateLimiter(0),
        cache=ResultCache(settings.api_cache_entries, settings.api_cache_seconds)
        if settings.api_cache_entries
        else None,
    )
    runtime.user_id = user_id
    server = mcp_server.build_server(runtime, VERSION)
    assert runtime.db is not None
    await runtime.db.open()
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await runtime.db.close()


def run(database_url: str, user_id: int) -> None:
    anyio.run(serve, database_url, user_id)
