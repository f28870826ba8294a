"""Sarvam's campaign settings against ``sarvam-campaign-update.txt`` (the settings PATCH).

The cohort upload, Sarvam's other page, is ``test_sarvam.py``. :data:`PAGE_FIELDS` maps every
field, header, path parameter, limit and rule of the update page to the tests below that check
it. The page's example body is copied here: tests never read the pages themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cohortflow.dispatch.provider_setup import push_settings
from cohortflow.providers.sarvam import SarvamAdapter
from tests.support.providers import (
    BASE,
    CREDENTIALS,
    SECRET,
    FakeSession,
    campaign_for,
    json_of,
    no_sleep,
    page_table_gaps,
    reply,
    shape_mismatches,
)

PAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "PATCH /v1/orgs/{org_id}/workspaces/{workspace_id}/campaigns/{campaign_id}":
        ("test_sarvam_settings_are_a_json_patch_of_the_campaign",),
    "path org_id, workspace_id, campaign_id":
        ("test_sarvam_settings_are_a_json_patch_of_the_campaign",),
    "header X-API-Key": ("test_sarvam_settings_are_a_json_patch_of_the_campaign",),
    "body nested as the page's example": ("test_sarvam_settings_body_has_the_page_example_shape",),
    "name (max 50 chars: letters, digits, hyphens, underscores, spaces)":
        ("test_sarvam_full_settings_body", "test_sarvam_name_and_description_limits"),
    "description (max 150 chars)":
        ("test_sarvam_full_settings_body", "test_sarvam_name_and_description_limits",
         "test_sarvam_unset_settings_are_left_out"),
    "app_config.app_id":
        ("test_sarvam_full_settings_body", "test_sarvam_unset_settings_are_left_out"),
    "app_config.app_version":
        ("test_sarvam_full_settings_body", "test_sarvam_unset_settings_are_left_out"),
    "app_config.attempts_per_second": ("test_sarvam_full_settings_body",
                                       "test_sarvam_settings_body_has_the_page_example_shape"),
    "app_config.connection_configs[].connection_id/phone_numbers/weight":
        ("test_sarvam_full_settings_body", "test_sarvam_unset_settings_are_left_out"),
    "app_config.retry_config.max_retries": ("test_sarvam_full_settings_body",),
    "app_config.retry_config.retry_on.busy/failed/no_answer (enabled)":
        ("test_sarvam_full_settings_body",),
    "app_config.retry_config.retry_on.short_duration (enabled, threshold_seconds)":
        ("test_sarvam_full_settings_body",),
    "app_config.retry_config.retry_on.provider_error/internal_error "
    "(enabled, max_retries, retry_interval_minutes)": ("test_sarvam_full_settings_body",),
    "app_config.retry_config.retry_interval_minutes":
        ("test_sarvam_full_settings_body", "test_sarvam_unset_settings_are_left_out"),
    "app_config.app_type (agent|workflow)": ("test_sarvam_full_settings_body",),
    "app_config.webhook_config.url/metadata":
        ("test_sarvam_full_settings_body", "test_sarvam_unset_settings_are_left_out"),
    "end_timestamp (ISO 8601)":
        ("test_sarvam_full_settings_body", "test_sarvam_unset_settings_are_left_out"),
    "allowed_schedule.allowed_start_time/allowed_end_time":
        ("test_sarvam_full_settings_body", "test_sarvam_whole_day_window_is_00_00_to_23_59",
         "test_sarvam_window_crossing_midnight_is_a_problem"),
    "allowed_schedule.allowed_days": ("test_sarvam_full_settings_body",),
    "allowed_schedule.timezone": ("test_sarvam_full_settings_body",),
    "updates only while paused or scheduled": ("test_sarvam_refused_update_says_to_pause",),
}

#: sarvam-campaign-update.txt, the example request body, as the page prints it.
PAGE_UPDATE_BODY = json.loads("""
{
  "name": "<string>",
  "description": "<string>",
  "app_config": {
    "app_id": "<string>",
    "app_version": 2,
    "attempts_per_second": 250.05,
    "connection_configs": [
      {
        "connection_id": "<string>",
        "phone_numbers": [
          "<string>"
        ],
        "weight": 1
      }
    ],
    "retry_config": {
      "max_retries": 10,
      "retry_on": {
        "busy": {
          "enabled": true
        },
        "failed": {
          "enabled": true
        },
        "no_answer": {
          "enabled": true
        },
        "short_duration": {
          "enabled": true,
          "threshold_seconds": 123
        },
        "provider_error": {
          "enabled": true,
          "max_retries": 10,
          "retry_interval_minutes": 6
        },
        "internal_error": {
          "enabled": true,
          "max_retries": 3,
          "retry_interval_minutes": 5
        }
      },
      "retry_interval_minutes": []
    },
    "app_type": "agent",
    "webhook_config": {
      "url": "<string>",
      "metadata": {}
    }
  },
  "end_timestamp": "2023-11-07T05:31:56Z",
  "allowed_schedule": {
    "allowed_start_time": "<string>",
    "allowed_end_time": "<string>",
    "allowed_days": [
      "Monday"
    ],
    "timezone": "Asia/Kolkata"
  }
}
""")

#: Every setting of the update page set, in the campaign YAML's terms.
FULL_SETTINGS: dict[str, Any] = {
    "name": "loans-june 2",
    "description": "June loan reminders",
    "app_id": "agent-7",
    "app_version": 3,
    "attempts_per_second": "2.5",
    "connection_configs": [
        {"connection_id": "exotel-1", "phone_numbers": ["+911140000000"], "weight": 2}],
    "retry_config": {
        "max_retries": 4,
        "retry_on": {
            "busy": {"enabled": True}, "failed": {"enabled": False},
            "no_answer": {"enabled": True},
            "short_duration": {"enabled": True, "threshold_seconds": 12},
            "provider_error": {"enabled": True, "max_retries": 2, "retry_interval_minutes": 6},
            "internal_error": {"enabled": False, "max_retries": 1, "retry_interval_minutes": 9},
        },
        "retry_interval_minutes": [5, 30],
    },
    "app_type": "workflow",
    "webhook_config": {"url": "https://hooks.example/sarvam", "metadata": {"team": "loans"}},
    "end_timestamp": "2026-02-01T18:30:00+05:30",
    "allowed_schedule": {"allowed_start_time": "09:30", "allowed_end_time": "18:00",
                         "allowed_days": ["Saturday", "Monday"], "timezone": "Asia/Kolkata"},
}


def sarvam(session: FakeSession | None = None, **settings: Any) -> SarvamAdapter:
    """A Sarvam adapter for ``campaign_for("sarvam", **settings)``."""
    campaign = campaign_for("sarvam", **settings)
    assert campaign.provider is not None and campaign.provider.kind == "sarvam"
    return SarvamAdapter(campaign, campaign.provider, CREDENTIALS, session=session, sleep=no_sleep)


def test_sarvam_settings_are_a_json_patch_of_the_campaign() -> None:
    adapter = sarvam(provider={"org_id": "org 1", "workspace_id": "ws/1"})
    update = adapter.settings_update()
    assert update.method == "PATCH"
    assert update.url == f"{BASE}/v1/orgs/org%201/workspaces/ws%2F1/campaigns/cmp1"
    request = adapter.settings_request(update)
    assert (request.method, request.url) == ("PATCH", update.url)
    assert request.headers["X-API-Key"] == SECRET
    assert json_of(request) == update.body


def test_sarvam_settings_body_has_the_page_example_shape() -> None:
    body = sarvam(**FULL_SETTINGS).settings_update().body
    assert shape_mismatches(PAGE_UPDATE_BODY, body) == []
    # the comparison bites: an extra key, a missing one, a number sent as text
    assert shape_mismatches(PAGE_UPDATE_BODY, {**body, "status": "paused"}) != []
    assert shape_mismatches(PAGE_UPDATE_BODY, {k: v for k, v in body.items() if k != "name"})
    wrong = {**body, "app_config": {**body["app_config"], "attempts_per_second": "2.5"}}
    assert shape_mismatches(PAGE_UPDATE_BODY, wrong) == [
        "body.app_config.attempts_per_second: str, page has float"]


def test_sarvam_full_settings_body() -> None:
    assert sarvam(**FULL_SETTINGS).settings_update().body == {
        "name": "loans-june 2",
        "description": "June loan reminders",
        "app_config": {
            "app_id": "agent-7",
            "app_version": 3,
            "attempts_per_second": 2.5,
            "connection_configs": FULL_SETTINGS["connection_configs"],
            "retry_config": FULL_SETTINGS["retry_config"],
            "app_type": "workflow",
            "webhook_config": {"url": "https://hooks.example/sarvam",
                               "metadata": {"team": "loans"}},
        },
        "end_timestamp": "2026-02-01T13:00:00Z",
        "allowed_schedule": {"allowed_start_time": "09:30", "allowed_end_time": "18:00",
                             "allowed_days": ["Saturday", "Monday"], "timezone": "Asia/Kolkata"},
    }


def test_sarvam_unset_settings_are_left_out() -> None:
    body = sarvam().settings_update().body
    assert set(body) == {"name", "app_config", "allowed_schedule"}
    assert set(body["app_config"]) == {"attempts_per_second", "retry_config", "app_type"}
    assert body["app_config"]["retry_config"]["retry_interval_minutes"] == []


def test_sarvam_whole_day_window_is_00_00_to_23_59() -> None:
    for start in ("00:00", "08:00"):
        window = {"allowed_start_time": start, "allowed_end_time": start}
        schedule = sarvam(allowed_schedule=window).settings_update().body["allowed_schedule"]
        assert (schedule["allowed_start_time"], schedule["allowed_end_time"]) == ("00:00", "23:59")


def test_sarvam_window_crossing_midnight_is_a_problem() -> None:
    night = sarvam(allowed_schedule={"allowed_start_time": "22:00", "allowed_end_time": "06:00"})
    [problem] = night.problems()
    assert problem.field == "allowed_schedule" and "22:00-06:00 crosses midnight" in problem.message
    day = {"allowed_start_time": "06:00", "allowed_end_time": "22:00"}
    assert sarvam(allowed_schedule=day).problems() == []


def test_sarvam_name_and_description_limits() -> None:
    for name in ("a" * 50, "Loans june_2-x"):
        assert campaign_for("sarvam", name=name).name == name
    for name in ("a" * 51, "loans.june", ""):
        with pytest.raises(ValidationError, match="at most 50 characters"):
            campaign_for("sarvam", name=name)
    assert campaign_for("sarvam", description="d" * 150).description == "d" * 150
    with pytest.raises(ValidationError, match="150"):
        campaign_for("sarvam", description="d" * 151)


def test_sarvam_refused_update_says_to_pause(tmp_path: Path) -> None:
    refusal = {"detail": "Campaign can only be updated in paused or scheduled status"}
    session = FakeSession(reply(400, refusal))
    adapter = sarvam(session)
    answer = adapter.call(adapter.settings_request(adapter.settings_update()), repeatable=True)
    assert answer.outcome == "rejected" and len(session.sent) == 1
    assert "paused or scheduled status" in (answer.error or "")
    state = push_settings(adapter.campaign, tmp_path, sarvam(FakeSession(reply(400, refusal))))
    assert not state.in_sync
    assert "takes updates only while its campaign is paused or scheduled" in state.detail


def test_every_page_field_has_a_test() -> None:
    assert page_table_gaps(PAGE_FIELDS, globals()) == []
