"""A cohort's identity: the file's SHA-256 and the cohort id derived from it."""

from __future__ import annotations

import hashlib

import pytest

from cohortflow.ingest import CohortRequest, process_cohort
from cohortflow.ingest.identity import cohort_id_for, file_sha256
from tests.unit.helpers import write_text


@pytest.mark.parametrize("size", [0, 1, 2**18 - 1, 2**18, 3 * 2**18 + 5])
def test_the_hash_is_the_files_sha256_whatever_its_size(tmp_path, size):
    # around and past the size hashlib.file_digest reads at a time (256 KiB)
    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    source = tmp_path / "june.csv"
    source.write_bytes(data)

    assert file_sha256(source) == hashlib.sha256(data).hexdigest()


def test_a_file_that_cannot_be_read_raises_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"gone\.csv"):
        file_sha256(tmp_path / "gone.csv")


def test_the_same_content_in_the_same_campaign_is_the_same_cohort():
    assert cohort_id_for("loans", "ab" * 32) == cohort_id_for("loans", "ab" * 32)
    assert cohort_id_for("loans", "ab" * 32) != cohort_id_for("reminders", "ab" * 32)


def test_process_cohort_takes_the_callers_sha256_instead_of_hashing_again(tmp_path,
                                                                         monkeypatch):
    from cohortflow.config import default_campaign
    from cohortflow.ingest import process

    source = write_text(tmp_path, "june.csv", "phone,name\n9876543210,Asha\n")
    sha256 = file_sha256(source)
    monkeypatch.setattr(process, "file_sha256", lambda path: pytest.fail("hashed again"))

    summary = process_cohort(CohortRequest(source=source, campaign=default_campaign("adhoc"),
                                           region="IN", sha256=sha256), tmp_path / "out")

    assert summary.status == "completed", summary.error
