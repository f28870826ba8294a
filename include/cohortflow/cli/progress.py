"""Progress display for long commands: on stderr, only when it is a terminal.

Scripts that read stdout (``--json``) or redirect output see nothing of it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any


def _interactive() -> bool:
    return sys.stderr.isatty()


@contextmanager
def spinner(message: str) -> Iterator[None]:
    """A spinner with ``message`` while the block runs (nothing when not interactive)."""
    if not _interactive():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


@contextmanager
def bar(description: str, total: int | None = None) -> Iterator[Callable[[int, int], None]]:
    """A progress bar; yields ``advance(done, total)`` to report progress."""
    if not _interactive():
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        console=_console(),
    )
    with progress:
        task = progress.add_task(description, total=total)

        def advance(done: int, new_total: int) -> None:
            progress.update(task, completed=done, total=new_total)

        yield advance


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def maybe(condition: bool, manager: Any) -> Any:
    """``manager`` when ``condition`` holds, else a do-nothing context manager."""
    return manager if condition else nullcontext()
