"""Tool results kept until the marts are rebuilt.

The marts change only when dbt builds them, and every build rewrites `sync_status` with its start
time (`built_at`). That stamp arrives with the caller's key (one query, already made), so a cached
answer is found without touching the database, and a new build makes every older answer unreachable.
A window given as `days` counts back from the listener's today, so the local date is part of the
key too. Entries also expire after a while, in case someone rebuilds a single mart by hand.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

from pydantic import BaseModel

LIVE_TOOLS = frozenset({"ops.latest_job_runs"})
"""Tools whose answers are never cached: they read marts.job_runs, a view over the app tables that
changes with every run (a build running, an import just done), not only when the marts are built."""


class ResultCache:
    """A small LRU of tool results per (tool, user, build, local date, arguments)."""

    def __init__(self, entries: int, seconds: float) -> None:
        self.entries = entries
        self.seconds = seconds
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[tuple[Any, ...], tuple[float, BaseModel]] = OrderedDict()

    @staticmethod
    def key(tool: str, user_id: int, built_at: datetime, today: str, args: BaseModel) -> tuple[Any, ...]:
        return (tool, user_id, built_at, today, args.model_dump_json())

    def get(self, key: tuple[Any, ...]) -> BaseModel | None:
        found = self._items.get(key)
        if found is None or time.monotonic() - found[0] > self.seconds:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return found[1]

    def put(self, key: tuple[Any, ...], result: BaseModel) -> None:
        if self.entries <= 0:
            return
        self._items[key] = (time.monotonic(), result)
        self._items.move_to_end(key)
        while len(self._items) > self.entries:
            self._items.popitem(last=False)
