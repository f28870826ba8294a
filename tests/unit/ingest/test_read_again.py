"""A large CSV is streamed in one pass; when its parser fails only after rows were processed
(a row with surplus fields beyond DuckDB's first read buffer), the cohort is processed again
with the file counted and its parser chosen first, and comes out as if it had been read whole.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from cohortflow.ingest.raw import ReadAgainError
from cohortflow.ingest.readers import read_cohort_file
from tests.unit.helpers import artefacts, make_campaign, run, write_text

ROWS = 170_000
SURPLUS_ROW = ROWS - 4
CHUNK_ROWS = 20_000


def _late_surplus_field(folder: Path) -> Path:
    """About 34 MB, more than DuckDB's CSV reader takes in at once (32 MB): its strict parser
    meets the row with a surplus field after the first chunks were handed on."""
    lines = [f"98{number:08d},{'Name ' * 36}{number}\n" for number in range(1, ROWS + 1)]
    lines[SURPLUS_ROW - 1] = f"98{SURPLUS_ROW:08d},Asha,surplus\n"
    return write_text(folder, "large.csv", "phone,name\n" + "".join(lines))


def test_a_parser_failing_after_chunks_were_processed_reads_the_file_again_counted_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = make_campaign(default_region="IN", template="Hi {{ name }}")
    mapping = {"phone_number": {"column_name": "phone"},
               "app_variables": {"name": {"column_name": "name"}}}
    whole_dir, streamed_dir = tmp_path / "whole", tmp_path / "streamed"
    whole_dir.mkdir()
    streamed_dir.mkdir()
    whole = run(_late_surplus_field(whole_dir), campaign=campaign, mapping=mapping)
    monkeypatch.setattr("cohortflow.ingest.csv_files.ONE_PASS_BYTES", 1024)
    monkeypatch.setenv("COHORTFLOW_CHUNK_ROWS", str(CHUNK_ROWS))
    source = _late_surplus_field(streamed_dir)
    conn = duckdb.connect()
    raw = read_cohort_file(conn, source)
    handed_on = []
    with pytest.raises(ReadAgainError, match=f"large.csv: .*Line: {SURPLUS_ROW + 1}"):
        for first in raw.rows.chunks(conn, CHUNK_ROWS):
            handed_on.append(first)
    conn.close()
    assert handed_on[:2] == [1, CHUNK_ROWS + 1]  # the one pass failed after chunks went on

    streamed = run(source, campaign=campaign, mapping=mapping)

    assert whole.summary.status == streamed.summary.status == "completed"
    assert streamed.summary.total_records == ROWS
    assert streamed.summary.rejected_reasons == {"malformed_row": 1}
    assert artefacts(streamed.out_dir) == artefacts(whole.out_dir)
    (rejection,) = pq.read_table(streamed.out_dir / "rejections.parquet").to_pylist()
    assert rejection["row_number"] == SURPLUS_ROW
