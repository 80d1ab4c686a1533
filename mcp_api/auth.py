"""Who is calling (Bearer key → principal) and whose history a call may read.

A user key reads exactly its own user; naming anyone else is refused, whether that user exists or
not (so a key cannot probe for other users). The admin key (ADMIN_API_KEY) may name any user.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import SecretStr

from mcp_api import keys
from mcp_api.database import Database
from mcp_api.errors import BadArguments, Forbidden, NotFound, Unauthorized

# -- keys and users -------------------------------------------------------------------------------

# What a call needs to know about its user, read with the key in one round trip. The last poll and
# the build stamp are read through jsonb: marts built by an older version lack them and answer null
# instead of failing.
USER_COLUMNS = """
s.user_name, s.timezone, (to_jsonb(s) ->> 'last_successful_poll_at')::timestamptz as last_poll,
(to_jsonb(s) ->> 'built_at')::timestamptz as built_at,
(to_jsonb(s) ->> 'first_play_date')::date as first_play, (to_jsonb(s) ->> 'last_play_date')::date as last_play,
s.plays as stored_plays
"""


USER_KEYS = ("user_name", "timezone", "last_poll", "built_at", "first_play", "last_play", "stored_plays")
"""The names USER_COLUMNS gives its columns."""


# The key's user may be missing from the marts (added since the last build): left join.
KEY_BY_PREFIX = f"""
select k.key_id, k.user_id, k.hash, k.revoked_at, {USER_COLUMNS}
from app.api_keys k left join marts.sync_status s on s.user_id = k.user_id
where k.prefix = %(prefix)s
"""


USERS_BY_REF = f"""
select s.user_id, {USER_COLUMNS} from marts.sync_status s
where s.user_id = %(user_id)s or s.user_name = %(name)s
"""


@dataclass(frozen=True)
class UserRef:
    user_id: int
    name: str
    timezone: str
    last_poll: datetime | None = None
    """The last successful poll of Spotify's API (coverage reports it)."""
    built_at: datetime | None = None
    """When the marts were built (sync_status.built_at): what cached answers are keyed on."""
    first_play: date | None = None
    last_play: date | None = None
    """Local days of the first and last stored play (sync_status; None without plays)."""
    plays: int = 0
    """Every stored play of the user."""


@dataclass(frozen=True)
class Principal:
    key_id: int | None
    """The API key; None for the admin key, OAuth tokens and the local stdio server."""
    user_id: int | None
    """The one user this principal reads; None only for the admin key."""
    user: UserRef | None = None
    """The user as the marts know it; None for the admin key, or before the marts know the user."""
    grant_id: int | None = None
    """The OAuth grant (connected client) an access token belongs to."""

    @property
    def is_admin(self) -> bool:
        return self.user_id is None

    @property
    def rate_key(self) -> str:
        if self.is_admin:
            return "admin"
        if self.key_id is not None:
            return f"key:{self.key_id}"
        return f"grant:{self.grant_id}" if self.grant_id is not None else f"user:{self.user_id}"


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticate(db: Database, authorization: str | None, admin_key: SecretStr | None) -> Principal:
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized()
    if admin_key is not None and hmac.compare_digest(token.encode(), admin_key.get_secret_value().encode()):
        return Principal(key_id=None, user_id=None)
    if not keys.looks_like_key(token):
        raise Unauthorized()
    rows = await db.rows(KEY_BY_PREFIX, {"prefix": keys.prefix_of(token)})
    # Unknown, wrong and revoked keys get the same answer.
    if not rows or not keys.matches(token, rows[0]["hash"]) or rows[0]["revoked_at"] is not None:
        raise Unauthorized()
    row = rows[0]
    return Principal(key_id=row["key_id"], user_id=row["user_id"], user=_user(row) if row["user_name"] else None)


NOT_YOURS = "this key reads only its own user's history: leave user_id empty"
NOT_BUILT = "no listening data for this user yet: the marts are built after the first import (spotify-history refresh)"


async def target_user(db: Database, principal: Principal, user_id: int | str | None) -> UserRef | None:
    """The user a call reads; None means every user (only the admin key without user_id)."""
    if not principal.is_admin:
        assert principal.user_id is not None
        if user_id is not None and not _names(principal, user_id):
            raise Forbidden(NOT_YOURS)
        if principal.user is None:
            raise NotFound(NOT_BUILT)
        return principal.user
    if user_id is None:
        return None
    digits = isinstance(user_id, str) and user_id.isascii() and user_id.isdigit() and len(user_id) <= 10
    number = user_id if isinstance(user_id, int) else int(user_id) if digits else None
    rows = await db.rows(USERS_BY_REF, {"user_id": number, "name": user_id if isinstance(user_id, str) else None})
    if not rows:
        raise NotFound(f"no user {user_id!r} in the marts (unknown, or not built since it was added)")
    if len(rows) > 1:
        raise BadArguments(f"user_id {user_id!r} names two users (an id and a name): pass the id as a number")
    return _user(rows[0])


def require_user(user: UserRef | None) -> UserRef:
    if user is None:
        raise BadArguments("the admin key reads one user at a time: pass user_id (id or name)")
    return user


def _names(principal: Principal, user_id: int | str) -> bool:
    """Whether a user_id argument names the key's own user (by id, or by name once the marts know it)."""
    if isinstance(user_id, int):
        return user_id == principal.user_id
    return user_id == str(principal.user_id) or (principal.user is not None and user_id == principal.user.name)


def user_from_row(user_id: int, row: dict[str, Any]) -> UserRef | None:
    """The user as the marts know it (USER_COLUMNS of a row), None before they do."""
    return _user({**row, "user_id": user_id}) if row.get("user_name") else None


def _user(row: dict[str, Any]) -> UserRef:
    return UserRef(
        row["user_id"],
        row["user_name"],
        row["timezone"],
        row["last_poll"],
        row["built_at"],
        row["first_play"],
        row["last_play"],
        row["stored_plays"] or 0,
    )
