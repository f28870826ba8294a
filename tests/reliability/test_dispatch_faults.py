"""Provider faults, all at once, never contact anybody twice and lose nobody without a trace.

The sandbox, like the providers, processes a repeated request again. It answers 20% of
requests with 429 (and ``Retry-After``) and 5% with 500, and of the requests it processes it
drops the connection of 5% unanswered and answers 5% after the client's timeout. Dispatch
retries what was not sent; a batch whose outcome is unknown is unconfirmed and never sent
again by itself. Over a 20,000-recipient cohort: nobody is received twice, everyone is received
exactly once or listed in an unconfirmed batch, and the counts add up. Against a sandbox (and a
campaign) that de-duplicate, the same faults end with everyone received exactly once.
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
#: 20% 429, 5% 500, and of what is processed 5% dropped and 5% answered after the timeout.
FAULTS = Faults(fail_429=0.20, fail_500=0.05, drop_after_accept=0.05, timeout_after_accept=0.05,
                seed=20_000, slow_seconds=3 * CLIENT_TIMEOUT_SECONDS,
                retry_after=RETRY_AFTER_SECONDS)
#: Small backoffs keep the test fast; Retry-After is honoured as asked (see below).
POLICY = RetryPolicy(backoff_base=0.01, backoff_max=0.05)
NOW = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
_RETRYING = re.compile(
    r"attempt \d+/\d+ (?P<kind>not sent|unknown) \((?P<why>.*)\); retrying in (?P<wait>[\d.]+)s")


@pytest.fixture(params=[False, True], ids=["provider-without-dedup", "provider-with-dedup"])
def faulty_sandbox(request: pytest.FixtureRequest) -> Iterator[SandboxHandle]:
    with start_sandbox(port=0, faults=FAULTS, keys=SandboxKeys(key=KEY),
                       deduplicate=request.param) as handle:
        yield handle


def _get(sandbox: SandboxHandle, path: str, **params: Any) -> dict[str, Any]:
    response = requests.get(f"{sandbox.url}{path}", params=params, timeout=30)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _statuses(outbox: Outbox) -> Counter[str]:
    results = outbox.results()
    return Counter(Outbox.status_of(results.get(b.idempotency_key, [])) for b in outbox.batches())


def test_nobody_twice_and_everyone_sent_or_unconfirmed_under_all_faults_together(
    tmp_path: Path, faulty_sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    deduplicates = faulty_sandbox.state.deduplicate
    write_cohort(tmp_path, "loans", "c1", indian_numbers(COHORT_SIZE))
    campaign = make_campaign(
        batch_size=BATCH_SIZE,
        attempts_per_second=1_000_000,
        provider={"kind": "http_json", "base_url": faulty_sandbox.url,
                  "timeout_seconds": CLIENT_TIMEOUT_SECONDS, "max_attempts": MAX_ATTEMPTS,
                  "deduplicates": deduplicates},
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
    time.sleep(3 * CLIENT_TIMEOUT_SECONDS)  # late answers: their work is recorded by now

    stats = _get(faulty_sandbox, "/_sandbox/stats")
    received = {r["phone_number"] for r in _get(faulty_sandbox, "/_sandbox/recipients",
                                                limit=COHORT_SIZE + 1)["recipients"]}
    counts = stats["counts"]
    statuses = _statuses(outbox)
    print(f"\n{COHORT_SIZE} recipients in {len(runs)} runs, {elapsed:.1f}s; per run {runs}; "
          f"batches {dict(statuses)}; sandbox requests={counts['requests']} "
          f"faults={ {k: v for k, v in counts.items() if k.startswith('fault_')} } "
          f"replays={counts.get('replays', 0)}")

    # Every kind of fault really happened, many times.
    for kind in ("fault_429", "fault_500", "fault_drop_after_accept", "fault_timeout_after_accept"):
        assert counts.get(kind, 0) >= 2, f"{kind} was not exercised: {counts}"
    # Nobody received twice, under the same key or under another batch's key.
    assert stats["duplicates"] == 0 and stats["repeats"] == 0
    assert received <= set(indian_numbers(COHORT_SIZE))
    # Everyone received exactly once or listed in an unconfirmed batch; the numbers add up.
    phones = dict(zip(range(2, COHORT_SIZE + 2), indian_numbers(COHORT_SIZE), strict=True))
    results = outbox.results()
    recipients: Counter[str] = Counter()
    for batch in outbox.batches():
        status = Outbox.status_of(results.get(batch.idempotency_key, []))
        recipients[status] += len(batch.rows)
        in_batch = {phones[row] for row in batch.rows}
        assert status in ("submitted", "unconfirmed"), f"{batch.idempotency_key} is {status}"
        assert status != "submitted" or in_batch <= received
    assert recipients["submitted"] + recipients["unconfirmed"] == COHORT_SIZE
    assert len(received) >= recipients["submitted"]
    if deduplicates:  # unknown outcomes were sent again with their key and replayed
        assert recipients == {"submitted": COHORT_SIZE} and len(received) == COHORT_SIZE
        assert counts.get("replays", 0) >= 1
    else:  # nothing whose outcome was unknown was sent again
        assert recipients["unconfirmed"] > 0 and "replays" not in counts
    # Some batches were not sent in the first run and went in a later one.
    assert len(runs) >= 2 and runs[0]["retry_later"] >= 1
    assert not runs[-1]["retry_later"]
    # Retry-After was honoured: each retry after a 429 waited the seconds the provider asked.
    retries = [m for r in caplog.records if (m := _RETRYING.search(r.getMessage()))]
    after_429 = [float(m["wait"]) for m in retries if m["why"].startswith("HTTP 429")]
    assert after_429 and all(w == RETRY_AFTER_SECONDS for w in after_429)
    assert sorted(after_429) == sorted(w for w in waits if w == RETRY_AFTER_SECONDS)
    # Unknown outcomes were retried only where the provider de-duplicates.
    assert bool([m for m in retries if m["kind"] == "unknown"]) == deduplicates
