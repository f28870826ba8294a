"""report.html: a self-contained page per cohort that never shows a full phone number."""

from __future__ import annotations

import re

from cohortflow.ingest.report import render_report, write_report
from tests.unit.helpers import run, write_text

# A valid Indian mobile that must never appear in full in a report.
FULL_PHONE = "9876543210"


def _report(outcome_dir) -> str:
    return (outcome_dir / "report.html").read_text(encoding="utf-8")


def test_process_cohort_writes_report_beside_summary(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")

    outcome = run(source)

    assert (outcome.out_dir / "report.html").is_file()
    assert (outcome.out_dir / "summary.json").is_file()


def test_rejected_sample_masks_the_mapped_phone_column(tmp_path):
    source = write_text(
        tmp_path,
        "c.csv",
        "phone,customer_id,name\n"
        f"{FULL_PHONE},C1,Asha\n"
        f"{FULL_PHONE},C2,Asha again\n"  # duplicate: rejected, number in rejected.csv
        "+91 98765 43299,,No id\n",  # missing identifier: rejected
    )

    outcome = run(source)
    html = _report(outcome.out_dir)

    assert outcome.summary.rejected_records == 2
    assert FULL_PHONE not in html
    assert "98765 43299" not in html and "9876543299" not in html
    assert "••••••3210" in html
    assert "+••••••••3299" in html


def test_formula_quoted_phone_is_masked_too(tmp_path):
    source = write_text(
        tmp_path, "c.csv", "phone,customer_id,name\n+919876543210,C1,A\n+919876543210,C2,B\n"
    )

    html = _report(run(source).out_dir)

    assert "919876543210" not in html
    assert "+••••••••3210" in html


def test_cells_are_html_escaped(tmp_path):
    source = write_text(
        tmp_path,
        "c.csv",
        'phone,customer_id,name\n12345,C1,"<script>alert(1)</script>"\n'
        '12346,C2,"<img src=x onerror=alert(2)>"\n',
    )

    html = _report(run(source).out_dir)

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html


def test_mapping_values_and_reasons_are_escaped(tmp_path):
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"note": {"value": "<b>bold</b>"}},
    }
    source = write_text(tmp_path, "c.csv", "phone\n12345\n")

    html = _report(run(source, mapping=mapping).out_dir)

    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_failed_cohort_report_shows_the_error_and_no_rows(tmp_path):
    source = write_text(tmp_path, "c.csv", "mobile,customer_id,name\n9876543210,C1,Asha\n")

    outcome = run(source)
    html = _report(outcome.out_dir)

    assert outcome.summary.status == "failed"
    assert 'id="error"' in html
    assert "missing_column" in html
    assert "Rejected rows" not in html
    assert FULL_PHONE not in html


def test_chart_has_one_bar_per_reason_largest_first(tmp_path):
    source = write_text(
        tmp_path,
        "c.csv",
        "phone,customer_id,name\n12345,C1,A\n12346,C2,B\n9876543210,,C\n9876543211,C4,D\n",
    )

    html = _report(run(source).out_dir)

    labels = re.findall(r"<title>([^<]+)</title>", html)
    assert labels[1:] == ["invalid_phone: 2", "missing_required:user_identifier: 1"]
    assert "<svg" in html


def test_report_loads_nothing_from_outside(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n12345,C1,A\n")

    html = _report(run(source).out_dir)

    assert "<script" not in html
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html)


def test_inferred_mapping_is_labelled_inferred(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone_number,customer_id\n9876543210,C1\n")

    html = _report(run(source, infer=True).out_dir)

    assert "Inferred from the headers" in html
    assert "inferred from headers" in html


def test_unknown_phone_column_shows_no_sample_rows(tmp_path):
    source = write_text(
        tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,A\n9876543210,C2,B\n"
    )
    outcome = run(source)
    summary = outcome.summary.model_copy(update={"mapping": None})

    html = render_report(summary, outcome.out_dir / "rejected.csv")

    assert FULL_PHONE not in html
    assert "the phone column is unknown" in html


def test_sample_is_limited_to_twenty_rows(tmp_path):
    rows = "".join(f"12{i:03d},C{i},N{i}\n" for i in range(30))
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n" + rows)
    outcome = run(source)

    path = write_report(outcome.out_dir, outcome.summary)

    html = path.read_text(encoding="utf-8")
    assert "first 20 of 30" in html
    assert html.count("<td>C") == 20
