"""How many recipients fit in the allowed windows ahead, and the messaging platform's slicing.

:func:`plan_windows` spreads waiting recipients over the open intervals of
:mod:`cohortflow.dispatch.windows` at ``attempts_per_second`` (``cohortflow plan``);
:func:`slice_slots` applies the messaging platform's slicing conditions to those intervals.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Final

from cohortflow.config import CampaignConfig
from cohortflow.dispatch.windows import (
    UTC,
    Interval,
    merge_intervals,
    open_intervals,
    require_aware,
    resolve_zones,
    show_time,
    start_constraint,
)

SLICING_HORIZON: Final = dt.timedelta(hours=48)
SLICING_CONDITIONS: Final = (
    "fragmentedSlots",
    "immediateConsecutiveSlots",
    "deferredConsecutiveSlots",
)


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
    require_aware(now, "now")
    now = now.astimezone(UTC)
    groups = _group_counts(campaign, counts_by_zones)
    total = sum(groups.values())
    start = start_constraint(campaign, now, activated_at)
    if start.blocked is not None:
        return Plan([], total, [f"{total} recipients cannot be reached: {start.blocked}"])
    zone = campaign.allowed_schedule.zone
    limit, limit_label = now + horizon, f"the planning horizon ({show_time(now + horizon, zone)})"
    if campaign.end_timestamp is not None and campaign.end_timestamp <= limit:
        limit = campaign.end_timestamp
        limit_label = f"end_timestamp ({show_time(limit, zone)})"
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
        last = (f"the last window closes {show_time(max(closes), zone)}" if closes
                else "no window opens")
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
    require_aware(start, "start")
    if condition not in SLICING_CONDITIONS:
        raise ValueError(
            f"unknown slicing condition {condition!r}; use one of {SLICING_CONDITIONS}"
        )
    start = start.astimezone(UTC)
    limit = start + SLICING_HORIZON
    clipped = []
    for opens_at, closes_at in slots:
        require_aware(opens_at, "slot start")
        require_aware(closes_at, "slot end")
        clipped.append(
            (max(opens_at.astimezone(UTC), start), min(closes_at.astimezone(UTC), limit))
        )
    runs = [run for run in merge_intervals(clipped) if run[0] < run[1]]
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


