"""A thread-safe token bucket: ``attempts_per_second`` across every batch of a campaign.

Each submission takes as many tokens as it has recipients. The bucket holds at most ``burst``
tokens (one batch), so after an idle spell one batch goes at once and the rest follow at the
configured rate. The clock and sleep are injectable so tests run without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_EPSILON = 1e-9


class TokenBucket:
    """Tokens refill continuously at ``rate`` per second up to ``burst``."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Start full; ``rate`` and ``burst`` must be positive."""
        if rate <= 0 or burst <= 0:
            raise ValueError(f"rate and burst must be positive, got rate={rate} burst={burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self, tokens: float) -> float:
        """Wait until ``tokens`` are available and take them; returns the seconds waited.

        A request larger than the burst is allowed: it waits until the bucket is full and
        then leaves it in debt, so the long-run rate stays exact.
        """
        if tokens <= 0:
            return 0.0
        waited = 0.0
        needed = min(float(tokens), self.burst)
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= needed - _EPSILON:  # float rounding must not livelock
                    self._tokens -= float(tokens)
                    return waited
                shortfall = (needed - self._tokens) / self.rate
            self._sleep(shortfall)
            waited += shortfall
