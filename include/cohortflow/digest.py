"""A cohort file's SHA-256: its identity (``cohort_id``) and what the landing scan compares.

``cohortflow process`` starts a :class:`FileDigest` before anything else it imports: the file
is hashed in a thread (hashlib releases the GIL while it hashes) on the core that would
otherwise idle while DuckDB and the pipeline are imported on the other. A 1M-row file (54 MB)
takes about 0.05 s of CPU; hashed later, on the main thread, it delayed the pipeline's start by
0.05 to 0.1 s, while DuckDB's read and the contracts' imports were running.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future
from pathlib import Path

#: Bytes hashed per call. hashlib releases the GIL while it hashes, and each time it takes the
#: GIL back it may wait for another thread (up to the 5 ms switch interval): few, large chunks
#: keep those waits rare (54 MB: 0.12 -> 0.09 s while pandas was being imported).
HASH_CHUNK_BYTES = 16 * 1024 * 1024


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's content, read in chunks of :data:`HASH_CHUNK_BYTES`."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


class FileDigest:
    """:func:`file_sha256` of a file, computed in a thread from :meth:`start` on (the thread
    hands its result over in a ``Future``, as :func:`cohortflow.streaming.start_validation`
    does)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._result: Future[str] = Future()
        threading.Thread(target=self._hash, name="cohortflow-digest", daemon=True).start()

    @classmethod
    def start(cls, path: Path) -> FileDigest:
        """Start hashing ``path``."""
        return cls(path)

    def _hash(self) -> None:
        try:
            self._result.set_result(file_sha256(self.path))
        except OSError as exc:  # raised again by hexdigest(), in the caller's thread
            self._result.set_exception(exc)

    def hexdigest(self) -> str:
        """The file's hex SHA-256, once hashed; raises the ``OSError`` reading it raised."""
        return self._result.result()
