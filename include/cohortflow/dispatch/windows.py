"""Allowed-schedule arithmetic: when a campaign may contact a recipient, and how many fit.

Pure functions, no I/O. Every datetime taken must be timezone-aware (``ValueError`` otherwise);
intervals come back as half-open ``(opens_at, closes_at)`` pairs of UTC datetimes.

How a daily window is read (``allowed_start_time`` S, ``allowed_end_time`` E, local time):

* **One window per allowed day, belonging to the day it opens.** On each allowed day D the
  window opens at D S. If S < E it closes at D E; if S > E it crosses midnight and closes at
  (D+1) E. So with S=21:00, E=02:00 and only Friday allowed, Friday 23:30 and Saturday 01:30 are
  open, Saturday 02:00 and Saturday 23:30 are closed.
* **End time is exclusive.** At exactly E the window is closed.
* **S == E means a 24-hour window** from D S to (D+1) S; ``00:00``-``00:00`` is the whole day.
  (Note that the config default ``00:00``-``23:59`` leaves the last minute of the day closed.)
* **Daylight-saving time comes from the tz database** (``zoneinfo``), never fixed offsets. A
  window is one continuous stretch of real time: it opens at the *first instant the local clock
  shows S* (or later: if S does not exist that day because the clock springs forward over it, the
  window opens at the moment of the jump) and closes at the first instant the clock shows E (same
  rule). Consequences, e.g. in America/New_York with 01:30-03:30:

  - spring forward (02:00 -> 03:00): open 01:30 EST-03:30 EDT, one real hour; the skipped hour is
    simply not there, and a window lying wholly inside it (02:10-02:50) does not open that day;
  - fall back (02:00 -> 01:00): open 01:30 EDT-03:30 EST, three real hours; the repeated
    readings inside an open window are open both times the clock shows them. A window that
    *closes* inside the repeated hour closes the first time the clock shows E, and does not
    reopen when the clock shows earlier readings again.

Recipient-local windows: a number may map to several zones (``("America/New_York",
"America/Chicago")``); it is open only when the window is open in *all* of them. Unknown zone
names are ignored; an empty tuple, or one with no known zone, means the campaign's timezone.

:func:`recipient_zones` gives the zones of one recipient; :mod:`cohortflow.dispatch.capacity`
builds on these intervals to count how many recipients fit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cohortflow.config import AllowedSchedule, CampaignConfig
from cohortflow.phones import phone_timezones

Interval = tuple[dt.datetime, dt.datetime]

UTC: Final = dt.UTC
#: How far ``next_open`` looks by default for one zone: a week repeats, plus a DST margin.
SINGLE_ZONE_SEARCH: Final = dt.timedelta(days=8)
#: How far it looks for several zones: their overlap can exist only part of the year.
MULTI_ZONE_SEARCH: Final = dt.timedelta(days=371)
_ONE_DAY: Final = dt.timedelta(days=1)
_ONE_SECOND: Final = dt.timedelta(seconds=1)
_SEARCH_STEP: Final = dt.timedelta(days=8)


# --------------------------------------------------------------------------- intervals


def resolve_zones(zones: Sequence[str], schedule: AllowedSchedule) -> tuple[str, ...]:
    """The zone names that apply: known ones from ``zones`` in order, else the campaign's."""
    known: list[str] = []
    for name in zones:
        if name not in known and _zone_or_none(name) is not None:
            known.append(name)
    return tuple(known) or (schedule.timezone,)


def is_open(at: dt.datetime, schedule: AllowedSchedule, zones: Sequence[str] = ()) -> bool:
    """Whether the allowed window is open at ``at`` in every one of ``zones``."""
    require_aware(at, "at")
    instant = at.astimezone(UTC)  # arithmetic on local datetimes would ignore DST folds
    return bool(open_intervals(instant, instant + dt.timedelta(microseconds=1), schedule, zones))


