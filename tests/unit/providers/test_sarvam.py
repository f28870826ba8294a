"""Sarvam's cohort upload against ``sarvam-cohort-upload.txt``: one upload per batch.

Sarvam's campaign update page (the settings PATCH) is ``test_sarvam_settings.py``.
:data:`PAGE_FIELDS` maps every field, header, path parameter, limit and rule of the upload page
to the tests below that check it. The page's examples are copied here: tests never read the
pages themselves.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from cohortflow.config import ALLOWED_OVERRIDES, CampaignConfig, Mapping
from cohortflow.errors import CohortError, ProviderError
from cohortflow.ingest.fields import output_fields
from cohortflow.ingest.raw import RawCohort
from cohortflow.providers.base import BatchRecipient
from cohortflow.providers.sarvam import SarvamAdapter
from tests.support.providers import (
    BASE,
    CREDENTIALS,
    SECRET,
    FakeSession,
    campaign_for,
    csv_rows,
    form_of,
    make_batch,
    make_recipients,
    no_sleep,
    page_table_gaps,
    reply,
    shape_mismatches,
)

MATCHES = "test_sarvam_upload_matches_page"
PAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "POST /v1/orgs/{org_id}/workspaces/{workspace_id}/campaigns/{campaign_id}/cohorts/upload":
        (MATCHES,),
    "path org_id, workspace_id, campaign_id": (MATCHES,),
    "header X-API-Key": (MATCHES,),
    "multipart/form-data": (MATCHES,),
    "name (required; letters, digits, space, '_', '-', max 50)":
        (MATCHES, "test_sarvam_upload_name_follows_the_naming_rule"),
    "cohort_file (required, CSV)": (MATCHES,),
    "cohort_transformation_file (required, JSON)":
        (MATCHES, "test_sarvam_transformation_has_the_page_example_shape"),
    "phone_number (column_name; output E.164)": (MATCHES,),
    "user_identifier (column_name, required)":
        (MATCHES, "test_sarvam_identifier_not_required_when_a_recipient_lacks_one"),
    "app_variables": (MATCHES, "test_variable_named_like_a_provider_column_is_refused",
                      "test_sarvam_only_documented_override_keys"),
    "app_variables keys must match the agent's declared variables (blocking)":
        ("test_sarvam_app_variables_must_be_declared",),
    "app_overrides keys: initial_bot_message, initial_state_name, initial_language_name":
        (MATCHES, "test_sarvam_only_documented_override_keys"),
    "referenced column_name values exist as CSV headers (blocking)":
        ("test_sarvam_transformation_references_only_csv_headers",),
    "CSV must have at least one data row (blocking)": ("test_sarvam_empty_batch_is_refused",),
    "required columns must be non-empty (row-level)":
        ("test_sarvam_identifier_not_required_when_a_recipient_lacks_one",),
    "formatting functions must succeed (row-level): none configured":
        ("test_sarvam_transformation_references_only_csv_headers",),
    "answer cohort_id": ("test_sarvam_processing_answer_leaves_counts_unreported",
                         "test_sarvam_completed_answer_gives_the_counts"),
    "status processing": ("test_sarvam_processing_answer_leaves_counts_unreported",),
    "status completed": ("test_sarvam_completed_answer_gives_the_counts",),
    "status failed": ("test_sarvam_failed_answer_is_a_refusal",),
    "result total_records/valid_records/rejected_records":
        ("test_sarvam_completed_answer_gives_the_counts",
         "test_sarvam_processing_answer_leaves_counts_unreported"),
}

#: sarvam-cohort-upload.txt, "Transformation config example".
PAGE_TRANSFORMATION = {
    "phone_number": {"column_name": "mobile"},
    "user_identifier": {"column_name": "customer_id", "required": True},
    "app_variables": {
        "customer_name": {"column_name": "name"},
        "loan_amount": {"column_name": "amount"},
    },
    "app_overrides": {"initial_language_name": {"column_name": "language"}},
}

#: sarvam-cohort-upload.txt, the example answer (still processing, yet with counts).
PAGE_UPLOAD_ANSWER = {
    "name": "<string>", "cohort_id": "<string>", "status": "processing",
    "source_type": "pre_signed_url", "created_by": "<string>",
    "created_at": "2023-11-07T05:31:56Z", "updated_at": "2023-11-07T05:31:56Z",
    "result": {"total_records": 123, "valid_records": 123, "rejected_records": 123},
    "updated_by": "<string>",
}


def sarvam(session: FakeSession | None = None, **settings: Any) -> SarvamAdapter:
    """A Sarvam adapter for ``campaign_for("sarvam", **settings)``."""
    campaign = campaign_for("sarvam", **settings)
    assert campaign.provider is not None and campaign.provider.kind == "sarvam"
    return SarvamAdapter(campaign, campaign.provider, CREDENTIALS, session=session, sleep=no_sleep)


def test_sarvam_upload_matches_page() -> None:
    recipients = (
        BatchRecipient(
            1, "+919876543210", "c-1", {"customer_name": "Asha", "initial_language_name": "hi"}
        ),
        BatchRecipient(2, "+919812345678", "c-2", {"customer_name": "Ravi, Jr."}),
    )
    [request] = sarvam().build_requests(make_batch(recipients))

    assert request.method == "POST"
    assert request.url == f"{BASE}/v1/orgs/org1/workspaces/ws1/campaigns/cmp1/cohorts/upload"
    assert request.headers["X-API-Key"] == SECRET
    assert request.headers["Idempotency-Key"] == "loans:june:000001:0"
    assert request.prepare().headers["Content-Type"].startswith("multipart/form-data; boundary=")
    form = form_of(request)
    assert set(form) == {"name", "cohort_file", "cohort_transformation_file"}
    assert form["name"].text == "loans-june-b000001-a0"
    assert form["cohort_file"].filename == "loans-june-b000001-a0.csv"
    assert csv_rows(form["cohort_file"]) == [
        ["phone_number", "user_identifier", "customer_name", "initial_language_name"],
        ["+919876543210", "c-1", "Asha", "hi"],
        ["+919812345678", "c-2", "Ravi, Jr.", ""],
    ]
    assert json.loads(form["cohort_transformation_file"].data) == {
        "phone_number": {"column_name": "phone_number"},
        "user_identifier": {"column_name": "user_identifier", "required": True},
        "app_variables": {"customer_name": {"column_name": "customer_name"}},
        "app_overrides": {"initial_language_name": {"column_name": "initial_language_name"}},
    }


def transformation(recipients: tuple[BatchRecipient, ...]) -> tuple[list[str], dict[str, Any]]:
    """The CSV header and transformation config the adapter uploads for ``recipients``."""
    [request] = sarvam().build_requests(make_batch(recipients))
    form = form_of(request)
    return csv_rows(form["cohort_file"])[0], json.loads(form["cohort_transformation_file"].data)


def test_sarvam_transformation_has_the_page_example_shape() -> None:
    recipients = make_recipients(1, customer_name="A", loan_amount="9", initial_language_name="hi")
    _, config = transformation(recipients)
    assert shape_mismatches(PAGE_TRANSFORMATION, config) == []


def test_sarvam_transformation_references_only_csv_headers() -> None:
    header, config = transformation(make_recipients(2, a="1", initial_state_name="s"))
    entries = [config["phone_number"], config["user_identifier"],
               *config["app_variables"].values(), *config["app_overrides"].values()]
    assert {e["column_name"] for e in entries} == set(header)
    assert all(set(e) <= {"column_name", "required"} for e in entries)  # no formatting step


def test_sarvam_only_documented_override_keys() -> None:
    values = {key: "x" for key in ALLOWED_OVERRIDES}
    _, config = transformation(make_recipients(1, note="n", **values))
    assert set(config["app_overrides"]) == set(ALLOWED_OVERRIDES)
    assert set(config["app_variables"]) == {"note"}
    with pytest.raises(ValidationError, match="allowed keys are initial_bot_message"):
        Mapping.model_validate({"phone_number": {"column_name": "mobile"},
                                "app_overrides": {"language": {"column_name": "lang"}}})


def test_sarvam_identifier_not_required_when_a_recipient_lacks_one() -> None:
    recipients = (BatchRecipient(1, "+919876543210"), BatchRecipient(2, "+919812345678", "c-2"))
    _, config = transformation(recipients)
    assert config["user_identifier"] == {"column_name": "user_identifier", "required": False}


def test_sarvam_app_variables_must_be_declared() -> None:
    campaign = campaign_for("sarvam", variables=["customer_name"])
    raw = RawCohort(headers=["mobile", "name", "amount"], row_count=1, source_format="csv")
    mapping = Mapping.model_validate({
        "phone_number": {"column_name": "mobile"},
        "app_variables": {"customer_name": {"column_name": "name"},
                          "loan_amount": {"column_name": "amount"}}})
    with pytest.raises(CohortError, match="loan_amount") as info:
        output_fields(raw, mapping, campaign)
    assert info.value.code == "undeclared_variable"


def test_variable_named_like_a_provider_column_is_refused() -> None:
    with pytest.raises(ProviderError, match="phone_number"):
        sarvam().build_requests(make_batch(make_recipients(1, phone_number="x")))


def test_sarvam_empty_batch_is_refused() -> None:
    with pytest.raises(ProviderError, match="no recipients"):
        sarvam().build_requests(make_batch(()))


def test_sarvam_upload_name_follows_the_naming_rule() -> None:
    adapter = sarvam()
    long = make_batch(make_recipients(1), name="Loans: June/July " + "x" * 60)
    name = form_of(adapter.build_requests(long)[0])["name"].text
    assert name == ("Loans_ June_July " + "x" * 60)[:50]
    assert len(name) == 50 and CampaignConfig(campaign_id="c", name=name).name == name


def test_sarvam_processing_answer_leaves_counts_unreported() -> None:
    result = sarvam(FakeSession(reply(200, PAGE_UPLOAD_ANSWER))).submit(
        make_batch(make_recipients(3)))
    assert result.ok and result.accepted == 3 and result.provider_reference == "<string>"
    assert (result.confirmed, result.provider_rejected) == (None, None)
    assert result.provider_status == "processing"


def test_sarvam_completed_answer_gives_the_counts() -> None:
    body = {"cohort_id": "coh-1", "status": "completed",
            "result": {"total_records": 3, "valid_records": 2, "rejected_records": 1}}
    result = sarvam(FakeSession(reply(201, body))).submit(make_batch(make_recipients(3)))
    assert result.ok and result.accepted == 3 and result.provider_reference == "coh-1"
    assert (result.confirmed, result.provider_rejected) == (2, 1)
    assert result.provider_status == "completed"


def test_sarvam_failed_answer_is_a_refusal() -> None:
    body = {"cohort_id": "coh-2", "status": "failed"}
    session = FakeSession(reply(200, body))
    result = sarvam(session).submit(make_batch(make_recipients(2)))
    assert result.outcome == "rejected" and result.accepted == 0 and len(session.sent) == 1
    assert result.error == "Sarvam reports the cohort as failed"


def test_every_page_field_has_a_test() -> None:
    assert page_table_gaps(PAGE_FIELDS, globals()) == []
