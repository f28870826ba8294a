"""The sandbox follows the provider pages: Sarvam's campaign update rules, CometChat's three
steps, Nexus's batch details, the messaging platform's schedule and placeholder rules."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import isodate
import pytest
import requests

from cohortflow.sandbox import SandboxHandle, SandboxKeys, start_sandbox

KEY = "sbx-SECRET-7781"
APP_ID = "sbx-app"
SARVAM = "/api/scheduling/v1/orgs/o1/workspaces/w1/campaigns/{campaign}"
COMETCHAT_HEADERS = {"appId": APP_ID, "apiKey": KEY}


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with start_sandbox(keys=SandboxKeys(KEY, APP_ID)) as handle:
        yield handle


def patch(handle: SandboxHandle, campaign: str, body: Any, key: str = KEY) -> requests.Response:
    return requests.patch(f"{handle.url}{SARVAM.format(campaign=campaign)}", json=body,
                          headers={"X-API-Key": key}, timeout=10)


def set_status(handle: SandboxHandle, campaign: str, status: str) -> None:
    response = requests.post(f"{handle.url}/_sandbox/sarvam/campaigns/{campaign}/status",
                             json={"status": status}, timeout=10)
    response.raise_for_status()


UPDATE = {
    "name": "loans june",
    "description": "June loans",
    "app_config": {
        "app_id": "agent-1",
        "attempts_per_second": 2.5,
        "connection_configs": [{"connection_id": "c1", "phone_numbers": ["+911234567890"],
                                "weight": 2}],
        "retry_config": {"max_retries": 2, "retry_on": {"busy": {"enabled": True}},
                         "retry_interval_minutes": [30]},
        "app_type": "agent",
        "webhook_config": {"url": "https://hooks.example/s", "metadata": {"team": "risk"}},
    },
    "end_timestamp": "2026-07-01T00:00:00Z",
    "allowed_schedule": {"allowed_start_time": "09:00", "allowed_end_time": "18:00",
                         "allowed_days": ["Monday"], "timezone": "Asia/Kolkata"},
}


def test_sarvam_update_is_accepted_while_scheduled_and_kept(sandbox: SandboxHandle) -> None:
    response = patch(sandbox, "cmp1", UPDATE)
    assert response.status_code == 200
    assert response.json()["status"] == "scheduled"
    assert response.json()["campaign_id"] == "cmp1"
    held = requests.get(f"{sandbox.url}/_sandbox/sarvam/campaigns/cmp1", timeout=10).json()
    assert held["settings"] == UPDATE and held["updates"] == 1


@pytest.mark.parametrize("status", ["active", "ended", "cancelled"])
def test_sarvam_update_is_refused_unless_paused_or_scheduled(
    sandbox: SandboxHandle, status: str
) -> None:
    set_status(sandbox, "cmp1", status)
    response = patch(sandbox, "cmp1", UPDATE)
    assert response.status_code == 400
    assert "only allowed when the campaign is in paused or scheduled" in response.json()["detail"]
    if status == "active":  # paused in Sarvam's console: the update goes through
        set_status(sandbox, "cmp1", "paused")
        assert patch(sandbox, "cmp1", UPDATE).status_code == 200


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"name": "x" * 51}, ["name"]),
        ({"name": "bad/name"}, ["name"]),
        ({"description": "d" * 151}, ["description"]),
        ({"colour": "red"}, ["colour"]),
        ({"app_config": {"speed": 1}}, ["app_config", "speed"]),
        ({"app_config": {"attempts_per_second": 0}}, ["app_config", "attempts_per_second"]),
        ({"app_config": {"app_type": "bot"}}, ["app_config", "app_type"]),
        ({"allowed_schedule": {"allowed_days": ["Funday"]}}, ["allowed_schedule", "allowed_days"]),
        ({"allowed_schedule": {"timezone": "Mars/Base"}}, ["allowed_schedule", "timezone"]),
        ({"allowed_schedule": {"allowed_start_time": "9am"}},
         ["allowed_schedule", "allowed_start_time"]),
        ({"end_timestamp": "tomorrow"}, ["end_timestamp"]),
    ],
)
def test_sarvam_update_enforces_the_page_fields_and_limits(
    sandbox: SandboxHandle, change: dict[str, Any], where: list[str]
) -> None:
    response = patch(sandbox, "cmp1", {**UPDATE, **change})
    assert response.status_code == 422
    assert ["body", *where] in [e["loc"] for e in response.json()["detail"]]


def test_sarvam_update_with_a_wrong_key_is_401(sandbox: SandboxHandle) -> None:
    assert patch(sandbox, "cmp1", UPDATE, key="nope").status_code == 401


def upload_cometchat(handle: SandboxHandle, campaign: str, users: list[str]) -> requests.Response:
    body = "user_id\n" + "\n".join(users) + "\n"
    return requests.post(f"{handle.url}/api/campaigns/upload", headers=COMETCHAT_HEADERS,
                         data={"campaignId": campaign},
                         files={"file": ("r.csv", body.encode(), "text/csv")}, timeout=10)


def test_cometchat_recipients_wait_for_the_send_step() -> None:
    with start_sandbox(keys=SandboxKeys(KEY, APP_ID, cometchat_campaigns=frozenset())) as handle:
        created = requests.post(f"{handle.url}/api/campaigns", headers=COMETCHAT_HEADERS,
                                json={"name": "offers", "templateId": "tpl-1"}, timeout=10)
        assert created.status_code == 201
        campaign = created.json()["data"]["id"]
        assert upload_cometchat(handle, "unknown", ["u1"]).status_code == 404
        uploaded = upload_cometchat(handle, campaign, ["u1", "u2"])
        assert uploaded.json()["data"]["count"] == 2
        stats = requests.get(f"{handle.url}/_sandbox/stats", timeout=10).json()
        outcomes = requests.get(f"{handle.url}/_sandbox/outcomes", timeout=10).json()
        assert stats["held"] == 2 and outcomes["outcomes"] == []
        sent = requests.post(f"{handle.url}/api/campaigns/{campaign}/send",
                             headers=COMETCHAT_HEADERS,
                             json={"scheduledAt": "2030-01-01T09:00:00Z"}, timeout=10)
        assert sent.status_code == 200 and sent.json()["data"]["status"] == "scheduled"
        sends = requests.get(f"{handle.url}/_sandbox/cometchat/sends", timeout=10).json()
        stats = requests.get(f"{handle.url}/_sandbox/stats", timeout=10).json()
    assert [(s["recipients"], s["scheduled_at"]) for s in sends["sends"]] == [
        (2, "2030-01-01T09:00:00Z")]
    assert stats["held"] == 0


def test_cometchat_send_refuses_a_schedule_that_is_not_iso(sandbox: SandboxHandle) -> None:
    response = requests.post(f"{sandbox.url}/api/campaigns/c1/send", headers=COMETCHAT_HEADERS,
                             json={"scheduledAt": "tomorrow 9am"}, timeout=10)
    assert response.status_code == 400


def test_nexus_batch_details_answer_the_imported_total(sandbox: SandboxHandle) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    form = {"userId": "64e5f12345abcdef12345678", "batchName": "june", "batchType": "outbound",
            "callingNumbers": '["n1"]'}
    body = b"phoneNumber\n+919876543210\n+919876543210\n+919812345678\n"
    upload = requests.post(f"{sandbox.url}/api/call/upload", headers=auth, data=form,
                           files={"file": ("c.csv", body, "text/csv")}, timeout=10)
    batch_id = upload.json()["batch"]["_id"]
    details = requests.get(f"{sandbox.url}/api/call/batch-details/{batch_id}", headers=auth,
                           timeout=10)
    missing = requests.get(f"{sandbox.url}/api/call/batch-details/000", headers=auth, timeout=10)
    assert details.status_code == 200 and details.json()["batch"]["totalCalls"] == 2
    assert missing.status_code == 404


def send_messaging(handle: SandboxHandle, layout: dict[str, Any],
                   **fields: str) -> requests.Response:
    return requests.post(
        f"{handle.url}/applications/1/campaigns/2/send-from-csv",
        headers={"Authorization": f"Bearer {KEY}"},
        data={"layout": json.dumps(layout), **fields},
        files={"file": ("c.csv", b"phone,name\n34666777888,Ana\n", "text/csv")}, timeout=10)


LAYOUT = {"contact": {"contactCode": "{{phone}}", "channelType": "cloud_api"},
          "customFields": {"name": "{{name}}"}}


def test_messaging_schedule_limit_is_three_calendar_months(sandbox: SandboxHandle) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    limit = now + isodate.Duration(months=3)
    inside = (limit - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    outside = (limit + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert send_messaging(sandbox, LAYOUT, scheduleAt=inside).status_code == 201
    refused = send_messaging(sandbox, LAYOUT, scheduleAt=outside)
    assert refused.status_code == 400 and "3 months" in refused.json()["message"]


@pytest.mark.parametrize("placeholder", ["{{ name | upper }}", "{{name.first}}", "{% if x %}"])
def test_messaging_refuses_placeholders_that_are_not_plain_names(
    sandbox: SandboxHandle, placeholder: str
) -> None:
    layout = {**LAYOUT, "customFields": {"name": placeholder}}
    response = send_messaging(sandbox, layout)
    assert response.status_code == 400 and "placeholder" in response.json()["message"]


def test_messaging_layout_without_channel_type_is_refused(sandbox: SandboxHandle) -> None:
    response = send_messaging(sandbox, {"contact": {"contactCode": "{{phone}}"}})
    assert response.status_code == 400 and "channelType" in response.json()["message"]
