"""Plain ASGI middleware (cheaper per request than BaseHTTPMiddleware): request ids, security
headers and access logs; request-size limits; Bearer-key authentication and the per-key rate limit.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_api.errors import ApiError, PayloadTooLarge, RateLimited
from mcp_api.ratelimit import retry_after

log = logging.getLogger("mcp_api.access")

# Paths anyone may read: liveness, and the OpenAPI document a Custom GPT imports by URL.
PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json"})

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def state(scope: Scope) -> dict[str, Any]:
    """The per-request state dict (request.state in Starlette/FastAPI)."""
    return scope.setdefault("state", {})


async def send_error(scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
    body = {**error.body(), "request_id": state(scope).get("request_id")}
    await JSONResponse(body, status_code=error.status, headers=error.headers)(scope, receive, send)


class RequestContext:
    """Outermost: a request id, security headers on every response, one access-log line per request."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
            (b"cache-control", b"no-store"),
        ]
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        st = state(scope)
        st["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers.append("x-request-id", request_id)
                for name, value in self.headers:
                    if name.decode() not in headers:
                        headers.raw.append((name, value))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id, "path": scope["path"]})
            if not response_started:
                await send_error(scope, receive, send_wrapper, ApiError("internal error (see the server log)"))
        finally:
            principal = st.get("principal")
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "key_id": getattr(principal, "key_id", None),
                    "admin": getattr(principal, "is_admin", None),
                    "grant_id": getattr(principal, "grant_id", None),
                    "tool": st.get("tool"),
                },
            )


class BodyLimit:
    """413 for bodies above MAX_REQUEST_BYTES, whether declared (Content-Length) or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(f"request body larger than {self.max_bytes} bytes")
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_error(scope, receive, send, too_large)
            return
        # Read the (small) body up front and replay it: the limit holds for chunked bodies too.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body.extend(message.get("body", b""))
            if len(body) > self.max_bytes:
                await send_error(scope, receive, send, too_large)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


Authenticate = Callable[[Scope], Awaitable[Any]]


class KeyAuth:
    """Every path but PUBLIC_PATHS needs a valid Bearer key; each key gets RATE_LIMIT_PER_MINUTE.

    Only the path, the HTTP method and Authorization decide: the MCP 2026-07-28 routing headers
    (Mcp-Method, Mcp-Name) and the body are read after this, by the SDK, so no MCP method (not even
    server/discover) is answered without a key or token."""

    def __init__(
        self, app: ASGIApp, *, authenticate: Authenticate, limiter: Any, public: frozenset[str] = PUBLIC_PATHS
    ) -> None:
        self.app = app
        self.authenticate = authenticate
        self.limiter = limiter
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # /.well-known/ holds only discovery documents: a probe for a missing one gets 404, not 401.
        public = scope.get("path", "") in self.public or scope.get("path", "").startswith("/.well-known/")
        if scope["type"] != "http" or public or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.authenticate(scope)
            state(scope)["principal"] = principal
            wait = self.limiter.take(principal.rate_key)
            if wait:
                raise RateLimited(
                    "rate limit exceeded for this key; retry later",
                    headers={"Retry-After": retry_after(wait)},
                )
        except ApiError as error:
            await send_error(scope, receive, send, error)
            return
        await self.app(scope, receive, send)
