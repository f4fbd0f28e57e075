"""Pacing: a records-per-second token bucket and event-time replay at a speed-up factor."""

from __future__ import annotations

import time
from collections.abc import Callable

Sleep = Callable[[float], None]


class TokenBucket:
    """Allows `rate` records per second on average, in bursts of at most `burst` records."""

    def __init__(
        self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(rate / 10, 1.0)
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()

    def delay_for(self, records: int) -> float:
        """Take `records` tokens; return how long to wait before sending them (0 when available)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= records
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class EventTimePacer:
    """Replays event time `speedup` times faster than it happened: an event `d` seconds after the
    first one is sent `d / speedup` seconds after the first send."""

    def __init__(self, speedup: float, clock: Callable[[], float] = time.monotonic) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self.speedup = speedup
        self._clock = clock
        self._origin: tuple[float, float] | None = None  # (event seconds, wall seconds)

    def delay_for(self, event_seconds: float) -> float:
        """How long to wait before sending an event stamped `event_seconds` (epoch seconds)."""
        now = self._clock()
        if self._origin is None:
            self._origin = (event_seconds, now)
            return 0.0
        due = self._origin[1] + (event_seconds - self._origin[0]) / self.speedup
        return max(0.0, due - now)
