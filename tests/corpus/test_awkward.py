"""Awkward but ordinary files lose nothing: each file in ``awkward/`` is small and written by
hand, and each test states the exact outcome (counts, reason codes, output names, masking).

The files are copied to a temporary folder first: processing writes beside its input.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from cohortflow.cli import main
from tests.unit.helpers import run

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
