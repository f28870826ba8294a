"""Run a ``cohortflow`` command that processes cohorts without importing pandas.

Nothing in the pipeline uses pandas: the output contracts check Arrow batches with pandera's
pyarrow backend (cohortflow.contracts). pandera still imports pandas whenever it is installed,
for its pandas API, and at every start of ``cohortflow process`` that import took 0.35 to 0.6 s
of CPU (numpy already loaded by pyarrow) in the thread that loads the contracts, competing with
DuckDB for the two cores. pandera supports installs without pandas: told that pandas is
absent, it loads only what the pyarrow backend needs.

Only the console command does this, for its own short-lived process: :func:`enter` makes
every later ``import pandas`` in the process raise ``ModuleNotFoundError``, which would surprise
a library caller (an Airflow task, a notebook, a test calling the click group) that imports
pandas after cohortflow. So it acts only once the console entry (:func:`cohortflow.cli.run`)
has called :func:`allow`; elsewhere pandera imports pandas as usual and the contracts check the
same batches.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

#: The top-level packages a cohort command never imports.
ABSENT = ("pandas",)
_ALLOWED: list[bool] = []  # [True] once the console entry allowed it


class _AbsentPackages:
    """A finder for ``sys.meta_path`` (importlib.abc.MetaPathFinder's protocol; that module
    alone costs a command 40 ms to import) that answers ``import`` of the given top-level
    packages, and of their modules, as Python does for a package that is not installed."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None  # the next finder looks for every other module


def allow() -> None:
    """Let :func:`enter` act in this process: only the console entry calls this."""
    _ALLOWED[:] = [True]


def enter() -> bool:
    """Make pandas absent for the rest of this process, if the console entry allowed it and
    pandas is not imported already (otherwise nothing changes). Returns whether it is absent
    now. Idempotent."""
    if any(isinstance(finder, _AbsentPackages) for finder in sys.meta_path):
        return True
    if not _ALLOWED or any(name in sys.modules for name in ABSENT):
        return False
    sys.meta_path.insert(0, _AbsentPackages(ABSENT))
    return True
