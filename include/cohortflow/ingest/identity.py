"""A cohort's identity: the file's SHA-256, and the cohort id derived from it.

The same content dropped twice into one campaign is the same cohort, whatever its name.
"""

from __future__ import annotations

import hashlib
from typing import Any


def file_sha256(path: Any) -> str:
    """Hex SHA-256 of a file's content; ``path`` is a ``Path`` or an ``ObjectStoragePath``
    (both open as binary files that can ``readinto``). The file is read into one reused
    buffer (``hashlib.file_digest``), not into a new block of memory per read."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def cohort_id_for(campaign_id: str, sha256: str) -> str:
    """Deterministic cohort id: the same content in the same campaign is the same cohort."""
    return hashlib.sha256(f"{campaign_id}:{sha256}".encode()).hexdigest()[:16]
