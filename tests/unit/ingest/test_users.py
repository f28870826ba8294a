"""Cohorts of a campaign whose recipients are users (CometChat): keyed by user_identifier,
the phone optional, variables checked against the campaign's declared variables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cohortflow.config import CampaignConfig
from tests.unit.helpers import assert_failed, make_campaign, run, write_text

USERS = "user_id,first_name,plan\nu-1,Asha,gold\nu-2,Ravi,silver\n,Nobody,gold\nu-1,Again,gold\n"


def users_campaign(**settings: Any) -> CampaignConfig:
    settings.setdefault("variables", ["first_name", "plan"])
    return make_campaign(provider={"kind": "cometchat", "base_url": "http://127.0.0.1:9",
                                   "campaign_id": "cc-1"}, **settings)


def test_a_cohort_of_user_ids_without_phones_is_keyed_by_user(tmp_path: Path) -> None:
    outcome = run(write_text(tmp_path, "users.csv", USERS), campaign=users_campaign(),
                  infer=True)

    assert outcome.summary.status == "completed"
    assert [(r["row_number"], r["user_identifier"], r["phone_number"]) for r in
            outcome.recipients] == [(1, "u-1", None), (2, "u-2", None)]
    assert outcome.reason_of(3) == "missing_required:user_identifier: required value is empty"
    assert outcome.reason_of(4) == "duplicate_user: same user_identifier as row 1, which is kept"
    assert outcome.summary_json["mapping"]["user_identifier"] == {
        "column_name": "user_id", "required": True}
    assert "phone_number" not in outcome.summary_json["mapping"]


def test_duplicate_users_are_found_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COHORTFLOW_CHUNK_ROWS", "2")
    text = "user_id,first_name\n" + "".join(f"u-{i % 3},N{i}\n" for i in range(7))
    outcome = run(write_text(tmp_path, "users.csv", text),
                  campaign=users_campaign(variables=["first_name"]), infer=True)
    assert [r["user_identifier"] for r in outcome.recipients] == ["u-0", "u-1", "u-2"]
    assert outcome.rejected_row_numbers == [4, 5, 6, 7]


def test_a_mapped_phone_is_optional_but_checked_when_given(tmp_path: Path) -> None:
    text = "user_id,mobile\nu-1,9876543210\nu-2,\nu-3,12\n"
    mapping = {"user_identifier": {"column_name": "user_id"},
               "phone_number": {"column_name": "mobile"}}
    outcome = run(write_text(tmp_path, "users.csv", text), mapping=mapping,
                  campaign=users_campaign(variables=[]))
    assert [(r["user_identifier"], r["phone_number"]) for r in outcome.recipients] == [
        ("u-1", "+919876543210"), ("u-2", None)]
    assert outcome.reason_of(3).startswith("invalid_phone: ")


@pytest.mark.parametrize(
    ("mapping", "code", "fragment"),
    [
        ({"user_identifier": {"column_name": "user_id"},
          "app_variables": {"coupon": {"column_name": "plan"}}},
         "undeclared_variable", "'coupon' are not variables of campaign 'test''s template"),
        ({"user_identifier": {"column_name": "user_id"},
          "app_overrides": {"initial_language_name": {"column_name": "plan"}}},
         "undeclared_variable", "initial_language_name are Sarvam settings"),
        ({"phone_number": {"column_name": "user_id"}}, "missing_column",
         "keyed by user_identifier"),
    ],
)
def test_what_a_campaign_of_users_cannot_take_fails_the_cohort_naming_it(
    tmp_path: Path, mapping: dict[str, Any], code: str, fragment: str
) -> None:
    outcome = run(write_text(tmp_path, "users.csv", USERS), mapping=mapping,
                  campaign=users_campaign())
    assert_failed(outcome, code, fragment)


def test_variable_names_cometchat_cannot_take_are_refused(tmp_path: Path) -> None:
    text = "user_id,first name\nu-1,Asha\n"
    mapping = {"user_identifier": {"column_name": "user_id"},
               "app_variables": {"first name": {"column_name": "first name"}}}
    outcome = run(write_text(tmp_path, "users.csv", text), mapping=mapping,
                  campaign=users_campaign(variables=["first name"]))
    assert_failed(outcome, "undeclared_variable", "'first name'", "letters, digits")


def test_without_declared_variables_only_the_identifier_is_taken(tmp_path: Path) -> None:
    outcome = run(write_text(tmp_path, "users.csv", USERS), campaign=users_campaign(variables=[]),
                  infer=True)
    assert outcome.recipient_columns == ["row_number", "phone_number", "region",
                                         "user_identifier"]


def test_no_identifier_column_to_infer_fails_naming_the_expected_headers(tmp_path: Path) -> None:
    outcome = run(write_text(tmp_path, "users.csv", "name,plan\nAsha,gold\n"),
                  campaign=users_campaign(), infer=True)
    assert_failed(outcome, "missing_column", "no user identifier column", "user_id")


def test_a_phone_campaign_still_needs_its_phone_column(tmp_path: Path) -> None:
    outcome = run(write_text(tmp_path, "c.csv", "user_id\nu-1\n"),
                  mapping={"user_identifier": {"column_name": "user_id"}})
    assert_failed(outcome, "missing_column", "names no phone_number column")
