"""Time windows (domain.md §3): `days` (the last N local days, today included), `start`/`end`, or
`all_time` (everything stored: from the first stored play's day to today, or to the last play's day
when that is later).

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
