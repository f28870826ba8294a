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
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cohortflow.config import AllowedSchedule, CampaignConfig

Interval = tuple[dt.datetime, dt.datetime]

UTC: Final = dt.UTC
#: How far ``next_open`` looks by default for one zone: a week repeats, plus a DST margin.
SINGLE_ZONE_SEARCH: Final = dt.timedelta(days=8)
#: How far it looks for several zones: their overlap can exist only part of the year.
MULTI_ZONE_SEARCH: Final = dt.timedelta(days=371)
#: The messaging platform assigns slots only within this span after the start.
SLICING_HORIZON: Final = dt.timedelta(hours=48)
SLICING_CONDITIONS: Final = (
    "fragmentedSlots",
    "immediateConsecutiveSlots",
    "deferredConsecutiveSlots",
)
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
    _require_aware(at, "at")
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
    _require_aware(at, "at")
    cursor = at.astimezone(UTC)
    if until is None:
        several = len(resolve_zones(zones, schedule)) > 1
        until = cursor + (MULTI_ZONE_SEARCH if several else SINGLE_ZONE_SEARCH)
    _require_aware(until, "until")
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
    _require_aware(start, "start")
    _require_aware(end, "end")
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
    return _merge(found)


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


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
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
class _Start:
    blocked: str | None  # a reason no time will fix (status, ended, unknown activation)
    earliest: dt.datetime  # now, or later when schedule_at / delay are still ahead
    waiting: str | None  # why earliest is after now


def _start_constraint(
    campaign: CampaignConfig, now: dt.datetime, activated_at: dt.datetime | None
) -> _Start:
    zone = campaign.allowed_schedule.zone
    if campaign.status == "scheduled":
        return _Start("campaign is scheduled, not active yet (set status: active)", now, None)
    if campaign.status != "active":
        return _Start(f"campaign is {campaign.status}", now, None)
    if campaign.end_timestamp is not None and now >= campaign.end_timestamp:
        return _Start(f"ended at {_show(campaign.end_timestamp, zone)}", now, None)
    if campaign.schedule_at is not None and now < campaign.schedule_at:
        at = campaign.schedule_at
        return _Start(None, at, f"scheduled for {_show(at, zone)}")
    delay = campaign.delay_duration()
    if delay is not None:
        if activated_at is None:
            return _Start(f"delay {campaign.delay} counts from activation, time unknown", now, None)
        _require_aware(activated_at, "activated_at")
        at = activated_at.astimezone(UTC) + delay
        if now < at:
            return _Start(None, at, f"delayed by {campaign.delay} until {_show(at, zone)}")
    return _Start(None, now, None)


def campaign_gate(
    campaign: CampaignConfig,
    now: dt.datetime,
    *,
    activated_at: dt.datetime | None = None,
    zones: Sequence[str] | None = None,
) -> Gate:
    """Whether ``campaign`` may send at ``now``: status, schedule_at/delay, end_timestamp, hours.

    ``activated_at`` is the reference a ``delay`` counts from. Hours are checked in the campaign
    timezone, or, when ``recipient_local_time`` is set, in ``zones`` (None: not checked here,
    because each recipient's own window decides). ``not_before`` is the earliest instant all
    checks pass, or None when no time alone will do (paused, ended, nothing opens before the end).
    """
    _require_aware(now, "now")
    now = now.astimezone(UTC)
    start = _start_constraint(campaign, now, activated_at)
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
        f"outside allowed hours; next window opens {_show(opens_at, schedule.zone)}",
        opens_at,
    )


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class PlannedWindow:
    """Recipients of one zone group sent in one open interval.

    ``capacity`` is the interval's length x ``attempts_per_second`` (floor); groups whose windows
    overlap share the campaign's rate, so together they never exceed it.
    """

    opens_at: dt.datetime
    closes_at: dt.datetime
    zones: tuple[str, ...]
    recipients: int
    capacity: int


@dataclass
class Plan:
    """Upcoming windows with their recipients, those that cannot be reached, and why."""

    windows: list[PlannedWindow] = field(default_factory=list)
    unreachable: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def planned(self) -> int:
        """Recipients placed in some window."""
        return sum(window.recipients for window in self.windows)

    def as_rows(self, tz: dt.tzinfo | None = None) -> list[dict[str, object]]:
        """One dict per window for printing; times shown in ``tz`` (default UTC)."""
        shown = tz or UTC
        return [
            {
                "opens_at": window.opens_at.astimezone(shown).isoformat(timespec="seconds"),
                "closes_at": window.closes_at.astimezone(shown).isoformat(timespec="seconds"),
                "zones": ", ".join(window.zones),
                "recipients": window.recipients,
                "capacity": window.capacity,
            }
            for window in self.windows
        ]


