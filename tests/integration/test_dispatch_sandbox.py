"""Dispatch against the running sandbox provider (which, like the providers, processes a
repeated request again): windows, nobody twice, faults, operator actions, rate, outcomes."""

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
from cohortflow.dispatch import (
    change_status,
    collect_outcomes,
    list_batches,
    retry_failed,
    run_dispatch,
    schedule_retries,
)
from cohortflow.dispatch.outbox import Outbox
from cohortflow.dispatch.windows import is_open
from cohortflow.providers import RetryPolicy, adapter_for
from cohortflow.providers.base import Batch, Credentials, SubmitResult
from cohortflow.sandbox import Faults, SandboxHandle, SandboxKeys, start_sandbox

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
    outbox = Outbox(tmp_path, "loans")
    first = outbox.batches()[0]
    assert Outbox.status_of(outbox.results_for(first.ref)) == "interrupted"  # never marked
    assert _dispatch_cli(path, tmp_path, crash_after=None) == 0
    stats = _stats(sandbox)
    assert stats["recipients"] == 130 and stats["duplicates"] == 0 and stats["repeats"] == 0
    assert "replays" not in stats["counts"]  # the interrupted batch was not sent again
    [unconfirmed] = list_batches(load_campaign(path), tmp_path, "unconfirmed")
    assert unconfirmed.batch_id == first.idempotency_key and unconfirmed.recipients == 50


def test_a_kill_after_sending_resends_the_same_key_to_a_provider_that_deduplicates(
    tmp_path: Path
) -> None:
    with start_sandbox(deduplicate=True) as sandbox:
        write_cohort(tmp_path, "loans", "c1", indian_numbers(130))
        provider = {"kind": "http_json", "base_url": sandbox.url, "timeout_seconds": 2,
                    "deduplicates": True}
        path = _campaign_file(tmp_path, sandbox.url, provider=provider)
        assert _dispatch_cli(path, tmp_path, crash_after="send") == -9
        assert _dispatch_cli(path, tmp_path, crash_after=None) == 0
        stats = _stats(sandbox)
    assert stats["recipients"] == 130 and stats["duplicates"] == 0
    assert stats["counts"].get("replays") == 1  # the first batch was re-sent with its key
    assert list_batches(load_campaign(path), tmp_path, "unconfirmed") == []


def test_a_kill_after_the_outbox_write_loses_nobody(tmp_path: Path, sandbox: SandboxHandle) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(75))
    path = _campaign_file(tmp_path, sandbox.url)
    assert _dispatch_cli(path, tmp_path, crash_after="outbox") == -9
    assert _stats(sandbox)["recipients"] == 0
    assert _dispatch_cli(path, tmp_path, crash_after=None) == 0
    assert _stats(sandbox)["recipients"] == 75


def _outcomes_add_up(warehouse: Path, sandbox: SandboxHandle, size: int) -> dict[str, int]:
    """Nobody received twice; everyone received or in an unconfirmed batch; counts agree."""
    stats = _stats(sandbox)
    assert stats["duplicates"] == 0 and stats["repeats"] == 0
    received = {r["phone_number"] for r in requests.get(
        f"{sandbox.url}/_sandbox/recipients", params={"limit": size + 1}, timeout=10
    ).json()["recipients"]}
    outbox = Outbox(warehouse, "loans")
    results = outbox.results()
    statuses: Counter[str] = Counter()
    phones = dict(zip(range(2, size + 2), indian_numbers(size), strict=True))
    for batch in outbox.batches():
        status = Outbox.status_of(results.get(batch.idempotency_key, []))
        statuses[status] += len(batch.rows)
        batch_phones = {phones[row] for row in batch.rows}
        if status == "submitted":
            assert batch_phones <= received
        elif status != "unconfirmed":
            assert not batch_phones & received, f"{status} batch reached the provider"
    assert statuses["submitted"] + statuses["unconfirmed"] == size
    return dict(statuses)


