"""The FastAPI application: three doors over one tool registry, behind keys, limits and headers.

    uvicorn --factory mcp_api.doors.app:create_app        (or: spotify-history serve-api)

Middleware, outermost first: request id + security headers + access log, CORS, body-size limit,
Bearer authentication (API keys everywhere, OAuth access tokens on /mcp) + rate limit. The OAuth
endpoints (mcp_api.oauth) need no token. The lifespan opens the database pool and runs the MCP
session manager.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware

from mcp_api.cache import ResultCache
from mcp_api.database import Database
from mcp_api.doors import mcp_server, routes
from mcp_api.doors.middleware import PUBLIC_PATHS, BodyLimit, KeyAuth, RequestContext
from mcp_api.doors.runtime import Runtime
from mcp_api.errors import ApiError, BadArguments
from mcp_api.oauth.challenge import PUBLIC_PATHS as OAUTH_PATHS
from mcp_api.oauth.routes import routes as oauth_routes
from mcp_api.ratelimit import RateLimiter
from mcp_api.settings import ApiSettings, get_settings
from mcp_api.tools import TOOLS
from mcp_api.tools.common import describe_validation_errors
from mcp_api.version import VERSION

log = logging.getLogger("mcp_api")

DESCRIPTION = (
    "Read-only questions about one person's Spotify listening history. Each API key belongs to one "
    "listener and reads only that listener's data. Windows: `days` (the last N days in the listener's "
    "time zone, default 90), `start`/`end` (YYYY-MM-DD, inclusive) or `all_time=true` (everything stored). "
    "Every windowed answer carries `history` (first and last stored play, plays) and, when the window is "
    "empty, a `note` saying where the plays are."
)


def create_app(settings: ApiSettings | None = None, clock: Callable[[], datetime] | None = None) -> FastAPI:
    settings = settings or get_settings()
    url = settings.api_database_url.get_secret_value() if settings.api_database_url else None
    runtime = Runtime(
        settings=settings,
        db=Database(url, settings.api_pool_size) if url else None,
        limiter=RateLimiter(settings.rate_limit_per_minute),
        clock=clock,
        cache=ResultCache(settings.api_cache_entries, settings.api_cache_seconds)
        if settings.api_cache_entries
        else None,
    )
    server = mcp_server.build_server(runtime, VERSION)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime.db is None:
            log.error("API_DATABASE_URL is not set: every tool call answers 503")
        else:
            await runtime.db.open()
        try:
            async with server.session_manager.run():
                yield
        finally:
            if runtime.db is not None:
                await runtime.db.close()

    app = FastAPI(
        title="Spotify listening history",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads scripts from a CDN; the OpenAPI document is at /openapi.json
        redoc_url=None,
    )
    app.state.runtime = runtime

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": VERSION}

    routes.include(app, runtime)
    app.router.routes.extend(mcp_server.routes(server, runtime))
    public = PUBLIC_PATHS
    if settings.oauth_enabled:
        app.router.routes.extend(oauth_routes(runtime))
        public = public | OAUTH_PATHS
    else:
        log.warning("PUBLIC_BASE_URL is neither https nor loopback: OAuth for /mcp is off (API keys still work)")
    _errors(app)
    _openapi(app, settings)

    # add_middleware wraps: the last added runs first.
    app.add_middleware(KeyAuth, authenticate=runtime.authenticate, limiter=runtime.limiter, public=public)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        # Mcp-Method / Mcp-Name: the 2026-07-28 routing headers, on every request of that revision.
        # (Mcp-Param-* headers are sent only for tool arguments a schema marks x-mcp-header; none does.)
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Mcp-Session-Id",
            "Mcp-Protocol-Version",
            "Mcp-Method",
            "Mcp-Name",
        ],
        expose_headers=["X-Request-ID", "Retry-After", "Mcp-Session-Id", "WWW-Authenticate"],
        max_age=600,
    )
    app.add_middleware(RequestContext, hsts=settings.public_base_url.startswith("https://"))
    return app


def _errors(app: FastAPI) -> None:
    def respond(request: Request, error: ApiError) -> JSONResponse:
        body = {**error.body(), "request_id": getattr(request.state, "request_id", None)}
        return JSONResponse(body, status_code=error.status, headers=error.headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return respond(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The tool whose GET endpoint this is: its argument model says what each argument must be.
        tool = next((t for t in TOOLS.values() if t.path == request.url.path), None)
        args = tool.args if tool is not None else None
        return respond(request, BadArguments(describe_validation_errors(list(exc.errors()), args)))


def _openapi(app: FastAPI, settings: ApiSettings) -> None:
    """The document a Custom GPT imports: the /v1 operations, the public server URL, Bearer auth."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema["servers"] = [{"url": settings.public_base_url}]
            # Invalid arguments are answered 400 (ErrorBody), never FastAPI's default 422.
            for operations in schema["paths"].values():
                for operation in operations.values():
                    operation["responses"].pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema["components"]["schemas"].pop(name, None)
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "spotify-history api-key create"}
            }
            schema["security"] = [{"bearerAuth": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def __getattr__(name: str) -> Any:
    """`mcp_api.doors.app:app` for `uvicorn mcp_api.doors.app:app` (settings from the environment)."""
    if name == "app":
        return create_app()
    raise AttributeError(name)
