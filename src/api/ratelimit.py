"""Per-API-key token buckets for the routes that cost money or share one runner: the agent (each call is
a Bedrock bill), the SQL playground (one serialised runner) and the notification drafts (Bedrock again).

Each (route group, key identity) pair has a bucket holding up to `burst` tokens, refilled continuously at
`per_minute / 60` tokens a second; a request takes one token or is refused with the whole seconds until
the next token is back (the 429's `Retry-After`). Buckets are keyed by the identity of a configured key
(`ApiKeys.identify`), never by what a caller sends: their number is bounded by keys × groups.

The clock is injected (`time.monotonic` by default), so tests advance time instead of sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# The route groups that are limited, each with its settings (FRAUDLAKE_RATE_LIMIT_<GROUP>_PER_MINUTE and
# _BURST). The scoring routes are not among them: they are never limited.
AGENT, SQL, NOTIFICATION = "agent", "sql", "notification"
GROUPS = (AGENT, SQL, NOTIFICATION)


@dataclass(frozen=True)
class Rate:
    """`per_minute` sustained requests, `burst` of them at once (the bucket's capacity)."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.per_minute > 0 and math.isfinite(self.per_minute)) or self.burst < 1:
            raise ValueError(f"a rate needs per_minute > 0 and burst >= 1, not {self}")

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets per (group, key identity); `acquire` is O(1) and thread-safe."""

    def __init__(self, rates: Mapping[str, Rate], clock: Callable[[], float] = time.monotonic):
        self.rates = dict(rates)
        self.clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, group: str, identity: str) -> int | None:
        """Take a token of `identity`'s bucket in `group`: None when granted, else the whole seconds
        (at least 1) until a token is back."""
        rate = self.rates[group]
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get((group, identity))
            if bucket is None:
                bucket = self._buckets[(group, identity)] = _Bucket(float(rate.burst), now)
            elapsed = max(0.0, now - bucket.updated)  # a clock that steps back refills nothing
            bucket.tokens = min(float(rate.burst), bucket.tokens + elapsed * rate.per_second)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - bucket.tokens) / rate.per_second))
