"""CometChat against ``cometchat-csv-campaign.txt``: create the campaign, upload the CSV, send.

:data:`PAGE_FIELDS` maps every field, header, limit, step and error code of the page to the
tests below that check it (tests never read the page itself).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from cohortflow.errors import ProviderError
from cohortflow.providers.base import BatchRecipient, Credentials
from cohortflow.providers.cometchat import MAX_ROWS, CometChatAdapter
from cohortflow.providers.registry import campaign_recipient_limit, schedules_delivery
from tests.support.providers import (
    BASE,
    CREDENTIALS,
    SECRET,
    FakeSession,
    campaign_for,
    csv_rows,
    form_of,
    json_of,
    make_batch,
    make_recipients,
    no_sleep,
    page_table_gaps,
    reply,
)

MATCHES = "test_cometchat_upload_matches_page"
LIMIT = ("test_cometchat_refuses_a_batch_above_the_row_limit_before_any_request",
         "test_cometchat_one_upload_at_exactly_the_limit")
PAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "step 1: create a campaign linked to an approved template; id from the response":
        ("test_cometchat_creates_its_campaign_from_the_template",
         "test_cometchat_provider_config_needs_campaign_or_template"),
    "step 2: POST /api/campaigns/upload, multipart form": (MATCHES,),
    "header appId (CometChat App ID)":
        (MATCHES, "test_cometchat_without_app_id_names_where_to_set_it"),
    "header apiKey (CometChat API Key)": (MATCHES,),
    "form field file (CSV with user_id and variable columns)": (MATCHES,),
    "form field campaignId": (MATCHES, "test_cometchat_creates_its_campaign_from_the_template"),
    "CSV first row: column headers": (MATCHES, "test_cometchat_csv_is_utf8_and_comma_delimited"),
    "CSV user_id column (required): target user IDs":
        (MATCHES, "test_cometchat_recipient_without_user_id_is_refused",
         "test_cometchat_problems_flag_bad_column_names"),
    "CSV variable columns match the template's variableSchema keys":
        (MATCHES, "test_cometchat_problems_flag_undeclared_variables",
         "test_cometchat_sarvam_overrides_are_never_columns"),
    "CSV column names: letters, numbers, underscores, hyphens only":
        ("test_cometchat_invalid_column_name_is_refused_before_sending",
         "test_cometchat_problems_flag_bad_column_names"),
    "CSV max rows 100,000 (per upload)": LIMIT,
    "max users 100,000 (per CSV-upload campaign)":
        ("test_cometchat_campaign_takes_at_most_100000",),
    "CSV encoding UTF-8": ("test_cometchat_csv_is_utf8_and_comma_delimited",),
    "CSV delimiter comma": ("test_cometchat_csv_is_utf8_and_comma_delimited",),
    "answer: count of recipients parsed and added":
        ("test_cometchat_count_in_answer_is_confirmed",),
    "step 3: send the campaign; scheduling via scheduledAt":
        ("test_cometchat_send_step_carries_scheduled_at",),
    "ERR_BAD_REQUEST 400 (missing user_id column, invalid CSV)": ("test_cometchat_error_codes",),
    "ERR_NOT_FOUND 404 (campaign not found)": ("test_cometchat_error_codes",),
    "ERR_OPERATION_FAILED 500 (CSV parsing or recipient creation failed)":
        ("test_cometchat_error_codes",),
}


def cometchat(session: FakeSession | None = None, credentials: Credentials = CREDENTIALS,
              **settings: Any) -> CometChatAdapter:
    """A CometChat adapter for ``campaign_for("cometchat", **settings)``."""
    campaign = campaign_for("cometchat", **settings)
    assert campaign.provider is not None and campaign.provider.kind == "cometchat"
    return CometChatAdapter(campaign, campaign.provider, credentials, session=session,
                            sleep=no_sleep)


def test_cometchat_upload_matches_page() -> None:
    recipients = (
        BatchRecipient(1, "+919876543210", "user-1", {"name": "Asha", "discount_code": "X1"}),
        BatchRecipient(2, "+919812345678", "user-2", {"name": "Ravi"}),
    )
    [request] = cometchat().build_requests(make_batch(recipients))

    assert request.method == "POST"
    assert request.url == f"{BASE}/api/campaigns/upload"
    assert request.headers["appId"] == "app-77"
    assert request.headers["apiKey"] == SECRET
    assert request.headers["Idempotency-Key"] == "loans:june:000001:0"
    assert request.prepare().headers["Content-Type"].startswith("multipart/form-data; boundary=")
    form = form_of(request)
    assert set(form) == {"file", "campaignId"}
    assert form["campaignId"].text == "cc-9"
    assert form["file"].filename == "recipients.csv"
    assert csv_rows(form["file"]) == [
        ["user_id", "name", "discount_code"],
        ["user-1", "Asha", "X1"],
        ["user-2", "Ravi", ""],
    ]


def test_cometchat_recipient_without_user_id_is_refused() -> None:
    recipients = (BatchRecipient(1, "+919876543210", "user-1"), BatchRecipient(7, "+919812345678"))
    session = FakeSession()  # any request fails the test
    with pytest.raises(ProviderError, match=r"row\(s\) 7 have no user_identifier") as info:
        cometchat(session).submit(make_batch(recipients))
    assert info.value.code == "provider_data" and session.sent == []
    assert "+919812345678" not in str(info.value)  # a phone is never the user id


def test_cometchat_sarvam_overrides_are_never_columns() -> None:
    batch = make_batch(make_recipients(1, name="Asha", initial_language_name="hi"))
    [request] = cometchat().build_requests(batch)
    assert csv_rows(form_of(request)["file"]) == [["user_id", "name"], ["cust-0", "Asha"]]
    [problem] = cometchat().problems(["name", "initial_language_name"])
    assert problem.field == "mapping.app_overrides" and "initial_language_name" in problem.message


def test_cometchat_problems_flag_undeclared_variables() -> None:
    declared = cometchat(variables=["name", "discount_code"])
    [problem] = declared.problems(["name", "coupon"])
    assert problem.field == "variables" and "coupon" in problem.message
    assert "variableSchema: name, discount_code" in problem.message
    assert declared.problems(["name", "discount_code"]) == []
    assert cometchat().problems(["coupon"]) == []  # nothing declared: nothing to compare


def test_cometchat_problems_flag_bad_column_names() -> None:
    [problem] = cometchat().problems(["first name", "user_id", "ok-1_A", "año"])
    assert problem.field == "mapping.app_variables"
    assert "'first name', 'user_id', 'año'" in problem.message


def test_cometchat_invalid_column_name_is_refused_before_sending() -> None:
    session = FakeSession()
    with pytest.raises(ProviderError, match="'first name'"):
        cometchat(session).submit(make_batch(make_recipients(2, **{"first name": "A"})))
    assert session.sent == []


def test_cometchat_refuses_a_batch_above_the_row_limit_before_any_request() -> None:
    adapter = cometchat()
    adapter.max_rows = 2
    assert MAX_ROWS == 100_000
    with pytest.raises(ProviderError, match="5 recipients, more than the 2 rows"):
        adapter.build_requests(make_batch(make_recipients(5)))
    [problem] = adapter.problems()  # batch_size 1000 > 2: found before anything is sent
    assert problem.field == "batch_size"


def test_cometchat_one_upload_at_exactly_the_limit() -> None:
    adapter = cometchat()
    adapter.max_rows = 3
    [request] = adapter.build_requests(make_batch(make_recipients(3)))
    assert len(csv_rows(form_of(request)["file"])) == 1 + 3


def test_cometchat_campaign_takes_at_most_100000() -> None:
    campaign = campaign_for("cometchat", batch_size=100_000)
    assert CometChatAdapter.max_campaign_recipients == 100_000
    assert campaign_recipient_limit(campaign) == 100_000
    assert cometchat(batch_size=100_000).problems() == []
    with pytest.raises(ValidationError, match="100000"):
        campaign_for("cometchat", batch_size=100_001)


def test_cometchat_csv_is_utf8_and_comma_delimited() -> None:
    batch = make_batch(make_recipients(1, name="Zoë, Jr.", city='Pune "East"'))
    data = form_of(cometchat().build_requests(batch)[0])["file"].data
    assert data == 'user_id,name,city\r\ncust-0,"Zoë, Jr.","Pune ""East"""\r\n'.encode()


