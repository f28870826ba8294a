"""Runtime campaign status: transitions, final states, and the settings-change rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cohortflow.dispatch.campaign_state import (
    CampaignStateError,
    change_status,
    check_settings_unchanged,
    ensure_activation,
    read_state,
)
from tests.support.dispatch import make_campaign

NOW = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)


def test_yaml_status_applies_until_something_is_recorded(tmp_path: Path) -> None:
    state = read_state(make_campaign(status="paused"), tmp_path)
    assert state.status == "paused" and state.activated_at is None


def test_pause_then_resume(tmp_path: Path) -> None:
    campaign = make_campaign()
    assert change_status(campaign, tmp_path, "pause", now=NOW).status == "paused"
    later = NOW + dt.timedelta(hours=1)
    resumed = change_status(campaign, tmp_path, "resume", now=later)
    assert resumed.status == "active"
    assert resumed.activated_at == later


def test_first_activation_time_is_kept_for_delay(tmp_path: Path) -> None:
    campaign = make_campaign(delay="PT15M")
    ensure_activation(campaign, tmp_path, NOW)
    change_status(campaign, tmp_path, "pause", now=NOW + dt.timedelta(minutes=1))
    state = change_status(campaign, tmp_path, "resume", now=NOW + dt.timedelta(minutes=2))
    assert state.activated_at == NOW


def test_cancelled_is_final_with_a_clear_message(tmp_path: Path) -> None:
    campaign = make_campaign()
    change_status(campaign, tmp_path, "cancel", now=NOW)
    with pytest.raises(CampaignStateError, match="loans is cancelled, which is final"):
        change_status(campaign, tmp_path, "resume", now=NOW)


def test_yaml_ended_wins_over_the_ledger(tmp_path: Path) -> None:
    change_status(make_campaign(), tmp_path, "pause", now=NOW)
    assert read_state(make_campaign(status="ended"), tmp_path).status == "ended"


def test_pausing_twice_is_refused(tmp_path: Path) -> None:
    campaign = make_campaign()
    change_status(campaign, tmp_path, "pause", now=NOW)
    with pytest.raises(CampaignStateError, match="already paused"):
        change_status(campaign, tmp_path, "pause", now=NOW)


def test_settings_changed_while_active_are_refused(tmp_path: Path) -> None:
    ensure_activation(make_campaign(batch_size=10), tmp_path, NOW)
    edited = make_campaign(batch_size=20)
    state = read_state(edited, tmp_path)
    with pytest.raises(CampaignStateError, match="pause it first: cohortflow campaign pause loans"):
        check_settings_unchanged(edited, state)


def test_resume_records_the_new_settings(tmp_path: Path) -> None:
    ensure_activation(make_campaign(batch_size=10), tmp_path, NOW)
    change_status(make_campaign(batch_size=10), tmp_path, "pause", now=NOW)
    edited = make_campaign(batch_size=20)
    check_settings_unchanged(edited, read_state(edited, tmp_path))  # paused: allowed
    state = change_status(edited, tmp_path, "resume", now=NOW)
    check_settings_unchanged(edited, state)
    assert state.fingerprint == edited.settings_fingerprint()


def test_status_change_does_not_count_as_a_settings_change(tmp_path: Path) -> None:
    ensure_activation(make_campaign(), tmp_path, NOW)
    reread = make_campaign(status="paused")  # YAML status edited, nothing else
    check_settings_unchanged(reread, read_state(make_campaign(), tmp_path))
    assert reread.settings_fingerprint() == make_campaign().settings_fingerprint()
