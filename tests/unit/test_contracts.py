"""The contracts module loads pandera without hypothesis (a development dependency pandera would
import for its data-synthesis strategies), and leaves hypothesis usable."""

from __future__ import annotations

from tests.unit.helpers import python_process


def test_the_contracts_load_pandera_without_hypothesis_and_leave_it_importable() -> None:
    code = (
        "import sys\n"
        "import cohortflow.contracts as contracts\n"
        "contracts.warm_up()\n"
        "print('hypothesis' in sys.modules)\n"
        "import hypothesis\n"
        "print(hypothesis.__name__)\n"
    )
    result = python_process(code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "hypothesis"]


def test_the_contracts_leave_an_imported_hypothesis_alone() -> None:
    code = (
        "import hypothesis\n"
        "import cohortflow.contracts\n"
        "from pandera.strategies import base_strategies\n"
        "print(base_strategies.HAS_HYPOTHESIS)\n"
    )
    result = python_process(code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
