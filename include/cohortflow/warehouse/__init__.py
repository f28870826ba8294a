"""The warehouse: where cohorts, ledgers and the analysts' DuckDB catalog live.

Paths and artefact names (the contract between ingest, dispatch and the catalog), the
cohort summary, append-only ledgers, the single-writer catalog, publishing cohorts into it,
and the object-store mirror.

The names below load on first use (lazy_loader), so importing the package is cheap; the
signatures are in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
