"""What every tool shares: the time windows, the bases of the argument and result models, what a tool
function gets besides its arguments (Call), and the Tool itself (`@tool`; registry.py lists them).

Time windows (domain.md §3): `days` (the last N local days, today included), `start`/`end`, or
`all_time` (everything stored: from the first stored play's day to today, or to the last play's day
when that is later). All dates are local dates in the listener's time zone; "today" is today there,
not on the server.

Also how bad tool arguments are put in words (describe_validation_errors): the window's rules are
most of what it says, and errors.py stays free of any rule of the tools.

Optional arguments are typed `X | SkipJsonSchema[None]`: null is accepted, but the published schema
says just `integer` / `string`, which GPT Actions and MCP clients read more reliably than anyOf-null.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from mcp_api import views
from mcp_api.auth import Principal, UserRef, require_user, target_user
from mcp_api.cache import LIVE_TOOLS, ResultCache
from mcp_api.database import Database
from mcp_api.errors import BadArguments, Unavailable

# -- time windows ---------------------------------------------------------------------------------

DEFAULT_DAYS = 90


# ~27 years: every Spotify history fits (Spotify started in 2008), and the cost of a query stays
# bounded (an index range read over at most this many days per user).
MAX_WINDOW_DAYS = 10_000


MAX_WINDOW_YEARS = round(MAX_WINDOW_DAYS / 365.25)


WHOLE_HISTORY = "for the whole history use all_time: true"


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    """Only `YYYY-MM-DD`: pydantic's lax mode would also take Unix timestamps and datetimes."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"not a valid date: {exc}") from None


IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}),
]


class WindowError(ValueError):
    """Window arguments that do not make a window (the message is meant for the caller)."""


@dataclass(frozen=True)
class Window:
    start: date
    end: date
    timezone: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def as_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days": self.days,
            "timezone": self.timezone,
        }


def check(days: int | None, start: date | None, end: date | None, all_time: bool = False) -> None:
    """The combination rules, independent of the user (so they are checked with the arguments).

    The messages name the arguments, the rule and the fix: an assistant reads them and retries."""
    if all_time and (days is not None or start is not None or end is not None):
        raise WindowError(
            "all_time: true already covers the whole stored history; leave out days, start and end "
            "(or drop all_time to ask for a shorter window)"
        )
    if days is not None and (start is not None or end is not None):
        raise WindowError(
            "days cannot be combined with start/end: give either days (the last N days) or start and "
            "end (dates as YYYY-MM-DD)"
        )
    if end is not None and start is None:
        raise WindowError("end needs start: give start too (YYYY-MM-DD), or use days for the last N days")
    if start is not None and end is not None:
        if start > end:
            raise WindowError(f"start ({start}) is after end ({end}): start must be the earlier date")
        _check_length(start, end)


def _check_length(start: date, end: date) -> None:
    if (end - start).days + 1 > MAX_WINDOW_DAYS:
        raise WindowError(
            f"start to end spans {(end - start).days + 1} days, and a window may span at most {MAX_WINDOW_DAYS} "
            f"days (about {MAX_WINDOW_YEARS} years); {WHOLE_HISTORY}"
        )


def today_in(timezone: str, now: datetime | None = None) -> date:
    zone = ZoneInfo(timezone)
    return (now.astimezone(zone) if now else datetime.now(zone)).date()


def resolve(
    days: int | None,
    start: date | None,
    end: date | None,
    timezone: str,
    now: datetime | None = None,
    *,
    all_time: bool = False,
    stored: tuple[date | None, date | None] = (None, None),
) -> Window:
    """The local date range the arguments mean for a listener in `timezone`.

    `stored`: the local days of the listener's first and last stored play (what all_time covers)."""
    check(days, start, end, all_time)
    today = today_in(timezone, now)
    if all_time:
        first, last = stored
        # Up to today (the days since the last play are part of "all time" too), or to the last
        # play when a clock or time-zone quirk put it later. Not limited to MAX_WINDOW_DAYS: its
        # length is the stored history's.
        return Window(first or today, max(today, last or today), timezone)
    if start is not None:
        end = end or today
        if start > end:
            raise WindowError(
                f"start ({start}) is after today ({today}) in the listener's time zone {timezone}; "
                f"give an earlier start, or an end date too"
            )
        _check_length(start, end)
        return Window(start, end, timezone)
    n = days or DEFAULT_DAYS
    return Window(today - timedelta(days=n - 1), today, timezone)


