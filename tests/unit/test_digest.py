"""A file's SHA-256, hashed in a thread while the command imports the pipeline."""

from __future__ import annotations

import hashlib

import pytest

from cohortflow.digest import FileDigest, file_sha256
from cohortflow.ingest import CohortRequest, process_cohort
from tests.unit.helpers import write_text


def test_the_thread_gives_the_files_sha256(tmp_path):
    data = bytes(range(256)) * 1_000
    source = tmp_path / "june.csv"
    source.write_bytes(data)

    digest = FileDigest.start(source)

    assert digest.hexdigest() == hashlib.sha256(data).hexdigest() == file_sha256(source)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()  # again, once joined


def test_the_same_pass_counts_the_files_double_quotes(tmp_path, monkeypatch):
    from cohortflow import digest as digest_module

    monkeypatch.setattr(digest_module, "HASH_CHUNK_BYTES", 7)  # quotes on chunk boundaries
    data = b'phone,name\n9876543210,"Asha ""A"" Rao"\n9876543211,"Ravi\n'
    source = tmp_path / "june.csv"
    source.write_bytes(data)

    digest = FileDigest.start(source)

    assert digest.quote_count() == data.count(b'"') == 7
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_file_that_cannot_be_read_raises_in_the_callers_thread(tmp_path):
    digest = FileDigest.start(tmp_path / "gone.csv")

    with pytest.raises(FileNotFoundError, match=r"gone\.csv"):
        digest.hexdigest()
    with pytest.raises(FileNotFoundError, match=r"gone\.csv"):
        digest.quote_count()


def test_process_cohort_takes_the_callers_sha256_instead_of_hashing_again(tmp_path,
                                                                         monkeypatch):
    from cohortflow import ingest
    from cohortflow.config import default_campaign

    source = write_text(tmp_path, "june.csv", "phone,name\n9876543210,Asha\n")
    sha256 = file_sha256(source)
    monkeypatch.setattr(ingest, "file_sha256", lambda path: pytest.fail("hashed again"))

    summary = process_cohort(CohortRequest(source=source, campaign=default_campaign("adhoc"),
                                           region="IN", sha256=sha256), tmp_path / "out")

    assert summary.status == "completed", summary.error
    assert summary.sha256 == sha256
    assert summary.cohort_id == ingest.cohort_id_for("adhoc", sha256)
