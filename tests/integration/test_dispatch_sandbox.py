"""Dispatch against the running sandbox provider: windows, once-only, faults, rate, outcomes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
import yaml
from tests.integration.conftest import SANDBOX_KEY
from tests.support.dispatch import indian_numbers, write_cohort

from cohortflow.config import load_campaign
from cohortflow.dispatch import collect_outcomes, run_dispatch, schedule_retries
from cohortflow.dispatch.outbox import Outbox
from cohortflow.dispatch.windows import is_open
from cohortflow.providers import RetryPolicy, adapter_for
from cohortflow.providers.base import Batch, Credentials, SubmitResult
from cohortflow.sandbox import SandboxHandle

PROJECT = Path(__file__).resolve().parents[2]
OFFICE = {"allowed_start_time": "09:00", "allowed_end_time": "18:00", "timezone": "Asia/Kolkata"}
IN_OFFICE = dt.datetime(2026, 3, 2, 11, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
FAST_RETRIES = RetryPolicy(backoff_base=0.01, backoff_max=0.05, retry_after_max=0.05)


def _campaign_file(tmp_path: Path, url: str, **settings: Any) -> Path:
    data: dict[str, Any] = {
        "name": "loans", "status": "active", "allowed_schedule": OFFICE,
        "attempts_per_second": 10_000, "batch_size": 50,
        "provider": {"kind": "http_json", "base_url": url, "timeout_seconds": 2},
    }
    data.update(settings)
    path = tmp_path / "loans.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _stats(sandbox: SandboxHandle) -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()


def _adapter(campaign: Any, **kwargs: Any) -> Any:
    return adapter_for(campaign, Credentials(SANDBOX_KEY, source="test"), **kwargs)


def test_outside_the_window_nothing_is_sent_inside_everything_once(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(120))
    campaign = load_campaign(_campaign_file(tmp_path, sandbox.url))
    evening = IN_OFFICE.replace(hour=20)
    assert run_dispatch(campaign, tmp_path, evening, adapter=_adapter(campaign)).outcomes == []
    assert _stats(sandbox)["recipients"] == 0
    run_dispatch(campaign, tmp_path, IN_OFFICE, adapter=_adapter(campaign))
    run_dispatch(campaign, tmp_path, IN_OFFICE.replace(hour=12), adapter=_adapter(campaign))
    stats = _stats(sandbox)
    assert stats["recipients"] == 120 and stats["duplicates"] == 0


def _dispatch_cli(campaign_path: Path, warehouse: Path, crash_after: str | None) -> int:
    env = {**os.environ, "COHORTFLOW_PROVIDER_HTTP_JSON_KEY": SANDBOX_KEY}
    arguments = ["dispatch", "--campaign", str(campaign_path), "--warehouse", str(warehouse),
                 "--now", IN_OFFICE.isoformat(), "--no-record"]
    if crash_after:  # tests/support/crash.py: the same CLI, SIGKILLed after that step
        command = [sys.executable, "-m", "tests.support.crash", crash_after, "--", *arguments]
    else:
        script = "import sys; from cohortflow.cli import main; main(sys.argv[1:])"
        command = [sys.executable, "-c", script, *arguments]
    result = subprocess.run(command, env=env, cwd=PROJECT, capture_output=True, text=True,
                            timeout=60)
    return result.returncode


def test_a_kill_after_sending_and_before_marking_sends_no_duplicate(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(130))
    path = _campaign_file(tmp_path, sandbox.url)
    assert _dispatch_cli(path, tmp_path, crash_after="send") == -9  # SIGKILL after the 1st send
    assert _stats(sandbox)["recipients"] == 50
    assert Outbox(tmp_path, "loans").results() == {}  # sent but never marked
    assert _dispatch_cli(path, tmp_path, crash_after=None) == 0
    stats = _stats(sandbox)
    assert stats["recipients"] == 130 and stats["duplicates"] == 0
    assert stats["counts"].get("replays") == 1  # the first batch was re-sent with its key


def test_a_kill_after_the_outbox_write_loses_nobody(tmp_path: Path, sandbox: SandboxHandle) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(75))
    path = _campaign_file(tmp_path, sandbox.url)
    assert _dispatch_cli(path, tmp_path, crash_after="outbox") == -9
    assert _stats(sandbox)["recipients"] == 0
    assert _dispatch_cli(path, tmp_path, crash_after=None) == 0
    assert _stats(sandbox)["recipients"] == 75


def test_faults_are_retried_until_everyone_is_accepted_exactly_once(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    sandbox = sandbox_factory(fail_429=0.2, fail_500=0.2, drop=0.1, slow=0.05, slow_seconds=2.5,
                              retry_after=0, seed=7)
    write_cohort(tmp_path, "loans", "c1", indian_numbers(400))
    campaign = load_campaign(_campaign_file(tmp_path, sandbox.url, batch_size=20))
    for minute in range(3):  # batches whose retries ran out go again in the next run
        run_dispatch(campaign, tmp_path, IN_OFFICE.replace(minute=minute),
                     adapter=_adapter(campaign, policy=FAST_RETRIES))
    stats = _stats(sandbox)
    assert stats["recipients"] == 400 and stats["duplicates"] == 0
    counts = stats["counts"]
    assert counts.get("status_429", 0) + counts.get("fault_429", 0) > 0 or len(counts) > 2


def test_a_bad_request_is_recorded_as_failed(tmp_path: Path, sandbox: SandboxHandle) -> None:
    write_cohort(tmp_path, "loans", "c1", ["+100", *indian_numbers(3)])
    campaign = load_campaign(_campaign_file(tmp_path, sandbox.url, batch_size=2))
    report = run_dispatch(campaign, tmp_path, IN_OFFICE, adapter=_adapter(campaign))
    assert [o.status for o in report.outcomes] == ["failed", "submitted"]
    assert "400" in report.outcomes[0].detail
    from cohortflow.dispatch import record_dispatch
    from cohortflow.warehouse.catalog import reader

    record_dispatch(tmp_path, [campaign])
    with reader(tmp_path) as conn:
        query = "select status, count(*) from deliveries group by 1 order by 1"
        rows = conn.execute(query).fetchall()
    assert rows == [("failed", 2), ("submitted", 2)]


class Timed:
    """Wraps an adapter and notes when each batch is handed to it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, []  # type: ignore[var-annotated]

    def submit(self, batch: Batch) -> SubmitResult:
        self.calls.append((time.monotonic(), len(batch.recipients)))
        return self.inner.submit(batch)


