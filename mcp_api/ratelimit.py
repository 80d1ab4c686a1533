"""Per-key rate limit: a token bucket per key, in this process's memory.

Counted per process, as documented (RATE_LIMIT_PER_MINUTE): with `serve-api --workers N` or N
replicas behind one URL a key may make up to N times the rate. The limit guards against a runaway
client, not against abuse that N × 120 requests a minute would allow; sharing it through Postgres
would add a write to every request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def take(self, key: str) -> float:
        """Spend one request of `key`: 0 if allowed, else the seconds until it would be."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            self._prune(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        # Full buckets carry no information; drop them now and then so memory stays bounded.
        if len(self._buckets) > 10_000:
            full = 60.0
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full}


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
