"""Read a CSV cohort into its workspace in a thread while the command imports the pipeline.

``cohortflow process`` spends about half a second importing the rest of the pipeline (pydantic
models, pyarrow, phonenumbers, Jinja, ...) on one core, with the other idle, before it reads a
byte of the file. DuckDB releases the GIL while it reads, so the command starts a
:class:`Prefetch` first, imports the rest meanwhile, and passes the prefetch to
:func:`cohortflow.ingest.process_cohort`, which takes the workspace and the loaded rows as if it
had read them itself: the same errors, raised at the same step. Only CSV files: workbooks are
decoded in Python, under the GIL, so reading them early would gain nothing.

Whoever starts a prefetch calls :meth:`Prefetch.discard` when done (a no-op once the workspace
was taken), so that a command failing before processing (a bad campaign file, say) stops the
read and removes the scratch folder.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from cohortflow.readers import CSV_SUFFIXES, RawCohort, read_cohort
from cohortflow.workspace import Workspace


class Prefetch:
    """A CSV file being read into a new :class:`~cohortflow.workspace.Workspace` in a thread."""

    def __init__(self, source: Path, *, quote_count: Callable[[], int] | None = None) -> None:
        self.source = source
        self._quote_count = quote_count
        self.seconds = 0.0  # how long opening the workspace and reading took, once done
        self._workspace: Workspace | None = None
        self._raw: RawCohort | None = None
        self._error: BaseException | None = None
        self._taken = False
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._load, name="cohortflow-prefetch",
                                        daemon=True)
        self._thread.start()

    @classmethod
    def start(
        cls, source: Path, *, quote_count: Callable[[], int] | None = None
    ) -> Prefetch | None:
        """Start reading ``source`` if it is a CSV file (None for any other format).
        ``quote_count``: see :func:`cohortflow.readers.read_cohort`."""
        if source.suffix.lower() not in CSV_SUFFIXES:
            return None
        return cls(source, quote_count=quote_count)

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            self._workspace = Workspace.open(self.source)
            if not self._cancelled.is_set():
                self._raw = read_cohort(self._workspace.conn, self.source,
                                        quote_count=self._quote_count)
        except BaseException as exc:  # raised again by take() or raw(), in the caller's thread
            self._error = exc
        finally:
            self.seconds = time.perf_counter() - started

    def take(self, source: Path) -> Workspace:
        """Wait for the read and take over its workspace (the caller closes it). Raises what
        opening the workspace raised (an unusable setting); a read error waits for :meth:`raw`.
        """
        if source != self.source:
            raise ValueError(f"this prefetch read {self.source}, not {source}")
        self._thread.join()
        if self._workspace is None:
            assert self._error is not None
            raise self._error
        self._taken = True
        return self._workspace

    def raw(self) -> RawCohort:
        """The loaded rows (``raw_rows`` in the workspace), or the read's error raised again."""
        self._thread.join()
        if self._raw is None:
            assert self._error is not None
            raise self._error
        return self._raw

    def discard(self) -> None:
        """Unless the workspace was taken: stop the read and remove the workspace."""
        if self._taken:
            return
        self._cancelled.set()
        while self._thread.is_alive():
            # again until the thread ends: an interrupt that lands before DuckDB has started
            # the query (while the header is sniffed in Python) does not stop it
            if self._workspace is not None:
                self._workspace.conn.interrupt()
            self._thread.join(timeout=0.05)
        if self._workspace is not None:
            self._workspace.close()
            self._workspace = None
        self._taken = True
