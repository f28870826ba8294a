"""Provider faults, all at once, lose nobody and send nobody twice.

The sandbox answers 20% of requests with 429 (and ``Retry-After``), 10% with 500, 5% too slowly
(after the client's timeout, having done the work) and drops 5% of connections unanswered.
Dispatch retries inside each run with the same ``Idempotency-Key``; a batch whose retries ran
out (3 attempts here, so that some do) stays pending and goes again, same key, in the operator's
next run. Every recipient of a 20,000-row cohort must be accepted exactly once, within a bounded
number of runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cohortflow.dispatch import run_dispatch
from cohortflow.dispatch.outbox import Outbox
from cohortflow.providers import RetryPolicy, adapter_for
from cohortflow.providers.base import Credentials
from cohortflow.sandbox import Faults, SandboxHandle, SandboxKeys, start_sandbox
from tests.support.dispatch import indian_numbers, make_campaign, write_cohort

COHORT_SIZE = 20_000
BATCH_SIZE = 200
#: HTTP attempts per batch and run (provider config); 0.4**3: ~6% of batches need a 2nd run.
MAX_ATTEMPTS = 3
#: An operator re-runs dispatch; everyone must be accepted within this many runs.
MAX_RUNS = 5
KEY = "faults-test-key"
RETRY_AFTER_SECONDS = 1
CLIENT_TIMEOUT_SECONDS = 1.0
#: 20% 429, 10% 500, 5% answered after the client gave up, 5% dropped connections.
FAULTS = Faults(fail_429=0.20, fail_500=0.10, slow=0.05, drop=0.05, seed=20_000,
                slow_seconds=3 * CLIENT_TIMEOUT_SECONDS, retry_after=RETRY_AFTER_SECONDS)
#: Small backoffs keep the test fast; Retry-After is honoured as asked (see below).
POLICY = RetryPolicy(backoff_base=0.01, backoff_max=0.05)
NOW = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
_RETRYING = re.compile(r"attempt \d+/\d+ failed \((?P<why>.*)\); retrying in (?P<wait>[\d.]+)s")


@pytest.fixture
def faulty_sandbox() -> Iterator[SandboxHandle]:
    with start_sandbox(port=0, faults=FAULTS, keys=SandboxKeys(key=KEY)) as handle:
        yield handle


def _get(sandbox: SandboxHandle, path: str, **params: Any) -> dict[str, Any]:
    response = requests.get(f"{sandbox.url}{path}", params=params, timeout=30)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _statuses(outbox: Outbox) -> Counter[str]:
    results = outbox.results()
    return Counter(Outbox.status_of(results.get(b.idempotency_key, [])) for b in outbox.batches())


def test_every_recipient_is_accepted_exactly_once_under_all_faults_together(
    tmp_path: Path, faulty_sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(COHORT_SIZE))
    campaign = make_campaign(
        batch_size=BATCH_SIZE,
        attempts_per_second=1_000_000,
        provider={"kind": "http_json", "base_url": faulty_sandbox.url,
                  "timeout_seconds": CLIENT_TIMEOUT_SECONDS, "max_attempts": MAX_ATTEMPTS},
    )
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # note every wait asked for, sleep a token amount
        waits.append(seconds)
        time.sleep(min(seconds, 0.02))

    adapter = adapter_for(campaign, Credentials(KEY, source="test"), policy=POLICY, sleep=sleep)
    caplog.set_level(logging.INFO, logger="cohortflow.providers.http")
    started = time.monotonic()
    outbox = Outbox(tmp_path, "loans")
    runs: list[Counter[str]] = []
    for run in range(MAX_RUNS):
        report = run_dispatch(campaign, tmp_path, NOW + dt.timedelta(minutes=run),
                              adapter=adapter)
        runs.append(Counter(o.status for o in report.outcomes))
        if _statuses(outbox)["pending"] == 0:
            break
    elapsed = time.monotonic() - started

    stats = _get(faulty_sandbox, "/_sandbox/stats")
    everyone = _get(faulty_sandbox, "/_sandbox/recipients", limit=1)
    counts = stats["counts"]
    print(f"\n{COHORT_SIZE} recipients in {len(runs)} runs, {elapsed:.1f}s; per run {runs}; "
          f"sandbox requests={counts['requests']} faults: 429={counts.get('fault_429', 0)} "
          f"500={counts.get('fault_500', 0)} slow={counts.get('fault_slow', 0)} "
          f"drop={counts.get('fault_drop', 0)} replays={counts.get('replays', 0)}")

    # Every kind of fault really happened, many times.
    for kind in ("fault_429", "fault_500", "fault_slow", "fault_drop"):
        assert counts.get(kind, 0) >= 2, f"{kind} was not exercised: {counts}"
    # Everyone accepted, nobody twice (under the same key or under another batch's key).
    assert stats["recipients"] == COHORT_SIZE
    assert stats["duplicates"] == 0
    assert everyone["count"] == everyone["distinct_recipients"] == COHORT_SIZE
    # Some batches ran out of attempts and were sent again by a later run; all converged.
    assert len(runs) >= 2 and runs[0]["retry_later"] >= 1
    assert not runs[-1]["retry_later"]
    assert _statuses(outbox) == {"submitted": COHORT_SIZE // BATCH_SIZE}
    # Slow answers did the work after the client gave up; the retry got the stored answer.
    assert counts.get("replays", 0) >= 1
    # Retry-After was honoured: each retry after a 429 waited the seconds the provider asked.
    retries = [m for r in caplog.records if (m := _RETRYING.search(r.getMessage()))]
    after_429 = [float(m["wait"]) for m in retries if m["why"].startswith("HTTP 429")]
    assert after_429 and all(w == RETRY_AFTER_SECONDS for w in after_429)
    assert sorted(after_429) == sorted(w for w in waits if w == RETRY_AFTER_SECONDS)
    # Timeouts and dropped connections were retried as such.
    reasons = Counter(m["why"].split(" (")[0] for m in retries)
    assert reasons["timed out"] >= 1 and reasons["connection dropped"] >= 1
