"""Reading cohort files: CSV dialects and encodings, workbooks, and unreadable files.

Whatever the format, a file's rows come chunk by chunk as ``chunk_rows`` (every cell text, a
1-based ``row_number`` counting data rows); a file that cannot be read fails its cohort with
``unreadable_file`` and a message for the user, never a traceback.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from cohortflow.errors import CohortError
from cohortflow.ingest.csv_files import CsvRows, detect_delimiter
from cohortflow.ingest.raw import RawCohort, ReadAgainError
from cohortflow.ingest.readers import read_cohort_file
from cohortflow.ingest.workbooks import cell_text, first_visible_sheet
from tests.unit.helpers import (
    assert_failed,
    run,
    write_ods,
    write_text,
    write_xls,
    write_xlsx,
)

#: Every test runs with a CSV loaded whole and with it streamed (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("both_csv_readings")

PHONE_ONLY = {"phone_number": {"column_name": "phone"}}


def read_rows(path: Path, *, chunk_rows: int = 1000) -> tuple[list[str], list[tuple[object, ...]]]:
    """Headers and rows (row_number and the columns) of ``path``, chunk after chunk (read
    again, counted first, when its one pass says so, as ingest does)."""
    conn = duckdb.connect()
    try:
        try:
            return _all_rows(conn, read_cohort_file(conn, path), chunk_rows)
        except ReadAgainError:
            return _all_rows(conn, read_cohort_file(conn, path, counted=True), chunk_rows)
    finally:
        conn.close()


def _all_rows(conn: duckdb.DuckDBPyConnection, raw: RawCohort,
              chunk_rows: int) -> tuple[list[str], list[tuple[object, ...]]]:
    columns = ", ".join(["row_number", *raw.columns])
    rows = []
    for _ in raw.rows.chunks(conn, chunk_rows):
        rows += conn.sql(f"select {columns} from chunk_rows order by row_number").fetchall()
    assert len(rows) == raw.rows.rows_read
    if raw.row_count is not None:  # else counted as they are read
        assert len(rows) == raw.row_count
    return raw.headers, rows


def read_error(path: Path) -> CohortError:
    """The error opening ``path`` or reading its rows raises (a large CSV's problems are met
    as its rows are read)."""
    conn = duckdb.connect()
    try:
        with pytest.raises(CohortError) as caught:
            raw = read_cohort_file(conn, path)
            for _ in raw.rows.chunks(conn, 1000):
                pass
        return caught.value
    finally:
        conn.close()


# --------------------------------------------------------------------------- CSV


def test_bom_and_crlf_csv_reads_clean_headers_and_values(tmp_path):
    source = write_text(
        tmp_path, "c.csv", "\ufeffphone,name\r\n9876543210,Asha\r\n9876543211,Ravi\r\n"
    )

    headers, rows = read_rows(source)

    assert headers == ["phone", "name"]
    assert rows == [(1, "9876543210", "Asha"), (2, "9876543211", "Ravi")]


def test_bom_and_crlf_csv_goes_through_the_pipeline(tmp_path):
    source = write_text(tmp_path, "c.csv", "\ufeffphone,name\r\n9876543210,Asha\r\n")

    mapping = {**PHONE_ONLY, "app_variables": {"name": {"column_name": "name"}}}

    outcome = run(source, mapping=mapping)

    assert outcome.recipients[0]["phone_number"] == "+919876543210"
    assert outcome.recipients[0]["name"] == "Asha"


def test_file_without_final_newline_keeps_its_last_row(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,name\n9876543210,Asha")

    _, rows = read_rows(source)

    assert rows == [(1, "9876543210", "Asha")]


def test_quoted_multiline_field_is_one_value_and_rows_count_data_rows(tmp_path):
    source = write_text(
        tmp_path, "c.csv",
        'phone,name\n9876543210,"Rao, ""Jr""\nsecond line"\n9876543211,Ravi\n',
    )

    _, rows = read_rows(source)

    assert rows == [(1, "9876543210", 'Rao, "Jr"\nsecond line'), (2, "9876543211", "Ravi")]


def test_quoted_multiline_field_with_crlf_keeps_later_row_numbers(tmp_path):
    source = write_text(
        tmp_path, "c.csv", 'phone,name\r\n9876543210,"a\r\nb"\r\n123,bad\r\n'
    )

    outcome = run(source, mapping=PHONE_ONLY)

    assert outcome.recipients[0]["row_number"] == 1
    assert outcome.rejected_row_numbers == [2]


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_delimiter_is_detected(tmp_path, delimiter):
    text = delimiter.join(["phone", "name", "amount"]) + "\n"
    text += delimiter.join(["9876543210", "Asha", "100"]) + "\n"
    text += delimiter.join(["9876543211", "Ravi", "200"]) + "\n"
    source = write_text(tmp_path, "c.csv", text)

    headers, rows = read_rows(source)

    assert headers == ["phone", "name", "amount"]
    assert rows[1] == (2, "9876543211", "Ravi", "200")


def test_semicolon_file_with_decimal_commas_is_split_on_semicolons(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone;amount\n9876543210;1,5\n9876543211;2,25\n")

    headers, rows = read_rows(source)

    assert headers == ["phone", "amount"]
    assert rows == [(1, "9876543210", "1,5"), (2, "9876543211", "2,25")]


def test_comma_file_with_quoted_semicolons_is_split_on_commas(tmp_path):
    source = write_text(tmp_path, "c.csv", 'phone,note\n9876543210,"a;b;c"\n9876543211,"d;e"\n')

    headers, rows = read_rows(source)

    assert headers == ["phone", "note"]
    assert rows[0] == (1, "9876543210", "a;b;c")


@pytest.mark.parametrize(
    ("sample", "expected"),
    [("a;b;c\n1;2;3\n", ";"), ("a\tb\n1\t2\n", "\t"), ("a|b\n1|2\n", "|"), ("a,b\n1,2\n", ","),
     ("phone\n9876543210\n", ",")],
)
def test_detect_delimiter(sample, expected):
    assert detect_delimiter(sample) == expected


def test_header_names_are_trimmed(tmp_path):
    source = write_text(tmp_path, "c.csv", " phone , name \n9876543210,Asha\n")

    headers, _ = read_rows(source)

    assert headers == ["phone", "name"]


def test_every_csv_cell_is_read_as_text(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,zip,amount\n09876543210,007,1.50\n")

    _, rows = read_rows(source)

    assert rows == [(1, "09876543210", "007", "1.50")]


def test_short_row_is_padded_with_nulls(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,name,city\n9876543210,Asha\n")

    _, rows = read_rows(source)

    assert rows == [(1, "9876543210", "Asha", None)]


def test_blank_line_between_rows_is_not_a_data_row(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,name\n9876543210,Asha\n\n9876543211,Ravi\n")

    outcome = run(source, mapping=PHONE_ONLY)

    assert outcome.summary.total_records == outcome.summary.valid_records == 2


def test_a_line_longer_than_duckdbs_default_is_read_whole(tmp_path):
    # DuckDB's default line limit is 2 MB; such a file is read again with room for 64 MB.
    note = "x" * 3_000_000
    source = write_text(tmp_path, "c.csv", f"phone,note\n9876543210,{note}\n9876543211,short\n")

    _, rows = read_rows(source)

    assert rows == [(1, "9876543210", note), (2, "9876543211", "short")]


def test_a_line_longer_than_the_limit_fails_the_cohort_with_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr("cohortflow.ingest.csv_parsers.LONG_LINE_BYTES", 4_000_000)
    source = write_text(tmp_path, "c.csv", f"phone,note\n9876543210,short\n1,{'x' * 5_000_000}\n")

    outcome = run(source, mapping=PHONE_ONLY)

    assert_failed(outcome, "unreadable_file", "c.csv: line 3 is longer than the 4 MB",
                  "shorten or split")


def test_txt_and_tsv_suffixes_are_read_as_delimited_text(tmp_path):
    source = write_text(tmp_path, "c.tsv", "phone\tname\n9876543210\tAsha\n")

    headers, _ = read_rows(source)

    assert headers == ["phone", "name"]


# --------------------------------------------------------------------------- workbooks


def test_xlsx_numeric_phone_cells_come_out_as_their_digits(tmp_path):
    source = write_xlsx(tmp_path, "c.xlsx", [["phone", "name"], [9876543210, "Asha"],
                                              [9876543211.0, "Ravi"]])

    _, rows = read_rows(source)

    assert rows == [(1, "9876543210", "Asha"), (2, "9876543211", "Ravi")]


def test_xlsx_numeric_phone_cells_become_e164_recipients(tmp_path):
    source = write_xlsx(tmp_path, "c.xlsx", [["phone", "customer_id", "name"],
                                              [9876543210, 1001, "Asha"]])

    outcome = run(source)

    assert outcome.recipients[0]["phone_number"] == "+919876543210"
    assert outcome.recipients[0]["user_identifier"] == "1001"


def test_xlsx_cells_keep_fractions_dates_and_text(tmp_path):
    source = write_xlsx(tmp_path, "c.xlsx", [
        ["phone", "amount", "due", "code"],
        [9876543210, 1234.5, dt.datetime(2026, 7, 5), "007"],
    ])

    _, rows = read_rows(source)

    assert rows == [(1, "9876543210", "1234.5", "2026-07-05", "007")]


def test_xlsx_reads_only_the_first_sheet(tmp_path):
    source = write_xlsx(tmp_path, "c.xlsx", [["phone"], [9876543210]], sheets=2)

    _, rows = read_rows(source)

    assert rows == [(1, "9876543210")]


def test_xlsx_header_only_fails_with_no_data(tmp_path):
    source = write_xlsx(tmp_path, "c.xlsx", [["phone", "customer_id", "name"]])

    assert_failed(run(source), "no_data", "no data rows")


def test_xlsx_with_empty_first_sheet_fails_with_no_data(tmp_path):
    source = write_xlsx(tmp_path, "c.xlsx", [])

    assert_failed(run(source), "no_data", "empty")


def test_xlsx_duplicate_headers_fail(tmp_path):
    source = write_xlsx(tmp_path, "c.xlsx", [["phone", "name", "name"], [9876543210, "a", "b"]])

    assert_failed(run(source, mapping=PHONE_ONLY), "bad_header", "'name'")


def test_xlsx_empty_header_between_names_fails(tmp_path):
    source = write_xlsx(tmp_path, "c.xlsx", [["phone", None, "name"], [9876543210, "a", "b"]])

    assert_failed(run(source, mapping=PHONE_ONLY), "bad_header", "column(s) 2")


def test_xlsx_trailing_rows_of_blank_cells_are_not_data_rows(tmp_path):
    source = write_xlsx(tmp_path, "c.xlsx", [["phone"], [9876543210], [None], [None]])

    outcome = run(source, mapping=PHONE_ONLY)

    assert outcome.summary.total_records == 1


def test_xlsx_row_with_values_beyond_the_header_is_malformed(tmp_path):
    source = write_xlsx(tmp_path, "c.xlsx", [["phone", "name"], [9876543210, "Asha", "extra"],
                                              [9876543211, "Ravi"]])

    outcome = run(source, mapping=PHONE_ONLY)

    assert outcome.reason_of(1).startswith("malformed_row: ")
    assert [r["row_number"] for r in outcome.recipients] == [2]


def test_xlsx_formula_injection_text_is_neutralised_in_rejected_csv(tmp_path):
    source = write_xlsx(tmp_path, "c.xlsx", [["phone", "name"], ["123", "@SUM(1+1)*cmd"]])

    outcome = run(source, mapping=PHONE_ONLY)

    assert outcome.rejected[0]["name"] == "'@SUM(1+1)*cmd"


def test_xls_numeric_phone_cells_come_out_as_their_digits(tmp_path):
    source = write_xls(tmp_path, "c.xls", [["phone", "name"], [9876543210, "Asha"]])

    _, rows = read_rows(source)

    assert rows == [(1, "9876543210", "Asha")]


def test_xls_goes_through_the_pipeline(tmp_path):
    source = write_xls(tmp_path, "c.xls", [["phone", "customer_id", "name"],
                                            [9876543210, "C1", "Asha"], [123, "C2", "Bad"]])

    outcome = run(source)

    assert outcome.summary_json["valid_records"] == 1
    assert outcome.rejected[0]["phone"] == "123"


def test_ods_numeric_phone_cells_come_out_as_their_digits(tmp_path):
    source = write_ods(tmp_path, "c.ods", [["phone", "name"], [9876543210, "Asha"]])

    _, rows = read_rows(source)

    assert rows == [(1, "9876543210", "Asha")]


def test_ods_goes_through_the_pipeline(tmp_path):
    source = write_ods(tmp_path, "c.ods", [["phone", "customer_id", "name"],
                                            [9876543210, "C1", "Asha"]])

    outcome = run(source)

    assert outcome.recipients[0]["phone_number"] == "+919876543210"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (9876543210.0, "9876543210"),
        (9876543210, "9876543210"),
        (12.5, "12.5"),
        (True, "TRUE"),
        (dt.datetime(2026, 7, 5), "2026-07-05"),
        (dt.datetime(2026, 7, 5, 9, 30), "2026-07-05 09:30:00"),
        (dt.date(2026, 7, 5), "2026-07-05"),
        ("", None),
        (None, None),
    ],
)
def test_cell_text(value, text):
    assert cell_text(value) == text


# --------------------------------------------------------------------------- unreadable


def test_binary_garbage_named_csv_is_unreadable(tmp_path):
    source = tmp_path / "c.csv"
    source.write_bytes(bytes(range(256)) * 4)

    assert_failed(run(source), "unreadable_file", "c.csv")


def test_non_utf8_bytes_without_nul_named_csv_is_unreadable(tmp_path):
    source = tmp_path / "c.csv"
    source.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(0x80, 0x100)))

    assert_failed(run(source), "unreadable_file", "UTF-8")


def test_latin1_csv_is_unreadable_and_asks_for_utf8(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,name\n9876543210,José\n9876543211,Zoë\n",
                        encoding="latin-1")

    assert_failed(run(source, mapping=PHONE_ONLY), "unreadable_file", "UTF-8")


def test_latin1_byte_at_the_very_end_of_the_file_is_unreadable(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,name\n9876543210,Jos\xe9", encoding="latin-1")

    assert_failed(run(source, mapping=PHONE_ONLY), "unreadable_file", "UTF-8")


def test_latin1_byte_beyond_the_sniffed_sample_is_unreadable(tmp_path):
    body = "".join(f"98765{i:05d},Name{i}\n" for i in range(30_000))
    source = write_text(tmp_path, "c.csv", "phone,name\n" + body + "9876500000,José\n",
                        encoding="latin-1")
    assert source.stat().st_size > 256 * 1024

    assert_failed(run(source, mapping=PHONE_ONLY), "unreadable_file", "UTF-8")


def test_utf16_csv_is_unreadable_and_asks_for_utf8(tmp_path):
    source = write_text(tmp_path, "c.csv", "\ufeffphone,name\n9876543210,Asha\n",
                        encoding="utf-16-le")

    assert_failed(run(source, mapping=PHONE_ONLY), "unreadable_file", "UTF-16")


def test_pdf_renamed_xlsx_is_unreadable(tmp_path):
    source = tmp_path / "c.xlsx"
    source.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n")

    assert_failed(run(source), "unreadable_file", "not a valid .xlsx workbook")


def test_text_renamed_xlsx_is_unreadable(tmp_path):
    source = write_text(tmp_path, "c.xlsx", "phone,name\n9876543210,Asha\n")

    assert_failed(run(source), "unreadable_file", "c.xlsx")


def test_zip_that_is_not_a_workbook_is_unreadable(tmp_path):
    import zipfile

    source = tmp_path / "c.xlsx"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")

    assert_failed(run(source), "unreadable_file", "cannot be read")


def test_garbage_named_xls_is_unreadable(tmp_path):
    source = write_text(tmp_path, "c.xls", "phone,name\n9876543210,Asha\n")

    assert_failed(run(source), "unreadable_file", "c.xls")


def test_text_renamed_ods_is_unreadable(tmp_path):
    source = write_text(tmp_path, "c.ods", "phone,name\n9876543210,Asha\n")

    assert_failed(run(source), "unreadable_file", "c.ods")


def test_unsupported_suffix_is_unreadable_and_lists_supported_ones(tmp_path):
    source = write_text(tmp_path, "c.json", '{"phone": "9876543210"}')

    assert_failed(run(source), "unreadable_file", "'.json'", ".csv", ".xlsx")


def test_reader_reports_unreadable_file_as_cohort_error_not_traceback(tmp_path):
    source = tmp_path / "c.xlsx"
    source.write_bytes(b"PK\x03\x04garbage")

    error = read_error(source)

    assert error.code == "unreadable_file"
    assert "c.xlsx" in error.message


def test_tab_file_with_commas_in_values_is_split_on_tabs(tmp_path):
    source = write_text(
        tmp_path, "c.csv", "phone\tname\n9876543210\tRao, Jr\n9876543211\tKumar, A\n"
    )

    headers, rows = read_rows(source)

    assert headers == ["phone", "name"]
    assert rows[0] == (1, "9876543210", "Rao, Jr")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 9])
@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_chunks_hold_exactly_their_rows_in_file_order(tmp_path, monkeypatch, size, suffix):
    monkeypatch.setattr("cohortflow.ingest.csv_files.STREAM_BATCH_ROWS", 2)  # batches != chunks
    lines = [[str(9876543210 + i)] for i in range(1, 6)]
    source = (write_text(tmp_path, "june.csv", "phone\n" + "".join(f"{c[0]}\n" for c in lines))
              if suffix == "csv" else write_xlsx(tmp_path, "june.xlsx", [["phone"], *lines]))
    conn = duckdb.connect()
    raw = read_cohort_file(conn, source)

    chunks = []
    for first in raw.rows.chunks(conn, size):
        chunk = conn.execute("select row_number, c1 from chunk_rows").fetchall()
        chunks.append((first, chunk))

    expected = [(n, str(9876543210 + n)) for n in range(1, 6)]
    assert [first for first, _ in chunks] == list(range(1, 6, size))
    assert [row for _, chunk in chunks for row in chunk] == expected
    assert all(len(chunk) == min(size, 6 - first) for first, chunk in chunks)


def test_xlsx_rows_sent_in_small_batches_are_the_same_rows(tmp_path, monkeypatch):
    monkeypatch.setattr("cohortflow.ingest.workbooks.BATCH_CELLS", 4)  # 2 rows of 2 columns
    source = write_xlsx(tmp_path, "c.xlsx", [["phone", "name"], *[[9876543210 + i, f"n{i}"]
                                                                  for i in range(5)]])

    _, rows = read_rows(source)

    assert rows == [(i + 1, str(9876543210 + i), f"n{i}") for i in range(5)]


def test_xlsx_empty_rows_between_data_rows_are_data_rows_and_trailing_ones_are_not(tmp_path):
    source = write_xlsx(tmp_path, "c.xlsx", [["phone"], [9876543210], [None], [9876543211],
                                              [None], [None]])

    _, rows = read_rows(source)

    assert rows == [(1, "9876543210"), (2, None), (3, "9876543211")]


def test_a_workbook_without_a_visible_worksheet_fails_naming_its_sheets():
    from python_calamine import SheetMetadata, SheetTypeEnum, SheetVisibleEnum

    sheets = [SheetMetadata("Secret", SheetTypeEnum.WorkSheet, SheetVisibleEnum.Hidden),
              SheetMetadata("Chart", SheetTypeEnum.ChartSheet, SheetVisibleEnum.Visible)]

    with pytest.raises(CohortError, match="c.xlsx: the workbook has no visible worksheet "
                                          r"\(hidden: 'Secret', 'Chart'\)"):
        first_visible_sheet("c.xlsx", sheets)


def test_csv_whose_rows_the_two_parsers_split_differently_fails_rather_than_guess(tmp_path):
    # a stray quote in an unquoted field, on a row with a surplus field
    source = write_text(tmp_path, "c.csv", 'phone,name\n9876543210,"Rao" Jr,x\n')

    assert_failed(run(source, mapping=PHONE_ONLY), "unreadable_file", "row 1 has more fields",
                  "cannot be told apart")


def test_a_csv_up_to_one_pass_bytes_is_loaded_whole_and_a_larger_one_streamed(
    tmp_path, both_csv_readings
):
    source = write_text(tmp_path, "c.csv", "phone\n9876543210\n9876543211\n")
    conn = duckdb.connect()

    raw = read_cohort_file(conn, source)

    (loaded,), = conn.execute(
        "select count(*) from duckdb_tables() where table_name = 'raw_table'").fetchall()
    if both_csv_readings == "one pass":
        assert (raw.row_count, loaded) == (2, 1)
    else:  # streamed in one pass, its rows counted as they are read
        assert (raw.row_count, loaded) == (None, 0)
        assert isinstance(raw.rows, CsvRows)
        assert [first for first in raw.rows.chunks(conn, 1000)] == [1]
        assert raw.rows.rows_read == 2


@pytest.mark.parametrize("extra_quotes", [0, 1])
def test_quotes_are_counted_across_every_buffer_of_a_file(tmp_path, monkeypatch, extra_quotes):
    from cohortflow.ingest import csv_parsers

    monkeypatch.setattr(csv_parsers, "QUOTE_BUFFER_BYTES", 7)  # reads that split quoted cells
    rows = "".join(f'98765432{i:02d},"Asha {i}"\n' for i in range(40))
    source = write_text(tmp_path, "june.csv", "phone,name\n" + rows + '"' * extra_quotes)

    if extra_quotes:
        with pytest.raises(CohortError, match="never closed") as problem:
            csv_parsers.check_balanced_quotes(source, ",")
        assert problem.value.code == "unbalanced_quotes"
    else:
        csv_parsers.check_balanced_quotes(source, ",")


def test_a_file_its_one_pass_cannot_read_has_its_quotes_counted_once(tmp_path, monkeypatch):
    # streamed in one pass, the strict parser refuses the surplus field before the first chunk:
    # the file is then counted and its parser chosen, without counting its quotes again
    from cohortflow.ingest import csv_files, csv_parsers

    monkeypatch.setattr(csv_files, "ONE_PASS_BYTES", -1)
    counted: list[Path] = []
    real = csv_parsers.check_balanced_quotes

    def counting(path: Path, delimiter: str) -> None:
        counted.append(path)
        real(path, delimiter)

    monkeypatch.setattr(csv_parsers, "check_balanced_quotes", counting)
    monkeypatch.setattr(csv_files, "check_balanced_quotes", counting)
    source = write_text(tmp_path, "june.csv", "phone,name\n9876543210,Asha,extra\n"
                        "9876543211,Ravi\n")

    headers, rows = read_rows(source)

    assert headers == ["phone", "name"]
    assert [row[1:] for row in rows] == [("9876543210", "Asha"), ("9876543211", "Ravi")]
    assert counted == [source]
