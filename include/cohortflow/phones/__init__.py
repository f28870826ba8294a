"""Phone numbers: validation to E.164 (the phonenumbers library, and a SQL fast path that
agrees with it), regions, time zones, and masking for logs.

The names below load on first use (lazy_loader), so importing the package is cheap; the
signatures are in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
