"""The CSV prefetch: ``cohortflow process`` reads the file while it imports the pipeline.

Processing with a prefetch must be indistinguishable from processing without one (the same
artefacts, the same errors at the same step), and a prefetch that is never used must stop and
leave no scratch folder behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cohortflow.cli import main
from cohortflow.digest import FileDigest
from cohortflow.errors import CohortError, SettingsError
from cohortflow.ingest import CohortRequest, process_cohort
from cohortflow.prefetch import Prefetch
from tests.unit.helpers import (
    make_campaign,
    make_mapping,
    scratch_folders,
    write_text,
    write_xlsx,
)

COHORT = "phone,customer_id,name\n9876543210,C1,Asha\n12345,C2,Ravi\n09876543210,C3,Meena\n"


def test_a_csv_file_is_read_into_a_workspace_the_caller_takes_over(tmp_path, scratch_root):
    source = write_text(tmp_path, "june.csv", COHORT)

    prefetch = Prefetch.start(source)
    assert prefetch is not None
    workspace = prefetch.take(source)
    raw = prefetch.raw()

    assert raw.headers == ["phone", "customer_id", "name"]
    assert raw.row_count == 3
    assert workspace.conn.execute("select c2 from raw_rows order by row_number").fetchall() == [
        ("C1",), ("C2",), ("C3",)]
    prefetch.discard()  # taken: the caller owns the workspace now
    assert workspace.conn.execute("select count(*) from raw_rows").fetchall() == [(3,)]
    workspace.close()
    assert scratch_folders(scratch_root) == []


def test_only_csv_files_are_prefetched(tmp_path):
    workbook = write_xlsx(tmp_path, "june.xlsx", [["phone"], ["9876543210"]])

    assert Prefetch.start(workbook) is None


def test_a_file_that_cannot_be_read_fails_at_the_read_as_without_a_prefetch(tmp_path,
                                                                             scratch_root):
    source = write_text(tmp_path, "june.csv", "phone,name\n9876543210,Asha\n", encoding="utf-16")

    prefetch = Prefetch.start(source)
    assert prefetch is not None
    workspace = prefetch.take(source)  # the workspace opened; the read failed
    with pytest.raises(CohortError, match=r"june\.csv: the file is UTF-16 encoded"):
        prefetch.raw()
    workspace.close()
    assert scratch_folders(scratch_root) == []


@pytest.mark.parametrize("data", [
    b'phone,name\n9876543210,"Asha\n9876543211,Ravi\n',  # DuckDB reads it, swallowing a row
    # DuckDB fails on the byte that is not UTF-8 (past the sniffed sample): the quote is named
    b'phone,name\n9876543210,"Asha\n' + b"9876543211,Ravi\n" * 20_000 + b"98765\xff4321,Meena\n",
])
def test_an_unclosed_quote_counted_by_the_digest_fails_as_without_a_prefetch(tmp_path, data):
    source = tmp_path / "june.csv"
    source.write_bytes(data)
    digest = FileDigest.start(source)
    errors = []
    for prefetch in (None, Prefetch.start(source, quote_count=digest.quote_count)):
        request = CohortRequest(source=source, campaign=make_campaign(), mapping=make_mapping())
        summary = process_cohort(request, tmp_path / str(len(errors)), prefetch=prefetch)
        errors.append((summary.status, summary.error_code, summary.error))

    assert errors[0] == errors[1]
    assert errors[0][:2] == ("failed", "unbalanced_quotes")
    assert "the quoted field starting on line 2" in str(errors[0][2])


def test_a_prefetch_given_the_quote_count_does_not_count_again(tmp_path, monkeypatch):
    source = write_text(tmp_path, "june.csv", COHORT)
    opened = []
    real_open = Path.open

    def watched_open(self, *args, **kwargs):
        opened.append(self.name)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", watched_open)
    prefetch = Prefetch.start(source, quote_count=lambda: 1)  # odd: as if a quote were unclosed
    assert prefetch is not None
    workspace = prefetch.take(source)
    with pytest.raises(CohortError, match="a double quote is never closed"):
        prefetch.raw()
    workspace.close()
    monkeypatch.undo()
    assert opened.count("june.csv") == 2  # the sniffed header, then the line of the quote


def test_an_unusable_memory_limit_is_raised_when_the_workspace_is_taken(tmp_path, monkeypatch,
                                                                        scratch_root):
    monkeypatch.setenv("COHORTFLOW_DUCKDB_MEMORY_LIMIT", "lots")
    source = write_text(tmp_path, "june.csv", COHORT)

    prefetch = Prefetch.start(source)
    assert prefetch is not None
    with pytest.raises(SettingsError, match="COHORTFLOW_DUCKDB_MEMORY_LIMIT='lots'"):
        prefetch.take(source)
    prefetch.discard()
    assert scratch_folders(scratch_root) == []


def test_a_prefetch_is_only_taken_for_its_own_file(tmp_path):
    source = write_text(tmp_path, "june.csv", COHORT)
    other = write_text(tmp_path, "july.csv", COHORT)
    prefetch = Prefetch.start(source)
    assert prefetch is not None

    with pytest.raises(ValueError, match=r"july\.csv"):
        prefetch.take(other)
    prefetch.discard()


def test_discarding_a_read_in_progress_stops_it_and_removes_the_scratch_folder(tmp_path,
                                                                               scratch_root):
    rows = "".join(f"98765{i:05d},C{i},name {i}\n" for i in range(200_000))
    source = write_text(tmp_path, "june.csv", "phone,customer_id,name\n" + rows)

    prefetch = Prefetch.start(source)
    assert prefetch is not None
    prefetch.discard()

    assert scratch_folders(scratch_root) == []


def test_processing_with_a_prefetch_writes_what_processing_without_one_writes(tmp_path):
    source = write_text(tmp_path, "june.csv", COHORT)
    campaign = make_campaign(template="Hi {{ name }}")
    outputs = {}
    for label in ("direct", "prefetched"):
        prefetch = Prefetch.start(source) if label == "prefetched" else None
        request = CohortRequest(source=source, campaign=campaign, mapping=make_mapping())
        summary = process_cohort(request, tmp_path / label, prefetch=prefetch)
        assert summary.status == "completed"
        assert "read" in summary.timings
        outputs[label] = {
            "recipients": pq.read_table(tmp_path / label / "recipients.parquet").to_pylist(),
            "rejections": pq.read_table(tmp_path / label / "rejections.parquet").to_pylist(),
            "rejected.csv": (tmp_path / label / "rejected.csv").read_bytes(),
            "counts": (summary.valid_records, summary.rejected_records,
                       summary.rejected_reasons),
        }

    assert outputs["prefetched"] == outputs["direct"]
    assert outputs["direct"]["counts"] == (1, 2, {"invalid_phone": 1, "duplicate_phone": 1})


def test_the_cli_stops_the_prefetch_when_the_campaign_file_is_invalid(tmp_path, scratch_root):
    source = write_text(tmp_path, "june.csv", COHORT)
    campaign = write_text(tmp_path, "bad.yaml", "name: [unclosed\n")

    result = CliRunner().invoke(
        main, ["process", str(source), "--campaign", str(campaign), "--out", str(tmp_path / "o")])

    assert result.exit_code == 2
    assert "bad.yaml" in result.stderr
    assert scratch_folders(scratch_root) == []


def test_the_cli_reports_a_prefetched_read_error_like_any_other(tmp_path, scratch_root):
    source = write_text(tmp_path, "june.csv", "phone,name\n9876543210,Asha\n", encoding="utf-16")

    result = CliRunner().invoke(main, ["process", str(source), "--out", str(tmp_path / "o"),
                                       "--json"])

    assert result.exit_code == 2
    summary = json.loads((tmp_path / "o" / "summary.json").read_text("utf-8"))
    assert summary["status"] == "failed"
    assert "june.csv: the file is UTF-16 encoded" in summary["error"]
    assert scratch_folders(scratch_root) == []
