"""Dispatch: recipients sent to providers inside allowed hours, once.

Plan (who is due, batches written to the outbox first), submit (one batch through its
provider adapter, answer recorded), windows and pacing, callers, outcomes and retries,
campaign state, webhooks, and the catalog tables; the DAG task bodies are in
:mod:`cohortflow.dispatch.tasks`.

The names below load on first use (lazy_loader), so importing the package is cheap; the
signatures are in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
