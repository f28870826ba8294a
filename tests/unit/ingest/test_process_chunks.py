"""Large cohorts are processed in chunks of rows; the artefacts must not depend on the chunking.

Each cohort is processed once in a single chunk and once in chunks of a few rows (so duplicates,
rejections and renders fall on every side of chunk boundaries); every artefact must be
byte-for-byte the same apart from timings.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from benchmarks.generate import rows

from cohortflow.render.csvsafe import csv_safe
from tests.unit.helpers import artefacts, make_campaign, run, write_text

#: Every test runs with a CSV loaded whole and with it streamed (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("both_csv_readings")

HEADER = "phone,customer_id,name,amount\n"


def _cohort(folder: Path, count: int) -> Path:
    lines = rows(count, seed=11)()
    # the same numbers again, spelled differently, far from their first rows
    lines += ["+91 98765 43210,DUP1,Asha,10\n", "09876543210,DUP2,Ravi,20\n",
              "+919876543210,DUP3,Meena,\n"]
    return write_text(folder, "cohort.csv", HEADER + "".join(lines))


@pytest.mark.parametrize("template", [
    "Hi {{ name }}, your balance is {{ amount }}",  # simple: rendered in SQL
    "Hi {{ name | upper }}{% if amount %}, {{ amount }}{% endif %}",  # rendered by Jinja
])
@pytest.mark.parametrize("chunk", [5, 64])
def test_chunked_artefacts_equal_single_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str, chunk: int
) -> None:
    campaign = make_campaign(default_region="IN", template=template)
    mapping = {
        "phone_number": {"column_name": "phone"},
        "user_identifier": {"column_name": "customer_id", "required": True},
        "app_variables": {"name": {"column_name": "name"},
                          "amount": {"column_name": "amount", "format": "amount"}},
    }
    whole_dir = tmp_path / "whole"
    whole_dir.mkdir()
    whole = run(_cohort(whole_dir, 150), campaign=campaign, mapping=mapping)
    monkeypatch.setenv("COHORTFLOW_CHUNK_ROWS", str(chunk))
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    parts = run(_cohort(parts_dir, 150), campaign=campaign, mapping=mapping)

    assert whole.summary.status == parts.summary.status == "completed"
    expected, got = artefacts(whole.out_dir), artefacts(parts.out_dir)
    for name in expected:
        assert got[name] == expected[name], name
    reasons = [r["rejected_reason"] for r in expected["rejections"]]  # type: ignore[union-attr]
    # the late re-spellings are duplicates of the first of them, across chunks
    assert any("duplicate_phone: same number as row 151" in r for r in reasons), reasons[-3:]
    assert expected["summary"]["rejected_reasons"].get("duplicate_phone", 0) > 3  # type: ignore[index]


@pytest.mark.parametrize("template", [
    "{{ name }} {{ tag }}",  # simple: rendered in SQL
    "{{ name | lower }} {{ tag }}",  # rendered by Jinja
])
def test_each_row_keeps_its_own_values_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    """Every recipient and every rejected row holds its own row's values (a column as read, a
    formatted one, a constant, the rendered message), with rejections and duplicates on every
    side of the chunk boundaries: comparing chunked with whole runs cannot see a shift that
    both would make."""
    monkeypatch.setenv("COHORTFLOW_CHUNK_ROWS", "7")
    source = _cohort(tmp_path, 150)
    lines = list(csv.reader(io.StringIO(source.read_text("utf-8"))))[1:]
    mapping = {
        "phone_number": {"column_name": "phone"},
        "user_identifier": {"column_name": "customer_id", "required": True},
        "app_variables": {"name": {"column_name": "name", "format": "upper"},
                          "amount": {"column_name": "amount"},
                          "tag": {"value": "june"}},
    }
    outcome = run(source, campaign=make_campaign(template=template), mapping=mapping)

    assert outcome.summary.status == "completed"
    recipients = pq.read_table(outcome.out_dir / "recipients.parquet").to_pylist()
    assert len(recipients) > 50
    for recipient in recipients:
        _phone, customer_id, name, amount = lines[recipient["row_number"] - 1]
        assert recipient["user_identifier"] == customer_id
        assert recipient["name"] == name.upper()
        assert recipient["amount"] == (amount or None)
        assert recipient["tag"] == "june"
        expected_name = name.upper() if "lower" not in template else name.lower()
        assert recipient["message"] == f"{expected_name} june"
    with (outcome.out_dir / "rejected.csv").open(encoding="utf-8", newline="") as handle:
        rejected = list(csv.reader(handle))[1:]
    rejections = pq.read_table(outcome.out_dir / "rejections.parquet").to_pylist()
    assert len(rejected) == len(rejections) > 10
    for row, rejection in zip(rejected, rejections, strict=True):
        assert row[:4] == [csv_safe(value) for value in lines[rejection["row_number"] - 1]]
        assert row[4] == rejection["rejected_reason"]


@pytest.mark.parametrize("chunk", [1, 2, 100])
def test_an_extension_in_any_chunk_gives_the_recipients_their_extension_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """The recipients are written chunk by chunk without ``phone_extension``; the column is
    added once a recipient of any chunk has one, in its place after ``region``."""
    monkeypatch.setenv("COHORTFLOW_CHUNK_ROWS", str(chunk))
    source = write_text(tmp_path, "cohort.csv", "phone,name\n9876543210,Asha\n9876543211,Ravi\n"
                        "9876543212,Meena\n+91 98765 43213 ext 12,Kiran\n9876543214,Gita\n")

    outcome = run(source, campaign=make_campaign(default_region="IN"), infer=True)

    assert outcome.summary.status == "completed"
    table = pq.read_table(outcome.out_dir / "recipients.parquet")
    assert table.column_names[:4] == ["row_number", "phone_number", "region", "phone_extension"]
    assert table.column("phone_extension").to_pylist() == [None, None, None, "12", None]
    assert table.column("row_number").to_pylist() == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(("chunk_rows", "width", "rows"), [
    (1_000_000, 4, 1_000_000),  # the benchmark's cohorts: the setting
    (1_000_000, 2_000, 2_000),  # a wide file: 4M cells a chunk
    (1_000_000, 100_000, 1_000),  # never fewer than 1,000 rows
    (5, 2_000, 5),  # a smaller setting wins
])
def test_a_wide_file_gets_chunks_of_fewer_rows(chunk_rows: int, width: int, rows: int) -> None:
    from cohortflow.ingest.process import chunk_size

    assert chunk_size(chunk_rows, width) == rows
