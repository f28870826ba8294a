"""Ingest: a dropped or queried cohort file becomes validated recipients.

Read into a raw table of strings, blocking checks, row checks, DNC, render, dedupe, output
contracts and artefacts (:func:`process_cohort`); the landing area, nightly SQL cohorts and
the DAG task bodies (:mod:`cohortflow.ingest.tasks`).

The names below load on first use (lazy_loader), so importing the package is cheap; the
signatures are in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
