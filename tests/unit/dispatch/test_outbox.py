"""Outbox and results ledgers: written before and after sending; append-only; recoverable."""

from __future__ import annotations

from pathlib import Path

from cohortflow.dispatch.outbox import MAX_SUBMIT_ROUNDS, BatchRef, Outbox, OutboxBatch
from cohortflow.providers.base import Batch, SubmitResult
from cohortflow.warehouse.ledger import append_record, read_records


def _batch(number: int, rows: tuple[int, ...], attempt: int = 0) -> OutboxBatch:
    return OutboxBatch(
        campaign_id="loans", cohort_id="c1", batch_number=number, attempt=attempt,
        idempotency_key=Batch.key_for("loans", "c1", number, attempt), rows=rows,
    )


def test_a_record_is_never_overwritten(tmp_path: Path) -> None:
    assert append_record(tmp_path, "a.json", {"v": 1})
    assert not append_record(tmp_path, "a.json", {"v": 2})
    assert read_records(tmp_path) == [{"v": 1}]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_batch_round_trips_and_is_pending_until_answered(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "loans")
    batch = _batch(1, (2, 3, 4))
    outbox.write_batches([batch])
    assert outbox.batch(batch.ref) == batch
    assert Outbox.status_of(outbox.results_for(batch.ref)) == "pending"
    outbox.write_result(batch, status="submitted", final=True,
                        result=SubmitResult("accepted", status_code=200, accepted=3))
    assert Outbox.status_of(outbox.results_for(batch.ref)) == "submitted"


def test_writing_the_same_batch_twice_keeps_the_first(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "loans")
    outbox.write_batches([_batch(1, (2, 3))])
    outbox.write_batches([_batch(1, (9,))])
    assert outbox.batches()[0].rows == (2, 3)


def test_numbers_continue_per_cohort_and_round(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "loans")
    outbox.write_batches([_batch(1, (2,)), _batch(2, (3,)), _batch(1, (2,), attempt=1)])
    assert outbox.next_batch_number("c1", 0) == 3
    assert outbox.next_batch_number("c1", 1) == 2
    assert outbox.next_batch_number("c2", 0) == 1
    assert outbox.members(0) == {("c1", 2), ("c1", 3)}


def test_transient_failure_stays_pending_and_final_failure_does_not(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "loans")
    batch = _batch(1, (2,))
    outbox.write_batches([batch])
    outbox.write_result(batch, status="failed", final=False, error="HTTP 503")
    assert Outbox.status_of(outbox.results_for(batch.ref)) == "pending"
    outbox.write_result(batch, status="failed", final=True, error="HTTP 400")
    results = outbox.results_for(batch.ref)
    assert [r.round for r in results] == [1, 2]
    assert Outbox.status_of(results) == "failed"
    assert MAX_SUBMIT_ROUNDS >= 2


def test_a_send_started_without_an_answer_is_interrupted(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "loans")
    batch = _batch(1, (2,))
    outbox.write_batches([batch])
    outbox.write_result(batch, status="sending", final=False)
    assert Outbox.status_of(outbox.results_for(batch.ref)) == "interrupted"
    outbox.write_result(batch, status="unconfirmed", final=True, outcome="unknown",
                        error="stopped mid-send")
    results = outbox.results_for(batch.ref)
    assert Outbox.status_of(results) == "unconfirmed"
    assert Outbox.rounds_sent(results) == 1  # the start is not a round of its own


def test_a_released_batchs_recipients_are_no_longer_members(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "loans")
    released, kept = _batch(1, (2, 3)), _batch(2, (4,))
    outbox.write_batches([released, kept])
    outbox.write_result(released, status="released", final=True, actor="cli")
    assert Outbox.status_of(outbox.results_for(released.ref)) == "released"
    assert outbox.members(0) == {("c1", 4)}


def test_only_one_process_holds_a_batchs_sending_lock(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, "loans")
    ref = _batch(1, (2,)).ref
    with outbox.sending_lock(ref) as first, outbox.sending_lock(ref) as second:
        assert first and not second  # flock locks are per open file, like another process's
    with outbox.sending_lock(ref) as again:
        assert again


def test_ref_is_xcom_sized_and_keeps_the_key(tmp_path: Path) -> None:
    ref = BatchRef("loans", "c1", 7, 2)
    assert BatchRef.from_dict(ref.as_dict()) == ref
    assert ref.idempotency_key == "loans:c1:000007:2"
