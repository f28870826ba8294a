"""A cohort's identity: the file's SHA-256, and the cohort id derived from it.

The same content dropped twice into one campaign is the same cohort, whatever its name.
"""

from __future__ import annotations

import hashlib
from typing import Any

#: Bytes read per call while hashing.
HASH_CHUNK_BYTES = 16 * 1024 * 1024


def file_sha256(path: Any) -> str:
    """Hex SHA-256 of a file's content; ``path`` is a ``Path`` or an ``ObjectStoragePath``."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cohort_id_for(campaign_id: str, sha256: str) -> str:
    """Deterministic cohort id: the same content in the same campaign is the same cohort."""
    return hashlib.sha256(f"{campaign_id}:{sha256}".encode()).hexdigest()[:16]
