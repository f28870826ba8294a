"""How many recipients fit in the allowed windows ahead.

:func:`plan_windows` spreads waiting recipients over the open intervals of
:mod:`cohortflow.dispatch.windows` at ``attempts_per_second`` (``cohortflow plan``). The
messaging platform's slicing is its own: it is sent ``slicingCondition`` and assigns its slots.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from cohortflow.config import CampaignConfig
from cohortflow.dispatch.windows import (
    UTC,
    Interval,
    open_intervals,
    require_aware,
    resolve_zones,
    show_time,
    start_constraint,
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
    hold_schedule_at: bool = True,
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
    start = start_constraint(campaign, now, activated_at, hold_schedule_at=hold_schedule_at)
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
