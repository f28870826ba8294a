"""The Cohorts page of the Airflow UI: a small FastAPI app the plugin mounts on the api-server.

The names below load on first use (lazy_loader), so importing the package is cheap; the
signatures are in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
