"""Dispatch planning and submitting against a fake adapter: windows, once-only, failures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cohortflow.dispatch import (
    ResolveError,
    list_batches,
    plan_dispatch,
    resolve_batch,
    retry_failed,
    run_dispatch,
)
from cohortflow.dispatch.campaign_state import CampaignStateError, change_status, ensure_activation
from cohortflow.dispatch.outbox import Outbox
from cohortflow.providers.base import Batch, SubmitResult
from tests.support.dispatch import FakeAdapter, indian_numbers, make_campaign, write_cohort

IST = ZoneInfo("Asia/Kolkata")
OFFICE = {"allowed_start_time": "09:00", "allowed_end_time": "18:00", "timezone": "Asia/Kolkata"}


def _ist(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=IST)


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(25))
    # a dry run checks the provider settings as a real run does: credentials included
    monkeypatch.setenv("COHORTFLOW_PROVIDER_HTTP_JSON_KEY", "test-key")
    return tmp_path


def test_outside_the_window_nothing_is_sent(warehouse: Path) -> None:
    adapter = FakeAdapter()
    report = run_dispatch(make_campaign(allowed_schedule=OFFICE), warehouse, _ist(2, 20),
                          adapter=adapter)
    assert adapter.batches == []
    assert report.plan.deferred[0].recipients == 25
    assert report.plan.deferred[0].until == _ist(3, 9)


def test_inside_the_window_everyone_due_is_sent_once(warehouse: Path) -> None:
    campaign, adapter = make_campaign(allowed_schedule=OFFICE), FakeAdapter()
    first = run_dispatch(campaign, warehouse, _ist(2, 10), adapter=adapter)
    again = run_dispatch(campaign, warehouse, _ist(2, 11), adapter=adapter)
    assert first.count("submitted") == 25 and again.count("submitted") == 0
    assert sorted(adapter.sent_rows) == [("c1", r) for r in range(2, 27)]
    assert [b.idempotency_key for b in adapter.batches] == [
        "loans:c1:000001:0", "loans:c1:000002:0", "loans:c1:000003:0"]


def test_a_window_crossing_midnight(warehouse: Path) -> None:
    night = {"allowed_start_time": "21:00", "allowed_end_time": "02:00",
             "allowed_days": ["Monday"], "timezone": "Asia/Kolkata"}
    campaign = make_campaign(allowed_schedule=night)
    closed = run_dispatch(campaign, warehouse, _ist(3, 3), adapter=FakeAdapter(),
                          dry_run=True)
    assert closed.plan.deferred[0].until == _ist(9, 21)  # next Monday
    adapter = FakeAdapter()
    run_dispatch(campaign, warehouse, _ist(3, 1, 30), adapter=adapter)
    assert len(adapter.sent_rows) == 25  # Tuesday 01:30 belongs to Monday's window


def test_daylight_saving_change_moves_the_window_in_utc(warehouse: Path) -> None:
    new_york = {"allowed_start_time": "09:00", "allowed_end_time": "17:00",
                "timezone": "America/New_York"}
    campaign = make_campaign(allowed_schedule=new_york)
    at_1330_utc_before = dt.datetime(2026, 3, 6, 13, 30, tzinfo=dt.UTC)  # 08:30 EST
    at_1330_utc_after = dt.datetime(2026, 3, 9, 13, 30, tzinfo=dt.UTC)  # 09:30 EDT
    before = run_dispatch(campaign, warehouse, at_1330_utc_before, dry_run=True)
    assert not before.plan.pending
    assert before.plan.deferred[0].until == dt.datetime(2026, 3, 6, 14, tzinfo=dt.UTC)
    after = run_dispatch(campaign, warehouse, at_1330_utc_after, dry_run=True)
    assert sum(len(b.rows) for b in after.plan.pending) == 25


def test_recipient_local_windows_across_countries(tmp_path: Path) -> None:
    phones = ["+919876543210", "+447911123456", "+12125551234", "+81312345678"]
    write_cohort(tmp_path, "loans", "c1", phones)
    local = {"allowed_start_time": "09:00", "allowed_end_time": "18:00", "timezone": "UTC"}
    campaign = make_campaign(allowed_schedule=local, recipient_local_time=True)
    adapter = FakeAdapter()
    now = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)  # India 15:30, UK 10:00, NY 05:00, Tokyo 19:00
    report = run_dispatch(campaign, tmp_path, now, adapter=adapter)
    sent = sorted(r.phone_number for b in adapter.batches for r in b.recipients)
    assert sent == ["+447911123456", "+919876543210"]
    until = {d.zones: d.until for d in report.plan.deferred}
    assert until[("America/New_York",)] == dt.datetime(2026, 3, 2, 14, tzinfo=dt.UTC)
    assert until[("Asia/Tokyo",)] == dt.datetime(2026, 3, 3, 0, tzinfo=dt.UTC)
    later = FakeAdapter()
    run_dispatch(campaign, tmp_path, now.replace(hour=14, minute=5), adapter=later)
    assert [r.phone_number for b in later.batches for r in b.recipients] == ["+12125551234"]


def test_only_what_fits_before_the_window_closes_is_planned(warehouse: Path) -> None:
    campaign = make_campaign(allowed_schedule=OFFICE, attempts_per_second=1)
    plan = plan_dispatch(campaign, warehouse, _ist(2, 17, 59, ) + dt.timedelta(seconds=50))
    assert sum(len(b.rows) for b in plan.pending) == 10
    assert plan.deferred[0].recipients == 15 and plan.deferred[0].until == _ist(3, 9)


def test_a_bad_request_marks_the_batch_failed_and_others_go_on(warehouse: Path) -> None:
    refused = SubmitResult("rejected", status_code=400, accepted=0, error="missing user_id")
    adapter = FakeAdapter([refused])
    report = run_dispatch(make_campaign(), warehouse, _ist(2, 10), adapter=adapter)
    assert report.count("failed") == 10 and report.count("submitted") == 15
    assert "missing user_id" in report.outcomes[0].detail
    again = run_dispatch(make_campaign(), warehouse, _ist(2, 11), adapter=FakeAdapter())
    assert again.outcomes == []  # failed is final: recorded, not re-sent


def test_retry_failed_sends_the_refused_recipients_once_in_a_new_batch(warehouse: Path) -> None:
    refused = SubmitResult("rejected", status_code=404, accepted=0, error="no such campaign")
    run_dispatch(make_campaign(), warehouse, _ist(2, 10), adapter=FakeAdapter([refused]))
    [released] = retry_failed(make_campaign(), warehouse)
    assert released.batch_id == "loans:c1:000001:0" and released.status == "released"
    fixed = FakeAdapter()
    report = run_dispatch(make_campaign(), warehouse, _ist(2, 11), adapter=fixed)
    assert report.count("submitted") == 10
    assert [b.idempotency_key for b in fixed.batches] == ["loans:c1:000004:0"]  # new key
    assert sorted(r for _, r in fixed.sent_rows) == list(range(2, 12))
    assert run_dispatch(make_campaign(), warehouse, _ist(2, 12), adapter=FakeAdapter()
                        ).outcomes == []  # once


def test_not_sent_is_sent_again_later_with_the_same_key(warehouse: Path) -> None:
    busy = SubmitResult("not_sent", status_code=429, accepted=0, error="slow down")
    first = FakeAdapter([busy])
    run_dispatch(make_campaign(), warehouse, _ist(2, 10), adapter=first)
    second = FakeAdapter()
    report = run_dispatch(make_campaign(), warehouse, _ist(2, 10, 5), adapter=second)
    assert [b.idempotency_key for b in second.batches] == ["loans:c1:000001:0"]
    assert report.count("submitted") == 10


def test_an_unknown_outcome_is_unconfirmed_and_never_sent_again(warehouse: Path) -> None:
    lost = SubmitResult("unknown", status_code=None, accepted=0, error="timed out (ReadTimeout)")
    first = FakeAdapter([lost])
    report = run_dispatch(make_campaign(), warehouse, _ist(2, 10), adapter=first)
    assert report.count("unconfirmed") == 10 and report.count("submitted") == 15
    later = FakeAdapter()
    assert run_dispatch(make_campaign(), warehouse, _ist(2, 11), adapter=later).outcomes == []
    assert later.batches == []
    [batch] = list_batches(make_campaign(), warehouse, "unconfirmed")
    assert batch.outcome == "unknown" and "ReadTimeout" in (batch.detail or "")


def test_an_unknown_outcome_is_sent_again_to_a_provider_that_deduplicates(
    warehouse: Path
) -> None:
    lost = SubmitResult("unknown", status_code=502, accepted=0, error="HTTP 502")
    run_dispatch(make_campaign(), warehouse, _ist(2, 10), adapter=FakeAdapter([lost],
                                                                              deduplicates=True))
    again = FakeAdapter(deduplicates=True)
    run_dispatch(make_campaign(), warehouse, _ist(2, 11), adapter=again)
    assert [b.idempotency_key for b in again.batches] == ["loans:c1:000001:0"]


class CrashAfterSend(FakeAdapter):
    """Sends (the provider records it) and then the process 'dies' before marking."""

    def submit(self, batch: Batch) -> SubmitResult:
        super().submit(batch)
        raise KeyboardInterrupt


def test_crash_between_send_and_mark_leaves_the_batch_unconfirmed(warehouse: Path) -> None:
    campaign = make_campaign(batch_size=100)
    with pytest.raises(KeyboardInterrupt):
        run_dispatch(campaign, warehouse, _ist(2, 10), adapter=CrashAfterSend())
    rerun = FakeAdapter()
    report = run_dispatch(campaign, warehouse, _ist(2, 10, 1), adapter=rerun)
    assert rerun.batches == [] and report.count("unconfirmed") == 25  # not sent again
    assert len(Outbox(warehouse, "loans").batches()) == 1


def test_crash_between_send_and_mark_resends_the_same_key_where_it_is_deduplicated(
    warehouse: Path
) -> None:
    campaign = make_campaign(batch_size=100)
    with pytest.raises(KeyboardInterrupt):
        run_dispatch(campaign, warehouse, _ist(2, 10), adapter=CrashAfterSend())
    rerun = FakeAdapter(deduplicates=True)
    run_dispatch(campaign, warehouse, _ist(2, 10, 1), adapter=rerun)
    assert [b.idempotency_key for b in rerun.batches] == ["loans:c1:000001:0"]  # same key again


@pytest.mark.parametrize(("resolution", "sent_again"), [("delivered", 0), ("resend", 25)])
def test_an_operator_resolves_an_unconfirmed_batch(
    warehouse: Path, resolution: str, sent_again: int
) -> None:
    campaign = make_campaign(batch_size=100)
    lost = SubmitResult("unknown", status_code=None, accepted=0, error="connection dropped")
    run_dispatch(campaign, warehouse, _ist(2, 10), adapter=FakeAdapter([lost]))
    view = resolve_batch(campaign, warehouse, "loans:c1:000001:0", resolution)  # type: ignore[arg-type]
    assert view.status == ("submitted" if resolution == "delivered" else "released")
    assert view.resolved_by == "cli"
    again = FakeAdapter()
    run_dispatch(campaign, warehouse, _ist(2, 11), adapter=again)
    assert len(again.sent_rows) == sent_again
    if sent_again:
        assert [b.idempotency_key for b in again.batches] == ["loans:c1:000002:0"]
    with pytest.raises(ResolveError, match="not unconfirmed"):
        resolve_batch(campaign, warehouse, "loans:c1:000001:0", "delivered")


def test_paused_campaign_sends_nothing(warehouse: Path) -> None:
    campaign = make_campaign()
    change_status(campaign, warehouse, "pause", now=_ist(2, 9))
    adapter = FakeAdapter()
    report = run_dispatch(campaign, warehouse, _ist(2, 10), adapter=adapter)
    assert adapter.batches == [] and "paused" in report.plan.reason


def test_settings_changed_while_active_refuse_to_dispatch(warehouse: Path) -> None:
    ensure_activation(make_campaign(), warehouse, _ist(2, 9))
    with pytest.raises(CampaignStateError, match="settings changed while active"):
        run_dispatch(make_campaign(batch_size=7), warehouse, _ist(2, 10), adapter=FakeAdapter())


def test_dry_run_writes_and_sends_nothing(warehouse: Path) -> None:
    report = run_dispatch(make_campaign(), warehouse, _ist(2, 10), dry_run=True)
    assert sum(len(b.rows) for b in report.plan.pending) == 25
    assert not (warehouse / "ledgers").exists()


def test_ended_campaign_cancels_unsent_batches(warehouse: Path) -> None:
    campaign = make_campaign(allowed_schedule=OFFICE, end_timestamp=_ist(2, 18))
    plan_dispatch(campaign, warehouse, _ist(2, 10))  # planned, never sent
    report = run_dispatch(campaign, warehouse, _ist(2, 19), adapter=FakeAdapter())
    assert report.plan.status == "ended" and not report.plan.pending
    outbox = Outbox(warehouse, "loans")
    statuses = {Outbox.status_of(r) for r in outbox.results().values()}
    assert statuses == {"cancelled"}


def test_messaging_is_paced_like_every_provider_its_slicing_is_its_own(
    warehouse: Path,
) -> None:
    """The platform assigns its own slots (it is sent slicingCondition); cohortflow keeps only
    its window and rate: no batch is cancelled locally, and no more is planned than fits."""
    provider = {"kind": "messaging_csv", "base_url": "http://127.0.0.1:9", "app_id": 1,
                "campaign_id": 2, "slicing_condition": "immediateConsecutiveSlots"}
    campaign = make_campaign(allowed_schedule=OFFICE, provider=provider, attempts_per_second=1)
    plan = plan_dispatch(campaign, warehouse, _ist(2, 17, 59, ) + dt.timedelta(seconds=45))
    assert sum(len(b.rows) for b in plan.pending) == 15  # 15 s before the window closes
    assert plan.deferred_recipients == 10


def test_caller_ids_are_assigned_by_weight(warehouse: Path) -> None:
    connections = [{"connection_id": "a", "phone_numbers": ["+911"], "weight": 4},
                   {"connection_id": "b", "phone_numbers": ["+912"], "weight": 1}]
    adapter = FakeAdapter()
    run_dispatch(make_campaign(connection_configs=connections), warehouse, _ist(2, 10),
                 adapter=adapter)
    ids = [r.connection_id for b in adapter.batches for r in b.recipients]
    assert ids.count("a") == 20 and ids.count("b") == 5
