"""Caller IDs across connection_configs in proportion to weight."""

from __future__ import annotations

from collections import Counter

from cohortflow.config import ConnectionConfig
from cohortflow.dispatch.callers import caller_plan, smooth_weighted_sequence


def _connections() -> list[ConnectionConfig]:
    return [
        ConnectionConfig(connection_id="a", phone_numbers=["+911", "+912"], weight=5),
        ConnectionConfig(connection_id="b", phone_numbers=["+913"], weight=3),
        ConnectionConfig(connection_id="c", phone_numbers=["+914", "+915", "+916"], weight=2),
    ]


def test_shares_match_weights_within_five_percent_over_10000_recipients() -> None:
    plan = caller_plan(_connections())
    counts = Counter(plan.assign(i).connection_id for i in range(10_000))  # type: ignore[union-attr]
    for connection_id, weight in (("a", 5), ("b", 3), ("c", 2)):
        assert abs(counts[connection_id] / 10_000 - weight / 10) <= 0.05 * weight / 10


def test_assignment_depends_only_on_position() -> None:
    first, second = caller_plan(_connections()), caller_plan(_connections())
    assert [first.assign(i) for i in range(50)] == [second.assign(i) for i in range(50)]
    assert first.assign(7777) == second.assign(7777)


def test_smooth_sequence_spreads_picks() -> None:
    assert smooth_weighted_sequence([5, 1, 1]) == [0, 0, 1, 0, 2, 0, 0]


def test_numbers_within_a_connection_are_used_in_turn() -> None:
    plan = caller_plan(_connections())
    callers = Counter(
        a.caller_id for i in range(1000) if (a := plan.assign(i)) and a.connection_id == "c"
    )
    assert set(callers) == {"+914", "+915", "+916"}
    assert max(callers.values()) - min(callers.values()) <= 1


def test_no_connections_means_no_caller_id() -> None:
    assert caller_plan([]).assign(0) is None