# -- bad arguments in words -----------------------------------------------------------------------

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


# -- argument bases -------------------------------------------------------------------------------

USER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


UserName = Annotated[str, StringConstraints(pattern=USER_NAME_PATTERN, max_length=63)]


UserNumber = Annotated[int, Field(ge=1, le=2_147_483_647)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserArg(StrictModel):
    user_id: UserNumber | UserName | SkipJsonSchema[None] = Field(
        default=None,
        description="Whose history: leave empty (a key reads its own user). Only the admin key may name "
        "another user, by numeric id or user name.",
    )


class WindowFields(StrictModel):
    days: Annotated[int, Field(ge=1, le=MAX_WINDOW_DAYS)] | SkipJsonSchema[None] = Field(
        default=None,
        description=f"The last N days up to today in the listener's time zone, today included "
        f"(default {DEFAULT_DAYS}; 1-{MAX_WINDOW_DAYS}). Not together with start/end or all_time.",
    )
    start: IsoDate | SkipJsonSchema[None] = Field(
        default=None, description="First local date of the window (YYYY-MM-DD, inclusive). Instead of days."
    )
    end: IsoDate | SkipJsonSchema[None] = Field(
        default=None, description="Last local date of the window (YYYY-MM-DD, inclusive; default today). Needs start."
    )
    all_time: bool = Field(
        default=False,
        description="true: the whole stored history, from the first stored play to today. Not together with "
        "days or start/end. The answer's `history` says which dates are stored.",
    )

    @model_validator(mode="after")
    def _window(self) -> WindowFields:
        check(self.days, self.start, self.end, self.all_time)  # WindowError is a ValueError: a 400
        return self


class LimitArg(StrictModel):
    limit: int = Field(default=10, ge=1, le=50, description="How many items to list (1-50).")


# Bases are listed so that the fields come in reading order: window, limit, user_id.
class Args(UserArg):
    """Arguments of a tool without a window."""


class WindowArgs(UserArg, WindowFields):
    pass


class ListArgs(UserArg, LimitArg, WindowFields):
    pass


# -- result bases ---------------------------------------------------------------------------------


class Out(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="null")


class WindowOut(Out):
    start: date
    end: date
    days: int
    timezone: str = Field(description="The listener's IANA time zone; all days and hours are local to it.")


class HistorySpan(Out):
    first_play: date | None = Field(description="Local date of the first stored play (null: none stored).")
    last_play: date | None = Field(description="Local date of the last stored play (null: none stored).")
    plays: int = Field(description="Every stored play of the listener, whatever the window.")


class Windowed(Out):
    user: str = Field(description="The listener's user name.")
    window: WindowOut
    history: HistorySpan = Field(
        description="What is stored for the listener over all time: ask for windows inside first_play..last_play."
    )
    note: str | None = Field(
        default=None,
        description="Set when the window holds no plays: a sentence to pass on, saying where the stored plays are.",
    )


class OmitsNone(Out):
    """An item whose optional keys (None) are left out of the answer rather than sent as null."""

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None or k not in self._optional}

    _optional: ClassVar[frozenset[str]] = frozenset()


# -- what a tool function gets --------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """What a windowed query needs: whose rows and which local days (inclusive)."""

    user_id: int
    start: date
    end: date

    def params(self, **extra: Any) -> dict[str, Any]:
        return {"user_id": self.user_id, "start": self.start, "end": self.end, **extra}


WINDOW = "user_id = %(user_id)s and local_date between %(start)s and %(end)s"


