"""Each provider page used end to end against the sandbox: Sarvam settings pushed before any
upload, CometChat's three steps, the messaging platform's delay applied once, Nexus's invalid
rows mapped back to recipients and the rest delivered once, results shown to operators."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import requests
import yaml
from tests.integration.conftest import SANDBOX_KEY
from tests.support.dispatch import indian_numbers, write_cohort

from cohortflow.cli.campaigns import campaign_progress
from cohortflow.config import load_campaign
from cohortflow.dispatch import change_status, record_dispatch, run_dispatch
from cohortflow.dispatch.outbox import Outbox
from cohortflow.dispatch.provider_setup import attention, settings_state
from cohortflow.providers import adapter_for
from cohortflow.providers.base import Credentials
from cohortflow.providers.sarvam import campaign_settings
from cohortflow.sandbox import SandboxHandle, SandboxKeys, start_sandbox
from cohortflow.warehouse import catalog, register_cohorts

PROJECT = Path(__file__).resolve().parents[2]
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
MONDAY_11 = dt.datetime(2026, 3, 2, 11, tzinfo=IST)
OFFICE = {"allowed_start_time": "09:00", "allowed_end_time": "18:00", "timezone": "Asia/Kolkata"}
CREDENTIALS = Credentials(SANDBOX_KEY, "sandbox-app", source="test")


def _write(folder: Path, **data: Any) -> Path:
    path = folder / "campaigns" / "loans.yaml"
    path.parent.mkdir(exist_ok=True)
    settings = {"name": "loans", "status": "active", "allowed_schedule": OFFICE,
                "attempts_per_second": 10_000, "batch_size": 50, **data}
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def _dispatch(path: Path, warehouse: Path, now: dt.datetime) -> Any:
    campaign = load_campaign(path)
    return run_dispatch(campaign, warehouse, now, adapter=adapter_for(campaign, CREDENTIALS))


def _get(sandbox: SandboxHandle, path: str, **params: Any) -> Any:
    response = requests.get(f"{sandbox.url}{path}", params=params, timeout=5)
    response.raise_for_status()
    return response.json()


def _console(sandbox: SandboxHandle, campaign: str, status: str) -> None:
    requests.post(f"{sandbox.url}/_sandbox/sarvam/campaigns/{campaign}/status",
                  json={"status": status}, timeout=5).raise_for_status()


SARVAM = {"kind": "sarvam", "org_id": "o1", "workspace_id": "w1", "campaign_id": "cmp1"}


def test_sarvam_settings_reach_the_provider_before_any_upload(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    settings = {"provider": {**SARVAM, "base_url": sandbox.url}, "description": "June loans",
                "end_timestamp": "2026-03-31T18:00:00+05:30",
                "connection_configs": [{"connection_id": "c1", "phone_numbers": ["+911140000000"],
                                        "weight": 3}],
                "retry_config": {"max_retries": 2, "retry_interval_minutes": [30],
                                 "retry_on": {"busy": {"enabled": True}}},
                "webhook_config": {"url": "https://hooks.example/sarvam"}}
    path = _write(tmp_path, **settings)
    write_cohort(tmp_path, "loans", "c1", indian_numbers(60))

    _dispatch(path, tmp_path, MONDAY_11)
    held = _get(sandbox, "/_sandbox/sarvam/campaigns/cmp1")
    assert held["updates"] == 1 and held["settings"] == campaign_settings(load_campaign(path))
    assert _get(sandbox, "/_sandbox/stats")["recipients"] == 60

    # Sarvam's campaign is running; the operator pauses cohortflow's, edits the hours, resumes.
    _console(sandbox, "cmp1", "active")
    change_status(load_campaign(path), tmp_path, "pause")
    path = _write(tmp_path, **{**settings, "allowed_schedule": {**OFFICE,
                                                                "allowed_end_time": "17:00"}})
    change_status(load_campaign(path), tmp_path, "resume")
    write_cohort(tmp_path, "loans", "c2", indian_numbers(40, start=100))
    report = _dispatch(path, tmp_path, MONDAY_11)

    assert report.outcomes == [] and not report.plan.may_send
    assert "refused the settings update" in report.plan.reason
    assert "pause it there, then run `cohortflow campaign sync loans`" in report.plan.reason
    assert _get(sandbox, "/_sandbox/sarvam/campaigns/cmp1")["updates"] == 1
    assert _get(sandbox, "/_sandbox/stats")["recipients"] == 60  # no upload while stale
    assert not settings_state(load_campaign(path), tmp_path).in_sync
    assert "refused" in (attention(load_campaign(path), tmp_path) or "")

    _console(sandbox, "cmp1", "paused")  # as the message says
    _dispatch(path, tmp_path, MONDAY_11)
    _dispatch(path, tmp_path, MONDAY_11.replace(hour=12))
    held = _get(sandbox, "/_sandbox/sarvam/campaigns/cmp1")
    assert held["updates"] == 2 and held["settings"]["allowed_schedule"]["allowed_end_time"] == (
        "17:00")
    assert _get(sandbox, "/_sandbox/stats")["recipients"] == 100
    assert attention(load_campaign(path), tmp_path) is None


def test_cometchat_campaign_is_created_uploaded_and_sent_once_per_run(tmp_path: Path) -> None:
    keys = SandboxKeys(SANDBOX_KEY, "sandbox-app", cometchat_campaigns=frozenset())
    with start_sandbox(keys=keys) as sandbox:
        path = _write(tmp_path, provider={"kind": "cometchat", "base_url": sandbox.url,
                                          "template_id": "tpl-7"})
        write_cohort(tmp_path, "loans", "c1", indian_numbers(120))
        first = _dispatch(path, tmp_path, MONDAY_11)
        again = _dispatch(path, tmp_path, MONDAY_11.replace(hour=12))
        write_cohort(tmp_path, "loans", "c2", indian_numbers(30, start=500),
                     user_ids=[f"later-{i}" for i in range(30)])
        third = _dispatch(path, tmp_path, MONDAY_11.replace(hour=13))
        sends = _get(sandbox, "/_sandbox/cometchat/sends")["sends"]
        stats = _get(sandbox, "/_sandbox/stats")

    assert len(first.outcomes) == 3 and first.delivery is not None
    assert first.delivery.status == "sent" and first.delivery.recipients == 120
    assert again.outcomes == [] and again.delivery is None  # nothing new: no second send
    assert third.delivery is not None and third.delivery.recipients == 30
    assert [(s["campaign_id"], s["recipients"]) for s in sends] == [("cc-0001", 120),
                                                                      ("cc-0001", 30)]
    assert stats["recipients"] == 150 and stats["held"] == 0 and stats["repeats"] == 0


def test_a_cohort_of_user_ids_is_ingested_uploaded_and_sent(tmp_path: Path) -> None:
    """The demo's offers campaign end to end: a CSV of user ids without a phone column."""
    from cohortflow.ingest import CohortRequest, process_cohort
    from cohortflow.warehouse.paths import cohort_dir

    source = PROJECT / "include" / "examples" / "landing" / "offers" / "december_offers.csv"
    with start_sandbox(keys=SandboxKeys(SANDBOX_KEY, "sandbox-app")) as sandbox:
        config = yaml.safe_load((PROJECT / "include" / "campaigns" / "offers.yaml").read_text())
        path = _write(tmp_path, **{**config, "provider": {**config["provider"],
                                                          "base_url": sandbox.url}})
        campaign = load_campaign(path)
        summary = process_cohort(CohortRequest(source=source, campaign=campaign),
                                 tmp_path / "scratch")
        folder = cohort_dir(tmp_path, "loans", summary.cohort_id)
        folder.parent.mkdir(parents=True)
        (tmp_path / "scratch").rename(folder)
        register_cohorts(tmp_path, [folder])
        first = _dispatch(path, tmp_path, MONDAY_11)
        again = _dispatch(path, tmp_path, MONDAY_11.replace(hour=12))
        recorded = _get(sandbox, "/_sandbox/recipients", provider="cometchat")
        sends = _get(sandbox, "/_sandbox/cometchat/sends")["sends"]

    assert (summary.status, summary.valid_records, summary.rejected_records) == ("completed", 4, 2)
    assert first.delivery is not None and first.delivery.status == "sent"
    assert again.delivery is None
    assert sorted(r["user_identifier"] for r in recorded["recipients"]) == [
        "usr_1001", "usr_1002", "usr_1003", "usr_1004"]
    assert [s["recipients"] for s in sends] == [4]  # one send for the run's uploads


