"""One request to Spotify, with the project's patience rules: how long to wait, how often to retry.

* 429 → wait `Retry-After` seconds, unless that is longer than SPOTIFY_MAX_RETRY_AFTER_SECONDS or
  than what is left of the run's budget, or Spotify has said 429 too often: then RateLimitedError,
  which callers turn into a clean end of the run ("rate_limited"). Never hammer.
* 5xx and transport errors → bounded exponential backoff, then SpotifyUnavailableError.
* Everything else is returned to the caller, who knows what a 401 or a 400 means there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from orchestration.config import Settings
from orchestration.spotify.errors import RateLimitedError, SpotifyUnavailableError

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
DEFAULT_RETRY_AFTER_SECONDS = 1.0  # a 429 without Retry-After still means "not now"


@dataclass
class Budget:
    """What one run may spend on Spotify: time (fetching and waiting) and patience."""

    seconds: float
    max_retry_after: float
    max_rate_limits: int
    max_retries: int
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    requests: int = 0
    rate_limits: int = 0
    _started: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._started = self.clock()

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> Budget:
        values: dict[str, object] = {
            "seconds": settings.spotify_run_budget_seconds,
            "max_retry_after": settings.spotify_max_retry_after_seconds,
            "max_rate_limits": settings.spotify_max_rate_limits,
            "max_retries": settings.spotify_max_retries,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def remaining(self) -> float:
        return self.seconds - (self.clock() - self._started)


def retry_after_seconds(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS


def send(request: Callable[[], httpx.Response], budget: Budget, what: str) -> httpx.Response:
    """Send (and re-send) `request` under the budget's rules. `what` names it in error messages."""
    failures = 0
    while True:
        problem: str
        try:
            response = request()
        except httpx.TransportError as exc:
            budget.requests += 1
            problem = f"{type(exc).__name__}"
        else:
            budget.requests += 1
            if response.status_code == 429:
                _wait_out_rate_limit(response, budget, what)
                continue
            if response.status_code < 500:
                return response
            problem = f"HTTP {response.status_code}"
        failures += 1
        delay = min(BACKOFF_BASE_SECONDS * 2 ** (failures - 1), BACKOFF_MAX_SECONDS)
        if failures > budget.max_retries or delay > budget.remaining():
            raise SpotifyUnavailableError(f"{what}: Spotify did not answer properly ({problem}, {failures} attempt(s))")
        budget.sleep(delay)


def _wait_out_rate_limit(response: httpx.Response, budget: Budget, what: str) -> None:
    budget.rate_limits += 1
    wait = retry_after_seconds(response)
    if budget.rate_limits > budget.max_rate_limits:
        raise RateLimitedError(f"{what}: rate limited by Spotify {budget.rate_limits} times in this run", wait)
    if wait > budget.max_retry_after or wait > budget.remaining():
        raise RateLimitedError(
            f"{what}: Spotify asked to wait {wait:.0f} s (Retry-After), longer than this run may wait", wait
        )
    budget.sleep(wait)
