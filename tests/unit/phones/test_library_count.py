"""``summary.json`` counts the distinct phones that the fast path left to phonenumbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from benchmarks.generate import write_cohort

from cohortflow.config import load_campaign
from cohortflow.ingest import CohortRequest, process_cohort


@pytest.mark.parametrize("fast", [True, False])
def test_the_library_values_are_counted_over_all_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    source = write_cohort(tmp_path / "in", 3000, seed=4)
    monkeypatch.setenv("COHORTFLOW_FAST_PATHS", "1" if fast else "0")
    monkeypatch.setenv("COHORTFLOW_CHUNK_ROWS", "1000")
    request = CohortRequest(source=source, campaign=load_campaign(tmp_path / "in" / "bench.yaml"))

    summary = process_cohort(request, tmp_path / "out")

    assert summary.status == "completed", summary.error
    timings = json.loads((tmp_path / "out" / "summary.json").read_text())["timings"]
    with source.open(encoding="utf-8", newline="") as handle:
        phones = [row["phone"] for row in csv.DictReader(handle)]
    chunks = [set(phones[first:first + 1000]) - {""} for first in range(0, 3000, 1000)]
    library = sum(len(chunk) for chunk in chunks)  # each chunk's distinct phones
    if fast:  # in chunks this small, the rarer calling codes are left to the library
        assert 0 < timings["phones_library_values"] < library / 2
    else:
        assert timings["phones_library_values"] == library
