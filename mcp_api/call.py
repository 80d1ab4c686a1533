"""What a tool function gets besides its arguments: the database, the user it reads, the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfoNotFoundError

from mcp_api import models as m
from mcp_api import windows
from mcp_api.auth import UserRef, require_user
from mcp_api.errors import BadArguments, Unavailable
from mcp_api.queries import Bounds, Database


@dataclass(frozen=True)
class Call:
    """What a tool function gets besides its arguments."""

    db: Database
    user: UserRef | None
    """The user read; None only for ops tools called by the admin key without user_id (all users)."""
    now: datetime | None = None
    """Fixed "now" for tests; None = the clock."""

    def window(self, args: m.WindowFields) -> tuple[UserRef, windows.Window, Bounds]:
        user = require_user(self.user)
        try:
            window = windows.resolve(
                args.days,
                args.start,
                args.end,
                user.timezone,
                self.now,
                all_time=args.all_time,
                stored=(user.first_play, user.last_play),
            )
        except windows.WindowError as exc:
            raise BadArguments(str(exc)) from exc
        except ZoneInfoNotFoundError as exc:
            raise Unavailable(f"unknown time zone {user.timezone!r} for user {user.name}") from exc
        return user, window, Bounds(user.user_id, window.start, window.end)
