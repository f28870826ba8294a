"""One OpenBLAS thread for the ``cohortflow`` console command.

numpy, which pyarrow imports, loads OpenBLAS, and OpenBLAS starts a worker thread for every
core beyond the first. Each worker spins for about 0.1 s of CPU right after the import, waiting
for matrix work that cohortflow never gives it, on a core DuckDB is using: seen in ``perf`` as
``blas_thread_server`` (90 ms of a 1M-row ``cohortflow process``).
With ``OPENBLAS_NUM_THREADS=1`` OpenBLAS starts no worker.

Only the console entry calls :func:`single_threaded`, like :mod:`cohortflow.collector`, and a
value the user set is kept.
"""

from __future__ import annotations

import os

OPENBLAS_THREADS_ENV = "OPENBLAS_NUM_THREADS"


def single_threaded() -> None:
    """Ask OpenBLAS, when numpy loads it later in this process, for no worker threads (unless
    ``OPENBLAS_NUM_THREADS`` is already set)."""
    os.environ.setdefault(OPENBLAS_THREADS_ENV, "1")
