"""A cohort file's SHA-256: its identity (``cohort_id``) and what the landing scan compares.

``cohortflow process`` starts a :class:`FileDigest` before anything else it imports: the file
is hashed in a thread (hashlib releases the GIL while it hashes) on the core that would
otherwise idle while DuckDB and the pipeline are imported on the other. A 1M-row file (54 MB)
takes about 0.05 s of CPU; hashed later, on the main thread, it delayed the pipeline's start by
0.05 to 0.1 s, while DuckDB's read and the contracts' imports were running.

The same pass counts the file's double quotes, which the CSV reader needs to know that every
quoted field is closed (:func:`cohortflow.readers.check_balanced_quotes`): counted here, the
reader does not read the file once more, before DuckDB may start (0.04 to 0.06 s at 1M rows).
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
    return _scan(path, count_quotes=False)[0]


def _scan(path: Path, *, count_quotes: bool) -> tuple[str, int]:
    """The file's hex SHA-256, and how many ``"`` bytes it holds (0 unless ``count_quotes``)."""
    digest = hashlib.sha256()
    quotes = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
            if count_quotes:
                quotes += chunk.count(b'"')
    return digest.hexdigest(), quotes


class FileDigest:
    """:func:`file_sha256` of a file and the count of its double quotes, computed in a thread
    from :meth:`start` on (the thread hands its result over in a ``Future``, as
    :func:`cohortflow.streaming.start_validation` does)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._result: Future[tuple[str, int]] = Future()
        threading.Thread(target=self._hash, name="cohortflow-digest", daemon=True).start()

    @classmethod
    def start(cls, path: Path) -> FileDigest:
        """Start hashing ``path``."""
        return cls(path)

    def _hash(self) -> None:
        try:
            self._result.set_result(_scan(self.path, count_quotes=True))
        except OSError as exc:  # raised again by hexdigest(), in the caller's thread
            self._result.set_exception(exc)

    def hexdigest(self) -> str:
        """The file's hex SHA-256, once hashed; raises the ``OSError`` reading it raised."""
        return self._result.result()[0]

    def quote_count(self) -> int:
        """How many ``"`` bytes the file holds, once read; raises as :meth:`hexdigest` does."""
        return self._result.result()[1]
