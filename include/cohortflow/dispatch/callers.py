"""Caller-ID assignment across ``connection_configs`` in proportion to ``weight``.

The order of connections follows smooth weighted round-robin (the nginx algorithm): over any
run of ``sum(weights)`` consecutive recipients each connection gets exactly its weight, and the
picks are spread out rather than bunched. A recipient's pick depends only on its position
(its ordinal in the cohort), so re-planning or re-batching never changes a caller ID. Within a
connection, its phone numbers are used in turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from cohortflow.config import ConnectionConfig


@dataclass(frozen=True)
class CallerAssignment:
    """The connection and caller ID (phone number) chosen for one recipient."""

    connection_id: str
    caller_id: str


def smooth_weighted_sequence(weights: Sequence[int]) -> list[int]:
    """One period of smooth weighted round-robin: indexes into ``weights``, ``sum`` long."""
    total = sum(weights)
    current = [0] * len(weights)
    sequence = []
    for _ in range(total):
        for index, weight in enumerate(weights):
            current[index] += weight
        chosen = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[chosen] -= total
        sequence.append(chosen)
    return sequence


@dataclass(frozen=True)
class CallerPlan:
    """Assigns caller IDs for one campaign's ``connection_configs``."""

    connections: tuple[ConnectionConfig, ...]

    @cached_property
    def _sequence(self) -> list[int]:
        return smooth_weighted_sequence([c.weight for c in self.connections])

    def assign(self, ordinal: int) -> CallerAssignment | None:
        """The assignment for the recipient at ``ordinal`` (0-based); None without connections."""
        if not self.connections:
            return None
        period = len(self._sequence)
        connection_index = self._sequence[ordinal % period]
        connection = self.connections[connection_index]
        # How many times this connection was picked before this ordinal → which of its numbers.
        turns_before = (ordinal // period) * connection.weight + self._sequence[
            : ordinal % period
        ].count(connection_index)
        number = connection.phone_numbers[turns_before % len(connection.phone_numbers)]
        return CallerAssignment(connection.connection_id, number)


def caller_plan(connections: Sequence[ConnectionConfig]) -> CallerPlan:
    """A :class:`CallerPlan` for ``connections`` (may be empty)."""
    return CallerPlan(tuple(connections))
