"""Run ``cohortflow`` and SIGKILL it right after a step, as a crash would: a test's fault
injection, kept out of the library.

    python -m tests.support.crash STEP -- dispatch --campaign ... --warehouse ...

``STEP`` is ``outbox`` (the planned batches were written to the outbox) or ``send`` (a batch
reached the provider and its answer was read, but nothing was recorded yet).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from cohortflow.cli import main
from cohortflow.dispatch.outbox import Outbox
from cohortflow.providers.adapter import ProviderAdapter

STEPS: dict[str, tuple[type, str]] = {
    "outbox": (Outbox, "write_batches"),
    "send": (ProviderAdapter, "submit"),
}


def kill_after(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, followed by a SIGKILL of this process."""

    @functools.wraps(function)
    def then_die(*args: Any, **kwargs: Any) -> Any:
        function(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    return then_die


def run(step: str, arguments: list[str]) -> None:
    """Run the CLI with ``arguments``, killed after ``step``."""
    owner, name = STEPS[step]
    setattr(owner, name, kill_after(getattr(owner, name)))
    main(arguments, prog_name="cohortflow")


if __name__ == "__main__":
    step, separator, *rest = sys.argv[1:]
    assert separator == "--", "usage: python -m tests.support.crash STEP -- ARGS"
    run(step, rest)
