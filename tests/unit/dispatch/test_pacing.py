"""The token bucket: attempts_per_second across batches, burst of one batch."""

from __future__ import annotations

import threading

import pytest

from cohortflow.dispatch.pacing import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_first_batch_goes_at_once_then_batches_follow_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, 50, clock=clock, sleep=clock.sleep)
    assert bucket.acquire(50) == 0
    bucket.acquire(50)
    assert clock.now == pytest.approx(0.5)
    for _ in range(8):
        bucket.acquire(50)
    assert clock.now == pytest.approx(4.5)  # 500 recipients after the first 50 at 100/s


def test_long_run_rate_is_exact_for_batches_larger_than_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, 5, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        bucket.acquire(20)
    assert 200 / clock.now == pytest.approx(10, rel=0.15)


def test_idle_time_refills_only_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, 10, clock=clock, sleep=clock.sleep)
    bucket.acquire(10)
    clock.now += 100.0
    assert bucket.acquire(10) == 0
    assert bucket.acquire(10) == pytest.approx(1.0)


def test_threads_share_one_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50, 10, clock=clock, sleep=clock.sleep)
    threads = [threading.Thread(target=lambda: [bucket.acquire(10) for _ in range(5)])
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now >= (200 - 10) / 50 - 1e-9


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0, 10)
