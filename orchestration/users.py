"""Users: who the history belongs to. A user may exist without a linked Spotify account."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import psycopg
from psycopg.rows import class_row

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}\Z")
STATUSES = ("active", "paused", "needs_reauth")


class UserError(ValueError):
    """A user operation that cannot be done, with a message meant for people."""


@dataclass(frozen=True)
class User:
    user_id: int
    name: str
    timezone: str
    status: str
    spotify_user_id: str | None
    spotify_display_name: str | None
    created_at: datetime


_COLUMNS = "user_id, name, timezone, status, spotify_user_id, spotify_display_name, created_at"


def validate_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise UserError(
            f"invalid user name {name!r}: use 1-63 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def validate_timezone(zone: str) -> str:
    """An IANA zone name such as Europe/Berlin; abbreviations and offsets are refused."""
    hint = "use an IANA name such as Europe/Berlin, America/New_York or UTC"
    if not zone or zone != zone.strip() or zone.startswith(("/", ".")) or ".." in zone:
        raise UserError(f"invalid time zone {zone!r}: {hint}")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UserError(f"unknown time zone {zone!r}: {hint}") from exc
    if zone not in available_timezones() and zone != "UTC":
        raise UserError(f"unknown time zone {zone!r}: {hint}")
    return zone


def add(conn: psycopg.Connection, name: str, timezone: str) -> User:
    validate_name(name)
    validate_timezone(timezone)
    _check_postgres_knows(conn, timezone)
    try:
        with conn.cursor(row_factory=class_row(User)) as cur:
            cur.execute(
                f"insert into app.users (name, timezone) values (%s, %s) returning {_COLUMNS}",
                (name, timezone),
            )
            user = cur.fetchone()
        conn.commit()
    except psycopg.errors.UniqueViolation as exc:
        conn.rollback()
        raise UserError(f"user {name!r} already exists") from exc
    assert user is not None
    return user


def get(conn: psycopg.Connection, name: str) -> User:
    with conn.cursor(row_factory=class_row(User)) as cur:
        user = cur.execute(f"select {_COLUMNS} from app.users where name = %s", (name,)).fetchone()
    if user is None:
        raise UserError(f"no user named {name!r} (add one with: spotify-history users add {name})")
    return user


def list_all(conn: psycopg.Connection) -> list[User]:
    with conn.cursor(row_factory=class_row(User)) as cur:
        return cur.execute(f"select {_COLUMNS} from app.users order by name").fetchall()


def set_status(conn: psycopg.Connection, name: str, status: str) -> User:
    if status not in STATUSES:
        raise UserError(f"invalid status {status!r}")
    return _update(conn, name, "status", status)


def set_timezone(conn: psycopg.Connection, name: str, timezone: str) -> User:
    validate_timezone(timezone)
    _check_postgres_knows(conn, timezone)
    return _update(conn, name, "timezone", timezone)


def _update(conn: psycopg.Connection, name: str, column: str, value: str) -> User:
    get(conn, name)
    with conn.cursor(row_factory=class_row(User)) as cur:
        user = cur.execute(
            f"update app.users set {column} = %s, updated_at = now() where name = %s returning {_COLUMNS}",
            (value, name),
        ).fetchone()
    conn.commit()
    assert user is not None
    return user


def _check_postgres_knows(conn: psycopg.Connection, zone: str) -> None:
    # dbt converts times with AT TIME ZONE: the server's zone database must know the name too.
    known = conn.execute("select 1 from pg_timezone_names where name = %s", (zone,)).fetchone()
    if not known:
        raise UserError(f"time zone {zone!r} is not known to the Postgres server")