def test_cometchat_schedule_at_is_sent_as_scheduled_at(tmp_path: Path) -> None:
    with start_sandbox(keys=SandboxKeys(SANDBOX_KEY, "sandbox-app")) as sandbox:
        later = MONDAY_11 + dt.timedelta(days=1)
        path = _write(tmp_path, provider={"kind": "cometchat", "base_url": sandbox.url,
                                          "campaign_id": "cc-9"}, schedule_at=later.isoformat())
        write_cohort(tmp_path, "loans", "c1", indian_numbers(20))
        report = _dispatch(path, tmp_path, MONDAY_11)
        sends = _get(sandbox, "/_sandbox/cometchat/sends")["sends"]

    assert report.plan.may_send and report.delivery is not None  # uploads need not wait
    assert [s["scheduled_at"] for s in sends] == ["2026-03-03T05:30:00Z"]


def test_messaging_delay_is_held_by_cohortflow_and_never_sent(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    layout = {"contact": {"contactCode": "{{phone}}", "channelType": "cloud_api"}}
    path = _write(tmp_path, delay="PT1H", layout=layout,
                  provider={"kind": "messaging_csv", "base_url": sandbox.url, "app_id": 1,
                            "campaign_id": 2})
    write_cohort(tmp_path, "loans", "c1", indian_numbers(10))

    early = _dispatch(path, tmp_path, MONDAY_11)
    assert early.outcomes == [] and "delayed by PT1H" in early.plan.reason
    assert _get(sandbox, "/_sandbox/stats")["counts"].get("requests", 0) == 0
    report = _dispatch(path, tmp_path, MONDAY_11 + dt.timedelta(hours=1, minutes=1))

    assert [o.status for o in report.outcomes] == ["submitted"]
    [answers] = Outbox(tmp_path, "loans").results().values()
    assert answers[-1].response["status"] == "queued"  # no delay, no scheduleAt: sent at once


def test_nexus_invalid_rows_become_rejections_and_the_rest_go_once(tmp_path: Path) -> None:
    phones = indian_numbers(8)
    keys = SandboxKeys(SANDBOX_KEY, nexus_invalid_numbers=frozenset({phones[2], phones[5]}))
    with start_sandbox(keys=keys) as sandbox:
        path = _write(tmp_path, provider={"kind": "nexus", "base_url": sandbox.url,
                                          "user_id": "64e5f12345abcdef12345678"},
                      connection_configs=[{"connection_id": "n", "phone_numbers": ["num-1"]}])
        folder = write_cohort(tmp_path, "loans", "c1", phones)
        register_cohorts(tmp_path, [folder])
        report = _dispatch(path, tmp_path, MONDAY_11)
        recorded = _get(sandbox, "/_sandbox/recipients", provider="nexus")
        stats = _get(sandbox, "/_sandbox/stats")
    record_dispatch(tmp_path, [load_campaign(path)])

    assert [o.status for o in report.outcomes] == ["submitted"]
    assert sorted(r["phone_number"] for r in recorded["recipients"]) == sorted(
        p for i, p in enumerate(phones) if i not in (2, 5))
    assert stats["duplicates"] == 0 and stats["repeats"] == 0
    with catalog.reader(tmp_path) as conn:
        rejected = conn.execute(
            "select row_number, provider_reason from deliveries "
            "where status = 'provider_rejected' order by row_number").fetchall()
        batch = conn.execute("select accepted, confirmed, provider_rejected, provider_status "
                             "from batches").fetchone()
    assert rejected == [(4, "Nexus: invalid phone number"), (7, "Nexus: invalid phone number")]
    assert batch == (6, 6, 2, "imported")
    [row] = campaign_progress(tmp_path, path.parent, PROJECT / "sql")
    assert (row["sent"], row["rejected"], row["confirmed"], row["provider_rejected"]) == (
        6, 2, 6, 2)


def test_campaigns_show_sarvam_processing_as_unreported(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    path = _write(tmp_path, provider={**SARVAM, "base_url": sandbox.url})
    register_cohorts(tmp_path, [write_cohort(tmp_path, "loans", "c1", indian_numbers(12))])
    _dispatch(path, tmp_path, MONDAY_11)
    record_dispatch(tmp_path, [load_campaign(path)])
    [row] = campaign_progress(tmp_path, path.parent, PROJECT / "sql")
    assert (row["sent"], row["confirmed"], row["unreported"]) == (12, 0, 12)
    with catalog.reader(tmp_path) as conn:
        assert conn.execute("select distinct provider_status from batches").fetchall() == [
            ("processing",)]
