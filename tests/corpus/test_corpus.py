"""Every file of the bad-input corpus gets a clear, specific outcome: never a traceback, a hang
or unbounded memory."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest

from cohortflow.config import default_campaign
from cohortflow.ingest import CohortRequest, process_cohort
from tests.corpus.make_corpus import CASES, Case

#: Every test runs with a CSV loaded whole and with it streamed (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("both_csv_readings")

#: Peak memory of the whole test process must stay below this (the zip bomb expands to 2 GiB).
MEMORY_CEILING_MIB = 2048


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_file_has_a_clear_outcome(case: Case, corpus: Path) -> None:
    source = corpus / case.name
    case.write(source)
    out = corpus / "out" / source.stem
    summary = process_cohort(CohortRequest(source=source, campaign=default_campaign("corpus")), out)

    assert summary.status == case.status, summary.error
    assert summary.total_records == summary.valid_records + summary.rejected_records
    written = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert written["status"] == case.status
    if case.status == "failed":
        assert summary.error_code == case.error_code
        assert summary.error and case.name in summary.error  # the message names the file
        assert "Traceback" not in summary.error
        assert not (out / "recipients.parquet").exists()
    else:
        assert summary.error is None
        for code in case.reasons:
            assert code in summary.rejected_reasons
        if case.valid is not None:
            assert summary.valid_records == case.valid


def test_corpus_run_kept_memory_bounded() -> None:
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mib < MEMORY_CEILING_MIB
