"""A local stand-in for every provider: a real HTTP server for the demo and the tests.

It serves the five provider endpoints as their pages describe them, records what it accepted
in DuckDB, reports call outcomes, and injects faults on request (:class:`Faults`).

The names below load on first use (lazy_loader), so importing the package is cheap; the
signatures are in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
