"""``cohortflow process``: exit 0 when the cohort completed, 2 when it failed (error on stderr).

The command runs the same :func:`cohortflow.ingest.process_cohort` as the DAG; these tests
check what a script sees: exit codes, stdout, stderr, ``--json`` and the files in ``--out``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cohortflow.cli import main
from tests.unit.helpers import write_text, write_xlsx

MAPPING = json.dumps({
    "phone_number": {"column_name": "mobile"},
    "user_identifier": {"column_name": "customer_id", "required": True},
    "app_variables": {"customer_name": {"column_name": "name", "format": "title_case"}},
})


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["process", *map(str, args)])


def cohort_file(folder: Path) -> Path:
    return write_text(
        folder, "june.csv", "mobile,customer_id,name\n9876543210,C1,asha\n12345,C2,bad\n"
    )


def test_completed_cohort_exits_0_and_prints_the_counts(tmp_path):
    source = cohort_file(tmp_path)
    mapping = write_text(tmp_path, "m.json", MAPPING)

    result = cli(source, "--mapping", mapping, "--out", tmp_path / "out")

    assert result.exit_code == 0, result.output
    assert "status=completed" in result.stdout
    assert "total=2  valid=1  rejected=1" in result.stdout
    assert "invalid_phone: 1" in result.stdout
    assert result.stderr == ""


def test_completed_cohort_writes_the_three_artefacts_into_out(tmp_path):
    source = cohort_file(tmp_path)
    mapping = write_text(tmp_path, "m.json", MAPPING)
    out = tmp_path / "out"

    cli(source, "--mapping", mapping, "--out", out)

    assert {"summary.json", "recipients.parquet", "rejected.csv"} <= {p.name for p in out.iterdir()}


def test_json_option_prints_the_summary_as_json(tmp_path):
    source = cohort_file(tmp_path)
    mapping = write_text(tmp_path, "m.json", MAPPING)
    out = tmp_path / "out"

    result = cli(source, "--mapping", mapping, "--out", out, "--json")

    printed = json.loads(result.stdout)
    assert printed["status"] == "completed"
    assert (printed["total_records"], printed["valid_records"], printed["rejected_records"]) == (
        2, 1, 1,
    )
    assert printed == json.loads((out / "summary.json").read_text("utf-8"))
    assert printed["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()  # its thread's


def test_failed_cohort_exits_2_with_the_error_on_stderr(tmp_path):
    source = write_text(tmp_path, "june.csv", "mobile,customer_id,name\n")
    mapping = write_text(tmp_path, "m.json", MAPPING)

    result = cli(source, "--mapping", mapping, "--out", tmp_path / "out")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: june.csv: the file has a header but no data rows")
    assert "Traceback" not in result.output


def test_failed_cohort_still_writes_its_summary_and_no_recipients(tmp_path):
    source = write_text(tmp_path, "june.csv", "phone,name\n9876543210,Asha\n")
    mapping = write_text(tmp_path, "m.json", MAPPING)
    out = tmp_path / "out"

    cli(source, "--mapping", mapping, "--out", out)

    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["status"] == "failed"
    assert "'mobile'" in summary["error"]
    assert not (out / "recipients.parquet").exists()
    assert not (out / "rejected.csv").exists()


def test_failed_cohort_with_json_prints_parsable_json_and_exits_2(tmp_path):
    source = write_text(tmp_path, "june.csv", "")

    result = cli(source, "--out", tmp_path / "out", "--json")

    assert result.exit_code == 2
    assert json.loads(result.stdout)["status"] == "failed"
    assert "empty" in result.stderr


def test_unreadable_file_exits_2_without_traceback(tmp_path):
    source = tmp_path / "june.xlsx"
    source.write_bytes(b"%PDF-1.4\n%%EOF\n")

    result = cli(source, "--out", tmp_path / "out")

    assert result.exit_code == 2
    assert "not a valid .xlsx workbook" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_mapping_beside_the_file_is_used_by_default(tmp_path):
    source = cohort_file(tmp_path)
    write_text(tmp_path, "june.mapping.json", MAPPING)
    out = tmp_path / "out"

    result = cli(source, "--out", out, "--json")

    summary = json.loads(result.stdout)
    assert summary["mapping_inferred"] is False
    assert summary["mapping"]["app_variables"]["customer_name"]["format"] == "title_case"


def test_without_any_mapping_the_mapping_is_inferred_and_printed(tmp_path):
    source = cohort_file(tmp_path)

    result = cli(source, "--out", tmp_path / "out")

    assert result.exit_code == 0, result.output
    assert "mapping inferred from headers" in result.stdout
    assert '"column_name": "mobile"' in result.stdout


def test_mapping_with_a_forbidden_override_key_exits_2_naming_it(tmp_path):
    source = cohort_file(tmp_path)
    mapping = write_text(tmp_path, "m.json", json.dumps({
        "phone_number": {"column_name": "mobile"},
        "app_overrides": {"initial_voice": {"column_name": "name"}},
    }))

    result = cli(source, "--mapping", mapping, "--out", tmp_path / "out")

    assert result.exit_code == 2
    assert f"{mapping}: app_overrides: " in result.stderr
    assert "'initial_voice'" in result.stderr
    assert "initial_language_name" in result.stderr


def test_invalid_campaign_config_exits_2_naming_file_and_field(tmp_path):
    source = cohort_file(tmp_path)
    campaign = write_text(tmp_path, "loans.yaml", "allowed_schedule:\n  timezone: Asia/Kolkatta\n")

    result = cli(source, "--campaign", campaign, "--out", tmp_path / "out")

    assert result.exit_code == 2
    assert f"{campaign}: allowed_schedule.timezone: unknown timezone 'Asia/Kolkatta'" in (
        result.stderr
    )


def test_campaign_template_produces_messages(tmp_path):
    source = cohort_file(tmp_path)
    mapping = write_text(tmp_path, "m.json", MAPPING)
    campaign = write_text(tmp_path, "loans.yaml", 'template: "Hi {{ customer_name }}"\n')
    out = tmp_path / "out"

    result = cli(source, "--mapping", mapping, "--campaign", campaign, "--out", out, "--json")

    assert json.loads(result.stdout)["campaign_id"] == "loans"
    import pyarrow.parquet as pq

    assert pq.read_table(out / "recipients.parquet").column("message").to_pylist() == ["Hi Asha"]


def test_dnc_option_rejects_listed_numbers(tmp_path):
    source = cohort_file(tmp_path)
    dnc = write_text(tmp_path, "dnc.csv", "phone\n+919876543210\n")

    result = cli(source, "--dnc", dnc, "--out", tmp_path / "out", "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["rejected_reasons"] == {"invalid_phone": 1,
                                                            "do_not_contact": 1}


def test_region_option_reads_national_numbers_of_that_region(tmp_path):
    source = write_text(tmp_path, "us.csv", "phone\n(201) 555-0123\n")

    result = cli(source, "--region", "US", "--out", tmp_path / "out", "--json")

    assert json.loads(result.stdout)["valid_records"] == 1


def test_unknown_region_exits_2(tmp_path):
    source = write_text(tmp_path, "us.csv", "phone\n(201) 555-0123\n")

    result = cli(source, "--region", "XX", "--out", tmp_path / "out")

    assert result.exit_code == 2
    assert "unknown region 'XX'" in result.stderr


def test_xlsx_file_is_processed(tmp_path):
    source = write_xlsx(tmp_path, "june.xlsx", [["mobile", "name"], [9876543210, "Asha"]])

    result = cli(source, "--out", tmp_path / "out", "--json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["valid_records"] == 1


def test_missing_input_file_is_a_usage_error(tmp_path):
    result = cli(tmp_path / "nope.csv", "--out", tmp_path / "out")

    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_validate_previews_without_writing(tmp_path):
    source = cohort_file(tmp_path)

    result = CliRunner().invoke(main, ["validate", str(source), "--json"])

    assert result.exit_code == 0, result.output
    preview = json.loads(result.stdout)
    assert preview["summary"]["valid_records"] == 1
    assert preview["rejected"][0]["rejected_reason"].startswith("invalid_phone: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["june.csv"]


def test_running_out_of_memory_says_what_to_do_and_keeps_the_earlier_artefacts(
    tmp_path, monkeypatch
):
    source = cohort_file(tmp_path)
    mapping = write_text(tmp_path, "m.json", MAPPING)
    out = tmp_path / "out"
    assert cli(source, "--mapping", mapping, "--out", out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setenv("COHORTFLOW_DUCKDB_MEMORY_LIMIT", "1MB")  # too small for any step

    result = cli(source, "--mapping", mapping, "--out", out)

    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "june.csv: ran out of memory while processing" in result.stderr
    assert "DuckDB's memory limit is 1MB" in result.stderr
    assert "Raise COHORTFLOW_DUCKDB_MEMORY_LIMIT or lower COHORTFLOW_CHUNK_ROWS" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing published


def test_the_reader_does_not_blame_the_file_for_running_out_of_memory(tmp_path, monkeypatch):
    rows = "".join(f"98765{i:05d},C{i},name {i}\n" for i in range(2000))
    source = write_text(tmp_path, "june.csv", "mobile,customer_id,name\n" + rows)
    monkeypatch.setenv("COHORTFLOW_DUCKDB_MEMORY_LIMIT", "256KB")  # the read itself fails

    result = cli(source, "--out", tmp_path / "out")

    assert "cannot be read as CSV" not in result.stderr
    assert "ran out of memory" in result.stderr
    assert not (tmp_path / "out" / "summary.json").exists()  # the file was not judged


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("COHORTFLOW_DUCKDB_MEMORY_LIMIT", "lots",
     "COHORTFLOW_DUCKDB_MEMORY_LIMIT='lots' is not a memory size DuckDB accepts"),
    ("COHORTFLOW_CHUNK_ROWS", "abc", "COHORTFLOW_CHUNK_ROWS='abc' is not a number of rows"),
    ("COHORTFLOW_CHUNK_ROWS", "0", "COHORTFLOW_CHUNK_ROWS='0' is not a number of rows"),
    ("COHORTFLOW_DUCKDB_ON_DISK_BYTES", "256MB",
     "COHORTFLOW_DUCKDB_ON_DISK_BYTES='256MB' is not a number of bytes"),
])
def test_an_unusable_setting_is_named_with_what_to_set(tmp_path, monkeypatch, variable, value,
                                                        expected):
    monkeypatch.setenv(variable, value)

    result = cli(cohort_file(tmp_path), "--out", tmp_path / "out")

    assert result.exit_code == 2
    assert expected in result.stderr
    assert "or unset it" in result.stderr


def test_chunk_rows_may_be_written_with_underscores(tmp_path, monkeypatch):
    monkeypatch.setenv("COHORTFLOW_CHUNK_ROWS", "1_000")

    result = cli(cohort_file(tmp_path), "--out", tmp_path / "out", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total_records"] == 2
