"""Errors every door reports the same way: an HTTP status, a short code and a message for the caller."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": self.message, "error_type": self.code}


class BadArguments(ApiError):
    status = 400
    code = "invalid_arguments"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"

    def __init__(
        self,
        message: str = "missing or invalid API key (send Authorization: Bearer <key>)",
        challenge: str = 'Bearer realm="spotify-history"',
    ) -> None:
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"
