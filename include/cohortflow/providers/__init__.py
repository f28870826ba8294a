"""Provider adapters: one per provider page in ``shared/providers/``, plus generic JSON.

:func:`adapter_for` builds the adapter for a campaign; every adapter turns a :class:`Batch`
into exactly the request(s) its page documents and reports a :class:`SubmitResult`.

The names below load on first use (lazy_loader), so importing the package is cheap; the
signatures are in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
