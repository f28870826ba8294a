"""process_cohort with the fast paths writes exactly the artefacts of the library/Jinja path."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from benchmarks.generate import write_cohort

from cohortflow.config import load_campaign, load_mapping
from cohortflow.ingest import CohortRequest, process_cohort

PROJECT = Path(__file__).resolve().parents[3]
EXAMPLES = PROJECT / "include" / "examples" / "landing" / "loans"


def _process(request: CohortRequest, out: Path, fast: bool,
             monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COHORTFLOW_FAST_PATHS", "1" if fast else "0")
    summary = process_cohort(request, out)
    assert summary.status == "completed", summary.error
    return out


def _assert_same_artefacts(fast: Path, slow: Path) -> None:
    for name in ("recipients.parquet", "rejections.parquet"):
        assert pq.read_table(fast / name).equals(pq.read_table(slow / name)), name
    assert (fast / "rejected.csv").read_bytes() == (slow / "rejected.csv").read_bytes()
    fast_summary = json.loads((fast / "summary.json").read_text())
    slow_summary = json.loads((slow / "summary.json").read_text())
    for key in ("total_records", "valid_records", "rejected_records", "rejected_reasons"):
        assert fast_summary[key] == slow_summary[key], key
    assert list(fast_summary["rejected_reasons"]) == list(slow_summary["rejected_reasons"])


def test_synthetic_cohort_gives_identical_artefacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_cohort(tmp_path / "in", 4000, seed=3)
    request = CohortRequest(source=source, campaign=load_campaign(tmp_path / "in" / "bench.yaml"))
    fast = _process(request, tmp_path / "fast", True, monkeypatch)
    slow = _process(request, tmp_path / "slow", False, monkeypatch)
    _assert_same_artefacts(fast, slow)
    assert pq.read_table(fast / "recipients.parquet").num_rows > 3000


def test_example_cohort_with_formats_and_dnc_gives_identical_artefacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = CohortRequest(
        source=EXAMPLES / "june_cohort.csv",
        campaign=load_campaign(PROJECT / "include" / "campaigns" / "loans.yaml"),
        mapping=load_mapping(EXAMPLES / "june_cohort.mapping.json"),
    )
    fast = _process(request, tmp_path / "fast", True, monkeypatch)
    slow = _process(request, tmp_path / "slow", False, monkeypatch)
    _assert_same_artefacts(fast, slow)
