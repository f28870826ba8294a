"""A sandbox provider on a free loopback port, started and stopped by each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cohortflow.sandbox import Faults, SandboxHandle, start_sandbox

SANDBOX_KEY = "sandbox-key"


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    """A fault-free sandbox (in-memory database)."""
    with start_sandbox(port=0) as handle:
        yield handle


@pytest.fixture
def sandbox_factory() -> Iterator[object]:
    """Start sandboxes with chosen faults; all are stopped after the test."""
    handles: list[SandboxHandle] = []

    def start(**faults: float) -> SandboxHandle:
        handle = start_sandbox(port=0, faults=Faults(**faults) if faults else None)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()