def test_cometchat_count_in_answer_is_confirmed() -> None:
    for body in ({"count": 2}, {"data": {"count": 2, "campaignId": "cc-9"}}):
        result = cometchat(FakeSession(reply(200, body))).submit(make_batch(make_recipients(3)))
        assert result.ok and result.accepted == 3 and result.provider_reference == "cc-9"
        assert (result.confirmed, result.provider_rejected) == (2, 1)


def test_cometchat_without_app_id_names_where_to_set_it() -> None:
    credentials = Credentials(SECRET, source="env COHORTFLOW_PROVIDER_COMETCHAT_KEY")
    adapter = cometchat(credentials=credentials)
    with pytest.raises(ProviderError, match="COHORTFLOW_PROVIDER_COMETCHAT_KEY") as info:
        adapter.build_requests(make_batch(make_recipients(1)))
    assert SECRET not in str(info.value)
    [problem] = adapter.problems()
    assert problem.field == "provider.conn_id" and "App ID" in problem.message


def test_cometchat_creates_its_campaign_from_the_template() -> None:
    assert cometchat().creation_request("loans") is None  # campaign_id configured
    adapter = cometchat(provider={"campaign_id": None, "template_id": "tpl-1"})
    request = adapter.creation_request("loans")
    assert request is not None
    assert (request.method, request.url) == ("POST", f"{BASE}/api/campaigns")
    assert (request.headers["appId"], request.headers["apiKey"]) == ("app-77", SECRET)
    assert json_of(request) == {"name": "loans", "templateId": "tpl-1"}
    assert adapter.read_created({"success": True, "data": {"id": "cc-new"}}) == "cc-new"
    assert adapter.read_created({"id": 41}) == "41"
    assert adapter.read_created({"data": {}}) is None
    with pytest.raises(ProviderError, match="has not been created yet") as info:
        adapter.build_requests(make_batch(make_recipients(1)))  # no campaignId to upload to
    assert info.value.code == "provider_config"