def test_measured_send_rate_is_within_ten_percent(tmp_path: Path, sandbox: SandboxHandle) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(600))
    campaign = load_campaign(_campaign_file(tmp_path, sandbox.url, attempts_per_second=200))
    timed = Timed(_adapter(campaign))
    run_dispatch(campaign, tmp_path, IN_OFFICE, adapter=timed)
    (start, first), (end, _) = timed.calls[0], timed.calls[-1]
    rate = (sum(n for _, n in timed.calls) - first) / (end - start)
    print(f"measured send rate: {rate:.1f}/s for attempts_per_second=200")
    assert 180 <= rate <= 220
    assert _stats(sandbox)["recipients"] == 600


def test_unthrottled_throughput_and_weighted_caller_ids(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    connections = [{"connection_id": "a", "phone_numbers": ["+918000000001"], "weight": 3},
                   {"connection_id": "b", "phone_numbers": ["+918000000002"], "weight": 1}]
    write_cohort(tmp_path, "loans", "c1", indian_numbers(10_000))
    campaign = load_campaign(_campaign_file(tmp_path, sandbox.url, batch_size=1000,
                                            attempts_per_second=1_000_000,
                                            connection_configs=connections))
    started = time.monotonic()
    run_dispatch(campaign, tmp_path, IN_OFFICE, adapter=_adapter(campaign))
    elapsed = time.monotonic() - started
    print(f"unthrottled: 10000 recipients in {elapsed:.2f}s = {10_000 / elapsed:.0f}/s")
    body = requests.get(f"{sandbox.url}/_sandbox/recipients", params={"limit": 20_000},
                        timeout=10).json()
    shares = Counter(r["caller_id"] for r in body["recipients"])
    assert body["count"] == 10_000
    assert abs(shares["+918000000001"] / 10_000 - 0.75) <= 0.05 * 0.75
    assert abs(shares["+918000000002"] / 10_000 - 0.25) <= 0.05 * 0.25


def test_outcomes_schedule_retries_inside_windows_and_within_budget(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    always = {"allowed_start_time": "00:00", "allowed_end_time": "00:00", "timezone": "UTC"}
    retry = {"max_retries": 1, "retry_interval_minutes": [1],
             "retry_on": {"busy": {"enabled": True}, "no_answer": {"enabled": True},
                          "failed": {"enabled": True}}}
    write_cohort(tmp_path, "loans", "c1", indian_numbers(200))
    campaign = load_campaign(_campaign_file(tmp_path, sandbox.url, allowed_schedule=always,
                                            retry_config=retry))
    now = dt.datetime.now(dt.UTC)
    run_dispatch(campaign, tmp_path, now, adapter=_adapter(campaign))
    collect_outcomes(campaign, tmp_path)
    retries = [d for d in schedule_retries(campaign, tmp_path) if d.retry]
    assert retries and all(d.attempt == 1 and d.due_at for d in retries)
    assert all(is_open(d.due_at, campaign.allowed_schedule) for d in retries if d.due_at)
    later = max(d.due_at for d in retries if d.due_at)
    report = run_dispatch(campaign, tmp_path, later, adapter=_adapter(campaign))
    assert report.count("submitted") == len(retries)
    assert all(o.ref.attempt == 1 for o in report.outcomes)
    collect_outcomes(campaign, tmp_path)
    assert not any(d.retry and d.attempt > 1 for d in schedule_retries(campaign, tmp_path))
    assert run_dispatch(campaign, tmp_path, later + dt.timedelta(hours=1),
                        adapter=_adapter(campaign)).outcomes == []
