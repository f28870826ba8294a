"""The ingest rules of issue 2, one behaviour per test, on small literal files.

Blocking rules fail the whole cohort (status ``failed``, nothing published, the error names the
cause); row-level rules reject one row with a stable reason code followed by ``": "`` and a
detail, and the rest continue. Outputs are the contract the rest of cohortflow relies on.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from cohortflow.ingest.contracts import REASON_PATTERN
from cohortflow.ingest.identity import file_sha256
from tests.unit.helpers import assert_failed, make_campaign, make_mapping, run, write_text

# --------------------------------------------------------------------------- blocking rules


def test_mapped_column_missing_from_headers_fails_naming_column_and_headers(tmp_path):
    source = write_text(tmp_path, "c.csv", "mobile,customer_id,name\n9876543210,C1,Asha\n")

    outcome = run(source)

    assert_failed(outcome, "missing_column", "'phone'", "headers are: mobile, customer_id, name")


def test_missing_variable_column_is_named_with_its_field(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id\n9876543210,C1\n")

    outcome = run(source)

    assert_failed(outcome, "missing_column", "'name' (for name)")


def test_header_only_file_fails_with_no_data_rows(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n")

    outcome = run(source)

    assert_failed(outcome, "no_data", "no data rows")
    assert outcome.summary_json["total_records"] == 0


def test_empty_file_fails_as_empty(tmp_path):
    source = write_text(tmp_path, "c.csv", "")

    outcome = run(source)

    assert_failed(outcome, "no_data", "empty")


def test_whitespace_only_file_fails_as_empty(tmp_path):
    source = write_text(tmp_path, "c.csv", " \r\n\n")

    outcome = run(source)

    assert_failed(outcome, "no_data", "empty")


def test_app_variable_not_declared_by_campaign_fails(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name,city\n9876543210,C1,Asha,Pune\n")
    campaign = make_campaign(variables=["name"])
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"name": {"column_name": "name"}, "city": {"column_name": "city"}},
    }

    outcome = run(source, mapping=mapping, campaign=campaign)

    assert_failed(outcome, "undeclared_variable", "city", "declared: name")


def test_any_app_variable_is_allowed_when_campaign_declares_none(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")

    outcome = run(source, campaign=make_campaign())

    assert outcome.summary.status == "completed"
    assert outcome.recipients[0]["name"] == "Asha"


def test_declared_required_variable_not_mapped_fails(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")
    campaign = make_campaign(variables={"name": {}, "loan_amount": {"required": True}})

    outcome = run(source, campaign=campaign)

    assert_failed(outcome, "unmapped_variable", "loan_amount")


def test_declared_optional_variable_may_be_left_unmapped(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")
    campaign = make_campaign(variables={"name": {"required": True}, "due_date": {}})

    outcome = run(source, campaign=campaign)

    assert outcome.summary.status == "completed"


def test_duplicate_header_names_fail_naming_both_positions(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,name,name\n9876543210,Asha,Verma\n")

    outcome = run(source, mapping={"phone_number": {"column_name": "phone"}})

    assert_failed(outcome, "bad_header", "'name' (columns 2 and 3)")


def test_headers_differing_only_in_surrounding_spaces_are_duplicates(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,name, name \n9876543210,Asha,Verma\n")

    outcome = run(source, mapping={"phone_number": {"column_name": "phone"}})

    assert_failed(outcome, "bad_header", "'name'")


def test_empty_header_name_fails_naming_its_column(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,,name\n9876543210,x,Asha\n")

    outcome = run(source, mapping={"phone_number": {"column_name": "phone"}})

    assert_failed(outcome, "bad_header", "empty header name in column(s) 2")


def test_template_naming_unmapped_variable_fails_before_rows_are_checked(tmp_path):
    # Header only: the template error wins over "no data rows", so it is found first.
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n")
    campaign = make_campaign(template="Hi {{ name }}, you owe {{ loan_amount }}")

    outcome = run(source, campaign=campaign)

    assert_failed(outcome, "config_error", "template", "'loan_amount'", "available:")


def test_layout_naming_unmapped_variable_fails(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")
    layout = {"contact": {"contactCode": "{{ phone_number }}", "greeting": "{{ nickname }}"}}

    outcome = run(source, campaign=make_campaign(layout=layout))

    assert_failed(outcome, "config_error", "layout", "'nickname'")


def test_template_escaping_the_sandbox_fails_the_cohort(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")
    campaign = make_campaign(template="{{ ''.__class__.__mro__ }}")

    outcome = run(source, campaign=campaign)

    assert_failed(outcome, "config_error", "unsafe attribute")


def test_template_reaching_private_attribute_through_a_variable_fails(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")
    campaign = make_campaign(template="{{ name.__class__.__init__.__globals__ }}")

    outcome = run(source, campaign=campaign)

    assert_failed(outcome, "config_error", "unsafe attribute")


def test_template_syntax_error_fails_the_cohort(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")

    outcome = run(source, campaign=make_campaign(template="Hi {{ name "))

    assert_failed(outcome, "config_error", "template", "syntax error")


def test_unknown_formatter_fails_naming_it(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"name": {"column_name": "name", "format": "shout"}},
    }

    outcome = run(source, mapping=mapping)

    assert_failed(outcome, "config_error", "'shout'", "title_case")


def test_no_mapping_and_no_recognisable_phone_column_fails(tmp_path):
    source = write_text(tmp_path, "c.csv", "tel,name\n9876543210,Asha\n")

    outcome = run(source, infer=True)

    assert_failed(outcome, "missing_column", "no phone column", "headers are: tel, name")


def test_failed_run_removes_artefacts_of_an_earlier_run(tmp_path):
    good = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")
    assert run(good).published
    bad = write_text(tmp_path, "c.csv", "phone,customer_id,name\n")

    outcome = run(bad)

    assert_failed(outcome, "no_data")
    assert not (outcome.out_dir / "rejections.parquet").exists()


# --------------------------------------------------------------------------- phones


def test_valid_national_number_is_written_in_e164(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")

    outcome = run(source)

    assert outcome.recipients[0]["phone_number"] == "+919876543210"
    assert outcome.recipients[0]["region"] == "IN"


@pytest.mark.parametrize(
    "raw",
    [
        " 9876543210 ",
        "+91 98765 43210",
        "+91-98765-43210",
        "(0) 98765 43210",
        "098765 43210",
        "0091 9876543210",
        "98765.43210",
    ],
)
def test_spaces_and_formatting_characters_are_handled_by_the_parser(tmp_path, raw):
    source = write_text(tmp_path, "c.csv", f'phone,customer_id,name\n"{raw}",C1,Asha\n')

    outcome = run(source)

    assert outcome.summary.valid_records == 1, outcome.summary.rejected_reasons
    assert outcome.recipients[0]["phone_number"] == "+919876543210"


def test_full_width_digits_are_accepted(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n９８７６５４３２１０,C1,Asha\n")

    outcome = run(source)

    assert outcome.recipients[0]["phone_number"] == "+919876543210"


@pytest.mark.parametrize(
    ("raw", "e164", "region"),
    [
        ("+44 20 7946 0958", "+442079460958", "GB"),
        ("+1 650 253 0000", "+16502530000", "US"),
        ("+971 50 123 4567", "+971501234567", "AE"),
    ],
)
def test_number_with_another_country_code_keeps_its_own_country(tmp_path, raw, e164, region):
    source = write_text(tmp_path, "c.csv", f"phone,customer_id,name\n{raw},C1,Asha\n")

    outcome = run(source)

    assert outcome.recipients[0]["phone_number"] == e164
    assert outcome.recipients[0]["region"] == region


def test_region_option_changes_how_national_numbers_are_read(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n(201) 555-0123,C1,Asha\n")

    as_india = run(source)
    as_us = run(source, region="US")

    assert as_india.summary.valid_records == 0
    assert as_us.recipients[0]["phone_number"] == "+12015550123"


def test_campaign_default_region_is_used_for_national_numbers(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n020 7946 0958,C1,Asha\n")

    outcome = run(source, campaign=make_campaign(default_region="GB"))

    assert outcome.recipients[0]["phone_number"] == "+442079460958"


@pytest.mark.parametrize("raw", ["12345", "98765432101234", "not a phone", "+91 00000 00000"])
def test_invalid_phone_is_rejected_with_invalid_phone(tmp_path, raw):
    source = write_text(tmp_path, "c.csv", f"phone,customer_id,name\n{raw},C1,Asha\n")

    outcome = run(source)

    assert outcome.summary.valid_records == 0
    assert outcome.reason_of(1).startswith("invalid_phone: ")


def test_valid_number_beyond_e164_length_is_rejected_not_a_crash(tmp_path):
    # phonenumbers accepts this German fixed line (17 digits); E.164 (and the recipients
    # contract) allow 15: the row is rejected, the cohort completes
    source = write_text(
        tmp_path, "c.csv", "phone,customer_id,name\n+49 30 1234567890123,C1,Asha\n"
        "+91 98765 43210,C2,Ravi\n")

    outcome = run(source)

    assert outcome.summary.status == "completed"
    assert outcome.reason_of(1) == "invalid_phone: longer than the 15 digits E.164 allows"
    assert [r["phone_number"] for r in outcome.recipients] == ["+919876543210"]


def test_empty_phone_is_rejected_with_invalid_phone(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n,C1,Asha\n")

    outcome = run(source)

    assert outcome.reason_of(1) == "invalid_phone: phone number is empty"


def test_invalid_phone_detail_does_not_repeat_the_number(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n98765,C1,Asha\n")

    outcome = run(source)

    assert "98765" not in outcome.reason_of(1)


# --------------------------------------------------------------------------- required, format


def test_required_field_empty_after_trimming_is_rejected(tmp_path):
    source = write_text(tmp_path, "c.csv", 'phone,customer_id,name\n9876543210,"   ",Asha\n')

    outcome = run(source)

    assert outcome.reason_of(1) == (
        "missing_required:user_identifier: required value is empty"
    )


def test_required_field_missing_from_a_short_row_is_rejected(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,name,customer_id\n9876543210,Asha\n")

    outcome = run(source)

    assert outcome.reason_of(1).startswith("missing_required:user_identifier: ")


def test_optional_field_may_be_empty(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,\n")

    outcome = run(source)

    assert outcome.summary.valid_records == 1
    assert outcome.recipients[0]["name"] in ("", None)


def test_required_variable_in_mapping_is_checked_like_the_identifier(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,name\n9876543210,\n")
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"customer_name": {"column_name": "name", "required": True}},
    }

    outcome = run(source, mapping=mapping)

    assert outcome.reason_of(1).startswith("missing_required:customer_name: ")


def test_formatter_failure_rejects_the_row_with_format_error(tmp_path):
    source = write_text(
        tmp_path, "c.csv",
        "phone,customer_id,due\n9876543210,C1,31/02/2026\n9876543211,C2,05/07/2026\n",
    )
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"due_date": {"column_name": "due", "format": "iso_date"}},
    }

    outcome = run(source, mapping=mapping)

    assert outcome.reason_of(1) == "format_error:due_date: iso_date cannot format this value"
    assert outcome.recipients[0]["due_date"] == "2026-07-05"


def test_formatter_is_not_applied_to_an_empty_optional_value(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,amount\n9876543210,\n")
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"loan_amount": {"column_name": "amount", "format": "amount"}},
    }

    outcome = run(source, mapping=mapping)

    assert outcome.summary.valid_records == 1


def test_row_with_several_problems_lists_every_reason_first_code_counted(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n123,,Asha\n")

    outcome = run(source)

    reason = outcome.reason_of(1)
    assert reason.startswith("invalid_phone: ")
    assert "; missing_required:user_identifier: " in reason
    assert outcome.summary.rejected_reasons == {"invalid_phone": 1}


# --------------------------------------------------------------------------- render


def test_template_failing_for_one_row_rejects_only_that_row(tmp_path):
    source = write_text(
        tmp_path, "c.csv", "phone,amount\n9876543210,4\n9876543211,0\n9876543212,5\n"
    )
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"amount": {"column_name": "amount"}},
    }
    campaign = make_campaign(template="Share: {{ 100 // (amount | int) }}")

    outcome = run(source, mapping=mapping, campaign=campaign)

    assert [r["message"] for r in outcome.recipients] == ["Share: 25", "Share: 20"]
    assert outcome.reason_of(2).startswith("render_error: template: ZeroDivisionError")


def test_layout_failing_for_one_row_rejects_only_that_row(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,amount\n9876543210,4\n9876543211,0\n")
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"amount": {"column_name": "amount"}},
    }
    layout = {"contact": {"contactCode": "{{ phone_number }}"}, "share": "{{ 8 // amount|int }}"}

    outcome = run(source, mapping=mapping, campaign=make_campaign(layout=layout))

    assert outcome.summary.valid_records == 1
    assert outcome.reason_of(2).startswith("render_error: layout: ")


def test_render_error_detail_masks_phone_numbers(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone\n9876543210\n")
    # a lookup of a missing key: the error message would repeat the number
    campaign = make_campaign(template="{{ {'a': 1}[phone_number] }}")

    outcome = run(source, mapping={"phone_number": {"column_name": "phone"}}, campaign=campaign)

    reason = outcome.reason_of(1)
    assert reason.startswith("render_error: template: UndefinedError")
    assert "9876543210" not in reason
    assert "3210" in reason  # the masked form keeps the last four digits


# --------------------------------------------------------------------------- DNC


def test_number_on_dnc_list_is_rejected_whatever_its_format(tmp_path):
    source = write_text(
        tmp_path, "c.csv",
        "phone,customer_id,name\n"
        "9876543299,C1,Asha\n"
        "+91 98765 43298,C2,Ravi\n"
        "9876543210,C3,Meena\n",
    )
    dnc = write_text(tmp_path, "dnc.csv", "phone_number\n+919876543299\n098765 43298\n")

    outcome = run(source, dnc=dnc)

    assert outcome.rejected_row_numbers == [1, 2]
    assert outcome.reason_of(1) == "do_not_contact: the number is on the do-not-contact list"
    assert outcome.summary.rejected_reasons == {"do_not_contact": 2}


def test_headerless_dnc_list_is_read_as_numbers(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543299,C1,Asha\n")
    dnc = write_text(tmp_path, "dnc.csv", "9876543299\n9876543298\n")

    outcome = run(source, dnc=dnc)

    assert outcome.reason_of(1).startswith("do_not_contact: ")


def test_campaign_dnc_list_is_used_when_no_override(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543299,C1,Asha\n")
    dnc = write_text(tmp_path, "dnc.csv", "phone\n9876543299\n")

    outcome = run(source, campaign=make_campaign(dnc=dnc))

    assert outcome.reason_of(1).startswith("do_not_contact: ")


def test_missing_dnc_list_fails_the_cohort(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543299,C1,Asha\n")

    outcome = run(source, dnc=tmp_path / "nope.csv")

    assert_failed(outcome, "config_error", "do-not-contact list not found")


# --------------------------------------------------------------------------- duplicates


def test_duplicates_across_formats_keep_the_first_and_name_the_kept_row(tmp_path):
    source = write_text(
        tmp_path, "c.csv",
        "phone,customer_id,name\n"
        "9876543210,C1,Asha\n"
        "9876543211,C2,Ravi\n"
        "+91 98765 43210,C3,Asha again\n"
        "098765-43210,C4,Asha thrice\n",
    )

    outcome = run(source)

    assert [r["row_number"] for r in outcome.recipients] == [1, 2]
    assert outcome.reason_of(3) == "duplicate_phone: same number as row 1, which is kept"
    assert outcome.reason_of(4) == "duplicate_phone: same number as row 1, which is kept"


def test_duplicate_of_an_invalid_row_is_not_a_duplicate(tmp_path):
    source = write_text(
        tmp_path, "c.csv", "phone,customer_id,name\n9876543210,,Asha\n+919876543210,C2,Asha\n"
    )

    outcome = run(source)

    assert outcome.reason_of(1).startswith("missing_required:user_identifier: ")
    assert [r["row_number"] for r in outcome.recipients] == [2]


def test_duplicate_of_a_row_that_fails_to_render_is_not_a_duplicate(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,amount\n9876543210,0\n9876543210,4\n")
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"amount": {"column_name": "amount"}},
    }
    campaign = make_campaign(template="{{ 100 // (amount | int) }}")

    outcome = run(source, mapping=mapping, campaign=campaign)

    assert outcome.reason_of(1).startswith("render_error: ")
    assert [r["row_number"] for r in outcome.recipients] == [2]


def test_duplicate_of_a_dnc_row_is_rejected_as_dnc_not_duplicate(tmp_path):
    source = write_text(
        tmp_path, "c.csv", "phone,customer_id,name\n9876543299,C1,A\n9876543299,C2,B\n"
    )
    dnc = write_text(tmp_path, "dnc.csv", "phone\n9876543299\n")

    outcome = run(source, dnc=dnc)

    assert outcome.summary.rejected_reasons == {"do_not_contact": 2}


# --------------------------------------------------------------------------- counts, reasons


def test_total_is_valid_plus_rejected(tmp_path):
    source = write_text(
        tmp_path, "c.csv",
        "phone,customer_id,name\n"
        "9876543210,C1,Asha\n"
        "123,C2,Bad\n"
        "9876543211,,No id\n"
        "9876543210,C4,Dup\n"
        "9876543212,C5,Fine\n",
    )

    outcome = run(source)

    summary = outcome.summary_json
    assert summary["total_records"] == 5
    assert summary["valid_records"] == 2
    assert summary["rejected_records"] == 3
    assert summary["total_records"] == summary["valid_records"] + summary["rejected_records"]
    assert sum(summary["rejected_reasons"].values()) == summary["rejected_records"]


def test_every_reason_is_a_stable_code_followed_by_a_detail(tmp_path):
    source = write_text(
        tmp_path, "c.csv",
        "phone,customer_id,due\n"
        "123,C1,2026-07-01\n"
        "9876543211,,2026-07-01\n"
        "9876543212,C3,garbage\n"
        "9876543212,C4,2026-07-01\n"
        "9876543213,C5,2026-07-01\n"
        "9876543213,C6,2026-07-01\n",
    )
    mapping = {
        "phone_number": {"column_name": "phone"},
        "user_identifier": {"column_name": "customer_id", "required": True},
        "app_variables": {"due_date": {"column_name": "due", "format": "iso_date"}},
    }

    outcome = run(source, mapping=mapping)

    reasons = [row["rejected_reason"] for row in outcome.rejected]
    assert len(reasons) == 4
    for reason in reasons:
        assert re.match(REASON_PATTERN, reason), reason
        assert reason.split(": ", 1)[1]
    assert outcome.summary.rejected_reasons == {
        "invalid_phone": 1,
        "missing_required:user_identifier": 1,
        "format_error:due_date": 1,
        "duplicate_phone": 1,
    }


def test_file_where_every_row_is_invalid_completes_with_zero_valid(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n1,C1,A\n2,C2,B\n,C3,C\n")

    outcome = run(source)

    summary = outcome.summary_json
    assert summary["status"] == "completed"
    assert (summary["total_records"], summary["valid_records"], summary["rejected_records"]) == (
        3, 0, 3,
    )
    assert outcome.recipients == []
    assert len(outcome.rejected) == 3


# --------------------------------------------------------------------------- rejected.csv


def test_rejected_csv_keeps_original_columns_in_order_with_reason_last(tmp_path):
    source = write_text(
        tmp_path, "c.csv", "name,due,phone,customer_id\nasha,05/07/2026,123,C1\n"
    )
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"name": {"column_name": "name", "format": "title_case"},
                          "due": {"column_name": "due", "format": "iso_date"}},
    }

    outcome = run(source, mapping=mapping)

    assert outcome.rejected_header == ["name", "due", "phone", "customer_id", "rejected_reason"]
    # original values, not formatted ones
    row = outcome.rejected[0]
    assert (row["name"], row["due"], row["phone"]) == ("asha", "05/07/2026", "123")


def test_rejected_csv_rows_are_in_file_order(tmp_path):
    source = write_text(
        tmp_path, "c.csv",
        "phone,customer_id,name\n9876543210,C1,A\n9876543210,C2,B\n1,C3,C\n9876543211,,D\n",
    )

    outcome = run(source)

    assert [row["customer_id"] for row in outcome.rejected] == ["C2", "C3", ""]
    assert outcome.rejected_row_numbers == [2, 3, 4]


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x","click")', "+1+2", "-2+3", "@SUM(A1)"])
def test_formula_injection_cell_in_rejected_row_is_neutralised(tmp_path, cell):
    quoted = '"' + cell.replace('"', '""') + '"'
    source = write_text(tmp_path, "c.csv", f"phone,customer_id,name\n123,C1,{quoted}\n")

    outcome = run(source)

    assert outcome.rejected[0]["name"] == "'" + cell


def test_tab_and_carriage_return_leading_cells_are_neutralised(tmp_path):
    source = write_text(tmp_path, "c.csv", 'phone,customer_id,name\n123,"\tC1","\rX"\n')

    outcome = run(source)

    row = outcome.rejected[0]
    assert row["customer_id"] == "'\tC1"
    assert row["name"] == "'\rX"


def test_formula_injection_in_a_header_is_neutralised_in_rejected_csv(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,=cmd,customer_id,name\n123,x,C1,A\n")

    outcome = run(source)

    assert outcome.rejected_header[1] == "'=cmd"


def test_rejected_csv_preserves_quotes_commas_and_newlines(tmp_path):
    source = write_text(
        tmp_path, "c.csv", 'phone,customer_id,name\n123,C1,"Rao, ""Jr""\nsecond line"\n'
    )

    outcome = run(source)

    assert outcome.rejected[0]["name"] == 'Rao, "Jr"\nsecond line'


def test_rejections_record_holds_original_values_keyed_by_header(tmp_path):
    import pyarrow.parquet as pq

    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n123,C1,=A\n")

    outcome = run(source)

    row = pq.read_table(outcome.out_dir / "rejections.parquet").to_pylist()[0]
    assert json.loads(row["record"]) == {"phone": "123", "customer_id": "C1", "name": "=A"}
    assert row["reason_code"] == "invalid_phone"


def test_row_with_more_fields_than_the_header_is_rejected_as_malformed(tmp_path):
    source = write_text(
        tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha,extra\n9876543211,C2,Ravi\n"
    )

    outcome = run(source)

    assert outcome.reason_of(1) == (
        'malformed_row: the row has more fields than the header; the extra fields: ["extra"]')
    assert [r["row_number"] for r in outcome.recipients] == [2]


def test_row_with_many_surplus_fields_is_rejected_as_malformed(tmp_path):
    source = write_text(
        tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha,x,y,z\n9876543211,C2,Ravi\n"
    )

    outcome = run(source)

    assert outcome.summary.status == "completed"
    assert outcome.reason_of(1).startswith("malformed_row: ")
    assert outcome.summary.total_records == 2


# --------------------------------------------------------------------------- recipients


def test_recipients_have_row_number_phone_region_identifier_and_fields(tmp_path):
    source = write_text(
        tmp_path, "c.csv", "phone,customer_id,name,language\n9876543210,C1,Asha,hi\n"
    )
    mapping = {
        "phone_number": {"column_name": "phone"},
        "user_identifier": {"column_name": "customer_id"},
        "app_variables": {"customer_name": {"column_name": "name"}},
        "app_overrides": {"initial_language_name": {"column_name": "language"}},
    }

    outcome = run(source, mapping=mapping)

    assert outcome.recipient_columns == [
        "row_number", "phone_number", "region", "user_identifier", "customer_name",
        "initial_language_name",
    ]
    assert outcome.recipients == [{
        "row_number": 1, "phone_number": "+919876543210", "region": "IN",
        "user_identifier": "C1", "customer_name": "Asha", "initial_language_name": "hi",
    }]


def test_recipients_have_a_message_when_the_campaign_has_a_template(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")
    campaign = make_campaign(template="Namaste {{ name }} ({{ user_identifier }}, {{ region }})")

    outcome = run(source, campaign=campaign)

    assert outcome.recipients[0]["message"] == "Namaste Asha (C1, IN)"
    assert "payload" not in outcome.recipient_columns


@pytest.mark.parametrize("fast_paths", ["1", "0"])
def test_message_template_gets_the_e164_number(tmp_path, monkeypatch, fast_paths):
    # "1": rendered in SQL, the number rebuilt from its integer key; "0": rendered by Jinja
    monkeypatch.setenv("COHORTFLOW_FAST_PATHS", fast_paths)
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n098765 43210,C1,Asha\n")
    campaign = make_campaign(template="Call {{ phone_number }} ({{ region }}), {{ name }}")

    outcome = run(source, campaign=campaign)

    assert outcome.recipients[0]["message"] == "Call +919876543210 (IN), Asha"


def test_empty_cell_renders_as_empty_text_not_none(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,\n")

    outcome = run(source, campaign=make_campaign(template="Hi {{ name }}!"))

    assert outcome.recipients[0]["message"] == "Hi !"


def test_recipients_have_a_json_payload_when_the_campaign_has_a_layout(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")
    layout = {
        "contact": {"contactCode": "{{ phone_number }}", "channelType": "whatsapp"},
        "variables": ["{{ name }}", 42],
    }

    outcome = run(source, campaign=make_campaign(layout=layout))

    payload = json.loads(outcome.recipients[0]["payload"])
    assert payload == {
        "contact": {"contactCode": "+919876543210", "channelType": "whatsapp"},
        "variables": ["Asha", 42],
    }
    assert "message" not in outcome.recipient_columns


def test_recipients_have_no_message_or_payload_without_template_or_layout(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")

    outcome = run(source)

    assert "message" not in outcome.recipient_columns
    assert "payload" not in outcome.recipient_columns


def test_fixed_value_field_is_the_same_on_every_row(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone\n9876543210\n9876543211\n")
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"channel": {"value": "voice"}},
        "app_overrides": {"initial_state_name": {"value": "greeting"}},
    }

    outcome = run(source, mapping=mapping)

    assert [(r["channel"], r["initial_state_name"]) for r in outcome.recipients] == [
        ("voice", "greeting"), ("voice", "greeting"),
    ]


def test_fixed_value_with_sql_quotes_is_kept_literally(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone\n9876543210\n")
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"note": {"value": "it's'); drop table x; --"}},
    }

    outcome = run(source, mapping=mapping)

    assert outcome.recipients[0]["note"] == "it's'); drop table x; --"


@pytest.mark.parametrize(
    ("fmt", "raw", "formatted"),
    [
        ("title_case", "asha VERMA", "Asha Verma"),
        ("title_case", "o'brien-smith", "O'Brien-Smith"),
        ("iso_date", "05/07/2026", "2026-07-05"),
        ("iso_date", "7 Jul 2026", "2026-07-07"),
        ("iso_date", "2026-07-06", "2026-07-06"),
        ("amount", "₹1,23,456.50", "123456.50"),
        ("amount", "USD 2,500", "2500"),
        ("amount", "(1,000)", "-1000"),
        ("trim", "  Asha  ", "Asha"),
        ("upper", "hi", "HI"),
        ("lower", "HI", "hi"),
        ("digits_only", "+91 (98765) 43210", "919876543210"),
    ],
)
def test_formatter_is_applied_to_the_mapped_value(tmp_path, fmt, raw, formatted):
    source = write_text(tmp_path, "c.csv", f'phone,value\n9876543210,"{raw}"\n')
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"v": {"column_name": "value", "format": fmt}},
    }

    outcome = run(source, mapping=mapping)

    assert outcome.recipients[0]["v"] == formatted


@pytest.mark.parametrize(("fmt", "raw"), [("iso_date", "garbage"), ("iso_date", "31/02/2026"),
                                           ("amount", "abc"), ("amount", "1,2,3")])
def test_formatter_failing_on_garbage_rejects_the_row(tmp_path, fmt, raw):
    source = write_text(tmp_path, "c.csv", f'phone,value\n9876543210,"{raw}"\n')
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"v": {"column_name": "value", "format": fmt}},
    }

    outcome = run(source, mapping=mapping)

    assert outcome.reason_of(1).startswith("format_error:v: ")


def test_template_sees_formatted_values(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,name\n9876543210,asha verma\n")
    mapping = {
        "phone_number": {"column_name": "phone"},
        "app_variables": {"name": {"column_name": "name", "format": "title_case"}},
    }

    outcome = run(source, mapping=mapping, campaign=make_campaign(template="Hi {{ name }}"))

    assert outcome.recipients[0]["message"] == "Hi Asha Verma"


# --------------------------------------------------------------------------- summary


SUMMARY_KEYS = {
    "cohort_id", "campaign_id", "name", "status", "source_type", "source", "sha256",
    "total_records", "valid_records", "rejected_records", "rejected_reasons", "error",
    "created_at", "updated_at",
}


def test_summary_has_the_contract_keys(tmp_path):
    source = write_text(tmp_path, "june.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")

    outcome = run(source)

    summary = outcome.summary_json
    assert set(summary) >= SUMMARY_KEYS
    assert summary["campaign_id"] == "test"
    assert summary["name"] == "june.csv"
    assert summary["status"] == "completed"
    assert summary["error"] is None
    assert summary["sha256"] == file_sha256(source)
    assert summary["created_at"].endswith("Z")
    assert summary["updated_at"] >= summary["created_at"]


def test_the_sha256_covers_every_chunk_of_the_file(tmp_path):
    data = bytes(range(256)) * 3_000  # 768,000 bytes: read 256 KiB at a time, the last short
    source = tmp_path / "c.csv"
    source.write_bytes(data)

    assert file_sha256(source) == hashlib.sha256(data).hexdigest()


def test_failed_summary_has_the_contract_keys(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n")

    summary = run(source).summary_json

    assert set(summary) >= SUMMARY_KEYS
    assert summary["rejected_reasons"] == {}


def test_cohort_id_depends_on_campaign_and_content_only(tmp_path):
    first = write_text(tmp_path, "a.csv", "phone\n9876543210\n")
    other = tmp_path / "other"
    other.mkdir()
    second = write_text(other, "b.csv", "phone\n9876543210\n")
    mapping = {"phone_number": {"column_name": "phone"}}

    a = run(first, mapping=mapping).summary
    b = run(second, mapping=mapping).summary
    c = run(second, mapping=mapping, campaign=make_campaign(campaign_id="other")).summary

    assert a.cohort_id == b.cohort_id
    assert a.cohort_id != c.cohort_id


def test_inferred_mapping_is_recorded_in_the_summary(tmp_path):
    source = write_text(
        tmp_path, "c.csv", "mobile,customer_id,name,initial_language_name\n9876543210,C1,Asha,hi\n"
    )

    outcome = run(source, infer=True)

    summary = outcome.summary_json
    assert summary["mapping_inferred"] is True
    assert summary["mapping_source"] == "inferred from headers"
    assert summary["mapping"]["phone_number"]["column_name"] == "mobile"
    assert summary["mapping"]["user_identifier"]["column_name"] == "customer_id"
    assert summary["mapping"]["app_variables"] == {"name": {"column_name": "name",
                                                            "required": False}}
    assert list(summary["mapping"]["app_overrides"]) == ["initial_language_name"]
    assert outcome.recipients[0]["name"] == "Asha"


def test_inferred_mapping_keeps_only_declared_variables(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,name,notes\n9876543210,Asha,x\n")

    outcome = run(source, infer=True, campaign=make_campaign(variables=["name"]))

    assert outcome.summary.status == "completed"
    assert "notes" not in outcome.recipient_columns


def test_given_mapping_is_recorded_as_not_inferred(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,customer_id,name\n9876543210,C1,Asha\n")

    summary = run(source).summary_json

    assert summary["mapping_inferred"] is False
    assert summary["mapping"]["user_identifier"] == {"column_name": "customer_id",
                                                     "required": True}


def test_campaign_mapping_is_used_when_none_is_given(tmp_path):
    source = write_text(tmp_path, "c.csv", "tel,name\n9876543210,Asha\n")
    campaign = make_campaign(mapping={"phone_number": {"column_name": "tel"}})

    outcome = run(source, infer=True, campaign=campaign)

    assert outcome.summary_json["mapping_source"] == "campaign config"
    assert outcome.recipients[0]["phone_number"] == "+919876543210"


def test_mapping_given_with_the_request_overrides_the_campaign_mapping(tmp_path):
    source = write_text(tmp_path, "c.csv", "tel,phone\n9876543210,9876543211\n")
    campaign = make_campaign(mapping={"phone_number": {"column_name": "tel"}})

    outcome = run(source, mapping=make_mapping({"phone_number": {"column_name": "phone"}}),
                  campaign=campaign)

    assert outcome.recipients[0]["phone_number"] == "+919876543211"


def test_inferred_mapping_ignores_a_region_header_and_keeps_the_phone_region(tmp_path):
    source = write_text(tmp_path, "c.csv", "phone,region,name\n9876543210,north,Asha\n")

    outcome = run(source, infer=True)

    assert outcome.summary.status == "completed"
    assert outcome.recipients[0]["region"] == "IN"
    assert outcome.recipients[0]["name"] == "Asha"