def plan_windows(
    campaign: CampaignConfig,
    counts_by_zones: Mapping[tuple[str, ...], int],
    now: dt.datetime,
    *,
    activated_at: dt.datetime | None = None,
    horizon: dt.timedelta = dt.timedelta(days=14),
) -> Plan:
    """How many recipients go in each upcoming window at the campaign's ``attempts_per_second``.

    Recipients are grouped by their zone tuple (resolved with :func:`resolve_zones`; all count as
    the campaign timezone unless ``recipient_local_time``). Time is walked in order from the
    earliest allowed start up to ``end_timestamp`` or ``now + horizon``; each stretch's capacity
    goes first to the open group whose window closes soonest. Whoever is left is ``unreachable``
    and named in a warning with the time the last window closes.
    """
    _require_aware(now, "now")
    now = now.astimezone(UTC)
    groups = _group_counts(campaign, counts_by_zones)
    total = sum(groups.values())
    start = _start_constraint(campaign, now, activated_at)
    if start.blocked is not None:
        return Plan([], total, [f"{total} recipients cannot be reached: {start.blocked}"])
    zone = campaign.allowed_schedule.zone
    limit, limit_label = now + horizon, f"the planning horizon ({_show(now + horizon, zone)})"
    if campaign.end_timestamp is not None and campaign.end_timestamp <= limit:
        limit = campaign.end_timestamp
        limit_label = f"end_timestamp ({_show(limit, zone)})"
    intervals = {
        key: open_intervals(start.earliest, limit, campaign.allowed_schedule, key) for key in groups
    }
    assigned = _assign(groups, intervals, start.earliest, campaign.attempts_per_second)
    windows = []
    for (key, index), count in assigned.items():
        opens_at, closes_at = intervals[key][index]
        capacity = _capacity(closes_at - opens_at, campaign.attempts_per_second)
        windows.append(PlannedWindow(opens_at, closes_at, key, count, capacity))
    windows.sort(key=lambda window: (window.opens_at, window.zones))
    plan = Plan(windows, total - sum(assigned.values()))
    for key, found in intervals.items():
        if not found and groups[key]:
            plan.warnings.append(
                f"{groups[key]} recipients in {', '.join(key)} have no open window "
                f"before {limit_label}"
            )
    if plan.unreachable:
        closes = [iv[1] for found in intervals.values() for iv in found]
        last = f"the last window closes {_show(max(closes), zone)}" if closes else "no window opens"
        plan.warnings.append(
            f"{plan.unreachable} of {total} recipients cannot be reached before {limit_label}; "
            f"{last}"
        )
    return plan


def _group_counts(
    campaign: CampaignConfig, counts_by_zones: Mapping[tuple[str, ...], int]
) -> dict[tuple[str, ...], int]:
    schedule = campaign.allowed_schedule
    groups: dict[tuple[str, ...], int] = {}
    for zones, count in counts_by_zones.items():
        if count < 0:
            raise ValueError(f"negative recipient count {count} for zones {zones!r}")
        key = resolve_zones(zones if campaign.recipient_local_time else (), schedule)
        groups[key] = groups.get(key, 0) + count
    return groups


def _assign(
    groups: Mapping[tuple[str, ...], int],
    intervals: Mapping[tuple[str, ...], list[Interval]],
    origin: dt.datetime,
    rate: Decimal,
) -> dict[tuple[tuple[str, ...], int], int]:
    """Greedy sweep over the stretches between window boundaries, soonest-closing first.

    Capacity is counted on one cumulative clock from ``origin`` (floor of elapsed x rate), so
    cutting time into many stretches loses no attempts to rounding.
    """
    remaining = dict(groups)
    position = dict.fromkeys(groups, 0)
    assigned: dict[tuple[tuple[str, ...], int], int] = {}
    boundaries = sorted({t for found in intervals.values() for iv in found for t in iv})
    for begin, finish in itertools.pairwise(boundaries):
        if not any(remaining.values()):
            break
        open_now: list[tuple[dt.datetime, tuple[str, ...], int]] = []
        for key, found in intervals.items():
            while position[key] < len(found) and found[position[key]][1] <= begin:
                position[key] += 1
            index = position[key]
            if remaining[key] and index < len(found) and found[index][0] <= begin:
                open_now.append((found[index][1], key, index))
        budget = _capacity(finish - origin, rate) - _capacity(begin - origin, rate)
        for _closes, key, index in sorted(open_now):
            take = min(budget, remaining[key])
            if take:
                assigned[(key, index)] = assigned.get((key, index), 0) + take
                remaining[key] -= take
                budget -= take
    return assigned


