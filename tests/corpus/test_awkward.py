"""Awkward but ordinary files lose nothing: each file in ``awkward/`` is small and written by
hand, and each test states the exact outcome (counts, reason codes, output names, masking).

The files are copied to a temporary folder first: processing writes beside its input.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cohortflow.cli import main
from tests.unit.helpers import assert_failed, run

#: Every test runs with a CSV loaded whole and with it streamed (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("both_csv_readings")

AWKWARD = Path(__file__).with_name("awkward")


def awkward(tmp_path: Path, name: str) -> Path:
    """A copy of ``awkward/<name>`` in ``tmp_path`` (with its mapping, if it has one)."""
    source = Path(shutil.copyfile(AWKWARD / name, tmp_path / name))
    mapping = AWKWARD / f"{source.stem}.mapping.json"
    if mapping.is_file():
        shutil.copyfile(mapping, tmp_path / mapping.name)
    return source


# --------------------------------------------------------------------------- line endings


def test_cr_only_line_endings_are_read_as_rows(tmp_path):
    outcome = run(awkward(tmp_path, "cr_only.csv"))

    assert outcome.summary.status == "completed", outcome.summary.error
    assert [(r["row_number"], r["name"]) for r in outcome.recipients] == [
        (1, "Asha"), (2, "Ravi\rKumar")]
    assert outcome.rejected_row_numbers == [3]


def test_excel_sep_line_sets_the_delimiter_and_is_not_the_header(tmp_path):
    outcome = run(awkward(tmp_path, "excel_sep_line.csv"))

    assert outcome.summary.headers == ["phone", "customer_id", "name"]
    assert [r["name"] for r in outcome.recipients] == ["Rao, Asha", "Ravi"]
    assert outcome.summary.total_records == 2


# --------------------------------------------------------------------------- mapping files


def test_mapping_that_repeats_a_key_is_an_error_naming_the_key(tmp_path):
    source = awkward(tmp_path, "repeated_key.csv")

    result = CliRunner().invoke(main, ["process", str(source), "--out", str(tmp_path / "out")])

    assert result.exit_code == 2
    assert "repeated_key.mapping.json: the key 'phone_number' is given twice" in result.stderr
    assert not (tmp_path / "out" / "recipients.parquet").exists()


# --------------------------------------------------------------------------- surplus fields


def test_surplus_fields_are_tolerated_only_when_all_are_blank(tmp_path):
    outcome = run(awkward(tmp_path, "extra_fields.csv"))

    assert [r["row_number"] for r in outcome.recipients] == [1, 4]
    assert outcome.summary.rejected_reasons == {"malformed_row": 2}


def test_every_surplus_field_is_kept_in_the_reason(tmp_path):
    outcome = run(awkward(tmp_path, "extra_fields.csv"))

    prefix = "malformed_row: the row has more fields than the header; the extra fields: "
    assert outcome.reason_of(2) == prefix + '["","EXTRA"]'
    assert [row["rejected_reason"] for row in outcome.rejected] == [
        prefix + '["","EXTRA"]', prefix + '["x","","y"]']
    assert [row["name"] for row in outcome.rejected] == ["Ravi", "Meena"]


# --------------------------------------------------------------------------- phone cells


def test_a_phone_extension_is_kept_in_phone_extension(tmp_path):
    outcome = run(awkward(tmp_path, "phone_extensions.csv"))

    assert [(r["row_number"], r["phone_number"], r["phone_extension"])
            for r in outcome.recipients] == [
        (1, "+919876543210", "12"), (2, "+919876543211", "12"), (4, "+919876543214", None)]
    assert outcome.recipient_columns[:4] == [
        "row_number", "phone_number", "region", "phone_extension"]


def test_a_phone_cell_holding_two_numbers_is_rejected_saying_so(tmp_path):
    outcome = run(awkward(tmp_path, "phone_extensions.csv"))

    assert outcome.rejected_row_numbers == [3]
    assert outcome.reason_of(3) == (
        "invalid_phone: the cell holds two phone numbers (the parser read the second as an "
        "extension); put each number on a row of its own")


# --------------------------------------------------------------------------- whitespace


def test_a_required_field_of_any_whitespace_is_empty(tmp_path):
    outcome = run(awkward(tmp_path, "whitespace_required.csv"))

    # TAB, CR LF, no-break space, ideographic space (U+3000), spaces; then a real value
    assert outcome.rejected_row_numbers == [1, 2, 3, 4, 5]
    assert outcome.summary.rejected_reasons == {"missing_required:user_identifier": 5}
    assert [r["row_number"] for r in outcome.recipients] == [6]


# --------------------------------------------------------------------------- names


def test_rejected_csv_keeps_a_header_as_written(tmp_path):
    outcome = run(awkward(tmp_path, "header_trailing_space.csv"), infer=True)

    assert outcome.summary.mapping["phone_number"] == {
        "column_name": "mobile", "required": False}
    first_line = (outcome.out_dir / "rejected.csv").read_bytes().split(b"\n")[0]
    assert first_line == b"mobile ,customer_id,name,rejected_reason"


def test_a_column_named_rejected_reason_keeps_its_name_and_values(tmp_path):
    outcome = run(awkward(tmp_path, "rejected_reason_column.csv"),
                  mapping={"phone_number": {"column_name": "phone"}})

    assert outcome.rejected_header == [
        "phone", "customer_id", "rejected_reason", "_rejected_reason"]
    assert outcome.rejected[0]["rejected_reason"] == "invalid_phone: too short"
    assert outcome.rejected[0]["_rejected_reason"].startswith("invalid_phone: ")
    assert outcome.summary_json["rejected_reason_column"] == "_rejected_reason"


# --------------------------------------------------------------------------- workbooks


def _workbook_with_a_hidden_first_sheet(path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    hidden = book.active
    assert hidden is not None
    hidden.title = "Old export"
    hidden.append(["phone", "customer_id", "name"])
    hidden.append([9999999999, "X1", "stale"])
    hidden.sheet_state = "hidden"
    sheet = book.create_sheet("June")
    sheet.append(["phone", "customer_id", "name"])
    sheet.append([9876543210, "C1", "Asha"])
    book.active = 1
    book.save(path)
    return path


def test_a_workbook_is_read_from_its_first_visible_sheet(tmp_path):
    outcome = run(_workbook_with_a_hidden_first_sheet(tmp_path / "june.xlsx"))

    assert [(r["phone_number"], r["name"]) for r in outcome.recipients] == [
        ("+919876543210", "Asha")]
    assert outcome.summary_json["sheet"] == "June"


def test_the_report_names_the_sheet_read(tmp_path):
    outcome = run(_workbook_with_a_hidden_first_sheet(tmp_path / "june.xlsx"))

    report = (outcome.out_dir / "report.html").read_text(encoding="utf-8")
    assert "Sheet read: <code>June</code>" in report


# --------------------------------------------------------------------------- wide files


def test_a_file_of_2000_columns_completes_within_the_default_memory_limit(
        tmp_path, monkeypatch):
    # 135 columns of 3 rows used to run out of DuckDB's default 768MB
    monkeypatch.delenv("COHORTFLOW_DUCKDB_MEMORY_LIMIT", raising=False)
    header = ["phone", "customer_id", *(f"col_{i}" for i in range(3, 2001))]
    rows = [[f"98765{n:05d}" if n % 4 else "12", f"C{n}", *(f"v{n}_{i}" for i in range(3, 2001))]
            for n in range(300)]
    source = tmp_path / "wide.csv"
    source.write_text("\n".join(",".join(row) for row in [header, *rows]) + "\n",
                      encoding="utf-8")

    outcome = run(source, infer=True)

    assert outcome.summary.status == "completed", outcome.summary.error
    assert (outcome.summary.valid_records, outcome.summary.rejected_records) == (225, 75)
    assert len(outcome.recipient_columns) == 2002  # row_number, phone_number, region, ...
    assert outcome.rejected_header[-2:] == ["col_2000", "rejected_reason"]
    assert outcome.rejected[0]["col_2000"] == "v0_2000"


def test_output_names_differing_only_in_case_fail_naming_both(tmp_path):
    outcome = run(awkward(tmp_path, "case_collision.csv"), infer=True)

    assert_failed(outcome, "name_collision", "'name' and 'Name' differ only in case")


# --------------------------------------------------------------------------- masking


def test_a_file_without_a_header_row_fails_without_showing_a_number(tmp_path):
    outcome = run(awkward(tmp_path, "no_header.csv"), infer=True)

    assert_failed(outcome, "missing_column", "headers are: ••••••3210, C000, Asha")
    assert outcome.summary_json["headers"] == ["••••••3210", "C000", "Asha"]
    for text in (json.dumps(outcome.summary_json, ensure_ascii=False),
                 (outcome.out_dir / "report.html").read_text(encoding="utf-8")):
        assert "9876543210" not in text


def test_the_report_masks_every_column_holding_phone_numbers(tmp_path):
    outcome = run(awkward(tmp_path, "two_phone_columns.csv"), infer=True)

    report = (outcome.out_dir / "report.html").read_text(encoding="utf-8")
    assert outcome.rejected_row_numbers == [1, 3]
    assert "9876500001" not in report
    assert "<td>••••••0001</td>" in report
    assert "<td>C1</td>" in report
