"""Time windows (domain.md §3): `days` (the last N local days, today included) or `start`/`end`.

All dates are local dates in the listener's time zone; "today" is today there, not on the server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, WithJsonSchema

DEFAULT_DAYS = 90
# ~27 years: every Spotify history fits (Spotify started in 2008), and the cost of a query stays
# bounded (an index range read over at most this many days per user).
MAX_WINDOW_DAYS = 10_000


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


def check(days: int | None, start: date | None, end: date | None) -> None:
    """The combination rules, independent of the user (so they are checked with the arguments)."""
    if days is not None and (start is not None or end is not None):
        raise WindowError("give either days or start/end, not both")
    if end is not None and start is None:
        raise WindowError("end needs start (or use days)")
    if start is not None and end is not None:
        if start > end:
            raise WindowError(f"start ({start}) is after end ({end})")
        if (end - start).days + 1 > MAX_WINDOW_DAYS:
            raise WindowError(f"the window is longer than {MAX_WINDOW_DAYS} days")


def today_in(timezone: str, now: datetime | None = None) -> date:
    zone = ZoneInfo(timezone)
    return (now.astimezone(zone) if now else datetime.now(zone)).date()


def resolve(
    days: int | None, start: date | None, end: date | None, timezone: str, now: datetime | None = None
) -> Window:
    """The local date range the arguments mean for a listener in `timezone`."""
    check(days, start, end)
    today = today_in(timezone, now)
    if start is not None:
        end = end or today
        if start > end:
            raise WindowError(f"start ({start}) is after today ({today}) in {timezone}; give an end date")
        if (end - start).days + 1 > MAX_WINDOW_DAYS:
            raise WindowError(f"the window is longer than {MAX_WINDOW_DAYS} days")
        return Window(start, end, timezone)
    n = days or DEFAULT_DAYS
    return Window(today - timedelta(days=n - 1), today, timezone)