def _capacity(length: dt.timedelta, rate: Decimal) -> int:
    micros = Decimal(length // dt.timedelta(microseconds=1))
    return int((micros * rate / Decimal(1_000_000)).to_integral_value(rounding=ROUND_FLOOR))


# --------------------------------------------------------------------------- messaging slicing


@dataclass(frozen=True)
class SliceResult:
    """The slots a messaging send would use, or why it would be cancelled."""

    condition: str
    slots: list[Interval]
    cancelled: bool
    reason: str
    shortfall_seconds: float = 0.0


def slice_slots(
    slots: Sequence[Interval],
    needed_seconds: float,
    start: dt.datetime,
    condition: str,
) -> SliceResult:
    """Apply the messaging platform's ``slicingCondition`` to open time ``slots``.

    Our reading of the platform's page: ``slots`` are the allowed-window intervals (e.g. from
    :func:`open_intervals`); only time in ``[start, start + 48 h)`` counts, ``start`` being the
    scheduled time, or now for an immediate send. Touching slots form one consecutive run.

    * ``fragmentedSlots``: take open time in order, gaps allowed, until ``needed_seconds`` are
      covered. Never cancelled; if 48 h do not hold enough, ``shortfall_seconds`` says how much
      is missing (the page does not say what the platform does with it).
    * ``immediateConsecutiveSlots``: one run that is open *at* ``start`` and long enough.
    * ``deferredConsecutiveSlots``: the first run starting at or after ``start`` that is long
      enough.

    When a consecutive condition cannot be met the result is ``cancelled`` (the page: "the task
    will be marked as canceled and will not be executed").
    """
    _require_aware(start, "start")
    if condition not in SLICING_CONDITIONS:
        raise ValueError(
            f"unknown slicing condition {condition!r}; use one of {SLICING_CONDITIONS}"
        )
    start = start.astimezone(UTC)
    limit = start + SLICING_HORIZON
    clipped = []
    for opens_at, closes_at in slots:
        _require_aware(opens_at, "slot start")
        _require_aware(closes_at, "slot end")
        clipped.append(
            (max(opens_at.astimezone(UTC), start), min(closes_at.astimezone(UTC), limit))
        )
    runs = [run for run in _merge(clipped) if run[0] < run[1]]
    needed = dt.timedelta(seconds=max(needed_seconds, 0.0))
    if not needed:
        return SliceResult(condition, [], False, "nothing to send")
    if condition == "fragmentedSlots":
        return _fragmented(runs, needed)
    if condition == "immediateConsecutiveSlots":
        candidates = [run for run in runs[:1] if run[0] == start]
        if not candidates:
            return SliceResult(condition, [], True, "cancelled: no open slot at the start time")
    else:
        candidates = runs
    for opens_at, closes_at in candidates:
        if closes_at - opens_at >= needed:
            return SliceResult(condition, [(opens_at, opens_at + needed)], False, "consecutive")
    longest = max((b - a for a, b in candidates), default=dt.timedelta(0))
    return SliceResult(
        condition,
        [],
        True,
        f"cancelled: no consecutive open run of {needed.total_seconds():g} s within 48 h "
        f"(longest {longest.total_seconds():g} s)",
        (needed - longest).total_seconds(),
    )


def _fragmented(runs: Sequence[Interval], needed: dt.timedelta) -> SliceResult:
    used: list[Interval] = []
    left = needed
    for opens_at, closes_at in runs:
        if not left:
            break
        take = min(closes_at - opens_at, left)
        used.append((opens_at, opens_at + take))
        left -= take
    if left:
        reason = f"only {(needed - left).total_seconds():g} s of open time within 48 h"
        return SliceResult("fragmentedSlots", used, False, reason, left.total_seconds())
    return SliceResult("fragmentedSlots", used, False, f"{len(used)} slot(s)")


# --------------------------------------------------------------------------- helpers


def _require_aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def _zone_or_none(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return None


def _show(instant: dt.datetime, zone: dt.tzinfo) -> str:
    return instant.astimezone(zone).isoformat(timespec="seconds")
