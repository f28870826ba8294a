"""Provider adapters: one per provider contract in ``shared/providers/``, plus generic JSON.

``adapter_for(campaign)`` (from :mod:`cohortflow.providers.registry`) builds the adapter for a
campaign; it is imported lazily so that ``cohortflow.providers.base`` stays cheap to import.
"""

from __future__ import annotations

from typing import Any

__all__ = ["adapter_for"]


def __getattr__(name: str) -> Any:
    if name == "adapter_for":
        from cohortflow.providers.registry import adapter_for

        return adapter_for
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
