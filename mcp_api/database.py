"""The database as the API's read-only role: one pool of connections, reached by every tool (through
Call.db), by auth and by the OAuth store. The SQL is with its reader: each tool namespace holds its
own (mcp_api/tools), the key and user lookups are in auth.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncCursor
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from mcp_api.errors import Unavailable


class Database:
    """A pool of connections as the read-only role; every failure to reach data becomes a 503."""

    def __init__(self, url: str, size: int) -> None:
        self.pool = AsyncConnectionPool(
            url,
            min_size=min(2, size),
            max_size=size,
            open=False,
            timeout=10,
            # autocommit: each statement is its own (read-only) transaction; no idle-in-transaction.
            kwargs={"autocommit": True, "application_name": "spotify-history-api"},
            name="api",
        )

    async def open(self) -> None:
        # Do not wait: the API answers /healthz and 503s until the database is there.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        async with self._reaching(), self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql, params)
            return await cur.fetchall()

    async def items(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of a query that returns each as a JSON object in column `item` (the rankings)."""
        return [row["item"] for row in await self.rows(sql, params)]

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncCursor[dict[str, Any]]]:
        """One read-write transaction: the role's sessions are read-only by default, and its grants
        let it write only the OAuth tables (migration 0009)."""
        async with (
            self._reaching(),
            self.pool.connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=dict_row) as cur,
        ):
            await cur.execute("set transaction read write")
            yield cur

    @asynccontextmanager
    async def _reaching(self) -> AsyncIterator[None]:
        try:
            yield
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction) as exc:
            raise Unavailable(
                "the marts are not built yet (run `spotify-history refresh`, or wait for the refresh_marts sensor)"
            ) from exc
        except psycopg.errors.InsufficientPrivilege as exc:
            raise Unavailable("the API role may not read the marts yet (run `spotify-history refresh`)") from exc
        except psycopg.errors.QueryCanceled as exc:
            raise Unavailable("the query took too long") from exc
        except (psycopg.OperationalError, TimeoutError) as exc:
            raise Unavailable("the database is not reachable") from exc
