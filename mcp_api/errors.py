"""Errors every door reports the same way: an HTTP status, a short code and a message for the caller."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from mcp_api.windows import MAX_WINDOW_YEARS, WHOLE_HISTORY


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


# What follows an argument's rule: (the scale of the rule, the way to what the caller wanted).
ARGUMENT_HINTS = {
    "days": (f"(about {MAX_WINDOW_YEARS} years)", WHOLE_HISTORY),
    "start": ("(a local date, e.g. 2024-05-31)", "for the whole history use all_time: true"),
    "end": ("(a local date, e.g. 2024-05-31)", ""),
    "user_id": ("", "or leave it out: a key reads its own listener"),
}
# Rules that the JSON schema does not say in words (a pattern).
ARGUMENT_RULES = {
    "user_id": "a numeric user id or a user name (lowercase letters, digits, - and _)",
}


def describe_validation_errors(errors: list[Any], model: type[BaseModel] | None = None) -> str:
    """Argument errors in plain words, one sentence per argument: the argument, the rule, the fix.

    Pydantic reports a union (`int | None`) once per member (`days.constrained-int`, `days.none`);
    an assistant needs none of that, only what the argument must be. The rule is read from the
    tool's argument model (its JSON schema), so every tool's arguments are described alike."""
    properties = model.model_json_schema().get("properties", {}) if model is not None else {}
    messages: dict[str, str] = {}
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "body")]
        name = loc[0] if loc else ""
        if name in messages:
            continue  # one sentence per argument, however many union members failed
        kind = err.get("type", "")
        if kind == "extra_forbidden":
            known = ", ".join(properties) or "the documented arguments"
            messages[name] = f"{name} is not an argument of this tool; it takes {known}"
        elif name in properties:
            scale, fix = ARGUMENT_HINTS.get(name, ("", ""))
            sentence = f"{name} must be {_rule(name, properties[name])}" + (f" {scale}" if scale else "")
            if kind == "missing":
                sentence = f"{name} is required: {sentence}"
            elif "input" in err:
                sentence += f", not {_shown(err['input'])}"
            messages[name] = f"{sentence}; {fix}" if fix else sentence
        else:  # a rule between arguments (the window), already worded for the caller
            message = str(err.get("msg", "invalid arguments")).removeprefix("Value error, ")
            messages[name or message] = f"{name}: {message}" if name else message
    return "; ".join(messages.values()) or "invalid arguments"


def _rule(name: str, schema: dict[str, Any]) -> str:
    if name in ARGUMENT_RULES:
        return ARGUMENT_RULES[name]
    if "anyOf" in schema:
        return " or ".join(_rule("", s) for s in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return f"a whole number between {low} and {high}"
        if low is not None:
            return f"a whole number of at least {low}"
        return "a whole number" if high is None else f"a whole number of at most {high}"
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        if schema.get("format") == "date":
            return "a date as YYYY-MM-DD"
        low, high = schema.get("minLength"), schema.get("maxLength")
        if high is not None:
            return f"text of {low or 0} to {high} characters"
        return "text"
    return "valid"


def _shown(value: Any) -> str:
    # Quoted when it is text; a number reads the same from JSON and from a query string (where
    # every value is text).
    numeric = isinstance(value, str) and value.lstrip("+-").replace(".", "", 1).isdigit()
    text = repr(value) if isinstance(value, str) and not numeric else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
