"""What the sandbox's server threads share: keys, faults, the recorder, the provider
accounts (:class:`ProviderWorld`) and request counters."""

from __future__ import annotations

import random
import threading
from collections import Counter

from cohortflow.sandbox.options import Faults, SandboxKeys
from cohortflow.sandbox.recorder import Recorder
from cohortflow.sandbox.world import ProviderWorld


class SandboxState:
    """What the server threads share: keys, faults, the recorder and counters."""

    def __init__(
        self, recorder: Recorder, keys: SandboxKeys, faults: Faults, *, deduplicate: bool = False
    ) -> None:
        """Hold the shared parts; faults are drawn from a generator seeded by ``faults.seed``.
        ``deduplicate``: honour ``Idempotency-Key`` (no documented provider does)."""
        self.recorder, self.keys, self.faults = recorder, keys, faults
        self.world = ProviderWorld(recorder)
        self.deduplicate = deduplicate
        self.stopping = threading.Event()
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def draw_fault(self) -> str | None:
        """The fault for the next provider request (a :class:`Faults` name), or ``None``."""
        f = self.faults
        with self._lock:
            r = self._rng.random()
        for name, fraction in (
            ("drop", f.drop),
            ("429", f.fail_429),
            ("500", f.fail_500),
            ("slow", f.slow),
            ("drop_after_accept", f.drop_after_accept),
            ("timeout_after_accept", f.timeout_after_accept),
        ):
            if r < fraction:
                return name
            r -= fraction
        return None

    def count(self, name: str) -> None:
        """Add one to a counter shown by ``/_sandbox/stats``."""
        with self._lock:
            self.counts[name] += 1

    def counts_snapshot(self) -> dict[str, int]:
        """A copy of the counters, taken under the lock."""
        with self._lock:
            return dict(self.counts)
