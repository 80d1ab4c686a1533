"""What every door shares: settings, the database, the rate limiter, and how a tool call runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from starlette.types import Scope

from mcp_api import auth, tools
from mcp_api.cache import ResultCache
from mcp_api.database import Database
from mcp_api.errors import Unauthorized, Unavailable
from mcp_api.oauth import secrets, store
from mcp_api.oauth.challenge import challenge
from mcp_api.ratelimit import RateLimiter
from mcp_api.settings import ApiSettings

TOUCH_SECONDS = 60.0
"""How often an OAuth grant's last use is written (api-key list shows it)."""


@dataclass
class Runtime:
    settings: ApiSettings
    db: Database | None
    limiter: RateLimiter
    clock: Callable[[], datetime] | None = None
    """A fixed clock for tests; None = the real one."""
    cache: ResultCache | None = None
    """Answers kept until the next marts build; None = none."""
    _touched: dict[int, float] = field(default_factory=dict, init=False, repr=False)
    """When this process last recorded each OAuth grant's use (monotonic seconds)."""

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
        on_mcp = scope["path"].rstrip("/") == "/mcp" and self.settings.oauth_enabled
        try:
            token = auth.bearer_token(authorization)
            if token is not None and token.startswith(secrets.ACCESS_PREFIX):
                # OAuth tokens are bound to the /mcp resource: nowhere else do they open anything.
                if not on_mcp:
                    raise Unauthorized("OAuth access tokens are valid only for /mcp: send an API key here")
                return await self._oauth(token)
            if authorization is None:
                raise Unauthorized()
            return await auth.authenticate(self.database(), authorization, self.settings.admin_api_key)
        except Unauthorized as exc:
            if not on_mcp:
                raise
            error = "invalid_token" if authorization is not None else None
            raise Unauthorized(
                "missing, invalid or expired token: connect with OAuth (see the WWW-Authenticate header) "
                "or send an API key",
                challenge=challenge(self.settings.public_base_url, error),
            ) from exc

    async def _oauth(self, token: str) -> auth.Principal:
        db = self.database()
        row = await store.load_token(db, token, "access")
        if row is None or row.grant.resource != self.settings.mcp_resource:
            raise Unauthorized()
        grant = row.grant
        now = time.monotonic()
        if now - self._touched.get(grant.grant_id, -TOUCH_SECONDS) >= TOUCH_SECONDS:
            self._touched[grant.grant_id] = now
            await store.touch(db, grant.grant_id)
        user = auth.user_from_row(grant.user_id, row.user)
        return auth.Principal(key_id=None, user_id=grant.user_id, user=user, grant_id=grant.grant_id)

    async def call(self, tool: tools.Tool[Any, Any], args: BaseModel, scope: Scope) -> BaseModel:
        st = scope.setdefault("state", {})
        st["tool"] = tool.name
        principal = st.get("principal")
        if principal is None:  # only reachable if a route were left out of KeyAuth
            raise Unauthorized()
        now = self.clock() if self.clock else None
        return await tools.call(tool, args, self.database(), principal, now, self.cache)
