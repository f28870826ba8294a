"""End a finished ``cohortflow`` command without the interpreter's teardown.

After a large cohort, a process that has imported pyarrow, pandera and DuckDB spends about a
quarter of a second on its way out: a last garbage collection over every object, then every
module freed one by one. The operating system would free all of it at once. A command that
leaves nothing behind (files written and closed, connections closed, no thread running) calls
:func:`allow`; the console entry (:func:`cohortflow.cli.run`) calls :func:`install` first. At
exit, after Python has joined the threads and run every other ``atexit`` handler (logging's
included), the handler flushes stdout and stderr and ends the process with its exit code.
This is the ``atexit.register(os._exit, 0)`` that Instagram described for the same cost, kept
to commands that ask for it.

Only the console entry installs it: tests and the DAGs calling the same functions in their own
process are never cut short.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from dataclasses import dataclass


@dataclass
class _State:
    allowed: bool = False
    code: int | None = None  # the exit code of a command that ended with SystemExit


_STATE = _State()


def install() -> None:
    """Register the handler. Call it before anything else registers one: ``atexit`` runs the
    handlers last-in first-out, so this one runs after every library's."""
    _STATE.allowed = False
    _STATE.code = None
    atexit.register(_exit_now)


def allow() -> None:
    """Let this process end without teardown once the current command has finished."""
    _STATE.allowed = True


def record(code: object) -> None:
    """Remember the command's exit code (``SystemExit.code``); a text code (a message Python
    prints) keeps the normal exit."""
    if code is None or isinstance(code, int):
        _STATE.code = int(code or 0)


def _exit_now() -> None:
    # Python has joined every non-daemon thread before it runs the atexit handlers.
    if not _STATE.allowed or _STATE.code is None:
        return  # the normal exit: the command did not allow it, an uncaught error, a text code
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to write
            stream.flush()
    os._exit(_STATE.code)