def next_open(
    at: dt.datetime,
    schedule: AllowedSchedule,
    zones: Sequence[str] = (),
    *,
    until: dt.datetime | None = None,
) -> dt.datetime | None:
    """The earliest instant >= ``at`` when the window is open (``at`` itself when open).

    Returns it in ``at``'s timezone, or None when nothing opens before ``until`` (default: 8 days
    ahead for one zone, 371 days for several, since their overlap may depend on DST).
    """
    require_aware(at, "at")
    cursor = at.astimezone(UTC)
    if until is None:
        several = len(resolve_zones(zones, schedule)) > 1
        until = cursor + (MULTI_ZONE_SEARCH if several else SINGLE_ZONE_SEARCH)
    require_aware(until, "until")
    while cursor < until:
        step_end = min(cursor + _SEARCH_STEP, until)
        found = open_intervals(cursor, step_end, schedule, zones)
        if found:
            return found[0][0].astimezone(at.tzinfo)
        cursor = step_end
    return None


def open_intervals(
    start: dt.datetime,
    end: dt.datetime,
    schedule: AllowedSchedule,
    zones: Sequence[str] = (),
) -> list[Interval]:
    """The open intervals within ``[start, end)``, merged, intersected across ``zones``, in UTC."""
    require_aware(start, "start")
    require_aware(end, "end")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    result: list[Interval] | None = None
    for name in resolve_zones(zones, schedule):
        intervals = _zone_intervals(start, end, schedule, ZoneInfo(name))
        result = intervals if result is None else _intersect(result, intervals)
    return result or []


def _zone_intervals(
    start: dt.datetime, end: dt.datetime, schedule: AllowedSchedule, zone: ZoneInfo
) -> list[Interval]:
    """Open intervals in one zone, clipped to ``[start, end)``; one loop step per local day."""
    opens, closes, weekdays = schedule.start, schedule.end, schedule.weekdays
    closes_next_day = closes <= opens
    day = start.astimezone(zone).date() - _ONE_DAY  # yesterday's window may still be open
    last_day = end.astimezone(zone).date()
    found: list[Interval] = []
    while day <= last_day:
        if day.weekday() in weekdays:
            close_day = day + _ONE_DAY if closes_next_day else day
            opens_at = _first_instant_showing(dt.datetime.combine(day, opens), zone)
            closes_at = _first_instant_showing(dt.datetime.combine(close_day, closes), zone)
            clipped = (max(opens_at, start), min(closes_at, end))
            if clipped[0] < clipped[1]:
                found.append(clipped)
        day += _ONE_DAY
    return merge_intervals(found)


def _first_instant_showing(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The first UTC instant at which the clock in ``zone`` shows ``wall`` or later.

    Existing and repeated readings: their (first) occurrence. Readings skipped by a forward
    jump: the instant of the jump, found by bisection between the two candidate offsets.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _reading(first, zone) == wall:
        return first
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    before, after = min(first, other), max(first, other)  # reads < wall, reads >= wall
    while after - before > _ONE_SECOND:
        middle = before + (after - before) // 2
        if _reading(middle, zone) >= wall:
            after = middle
        else:
            before = middle
    return after


def _reading(instant: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for opens_at, closes_at in sorted(intervals):
        if merged and opens_at <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes_at))
        else:
            merged.append((opens_at, closes_at))
    return merged


def _intersect(left: Sequence[Interval], right: Sequence[Interval]) -> list[Interval]:
    result: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        opens_at = max(left[i][0], right[j][0])
        closes_at = min(left[i][1], right[j][1])
        if opens_at < closes_at:
            result.append((opens_at, closes_at))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return result


# --------------------------------------------------------------------------- campaign gate


@dataclass(frozen=True)
class Gate:
    """Whether a campaign may send now, why, and the earliest instant it could (if known)."""

    may_send: bool
    reason: str
    not_before: dt.datetime | None = None


@dataclass(frozen=True)
class StartConstraint:
    """When a campaign may start sending, whatever the hours: blocked, or from ``earliest``."""

    blocked: str | None  # a reason no time will fix (status, ended, unknown activation)
    earliest: dt.datetime  # now, or later when schedule_at / delay are still ahead
    waiting: str | None  # why earliest is after now


