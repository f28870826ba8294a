"""Rarer garbage collections for the ``cohortflow`` console command.

A command imports pydantic's models, Jinja, phonenumbers' metadata and, for a cohort, pyarrow
and pandera: a few hundred thousand objects that live until the command ends. With CPython's
default thresholds (700, 10, 10) the collector runs a young collection every 700 new container
objects and keeps traversing the survivors as they move up the generations: importing the
pipeline and warming up its contracts took 0.66 s of CPU with the defaults, 0.59 s with a first
threshold of 20,000 (medians of 3), about 0.07 s of every ``cohortflow process``.

:func:`relax` raises only the first threshold: collections are rarer but still run, so cyclic
garbage is still freed and memory stays bounded (``gc.disable()`` would save 0.02 s more, and
lose that). Only the console entry calls it, like :mod:`cohortflow.fast_exit`: tests and the
DAG tasks keep the interpreter's defaults.
"""

from __future__ import annotations

import gc

#: New container objects between two young collections (CPython's default: 700).
YOUNG_THRESHOLD = 20_000


def relax() -> None:
    """Collect the youngest generation every :data:`YOUNG_THRESHOLD` allocations (never more
    often than the interpreter's current setting); the older thresholds stay as they are."""
    young, older, oldest = gc.get_threshold()
    if young and young < YOUNG_THRESHOLD:  # 0: collection is disabled, leave it so
        gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
