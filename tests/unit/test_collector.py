"""The console command collects garbage less often, and nothing else changes the thresholds."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from cohortflow import collector
from tests.unit.helpers import python_process


@pytest.fixture
def thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_relax_raises_only_the_young_threshold(thresholds):
    gc.set_threshold(700, 10, 10)

    collector.relax()

    assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, 10, 10)


@pytest.mark.parametrize("young", [0, collector.YOUNG_THRESHOLD * 2])
def test_relax_keeps_a_disabled_collector_and_a_higher_threshold(thresholds, young):
    gc.set_threshold(young, 10, 10)

    collector.relax()

    assert gc.get_threshold() == (young, 10, 10)


def test_the_console_entry_relaxes_the_collector_before_the_command_runs():
    code = (
        "import gc, sys\n"
        "import cohortflow.cli as cli\n"
        "cli.main = lambda **kwargs: print(gc.get_threshold()[0]) or sys.exit(0)\n"
        "cli.run()\n"
    )
    result = python_process(code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(collector.YOUNG_THRESHOLD)


def test_importing_cohortflow_leaves_the_thresholds_alone():
    code = "import gc, cohortflow.cli, cohortflow.ingest; print(gc.get_threshold()[0])"
    result = python_process(code)

    assert result.stdout.strip() == "700", result.stderr
