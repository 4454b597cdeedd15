"""A per-key token bucket, in process memory: no database write per request.

The rate is ``HELIOGRAPH_API_RATE`` requests per minute per API key (setting or environment
variable; default 600), with a burst of the same size. Each server process keeps its own
buckets, so with N processes a key may make up to N times the rate: the limit protects the
service from a runaway script, it is not an accounting quota.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from django.conf import settings

MAX_BUCKETS = 10_000  # forget idle keys past this many, so memory stays bounded


def configured_rate() -> float:
    return float(settings.HELIOGRAPH_API_RATE)


class TokenBucket:
    """``take(key)`` returns 0 when allowed, else the whole seconds to wait."""

    def __init__(
        self,
        per_minute: float,
        clock: Callable[[], float] | None = None,
        burst: float | None = None,
    ) -> None:
        self.per_second = per_minute / 60.0
        self.capacity = max(1.0, per_minute if burst is None else burst)
        self.clock = clock or time.monotonic
        self.buckets: dict[object, tuple[float, float]] = {}  # key -> (tokens, at)
        self.lock = threading.Lock()

    def take(self, key: object) -> int:
        with self.lock:
            now = self.clock()
            tokens, at = self.buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.per_second)
            if tokens >= 1:
                self._store(key, tokens - 1, now)
                return 0
            self._store(key, tokens, now)
            return max(1, math.ceil((1 - tokens) / self.per_second))

    def _store(self, key: object, tokens: float, now: float) -> None:
        if key not in self.buckets and len(self.buckets) >= MAX_BUCKETS:
            self.buckets.clear()  # crude but bounded; a full bucket is the default anyway
        self.buckets[key] = (tokens, now)


_bucket: TokenBucket | None = None
_bucket_rate: float | None = None


def reset() -> None:
    """Forget every bucket (tests; a settings change)."""
    global _bucket
    _bucket = None


def take(key: object) -> int:
    """Seconds to wait before ``key`` may make another request (0: go ahead)."""
    global _bucket, _bucket_rate
    rate = configured_rate()
    if _bucket is None or rate != _bucket_rate:  # settings may change in tests
        _bucket, _bucket_rate = TokenBucket(rate), rate
    return _bucket.take(key)