@dataclass(frozen=True)
class Call:
    """What a tool function gets besides its arguments."""

    db: Database
    user: UserRef | None
    """The user read; None only for ops tools called by the admin key without user_id (all users)."""
    now: datetime | None = None
    """Fixed "now" for tests; None = the clock."""

    def window(self, args: WindowFields) -> tuple[UserRef, Window, Bounds]:
        user = require_user(self.user)
        try:
            window = resolve(
                args.days,
                args.start,
                args.end,
                user.timezone,
                self.now,
                all_time=args.all_time,
                stored=(user.first_play, user.last_play),
            )
        except WindowError as exc:
            raise BadArguments(str(exc)) from exc
        except ZoneInfoNotFoundError as exc:
            raise Unavailable(f"unknown time zone {user.timezone!r} for user {user.name}") from exc
        return user, window, Bounds(user.user_id, window.start, window.end)


# -- the tool -------------------------------------------------------------------------------------

A = TypeVar("A", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Tool(Generic[A, R]):
    name: str
    description: str
    """What it answers; ≤ 300 characters (GPT Actions cut longer descriptions)."""
    args: type[A]
    result: type[R]
    run: Callable[[Call, A], Awaitable[R]]
    title: str
    """What a person sees in a host's tool list: specific ("My top artists"), not the name reworded."""
    all_users: bool = False
    """The admin key may call it without user_id and get every user."""
    view: views.View | None = None
    """Its MCP Apps view: hosts that render them draw the result with it (mcp_api/views)."""

    @property
    def operation_id(self) -> str:
        return self.name.replace(".", "_")

    @property
    def path(self) -> str:
        return "/v1/" + self.name.replace(".", "/").replace("_", "-")

    def parse(self, raw: Any) -> A:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise BadArguments("args must be a JSON object")
        try:
            return self.args.model_validate(raw)
        except ValidationError as exc:
            raise BadArguments(describe_validation_errors(exc.errors(), self.args)) from exc


def tool(
    name: str, description: str, *, title: str, all_users: bool = False, view: views.View | None = None
) -> Callable[[Callable[[Call, A], Awaitable[R]]], Tool[A, R]]:
    """Make a tool of a function `async def f(c: Call, args: SomeArgs) -> SomeResult`: its argument and
    result models are read from its annotations, so each is written once. registry.py lists the tools."""
    reworded = name.split(".", 1)[-1].replace("_", " ").casefold()
    if not title.strip() or title.casefold() == reworded:
        raise ValueError(f"{name}: give it a specific title, not its name reworded ({title!r})")

    def make(run: Callable[[Call, A], Awaitable[R]]) -> Tool[A, R]:
        hints = typing.get_type_hints(run)
        return Tool(name, description, hints["args"], hints["return"], run, title, all_users=all_users, view=view)

    return make


async def call(
    tool: Tool[Any, Any],
    args: BaseModel,
    db: Database,
    principal: Principal,
    now: datetime | None = None,
    cache: ResultCache | None = None,
) -> BaseModel:
    """Run a tool for a principal: scope the user, then the tool's function (or its cached answer)."""
    user = await target_user(db, principal, getattr(args, "user_id", None))
    if user is None and not tool.all_users:
        require_user(user)
    key = _cache_key(tool, args, user, now) if cache is not None else None
    if key is not None and cache is not None and (hit := cache.get(key)) is not None:
        return hit
    result = await tool.run(Call(db, user, now), args)
    if key is not None and cache is not None:
        cache.put(key, result)
    return result


def _cache_key(tool: Tool[Any, Any], args: BaseModel, user: UserRef | None, now: datetime | None) -> Any:
    """None when the answer may not be cached: every user at once, marts without a build stamp, a live tool."""
    if user is None or user.built_at is None or tool.name in LIVE_TOOLS:
        return None
    try:
        today = (now or datetime.now(UTC)).astimezone(ZoneInfo(user.timezone)).date().isoformat()
    except (ZoneInfoNotFoundError, ValueError):
        return None  # the tool itself explains the bad zone
    return ResultCache.key(tool.name, user.user_id, user.built_at, today, args)
