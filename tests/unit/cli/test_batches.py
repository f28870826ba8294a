"""``cohortflow batch list | resolve`` and ``cohortflow campaign retry-failed``: operators finish
what dispatch could not."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cohortflow.cli import main
from cohortflow.config import load_campaign
from cohortflow.dispatch import run_dispatch
from cohortflow.providers.base import SubmitResult
from tests.support.dispatch import ALWAYS, FakeAdapter, indian_numbers, write_cohort

NOW = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
LOST = SubmitResult("unknown", status_code=None, accepted=0, error="timed out (ReadTimeout)")
REFUSED = SubmitResult("rejected", status_code=404, accepted=0, error="HTTP 404: no campaign")


@pytest.fixture
def area(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A campaign folder and a warehouse with batch 1 unconfirmed, 2 failed, 3 sent."""
    data = {"name": "loans", "status": "active", "allowed_schedule": ALWAYS, "batch_size": 2,
            "provider": {"kind": "http_json", "base_url": "http://127.0.0.1:9"}}
    (tmp_path / "loans.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("COHORTFLOW_CAMPAIGNS", str(tmp_path))
    monkeypatch.setenv("COHORTFLOW_WAREHOUSE", str(tmp_path / "warehouse"))
    write_cohort(tmp_path / "warehouse", "loans", "c1", indian_numbers(6))
    run_dispatch(load_campaign(tmp_path / "loans.yaml"), tmp_path / "warehouse", NOW,
                 adapter=FakeAdapter([LOST, REFUSED]))
    return tmp_path


def _cli(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(arguments))
    return result.exit_code, result.output


def test_batch_list_shows_each_batch_and_what_its_answer_meant(area: Path) -> None:
    code, output = _cli("batch", "list", "--campaign", "loans")
    assert code == 0
    lines = output.splitlines()[1:]
    assert lines[0].split()[:4] == ["loans:c1:000001:0", "2", "unconfirmed", "unknown"]
    assert "ReadTimeout" in lines[0]
    assert lines[1].split()[:4] == ["loans:c1:000002:0", "2", "failed", "rejected"]
    assert lines[2].split()[:4] == ["loans:c1:000003:0", "2", "submitted", "accepted"]


def test_batch_list_filters_by_status_as_json(area: Path) -> None:
    code, output = _cli("batch", "list", "--campaign", "loans", "--status", "unconfirmed",
                        "--json")
    assert code == 0
    [batch] = json.loads(output)
    assert batch["batch_id"] == "loans:c1:000001:0" and batch["recipients"] == 2


def test_resolve_delivered_counts_the_batch_as_sent(area: Path) -> None:
    code, output = _cli("batch", "resolve", "loans:c1:000001:0", "--delivered")
    assert code == 0 and "2 recipients counted as sent" in output
    code, output = _cli("batch", "list", "--campaign", "loans", "--status", "sent", "--json")
    assert {b["batch_id"] for b in json.loads(output)} == {"loans:c1:000001:0",
                                                          "loans:c1:000003:0"}


def test_resolve_resend_sends_the_recipients_once_in_a_new_batch(area: Path) -> None:
    code, output = _cli("batch", "resolve", "loans:c1:000001:0", "--resend")
    assert code == 0 and "released" in output
    adapter = FakeAdapter()
    run_dispatch(load_campaign(area / "loans.yaml"), area / "warehouse", NOW, adapter=adapter)
    assert [b.idempotency_key for b in adapter.batches] == ["loans:c1:000004:0"]
    assert adapter.sent_rows == [("c1", 2), ("c1", 3)]


def test_resolve_needs_an_answer_and_an_unconfirmed_batch(area: Path) -> None:
    code, output = _cli("batch", "resolve", "loans:c1:000001:0")
    assert code == 2 and "--delivered or --resend" in output
    code, output = _cli("batch", "resolve", "loans:c1:000002:0", "--delivered")
    assert code == 2 and "is failed, not unconfirmed" in output and "retry-failed" in output
    code, output = _cli("batch", "resolve", "loans:c1:000099:0", "--resend")
    assert code == 2 and "no batch 'loans:c1:000099:0'" in output


def test_retry_failed_releases_the_failed_batches(area: Path) -> None:
    code, output = _cli("campaign", "retry-failed", "loans")
    assert code == 0 and "1 failed batches released; 2 recipients" in output
    adapter = FakeAdapter()
    run_dispatch(load_campaign(area / "loans.yaml"), area / "warehouse", NOW, adapter=adapter)
    assert adapter.sent_rows == [("c1", 4), ("c1", 5)]
    code, output = _cli("campaign", "retry-failed", "loans")
    assert "0 failed batches released" in output


def test_campaigns_json_counts_unconfirmed_and_adds_up(area: Path) -> None:
    from cohortflow.dispatch import record_dispatch
    from cohortflow.warehouse import register_cohorts

    warehouse = area / "warehouse"
    register_cohorts(warehouse, [warehouse / "cohorts" / "campaign_id=loans" / "cohort_id=c1"])
    record_dispatch(warehouse, [load_campaign(area / "loans.yaml")])
    code, output = _cli("campaigns", "--json")
    assert code == 0
    [row] = json.loads(output)
    assert (row["recipients"], row["sent"], row["unconfirmed"], row["failed"]) == (6, 2, 2, 2)
    assert row["sent"] + row["unconfirmed"] + row["waiting"] + row["failed"] == 6
    code, output = _cli("campaigns")
    assert "unconfirmed" in output.splitlines()[0]