def start_constraint(
    campaign: CampaignConfig,
    now: dt.datetime,
    activated_at: dt.datetime | None,
    *,
    hold_schedule_at: bool = True,
) -> StartConstraint:
    """Status, ``end_timestamp``, ``schedule_at`` and ``delay`` (counted from
    ``activated_at``) at ``now``; the allowed hours are not looked at. ``hold_schedule_at``
    False: the provider is sent ``schedule_at`` and holds delivery itself (CometChat)."""
    zone = campaign.allowed_schedule.zone
    if campaign.status == "scheduled":
        return StartConstraint(
            "campaign is scheduled, not active yet (set status: active)", now, None)
    if campaign.status != "active":
        return StartConstraint(f"campaign is {campaign.status}", now, None)
    if campaign.end_timestamp is not None and now >= campaign.end_timestamp:
        return StartConstraint(f"ended at {show_time(campaign.end_timestamp, zone)}", now, None)
    if hold_schedule_at and campaign.schedule_at is not None and now < campaign.schedule_at:
        at = campaign.schedule_at
        return StartConstraint(None, at, f"scheduled for {show_time(at, zone)}")
    delay = campaign.delay_duration()
    if delay is not None:
        if activated_at is None:
            return StartConstraint(
                f"delay {campaign.delay} counts from activation, time unknown", now, None)
        require_aware(activated_at, "activated_at")
        at = activated_at.astimezone(UTC) + delay
        if now < at:
            return StartConstraint(
                None, at, f"delayed by {campaign.delay} until {show_time(at, zone)}")
    return StartConstraint(None, now, None)


def campaign_gate(
    campaign: CampaignConfig,
    now: dt.datetime,
    *,
    activated_at: dt.datetime | None = None,
    zones: Sequence[str] | None = None,
    hold_schedule_at: bool = True,
) -> Gate:
    """Whether ``campaign`` may send at ``now``: status, schedule_at/delay, end_timestamp, hours.

    ``activated_at`` is the reference a ``delay`` counts from. Hours are checked in the campaign
    timezone, or, when ``recipient_local_time`` is set, in ``zones`` (None: not checked here,
    because each recipient's own window decides). ``not_before`` is the earliest instant all
    checks pass, or None when no time alone will do (paused, ended, nothing opens before the end).
    """
    require_aware(now, "now")
    now = now.astimezone(UTC)
    start = start_constraint(campaign, now, activated_at, hold_schedule_at=hold_schedule_at)
    if start.blocked is not None:
        return Gate(False, start.blocked)
    schedule = campaign.allowed_schedule
    if campaign.recipient_local_time and zones is None:
        if start.waiting is not None:
            return Gate(False, start.waiting, start.earliest)
        return Gate(True, "active; allowed hours are checked per recipient timezone", now)
    window_zones = tuple(zones or ()) if campaign.recipient_local_time else ()
    opens_at = next_open(start.earliest, schedule, window_zones, until=campaign.end_timestamp)
    if opens_at is None:
        limit = "end_timestamp" if campaign.end_timestamp is not None else "the search horizon"
        prefix = start.waiting or "outside allowed hours"
        return Gate(False, f"{prefix}; no allowed window opens before {limit}")
    if start.waiting is not None:
        return Gate(False, start.waiting, opens_at)
    if opens_at <= now:
        return Gate(True, "inside allowed hours", now)
    return Gate(
        False,
        f"outside allowed hours; next window opens {show_time(opens_at, schedule.zone)}",
        opens_at,
    )


# --------------------------------------------------------------------------- helpers


def require_aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _zone_or_none(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return None


def show_time(instant: dt.datetime, zone: dt.tzinfo) -> str:
    return instant.astimezone(zone).isoformat(timespec="seconds")


def recipient_zones(campaign: CampaignConfig, phone: str | None) -> tuple[str, ...]:
    """Zones whose window applies to ``phone``: its own when ``recipient_local_time``, else ()
    (also for a recipient without a phone: the campaign's timezone)."""
    if not campaign.recipient_local_time or phone is None:
        return ()
    return resolve_zones(phone_timezones(phone), campaign.allowed_schedule)
