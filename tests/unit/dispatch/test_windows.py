"""Allowed-schedule arithmetic: windows, DST, recipient-local zones, gate, plan, slicing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortflow.config import WEEKDAYS, AllowedSchedule, CampaignConfig
from cohortflow.dispatch.capacity import Plan, PlannedWindow, plan_windows
from cohortflow.dispatch.windows import (
    campaign_gate,
    is_open,
    next_open,
    open_intervals,
    resolve_zones,
)

UTC = dt.UTC
NEW_YORK = "America/New_York"
LONDON = "Europe/London"
KOLKATA = "Asia/Kolkata"


def at(text: str, zone: str = KOLKATA, *, fold: int = 0) -> dt.datetime:
    """A wall-clock reading in ``zone``, e.g. ``at("2026-03-06 09:00")``."""
    naive = dt.datetime.fromisoformat(text)
    return naive.replace(tzinfo=ZoneInfo(zone), fold=fold)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(
    start: str = "09:00",
    end: str = "18:00",
    days: list[str] | None = None,
    zone: str = KOLKATA,
) -> AllowedSchedule:
    return AllowedSchedule(
        allowed_start_time=start,
        allowed_end_time=end,
        allowed_days=days or list(WEEKDAYS),
        timezone=zone,
    )


def campaign(**settings: Any) -> CampaignConfig:
    settings.setdefault("allowed_schedule", schedule())
    return CampaignConfig(campaign_id="c1", name="c1", **settings)


def hours(intervals: list[tuple[dt.datetime, dt.datetime]]) -> float:
    return sum((end - start).total_seconds() for start, end in intervals) / 3600


# 2026-03-06 is a Friday.

# --------------------------------------------------------------------------- daily window


def test_closed_before_start_time() -> None:
    assert not is_open(at("2026-03-06 08:59"), schedule())


def test_open_at_start_time() -> None:
    assert is_open(at("2026-03-06 09:00"), schedule())


def test_open_inside_window() -> None:
    assert is_open(at("2026-03-06 13:30"), schedule())


def test_closed_at_end_time_which_is_exclusive() -> None:
    assert is_open(at("2026-03-06 17:59:59"), schedule())
    assert not is_open(at("2026-03-06 18:00"), schedule())


def test_closed_on_a_day_not_allowed() -> None:
    weekdays = schedule(days=["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"])
    assert is_open(at("2026-03-06 10:00"), weekdays)
    assert not is_open(at("2026-03-07 10:00"), weekdays)  # Saturday


def test_window_is_read_in_the_schedule_timezone() -> None:
    # 09:00 in Kolkata is 03:30 UTC.
    assert is_open(utc("2026-03-06 03:30"), schedule())
    assert not is_open(utc("2026-03-06 03:29"), schedule())


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(dt.datetime(2026, 3, 6, 10), schedule())


def test_equal_start_and_end_midnight_is_the_whole_day() -> None:
    all_day = schedule("00:00", "00:00", days=["Friday"])
    assert is_open(at("2026-03-06 00:00"), all_day)
    assert is_open(at("2026-03-06 23:59:59"), all_day)
    assert not is_open(at("2026-03-07 00:00"), all_day)


def test_equal_start_and_end_is_a_24_hour_window_from_the_start() -> None:
    day = schedule("09:00", "09:00", days=["Friday"])
    found = open_intervals(at("2026-03-05 00:00"), at("2026-03-09 00:00"), day)
    assert found == [(at("2026-03-06 09:00"), at("2026-03-07 09:00"))]


def test_whole_days_in_a_row_merge_into_one_interval() -> None:
    all_day = schedule("00:00", "00:00", days=["Friday", "Saturday"])
    found = open_intervals(at("2026-03-05 00:00"), at("2026-03-10 00:00"), all_day)
    assert found == [(at("2026-03-06 00:00"), at("2026-03-08 00:00"))]


# --------------------------------------------------------------------------- midnight


NIGHT = schedule("21:00", "02:00", days=["Friday"])


def test_midnight_window_open_before_midnight_on_the_opening_day() -> None:
    assert is_open(at("2026-03-06 23:30"), NIGHT)


def test_midnight_window_open_after_midnight_belongs_to_the_opening_day() -> None:
    assert is_open(at("2026-03-07 01:30"), NIGHT)  # Saturday, but Friday's window


def test_midnight_window_closed_at_end_time_next_day() -> None:
    assert not is_open(at("2026-03-07 02:00"), NIGHT)


def test_midnight_window_does_not_open_on_a_day_not_allowed() -> None:
    assert not is_open(at("2026-03-07 23:30"), NIGHT)  # Saturday evening
    assert not is_open(at("2026-03-06 01:30"), NIGHT)  # Thursday's window


# --------------------------------------------------------------------------- DST


def test_new_york_spring_forward_skips_the_missing_hour() -> None:
    window = schedule("01:30", "03:30", zone=NEW_YORK)
    day = open_intervals(at("2026-03-08 00:00", NEW_YORK), at("2026-03-09 00:00", NEW_YORK), window)
    assert day == [(utc("2026-03-08 06:30"), utc("2026-03-08 07:30"))]  # 01:30 EST-03:30 EDT
    assert is_open(at("2026-03-08 03:15", NEW_YORK), window)


def test_new_york_window_inside_the_missing_hour_does_not_open_that_day() -> None:
    window = schedule("02:10", "02:50", zone=NEW_YORK)
    assert next_open(at("2026-03-08 00:00", NEW_YORK), window) == at("2026-03-09 02:10", NEW_YORK)


def test_new_york_window_starting_in_the_missing_hour_opens_at_the_jump() -> None:
    window = schedule("02:30", "04:00", zone=NEW_YORK)
    assert next_open(at("2026-03-08 00:00", NEW_YORK), window) == utc("2026-03-08 07:00")


def test_new_york_fall_back_keeps_the_repeated_hour_open() -> None:
    window = schedule("01:30", "03:30", zone=NEW_YORK)
    day = open_intervals(at("2026-11-01 00:00", NEW_YORK), at("2026-11-02 00:00", NEW_YORK), window)
    assert day == [(utc("2026-11-01 05:30"), utc("2026-11-01 08:30"))]  # 01:30 EDT-03:30 EST
    assert is_open(at("2026-11-01 01:15", NEW_YORK, fold=1), window)  # second 01:15


def test_new_york_fall_back_window_closes_the_first_time_the_clock_shows_the_end() -> None:
    window = schedule("00:00", "01:30", zone=NEW_YORK)
    assert not is_open(at("2026-11-01 01:45", NEW_YORK, fold=0), window)
    assert not is_open(at("2026-11-01 01:15", NEW_YORK, fold=1), window)  # no reopening


def test_london_spring_forward_opens_at_the_jump() -> None:
    window = schedule("01:30", "03:30", zone=LONDON)
    day = open_intervals(at("2026-03-29 00:00", LONDON), at("2026-03-30 00:00", LONDON), window)
    assert day == [(utc("2026-03-29 01:00"), utc("2026-03-29 02:30"))]
    assert hours(day) == 1.5


def test_london_fall_back_window_is_longer_in_real_time() -> None:
    window = schedule("01:30", "03:30", zone=LONDON)
    day = open_intervals(at("2026-10-25 00:00", LONDON), at("2026-10-26 00:00", LONDON), window)
    assert day == [(utc("2026-10-25 00:30"), utc("2026-10-25 03:30"))]  # 01:30 BST-03:30 GMT
    assert hours(day) == 3


def test_window_keeps_wall_clock_hours_across_dst_not_fixed_offsets() -> None:
    window = schedule("09:00", "17:00", zone=NEW_YORK)
    assert next_open(utc("2026-03-06 00:00"), window) == utc("2026-03-06 14:00")  # EST
    assert next_open(utc("2026-03-09 00:00"), window) == utc("2026-03-09 13:00")  # EDT


# --------------------------------------------------------------------------- recipient zones

WORKDAY = schedule("09:00", "21:00", zone=KOLKATA)
US_EAST_CENTRAL = (NEW_YORK, "America/Chicago")


def test_recipient_window_applies_in_the_recipient_zone() -> None:
    instant = at("2026-03-06 10:00", KOLKATA)  # 23:30 in New York the evening before
    assert is_open(instant, WORKDAY, (KOLKATA,))
    assert not is_open(instant, WORKDAY, (NEW_YORK,))


def test_sydney_recipient_uses_sydney_hours() -> None:
    assert is_open(at("2026-03-06 20:30", "Australia/Sydney"), WORKDAY, ("Australia/Sydney",))
    assert not is_open(at("2026-03-06 21:30", "Australia/Sydney"), WORKDAY, ("Australia/Sydney",))


def test_multi_zone_number_open_only_when_all_zones_are_open() -> None:
    # 09:30 New York is 08:30 Chicago: New York open, Chicago not yet.
    assert not is_open(at("2026-03-06 09:30", NEW_YORK), WORKDAY, US_EAST_CENTRAL)
    assert is_open(at("2026-03-06 10:00", NEW_YORK), WORKDAY, US_EAST_CENTRAL)
    # 20:30 Chicago is 21:30 New York: Chicago open, New York closed.
    assert not is_open(at("2026-03-06 20:30", "America/Chicago"), WORKDAY, US_EAST_CENTRAL)


def test_multi_zone_intervals_are_the_intersection() -> None:
    found = open_intervals(
        at("2026-03-06 00:00", NEW_YORK), at("2026-03-07 00:00", NEW_YORK), WORKDAY, US_EAST_CENTRAL
    )
    assert found == [(at("2026-03-06 10:00", NEW_YORK), at("2026-03-06 21:00", NEW_YORK))]


def test_zones_whose_windows_never_overlap_never_open() -> None:
    office = schedule("09:00", "17:00")
    assert next_open(utc("2026-03-06 00:00"), office, (KOLKATA, NEW_YORK)) is None


def test_unknown_zones_fall_back_to_the_campaign_timezone() -> None:
    assert resolve_zones(("Mars/Olympus_Mons",), WORKDAY) == (KOLKATA,)
    assert resolve_zones((), WORKDAY) == (KOLKATA,)
    instant = at("2026-03-06 10:00", KOLKATA)
    assert is_open(instant, WORKDAY, ("Mars/Olympus_Mons",)) == is_open(instant, WORKDAY)


def test_unknown_zones_are_ignored_beside_known_ones() -> None:
    assert resolve_zones(("Nowhere/Else", NEW_YORK), WORKDAY) == (NEW_YORK,)


# --------------------------------------------------------------------------- next_open


def test_next_open_is_the_instant_itself_when_open() -> None:
    instant = at("2026-03-06 10:00")
    assert next_open(instant, schedule()) == instant


def test_next_open_skips_to_the_next_allowed_day() -> None:
    mondays = schedule(days=["Monday"])
    assert next_open(at("2026-03-06 10:00"), mondays) == at("2026-03-09 09:00")


def test_next_open_is_none_before_until() -> None:
    mondays = schedule(days=["Monday"])
    assert next_open(at("2026-03-06 10:00"), mondays, until=at("2026-03-09 08:00")) is None


ZONES = [NEW_YORK, LONDON, KOLKATA, "Australia/Sydney", "America/Chicago"]
HHMM = st.sampled_from(["00:00", "01:30", "02:00", "02:30", "09:00", "17:45", "21:00", "23:30"])


@settings(max_examples=40, deadline=None)
@given(
    start=HHMM,
    end=HHMM,
    days=st.sets(st.sampled_from(WEEKDAYS), min_size=1),
    zones=st.lists(st.sampled_from(ZONES), max_size=2),
    minutes=st.integers(0, 60 * 24 * 10),
    base=st.sampled_from([utc("2026-03-06 00:00"), utc("2026-10-23 00:00")]),
    shown_in=st.sampled_from([*ZONES, "UTC"]),
)
def test_next_open_returns_the_first_open_minute(
    start: str,
    end: str,
    days: set[str],
    zones: list[str],
    minutes: int,
    base: dt.datetime,
    shown_in: str,
) -> None:
    window = schedule(start, end, days=sorted(days), zone=LONDON)
    instant = base + dt.timedelta(minutes=minutes)
    until = instant + dt.timedelta(hours=36)
    found = next_open(instant.astimezone(ZoneInfo(shown_in)), window, zones, until=until)
    stop = until if found is None else found
    assert found is None or (found >= instant and is_open(found, window, zones))
    minute = instant
    while minute < stop:
        assert not is_open(minute, window, zones), minute
        minute += dt.timedelta(minutes=1)


# --------------------------------------------------------------------------- campaign gate

FRIDAY_10 = at("2026-03-06 10:00")


def test_gate_refuses_a_paused_campaign() -> None:
    gate = campaign_gate(campaign(status="paused"), FRIDAY_10)
    assert not gate.may_send
    assert gate.reason == "campaign is paused"
    assert gate.not_before is None


def test_gate_refuses_a_cancelled_campaign() -> None:
    gate = campaign_gate(campaign(status="cancelled"), FRIDAY_10)
    assert (gate.may_send, gate.reason) == (False, "campaign is cancelled")


def test_gate_refuses_an_ended_campaign() -> None:
    gate = campaign_gate(campaign(status="ended"), FRIDAY_10)
    assert (gate.may_send, gate.reason) == (False, "campaign is ended")


def test_gate_refuses_a_campaign_in_scheduled_status() -> None:
    gate = campaign_gate(campaign(status="scheduled"), FRIDAY_10)
    assert not gate.may_send
    assert gate.reason.startswith("campaign is scheduled, not active")


def test_gate_refuses_after_end_timestamp() -> None:
    gate = campaign_gate(campaign(end_timestamp=at("2026-03-06 09:30")), FRIDAY_10)
    assert not gate.may_send
    assert gate.reason == "ended at 2026-03-06T09:30:00+05:30"


def test_gate_waits_for_schedule_at_in_the_future() -> None:
    gate = campaign_gate(campaign(schedule_at=at("2026-03-07 08:00")), FRIDAY_10)
    assert not gate.may_send
    assert gate.reason == "scheduled for 2026-03-07T08:00:00+05:30"
    assert gate.not_before == at("2026-03-07 09:00")  # the first window after schedule_at


def test_gate_waits_for_delay_after_activation() -> None:
    delayed = campaign(delay="PT2H")
    gate = campaign_gate(delayed, FRIDAY_10, activated_at=at("2026-03-06 09:00"))
    assert not gate.may_send
    assert gate.reason.startswith("delayed by PT2H until 2026-03-06T11:00:00+05:30")
    assert gate.not_before == at("2026-03-06 11:00")


def test_gate_sends_once_the_delay_has_passed() -> None:
    delayed = campaign(delay="PT15M")
    assert campaign_gate(delayed, FRIDAY_10, activated_at=at("2026-03-06 09:00")).may_send


def test_gate_refuses_a_delay_without_activation_time() -> None:
    gate = campaign_gate(campaign(delay="PT15M"), FRIDAY_10)
    assert not gate.may_send
    assert "activation" in gate.reason


def test_gate_sends_inside_allowed_hours() -> None:
    gate = campaign_gate(campaign(), FRIDAY_10)
    assert gate == type(gate)(True, "inside allowed hours", FRIDAY_10)


def test_gate_names_the_next_window_outside_allowed_hours() -> None:
    gate = campaign_gate(campaign(), at("2026-03-06 19:00"))
    assert not gate.may_send
    assert gate.reason == "outside allowed hours; next window opens 2026-03-07T09:00:00+05:30"
    assert gate.not_before == at("2026-03-07 09:00")


def test_gate_refuses_when_no_window_opens_before_end_timestamp() -> None:
    ending = campaign(end_timestamp=at("2026-03-07 08:00"))
    gate = campaign_gate(ending, at("2026-03-06 19:00"))
    assert not gate.may_send
    assert gate.reason == "outside allowed hours; no allowed window opens before end_timestamp"
    assert gate.not_before is None


def test_gate_checks_recipient_zones_for_local_time_campaigns() -> None:
    local = campaign(recipient_local_time=True)
    assert campaign_gate(local, FRIDAY_10, zones=(KOLKATA,)).may_send
    assert not campaign_gate(local, FRIDAY_10, zones=(NEW_YORK,)).may_send  # 23:30 there
    assert campaign_gate(local, FRIDAY_10).may_send  # hours left to each recipient


# --------------------------------------------------------------------------- plan


def test_plan_fills_windows_in_time_order() -> None:
    slow = campaign(attempts_per_second=Decimal("0.5"))  # 9 h x 1800/h = 16200 per day
    plan = plan_windows(slow, {(): 20000}, at("2026-03-06 07:00"))
    assert [(w.opens_at, w.recipients, w.capacity) for w in plan.windows] == [
        (at("2026-03-06 09:00"), 16200, 16200),
        (at("2026-03-07 09:00"), 3800, 16200),
    ]
    assert (plan.unreachable, plan.warnings, plan.planned) == (0, [], 20000)


def test_plan_starts_at_now_inside_an_open_window() -> None:
    plan = plan_windows(campaign(attempts_per_second=Decimal(1)), {(): 10}, FRIDAY_10)
    assert plan.windows == [PlannedWindow(FRIDAY_10, at("2026-03-06 18:00"), (KOLKATA,), 10, 28800)]


def test_plan_warns_when_capacity_runs_out_before_end_timestamp() -> None:
    short = campaign(attempts_per_second=Decimal("0.5"), end_timestamp=at("2026-03-07 12:00"))
    plan = plan_windows(short, {(): 25000}, at("2026-03-06 07:00"))
    assert plan.unreachable == 25000 - 16200 - 5400  # 3 h of Saturday's window remain
    assert plan.warnings == [
        "3400 of 25000 recipients cannot be reached before end_timestamp "
        "(2026-03-07T12:00:00+05:30); the last window closes 2026-03-07T12:00:00+05:30"
    ]


def test_plan_warns_at_the_horizon() -> None:
    plan = plan_windows(
        campaign(attempts_per_second=Decimal("0.01")),
        {(): 1000},
        at("2026-03-06 07:00"),
        horizon=dt.timedelta(days=1),
    )
    assert plan.unreachable == 1000 - 324  # 9 h x 36/h
    assert "the planning horizon" in plan.warnings[0]


def test_plan_counts_everyone_in_the_campaign_zone_without_local_time() -> None:
    plan = plan_windows(campaign(), {(NEW_YORK,): 5, (): 7}, FRIDAY_10)
    assert [(w.zones, w.recipients) for w in plan.windows] == [((KOLKATA,), 12)]


def test_plan_groups_recipients_by_their_zones_with_local_time() -> None:
    local = campaign(recipient_local_time=True, allowed_schedule=WORKDAY)
    counts = {(KOLKATA,): 3, US_EAST_CENTRAL: 4, ("Australia/Sydney",): 5, ("Bad/Zone",): 1}
    plan = plan_windows(local, counts, utc("2026-03-06 00:00"))
    by_zone = {w.zones: (w.opens_at, w.recipients) for w in plan.windows}
    assert by_zone == {
        (KOLKATA,): (at("2026-03-06 09:00", KOLKATA), 4),  # the unknown zone joins Kolkata
        US_EAST_CENTRAL: (utc("2026-03-06 00:00"), 4),  # 19:00 New York, 18:00 Chicago
        ("Australia/Sydney",): (utc("2026-03-06 00:00"), 5),  # 11:00 in Sydney
    }


def test_plan_shares_the_rate_between_overlapping_windows() -> None:
    local = campaign(
        recipient_local_time=True,
        attempts_per_second=Decimal("0.01"),  # 36 per hour
        allowed_schedule=schedule("09:00", "10:00", zone=LONDON),
    )
    # London and Dublin share the hour, and one rate is shared between them.
    counts: dict[tuple[str, ...], int] = {(LONDON,): 30, ("Europe/Dublin",): 30}
    plan = plan_windows(local, counts, utc("2026-03-06 00:00"), horizon=dt.timedelta(hours=12))
    assert plan.planned == 36
    assert plan.unreachable == 24


def test_plan_warns_about_zones_that_never_open() -> None:
    local = campaign(recipient_local_time=True, allowed_schedule=schedule("09:00", "17:00"))
    plan = plan_windows(local, {(KOLKATA, NEW_YORK): 2}, FRIDAY_10)
    assert plan.unreachable == 2
    assert plan.warnings[0].startswith("2 recipients in Asia/Kolkata, America/New_York have no")


def test_plan_of_a_paused_campaign_reaches_nobody() -> None:
    plan = plan_windows(campaign(status="paused"), {(): 9}, FRIDAY_10)
    assert plan == Plan([], 9, ["9 recipients cannot be reached: campaign is paused"])


def test_plan_starts_after_schedule_at() -> None:
    later = campaign(schedule_at=at("2026-03-09 12:00"))
    plan = plan_windows(later, {(): 5}, FRIDAY_10)
    assert plan.windows[0].opens_at == at("2026-03-09 12:00")


def test_plan_rows_are_printable() -> None:
    plan = plan_windows(campaign(attempts_per_second=Decimal(1)), {(): 10}, FRIDAY_10)
    assert plan.as_rows(ZoneInfo(KOLKATA)) == [
        {
            "opens_at": "2026-03-06T10:00:00+05:30",
            "closes_at": "2026-03-06T18:00:00+05:30",
            "zones": KOLKATA,
            "recipients": 10,
            "capacity": 28800,
        }
    ]
