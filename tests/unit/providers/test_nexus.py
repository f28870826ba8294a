"""Nexus against ``nexus-call-upload.txt``: one CSV upload per batch, then ``batch-details``.

:data:`PAGE_FIELDS` maps every header, form field, file rule, answer field and error status of
the page to the tests below that check it. The page's example request and answer are copied
here: tests never read the page itself.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from cohortflow.config import Mapping
from cohortflow.errors import CohortError, ProviderError
from cohortflow.ingest.fields import output_fields
from cohortflow.ingest.raw import RawCohort
from cohortflow.providers.base import BatchRecipient, RowRejection
from cohortflow.providers.nexus import NexusAdapter
from tests.support.providers import (
    BASE,
    CREDENTIALS,
    NEXUS_USER,
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
)

MATCHES = "test_nexus_request_matches_call_upload_page"
EXAMPLE = "test_nexus_form_is_the_page_example"
DETAILS = "test_nexus_accepted_upload_is_confirmed_by_batch_details"
INVALID = "test_nexus_422_rejects_the_named_rows_and_sends_the_rest_once"
PAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "POST /api/call/upload, multipart/form-data": (MATCHES, EXAMPLE),
    "header Authorization: Bearer (required)": (MATCHES, DETAILS),
    "file (required): CSV with a header row": (MATCHES, "test_nexus_csv_is_utf8_with_phone_number"),
    "file: phoneNumber column (required)": (MATCHES, "test_nexus_csv_is_utf8_with_phone_number"),
    "file: agent variable columns (headers = variable keys; extras forwarded)": (MATCHES,),
    "file: all mandatory agent variables": ("test_nexus_mandatory_variables_are_mapped",),
    "file: UTF-8": ("test_nexus_csv_is_utf8_with_phone_number",),
    "file: empty files or no valid rows rejected": ("test_nexus_empty_batch_is_refused",
                                                    "test_nexus_422_naming_every_row_sends_nothing"),
    "userId (required, ObjectId format)": (MATCHES, EXAMPLE, "test_nexus_problems"),
    "batchName (required)": (MATCHES, EXAMPLE),
    "batchType enum outbound|mixed (required)":
        (MATCHES, EXAMPLE, "test_nexus_batch_type_is_outbound_or_mixed"),
    "callingNumbers JSON string (required)":
        (MATCHES, EXAMPLE, "test_nexus_calling_numbers_fall_back_to_connection_configs",
         "test_nexus_without_calling_numbers_is_refused", "test_nexus_problems"),
    "enableDNC": (MATCHES, EXAMPLE, "test_nexus_calling_numbers_fall_back_to_connection_configs"),
    'type "false" (invalid rows reported)': (MATCHES, EXAMPLE),
    "retry (number)": (MATCHES, "test_nexus_calling_numbers_fall_back_to_connection_configs"),
    "delay (number)": (MATCHES, "test_nexus_calling_numbers_fall_back_to_connection_configs"),
    "timezone": (MATCHES, EXAMPLE),
    'callingHour {"start":"09:00","end":"17:00"}':
        (MATCHES, EXAMPLE, "test_nexus_whole_day_window_is_00_00_to_23_59", "test_nexus_problems"),
    "allowedDays [1,2,3,4,5] (Monday = 1)": (MATCHES, EXAMPLE),
    "answer success": ("test_nexus_success_false_is_a_failure",),
    "answer batch._id": (DETAILS,),
    "answer batch.totalCalls":
        (DETAILS, "test_nexus_batch_details_unreadable_keeps_the_upload_count"),
    "phone numbers deduplicated (first kept): shortfall counted": (DETAILS,),
    "400 Bad Request": ("test_nexus_error_statuses",),
    "404 Not Found": ("test_nexus_error_statuses",),
    '422 invalid rows (type="false")':
        (INVALID, "test_nexus_invalid_rows_are_matched_by_phone_or_line",
         "test_nexus_422_that_names_unknown_rows_fails_the_batch",
         "test_nexus_422_naming_every_row_sends_nothing"),
    "500 Internal Server Error": ("test_nexus_error_statuses",),
    "GET /api/call/batch-details/{batchId} follow-up":
        (DETAILS, INVALID, "test_nexus_batch_details_unreadable_keeps_the_upload_count",
         "test_nexus_batch_details_refusing_the_token_keeps_the_accepted_upload"),
}

#: nexus-call-upload.txt, the example request, as printed.
PAGE_CURL = r"""curl --location '{{baseUrl}}/api/call/upload' \
  --header 'Authorization: Bearer {{authToken}}' \
  --form 'file=@"/path/to/contacts.csv"' \
  --form 'userId="64e5f12345abcdef12345678"' \
  --form 'batchName="Marketing Campaign May 2025"' \
  --form 'batchType="outbound"' \
  --form 'callingNumbers="[\"64e5f12345abcdef87654321\"]"' \
  --form 'enableDNC="true"' \
  --form 'timezone="America/New_York"' \
  --form 'callingHour="{\"start\":\"09:00\",\"end\":\"17:00\"}"' \
  --form 'allowedDays="[1,2,3,4,5]"'"""
#: nexus-call-upload.txt, the example answer.
PAGE_ANSWER = {"success": True, "batch": {
    "_id": "64e5f12345abcdef98765432", "batchName": "Marketing Campaign May 2025",
    "callingNumbers": ["64e5f12345abcdef87654321"], "totalCalls": 100}}
CALLERS = [{"connection_id": "c1", "phone_numbers": ["64e5f12345abcdef87654321"]}]
WORK_WEEK = {"allowed_start_time": "09:00", "allowed_end_time": "17:00",
             "allowed_days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
             "timezone": "America/New_York"}


def nexus(session: FakeSession | None = None, **settings: Any) -> NexusAdapter:
    """A Nexus adapter for ``campaign_for("nexus", **settings)`` (with calling numbers)."""
    campaign = campaign_for("nexus", **{"connection_configs": CALLERS, **settings})
    assert campaign.provider is not None and campaign.provider.kind == "nexus"
    return NexusAdapter(campaign, campaign.provider, CREDENTIALS, session=session, sleep=no_sleep)


def fields(adapter: NexusAdapter, **batch: Any) -> dict[str, str]:
    """The non-file form fields uploaded for a batch of one recipient."""
    [request] = adapter.build_requests(make_batch(make_recipients(1), **batch))
    return {name: part.text for name, part in form_of(request).items() if name != "file"}


def test_nexus_request_matches_call_upload_page() -> None:
    schedule = {**WORK_WEEK, "allowed_days": ["Friday", "Monday", "Sunday"]}
    adapter = nexus(provider={"retry": 3, "delay": 60, "batch_type": "mixed"},
                    allowed_schedule=schedule)
    recipients = tuple(
        BatchRecipient(i + 1, f"+1202555{i:04d}", variables={"name": f"N{i}"}, caller_id=caller)
        for i, caller in enumerate(["cid-a", "cid-b", "cid-a"])
    )
    [request] = adapter.build_requests(make_batch(recipients))

    assert (request.method, request.url) == ("POST", f"{BASE}/api/call/upload")
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert request.headers["Idempotency-Key"] == "loans:june:000001:0"
    assert request.prepare().headers["Content-Type"].startswith("multipart/form-data; boundary=")
    form = form_of(request)
    assert {name: part.text for name, part in form.items() if name != "file"} == {
        "userId": NEXUS_USER,
        "batchName": "loans-june-b000001-a0",
        "batchType": "mixed",
        "callingNumbers": '["cid-a","cid-b"]',
        "enableDNC": "true",
        "type": "false",
        "timezone": "America/New_York",
        "callingHour": '{"start":"09:00","end":"17:00"}',
        "allowedDays": "[1,5,7]",
        "retry": "3",
        "delay": "60",
    }
    assert form["file"].filename == "contacts.csv"
    assert csv_rows(form["file"]) == [
        ["phoneNumber", "name"],
        ["+12025550000", "N0"],
        ["+12025550001", "N1"],
        ["+12025550002", "N2"],
    ]


def test_nexus_form_is_the_page_example() -> None:
    page = {name: value.replace('\\"', '"')
            for name, value in re.findall(r"--form '(\w+)=\"(.*)\"'", PAGE_CURL)}
    assert len(page) == 8  # every field of the example but the file
    adapter = nexus(allowed_schedule=WORK_WEEK)
    assert fields(adapter, name="Marketing Campaign May 2025") == {**page, "type": "false"}


def test_nexus_calling_numbers_fall_back_to_connection_configs() -> None:
    callers = [{"connection_id": "c1", "phone_numbers": ["n1", "n2"]},
               {"connection_id": "c2", "phone_numbers": ["n3", "n1"]}]
    form = fields(nexus(provider={"enable_dnc": False}, connection_configs=callers))
    assert json.loads(form["callingNumbers"]) == ["n1", "n2", "n3"]
    assert form["enableDNC"] == "false"
    assert "retry" not in form and "delay" not in form


def test_nexus_without_calling_numbers_is_refused() -> None:
    with pytest.raises(ProviderError, match="calling number"):
        nexus(connection_configs=[]).build_requests(make_batch(make_recipients(1)))


def test_nexus_problems() -> None:
    assert nexus().problems() == []
    night = {"allowed_start_time": "22:00", "allowed_end_time": "06:00"}
    adapter = nexus(provider={"user_id": "user-1"}, connection_configs=[], allowed_schedule=night)
    assert [p.field for p in adapter.problems(["phoneNumber"])] == [
        "provider.user_id", "connection_configs", "allowed_schedule", "mapping.app_variables"]


def test_nexus_whole_day_window_is_00_00_to_23_59() -> None:
    for start in ("00:00", "10:30"):
        window = {"allowed_start_time": start, "allowed_end_time": start}
        assert fields(nexus(allowed_schedule=window))["callingHour"] == (
            '{"start":"00:00","end":"23:59"}')


def test_nexus_batch_type_is_outbound_or_mixed() -> None:
    assert fields(nexus())["batchType"] == "outbound"
    with pytest.raises(ValidationError, match="batch_type"):
        campaign_for("nexus", provider={"batch_type": "inbound"})


def test_nexus_csv_is_utf8_with_phone_number() -> None:
    [request] = nexus().build_requests(make_batch(make_recipients(1, name="Zoë, Jr.")))
    data = form_of(request)["file"].data
    assert data == 'phoneNumber,name\r\n+919870000000,"Zoë, Jr."\r\n'.encode()
    with pytest.raises(ProviderError, match="phoneNumber"):
        nexus().build_requests(make_batch(make_recipients(1, phoneNumber="x")))


def test_nexus_mandatory_variables_are_mapped() -> None:
    campaign = campaign_for("nexus", variables={"name": {"required": True}, "account_id": {}})
    raw = RawCohort(headers=["phone", "account"], row_count=1, source_format="csv")
    mapping = Mapping.model_validate({"phone_number": {"column_name": "phone"},
                                      "app_variables": {"account_id": {"column_name": "account"}}})
    with pytest.raises(CohortError, match=r"required variable\(s\) name ") as info:
        output_fields(raw, mapping, campaign)
    assert info.value.code == "unmapped_variable"


def test_nexus_empty_batch_is_refused() -> None:
    with pytest.raises(ProviderError, match="no recipients"):
        nexus().build_requests(make_batch(()))


def test_nexus_accepted_upload_is_confirmed_by_batch_details() -> None:
    details = {"success": True, "batch": {"_id": "64e5f12345abcdef98765432", "totalCalls": 97}}
    session = FakeSession(reply(200, PAGE_ANSWER), reply(200, details))
    result = nexus(session).submit(make_batch(make_recipients(100)))
    upload, read = session.sent
    assert read.method == "GET" and read.url == (
        f"{BASE}/api/call/batch-details/64e5f12345abcdef98765432")
    assert read.headers["Authorization"] == f"Bearer {SECRET}" and upload.method == "POST"
    assert result.ok and result.accepted == 100
    assert result.provider_reference == "64e5f12345abcdef98765432"
    assert (result.confirmed, result.provider_rejected) == (97, 3)  # e.g. duplicates, DNC
    assert result.provider_status == "imported 97 of 100"
    for where in ({"data": {"totalCalls": 2}}, {"totalCalls": 2}):
        both = FakeSession(reply(200, PAGE_ANSWER), reply(200, where))
        done = nexus(both).submit(make_batch(make_recipients(2)))
        assert (done.confirmed, done.provider_rejected, done.provider_status) == (2, 0, "imported")


def test_nexus_batch_details_unreadable_keeps_the_upload_count() -> None:
    session = FakeSession(reply(200, PAGE_ANSWER), reply(404, {"message": "Batch not found"}))
    result = nexus(session).submit(make_batch(make_recipients(100)))
    assert result.ok and result.confirmed == 100  # the upload's own totalCalls stands
    assert result.provider_status == "batch-details not read (HTTP 404: Batch not found)"


def test_nexus_batch_details_refusing_the_token_keeps_the_accepted_upload() -> None:
    """A refused read after an accepted upload must not look like an unsent batch (dispatch
    would upload it again: every call twice)."""
    session = FakeSession(reply(200, PAGE_ANSWER), reply(403, {"message": "no read scope"}))
    result = nexus(session).submit(make_batch(make_recipients(100)))
    assert result.ok and result.accepted == 100 and result.confirmed == 100
    status = result.provider_status or ""
    assert status.startswith("batch-details not read (") and "HTTP 403" in status


def test_nexus_success_false_is_a_failure() -> None:
    session = FakeSession(reply(200, {"success": False, "message": "no agent"}))
    result = nexus(session).submit(make_batch(make_recipients(2)))
    assert result.outcome == "rejected" and result.accepted == 0 and len(session.sent) == 1
    assert result.error == "Nexus answered success=false: no agent"


@pytest.mark.parametrize(("status", "outcome"), [(400, "rejected"), (404, "rejected"),
                                                 (500, "unknown")])
def test_nexus_error_statuses(status: int, outcome: str) -> None:
    session = FakeSession(reply(status, {"message": "Invalid User ID format"}))
    result = nexus(session).submit(make_batch(make_recipients(2)))
    assert (result.outcome, result.status_code, len(session.sent)) == (outcome, status, 1)


def test_nexus_422_rejects_the_named_rows_and_sends_the_rest_once() -> None:
    recipients = make_recipients(4)
    refusal = {"success": False, "message": "CSV contains invalid rows", "invalidRows": [
        {"phoneNumber": "919870000001", "error": "Invalid phone number"},
        {"row": 4, "error": "Missing name"},  # spreadsheet line 4: the third recipient
    ]}
    resent = {"success": True, "batch": {"_id": "b-2", "totalCalls": 2}}
    session = FakeSession(reply(422, refusal), reply(200, resent),
                          reply(200, {"batch": {"totalCalls": 2}}))
    result = nexus(session).submit(make_batch(recipients))

    first, second, details = session.sent
    assert [r[0] for r in csv_rows(form_of(first)["file"])[1:]] == [
        r.phone_number for r in recipients]
    assert csv_rows(form_of(second)["file"])[1:] == [["+919870000000"], ["+919870000003"]]
    assert second.headers["Idempotency-Key"] == "loans:june:000001:0:without-2"
    assert details.url == f"{BASE}/api/call/batch-details/b-2"
    assert result.ok and result.accepted == 2 and result.confirmed == 2
    assert result.rejected_rows == (RowRejection(2, "Nexus: Invalid phone number"),
                                    RowRejection(3, "Nexus: Missing name"))
    assert result.provider_rejected == 2 and result.attempts == 2


def test_nexus_invalid_rows_are_matched_by_phone_or_line() -> None:
    adapter, batch = nexus(), make_batch(make_recipients(3))
    assert adapter.invalid_rows({"errors": [{"phone": 919870000002, "reason": "DNC"}]}, batch) == [
        RowRejection(3, "Nexus: DNC")]
    nested = {"details": {"invalidRows": [{"line": 2}, {"rowNumber": 3, "message": "bad"}]}}
    assert adapter.invalid_rows(nested, batch) == [
        RowRejection(1, "Nexus: invalid row"), RowRejection(2, "Nexus: bad")]
    for unmatched in ({"invalidRows": [{"row": 9}]}, {"invalidRows": [{"phoneNumber": "+1"}]},
                      {"message": "CSV contains invalid rows"}):
        assert adapter.invalid_rows(unmatched, batch) is None


def test_nexus_422_that_names_unknown_rows_fails_the_batch() -> None:
    refusal = {"invalidRows": [{"row": 2}, {"phoneNumber": "+15550000000"}]}
    session = FakeSession(reply(422, refusal))
    result = nexus(session).submit(make_batch(make_recipients(2)))
    assert result.outcome == "rejected" and result.status_code == 422
    assert result.rejected_rows == () and len(session.sent) == 1


def test_nexus_422_naming_every_row_sends_nothing() -> None:
    refusal = {"invalidRows": [{"row": 2, "error": "x"}, {"row": 3, "error": "y"}]}
    session = FakeSession(reply(422, refusal))
    result = nexus(session).submit(make_batch(make_recipients(2)))
    assert result.outcome == "rejected" and len(session.sent) == 1
    assert [r.row_number for r in result.rejected_rows] == [1, 2]
    assert result.provider_rejected == 2


def test_every_page_field_has_a_test() -> None:
    assert page_table_gaps(PAGE_FIELDS, globals()) == []
