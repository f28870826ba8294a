"""Outcomes → retries per retry_config: toggles, budgets, intervals, always inside windows."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cohortflow.dispatch import collect_outcomes, read_outcomes, run_dispatch, schedule_retries
from tests.support.dispatch import FakeAdapter, indian_numbers, make_campaign, write_cohort

UTC = dt.UTC
OFFICE = {"allowed_start_time": "09:00", "allowed_end_time": "18:00", "timezone": "UTC"}
RETRY = {
    "max_retries": 2,
    "retry_interval_minutes": [30, 60],
    "retry_on": {
        "busy": {"enabled": True},
        "no_answer": {"enabled": True},
        "failed": {"enabled": False},
        "short_duration": {"enabled": True, "threshold_seconds": 10},
        "provider_error": {"enabled": True, "max_retries": 5, "retry_interval_minutes": 2},
    },
}


def _at(hour: int, minute: int = 0, day: int = 2) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def _setup(tmp_path: Path, count: int = 6) -> Any:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(count))
    campaign = make_campaign(allowed_schedule=OFFICE, retry_config=RETRY, batch_size=100)
    run_dispatch(campaign, tmp_path, _at(10), adapter=FakeAdapter())
    return campaign


def _outcome_file(tmp_path: Path, rows: list[tuple[int, str, float, dt.datetime]],
                  attempt: int = 0, batch: int = 1) -> Path:
    path = tmp_path / f"outcomes-{attempt}-{batch}.jsonl"
    lines = [
        json.dumps({"id": f"o-{attempt}-{row}",
                    "idempotency_key": f"loans:c1:{batch:06d}:{attempt}",
                    "row_number": row, "outcome": kind, "duration_seconds": duration,
                    "at": at.isoformat()})
        for row, kind, duration, at in rows
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_each_outcome_is_retried_as_configured(tmp_path: Path) -> None:
    campaign = _setup(tmp_path)
    source = _outcome_file(tmp_path, [
        (2, "busy", 0, _at(10, 5)),
        (3, "no_answer", 0, _at(10, 5)),
        (4, "failed", 0, _at(10, 5)),            # disabled
        (5, "completed", 4, _at(10, 5)),         # short
        (6, "completed", 120, _at(10, 5)),       # success
        (7, "provider_error", 0, _at(10, 5)),    # own interval: 2 minutes
    ])
    collect_outcomes(campaign, tmp_path, source_file=source)
    decisions = {d.row_number: d for d in schedule_retries(campaign, tmp_path)}
    assert decisions[2].retry and decisions[2].due_at == _at(10, 35)
    assert decisions[3].kind == "no_answer" and decisions[3].attempt == 1
    assert not decisions[4].retry and "disabled" in decisions[4].reason
    assert decisions[5].kind == "short_duration" and decisions[5].retry
    assert not decisions[6].retry
    assert decisions[7].due_at == _at(10, 7)


def test_retry_time_moves_into_the_next_window(tmp_path: Path) -> None:
    campaign = _setup(tmp_path)
    source = _outcome_file(tmp_path, [(2, "busy", 0, _at(17, 50))])
    collect_outcomes(campaign, tmp_path, source_file=source)
    (decision,) = schedule_retries(campaign, tmp_path)
    assert decision.due_at == _at(9, 0, day=3)  # 18:20 is closed → next morning


def test_retries_become_new_batches_with_a_new_key_and_never_exceed_max(tmp_path: Path) -> None:
    campaign = _setup(tmp_path, count=1)
    first = _outcome_file(tmp_path, [(2, "busy", 0, _at(10, 5))])
    collect_outcomes(campaign, tmp_path, source_file=first)
    early = FakeAdapter()
    run_dispatch(campaign, tmp_path, _at(10, 20), adapter=early)
    assert early.batches == []  # not due before 10:35
    retry1 = FakeAdapter()
    run_dispatch(campaign, tmp_path, _at(10, 40), adapter=retry1)
    assert [b.idempotency_key for b in retry1.batches] == ["loans:c1:000001:1"]
    collect_outcomes(campaign, tmp_path, source_file=_outcome_file(
        tmp_path, [(2, "busy", 0, _at(10, 45))], attempt=1))
    retry2 = FakeAdapter()
    run_dispatch(campaign, tmp_path, _at(11, 50), adapter=retry2)  # 60-minute interval
    assert [b.idempotency_key for b in retry2.batches] == ["loans:c1:000001:2"]
    collect_outcomes(campaign, tmp_path, source_file=_outcome_file(
        tmp_path, [(2, "busy", 0, _at(11, 55))], attempt=2))
    (decision,) = schedule_retries(campaign, tmp_path)
    assert not decision.retry and "max_retries 2 reached" in decision.reason
    assert run_dispatch(campaign, tmp_path, _at(16), adapter=FakeAdapter()).outcomes == []


def test_error_outcomes_have_their_own_budget(tmp_path: Path) -> None:
    campaign = _setup(tmp_path, count=1)
    collect_outcomes(campaign, tmp_path, source_file=_outcome_file(
        tmp_path, [(2, "provider_error", 0, _at(10, 5))], attempt=0))
    for attempt in range(1, 6):
        run_dispatch(campaign, tmp_path, _at(10, 5 + 3 * attempt), adapter=FakeAdapter())
        collect_outcomes(campaign, tmp_path, source_file=_outcome_file(
            tmp_path, [(2, "provider_error", 0, _at(10, 6 + 3 * attempt))], attempt=attempt))
    (decision,) = schedule_retries(campaign, tmp_path)
    assert decision.attempt == 6 and not decision.retry  # 5 retries, more than max_retries=2


def test_ingesting_the_same_outcomes_twice_adds_nothing(tmp_path: Path) -> None:
    campaign = _setup(tmp_path)
    source = _outcome_file(tmp_path, [(2, "busy", 0, _at(10, 5)), (99, "busy", 0, _at(10, 5))])
    first = collect_outcomes(campaign, tmp_path, source_file=source)
    second = collect_outcomes(campaign, tmp_path, source_file=source)
    assert (first.new, first.unmatched, second.new) == (1, 1, 0)
    assert len(read_outcomes(campaign, tmp_path)) == 1


def test_a_bad_outcome_file_names_the_line(tmp_path: Path) -> None:
    campaign = _setup(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\nnot json\n', encoding="utf-8")
    with pytest.raises(Exception, match=r"bad\.jsonl:2: not valid JSON"):
        collect_outcomes(campaign, tmp_path, source_file=bad)
