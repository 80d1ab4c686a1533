"""What every door shares: settings, the database, the rate limiter, and how a tool call runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from starlette.types import Scope

from mcp_api import auth, tools
from mcp_api.cache import ResultCache
from mcp_api.errors import Unauthorized, Unavailable
from mcp_api.queries import Database
from mcp_api.ratelimit import RateLimiter
from mcp_api.settings import ApiSettings


@dataclass
class Runtime:
    settings: ApiSettings
    db: Database | None
    limiter: RateLimiter
    clock: Callable[[], datetime] | None = None
    """A fixed clock for tests; None = the real one."""
    cache: ResultCache | None = None
    """Answers kept until the next marts build; None = none."""

    def database(self) -> Database:
        if self.db is None:
            raise Unavailable("API_DATABASE_URL is not set: the API has no database to read")
        return self.db

    async def authenticate(self, scope: Scope) -> auth.Principal:
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        if authorization is None:
            raise Unauthorized()
        return await auth.authenticate(self.database(), authorization, self.settings.admin_api_key)

    async def call(self, tool: tools.Tool[Any, Any], args: BaseModel, scope: Scope) -> BaseModel:
        st = scope.setdefault("state", {})
        st["tool"] = tool.name
        principal = st.get("principal")
        if principal is None:  # only reachable if a route were left out of KeyAuth
            raise Unauthorized()
        now = self.clock() if self.clock else None
        return await tools.call(tool, args, self.database(), principal, now, self.cache)