def test_under_faults_nobody_is_sent_twice_and_everyone_is_sent_or_unconfirmed(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    sandbox = sandbox_factory(fail_429=0.2, fail_500=0.1, drop=0.05, slow=0.05,
                              drop_after_accept=0.05, timeout_after_accept=0.05,
                              slow_seconds=2.5, retry_after=0, seed=7)
    write_cohort(tmp_path, "loans", "c1", indian_numbers(400))
    campaign = load_campaign(_campaign_file(tmp_path, sandbox.url, batch_size=20))
    for minute in range(3):  # batches whose retries ran out go again in the next run
        run_dispatch(campaign, tmp_path, IN_OFFICE.replace(minute=minute),
                     adapter=_adapter(campaign, policy=FAST_RETRIES))
    time.sleep(2.6)  # what the sandbox processes late is recorded by now
    statuses = _outcomes_add_up(tmp_path, sandbox, 400)
    assert statuses.get("unconfirmed", 0) > 0  # 500s and dropped answers: never sent again
    counts = _stats(sandbox)["counts"]
    assert counts.get("fault_429", 0) > 0 and counts.get("fault_drop_after_accept", 0) > 0


def test_under_faults_a_deduplicating_provider_gets_everyone_exactly_once(tmp_path: Path) -> None:
    faults = Faults(fail_429=0.2, fail_500=0.1, drop=0.05, slow=0.05, drop_after_accept=0.05,
                    timeout_after_accept=0.05, slow_seconds=2.5, retry_after=0, seed=7)
    with start_sandbox(faults=faults, deduplicate=True) as sandbox:
        write_cohort(tmp_path, "loans", "c1", indian_numbers(400))
        provider = {"kind": "http_json", "base_url": sandbox.url, "timeout_seconds": 2,
                    "deduplicates": True}
        campaign = load_campaign(_campaign_file(tmp_path, sandbox.url, batch_size=20,
                                                provider=provider))
        for minute in range(3):
            run_dispatch(campaign, tmp_path, IN_OFFICE.replace(minute=minute),
                         adapter=_adapter(campaign, policy=FAST_RETRIES))
        time.sleep(2.6)
        statuses = _outcomes_add_up(tmp_path, sandbox, 400)
        assert _stats(sandbox)["recipients"] == 400
    assert statuses == {"submitted": 400}


def test_a_config_error_fails_its_batches_and_retry_failed_sends_them_once_fixed(
    tmp_path: Path
) -> None:
    keys = SandboxKeys(SANDBOX_KEY, "app-1", cometchat_campaigns=frozenset({"welcome"}))
    with start_sandbox(keys=keys) as sandbox:
        write_cohort(tmp_path, "loans", "c1", indian_numbers(6))
        wrong = {"kind": "cometchat", "base_url": sandbox.url, "campaign_id": "welcom"}
        path = _campaign_file(tmp_path, sandbox.url, batch_size=3, provider=wrong)
        credentials = Credentials(SANDBOX_KEY, "app-1", source="test")
        campaign = load_campaign(path)
        report = run_dispatch(campaign, tmp_path, IN_OFFICE,
                              adapter=adapter_for(campaign, credentials))
        assert report.count("failed") == 6 and "404" in report.outcomes[0].detail
        assert _stats(sandbox)["recipients"] == 0

        fixed_path = _campaign_file(tmp_path, sandbox.url, batch_size=3,
                                    provider={**wrong, "campaign_id": "welcome"})
        change_status(campaign, tmp_path, "pause")  # settings change only while paused
        fixed = load_campaign(fixed_path)
        change_status(fixed, tmp_path, "resume")
        assert len(retry_failed(fixed, tmp_path)) == 2
        report = run_dispatch(fixed, tmp_path, IN_OFFICE.replace(minute=5),
                              adapter=adapter_for(fixed, credentials))
        assert report.count("submitted") == 6
        run_dispatch(fixed, tmp_path, IN_OFFICE.replace(minute=6),
                     adapter=adapter_for(fixed, credentials))
        stats = _stats(sandbox)
    assert stats["recipients"] == 6 and stats["repeats"] == 0  # exactly once


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
