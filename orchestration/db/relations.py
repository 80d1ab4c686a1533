"""Which relations exist in the database, for callers that must create what is missing."""

from __future__ import annotations

import psycopg


def missing_views(conn: psycopg.Connection, names: list[str]) -> list[str]:
    """The `schema.view` names of `names` that are not views in the database."""
    rows = conn.execute(
        "select table_schema || '.' || table_name from information_schema.views where table_schema || '.' || "
        "table_name = any(%s)",
        (sorted(names),),
    ).fetchall()
    return sorted(set(names) - {name for (name,) in rows})