def test_cometchat_provider_config_needs_campaign_or_template() -> None:
    with pytest.raises(ValidationError, match="give campaign_id"):
        campaign_for("cometchat", provider={"campaign_id": None})
    with pytest.raises(ValidationError, match=r"must hold \{campaign_id\}"):
        campaign_for("cometchat", provider={"send_path": "/api/campaigns/send"})


def test_cometchat_send_step_carries_scheduled_at() -> None:
    adapter = cometchat(provider={"campaign_id": "cc 9"})
    now = adapter.delivery_request(None)
    assert (now.method, now.url) == ("POST", f"{BASE}/api/campaigns/cc%209/send")
    assert (now.headers["appId"], now.headers["apiKey"]) == ("app-77", SECRET)
    assert json_of(now) == {}
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    later = adapter.delivery_request(dt.datetime(2026, 1, 10, 17, 45, tzinfo=ist))
    assert json_of(later) == {"scheduledAt": "2026-01-10T12:15:00Z"}
    custom = cometchat(provider={"send_path": "/v2/campaigns/{campaign_id}/dispatch"})
    assert custom.delivery_request(None).url == f"{BASE}/v2/campaigns/cc-9/dispatch"
    assert CometChatAdapter.schedules_delivery and schedules_delivery(adapter.campaign)


@pytest.mark.parametrize(("status", "code", "outcome"), [
    (400, "ERR_BAD_REQUEST", "rejected"),
    (404, "ERR_NOT_FOUND", "rejected"),
    (500, "ERR_OPERATION_FAILED", "unknown"),  # may follow a partial creation: not resent
])
def test_cometchat_error_codes(status: int, code: str, outcome: str) -> None:
    session = FakeSession(reply(status, {"error": {"code": code, "message": "page text"}}))
    result = cometchat(session).submit(make_batch(make_recipients(2)))
    assert (result.outcome, result.status_code, result.accepted) == (outcome, status, 0)
    assert result.error == f"HTTP {status}: {code}: page text" and len(session.sent) == 1


def test_every_page_field_has_a_test() -> None:
    assert page_table_gaps(PAGE_FIELDS, globals()) == []
