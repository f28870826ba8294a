"""The messaging platform against ``messaging-csv-campaign.txt`` ("send campaign from CSV").

:data:`PAGE_FIELDS` maps every path parameter, body field and rule of the page to the tests
below that check it. The page's four layout and CSV examples are copied here: tests never read
the page itself. ``scheduleAt`` and ``delay`` are documented but deliberately never sent
(cohortflow holds the campaign itself, see the adapter's docstring): the tests prove it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from pydantic import ValidationError

from cohortflow.errors import ProviderError
from cohortflow.providers.base import BatchRecipient
from cohortflow.providers.messaging_csv import MessagingCsvAdapter
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
)

MATCHES = "test_messaging_request_matches_send_from_csv_page"
EXAMPLES = "test_messaging_page_examples_produce_the_page_csv"
PLAIN = "test_messaging_only_plain_placeholders_are_accepted"
NOT_SENT = "test_messaging_never_sends_schedule_at_or_delay"
PAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "path param: Application's ID (integer, required)": (MATCHES,),
    "path param: Campaign's ID (integer, required)": (MATCHES,),
    "credentials header": (MATCHES,),
    "layout (string, required): a JSON": (MATCHES, EXAMPLES),
    "layout contact.contactCode (required)": ("test_messaging_layout_requires_contact_fields",),
    "layout contact.channelType (required; may be fixed)":
        ("test_messaging_layout_requires_contact_fields", EXAMPLES),
    "layout customFields (optional)": (EXAMPLES, "test_messaging_default_layout"),
    "layout fixed values instead of variables": (MATCHES, EXAMPLES),
    "layout {{variable}} placeholders":
        (EXAMPLES, PLAIN, "test_messaging_placeholders_are_written_plain",
         "test_messaging_placeholder_without_value_is_refused"),
    "layout: sendType/messageContent are the campaign's, not the layout's":
        ("test_messaging_default_layout",),
    "file (required): CSV, a row per contact, a column per layout variable": (MATCHES, EXAMPLES),
    "file: contactCode column (and optionally channelType)":
        (MATCHES, EXAMPLES, "test_messaging_default_layout"),
    "scheduleAt (ISO 8601, now to 3 months): never sent, cohortflow holds": (NOT_SENT,),
    "delay (ISO 8601 duration): never sent, cohortflow holds":
        (NOT_SENT, "test_messaging_delay_is_an_iso_duration"),
    "scheduleAt and delay not together": ("test_messaging_schedule_at_and_delay_are_exclusive",),
    "slicingCondition enum fragmentedSlots (default) / immediateConsecutiveSlots / "
    "deferredConsecutiveSlots": ("test_messaging_slicing_condition_is_always_sent",),
    "response (not documented): every row accepted":
        ("test_messaging_answer_accepts_every_row",),
}

#: messaging-csv-campaign.txt: the layout examples 1-4 and the CSV examples 1-4, as printed.
PAGE_EXAMPLES: list[tuple[dict[str, Any], str]] = [
    (
        {"contact": {"contactCode": "{{contactCode}}", "channelType": "{{channelType}}"},
         "customFields": {"name": "{{nombre}}", "ticketId": "{{ticket_id}}", "age": "{{edad}}"}},
        "contactCode,channelType,nombre,ticket_id,edad\n"
        "34666777888,cloud_api,John,5123,30\n"
        "34666555666,cloud_api,Jane,5528,25\n"
        "34666111222,cloud_api,Alice,4125,28\n",
    ),
    (
        {"contact": {"contactCode": "{{contactCode}}", "channelType": "cloud_api"}},
        "contactCode\n34666777888\n34666555666\n34666111222\n",
    ),
    (
        {"contact": {"contactCode": "{{phoneNumber}}", "channelType": "{{channel}}"},
         "customFields": {"name": "{{nombre_cliente}}", "age": "{{edad_cliente}}"}},
        "phoneNumber,channel,nombre_cliente,edad_cliente\n"
        "34666777888,cloud_api,John,30\n"
        "34666555666,cloud_api,Jane,25\n"
        "34666111222,cloud_api,Alice,28\n",
    ),
    (
        {"contact": {"contactCode": "{{contactCode}}", "channelType": "{{channelType}}"},
         "customFields": {"name": "Dear client", "discount": "10%"}},
        "contactCode,channelType\n"
        "34666777888,cloud_api\n"
        "34666555666,cloud_api\n"
        "34666111222,cloud_api\n",
    ),
]
#: The page's ISO 8601 ``delay`` examples.
PAGE_DELAYS = ("PT0.25S", "PT20S", "PT15M", "PT30M50.5S", "PT4H", "P3D", "P2W", "P1M")

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
LAYOUT = {
    "contact": {"contactCode": "{{phoneNumber}}", "channelType": "{{channel}}"},
    "customFields": {"name": "{{nombre_cliente}}", "discount": "10%"},
}


def messaging(session: FakeSession | None = None, **settings: Any) -> MessagingCsvAdapter:
    """A messaging adapter for ``campaign_for("messaging_csv", **settings)``."""
    campaign = campaign_for("messaging_csv", **settings)
    assert campaign.provider is not None and campaign.provider.kind == "messaging_csv"
    return MessagingCsvAdapter(campaign, campaign.provider, CREDENTIALS, session=session,
                               sleep=no_sleep)


def test_messaging_request_matches_send_from_csv_page() -> None:
    adapter = messaging(layout=LAYOUT, provider={"slicing_condition": "immediateConsecutiveSlots"})
    recipients = make_recipients(2, channel="cloud_api", nombre_cliente="Ana")
    [request] = adapter.build_requests(make_batch(recipients))

    assert request.method == "POST"
    assert request.url == f"{BASE}/applications/12/campaigns/34/send-from-csv"
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert request.headers["Idempotency-Key"] == "loans:june:000001:0"
    form = form_of(request)
    assert set(form) == {"layout", "file", "slicingCondition"}
    assert json.loads(form["layout"].text) == LAYOUT
    assert form["slicingCondition"].text == "immediateConsecutiveSlots"
    assert form["file"].filename == "contacts.csv"
    assert csv_rows(form["file"]) == [
        ["phoneNumber", "channel", "nombre_cliente"],
        ["919870000000", "cloud_api", "Ana"],
        ["919870000001", "cloud_api", "Ana"],
    ]
    for wrong in ("twelve", None):  # the path parameters are required integers
        with pytest.raises(ValidationError, match="app_id"):
            campaign_for("messaging_csv", provider={"app_id": wrong})


@pytest.mark.parametrize(("layout", "text"), PAGE_EXAMPLES, ids=["ex1", "ex2", "ex3", "ex4"])
def test_messaging_page_examples_produce_the_page_csv(layout: dict[str, Any], text: str) -> None:
    header, *rows = [line.split(",") for line in text.splitlines()]
    recipients = tuple(
        BatchRecipient(i + 1, f"+{row[0]}", variables=dict(zip(header[1:], row[1:], strict=True)))
        for i, row in enumerate(rows)
    )
    [request] = messaging(layout=layout).build_requests(make_batch(recipients))
    form = form_of(request)
    assert json.loads(form["layout"].text) == layout
    assert csv_rows(form["file"]) == [header, *rows]


def test_messaging_default_layout() -> None:
    [request] = messaging().build_requests(make_batch(make_recipients(1, name="Ana")))
    form = form_of(request)
    assert json.loads(form["layout"].text) == {
        "contact": {"contactCode": "{{contactCode}}", "channelType": "cloud_api"},
        "customFields": {"name": "{{name}}"},
    }
    assert csv_rows(form["file"]) == [["contactCode", "name"], ["919870000000", "Ana"]]
    [bare] = messaging().build_requests(make_batch(make_recipients(1)))
    assert json.loads(form_of(bare)["layout"].text) == {
        "contact": {"contactCode": "{{contactCode}}", "channelType": "cloud_api"}}


def test_messaging_layout_requires_contact_fields() -> None:
    cases = [
        (("contact.contactCode",), {"contact": {"channelType": "cloud_api"}}),
        (("layout.contact.channelType", "required"), {"contact": {"contactCode": "{{c}}"}}),
        (("layout.contact.contactCode", "{{placeholder}}", "'34666777888'"),
         {"contact": {"contactCode": "34666777888", "channelType": "cloud_api"}}),
    ]
    for words, layout in cases:
        with pytest.raises(ValidationError) as info:
            campaign_for("messaging_csv", layout=layout)
        assert all(word in str(info.value) for word in words), str(info.value)
    fixed = {"contact": {"contactCode": "{{c}}", "channelType": "cloud_api"}}
    assert campaign_for("messaging_csv", layout=fixed).layout == fixed


@pytest.mark.parametrize(("text", "named"), [
    ("{{ name | upper }}", "{{ name | upper }}"),
    ("{% if vip %}VIP{% endif %}", "{% if vip %}"),
    ("{{name.first}}", "{{name.first}}"),
    ("{# note #}", "{# note #}"),
    ("{{name}", "{{"),
])
def test_messaging_only_plain_placeholders_are_accepted(text: str, named: str) -> None:
    layout = {"contact": {"contactCode": "{{phone}}", "channelType": "cloud_api"},
              "customFields": {"greeting": f"Hi {text}"}}
    with pytest.raises(ValidationError) as info:
        campaign_for("messaging_csv", layout=layout)
    assert "layout.customFields.greeting" in str(info.value)
    assert repr(named) in str(info.value)
    assert campaign_for("http_json", layout=layout).layout == layout  # Jinja is fine there


def test_messaging_placeholders_are_written_plain() -> None:
    layout = {"contact": {"contactCode": "{{ phone }}", "channelType": "{{channel}}"},
              "customFields": {"name": "{{  nombre }}"}}
    batch = make_batch(make_recipients(1, channel="cloud_api", nombre="Ana"))
    form = form_of(messaging(layout=layout).build_requests(batch)[0])
    assert json.loads(form["layout"].text) == {
        "contact": {"contactCode": "{{phone}}", "channelType": "{{channel}}"},
        "customFields": {"name": "{{nombre}}"}}
    assert csv_rows(form["file"]) == [["phone", "channel", "nombre"],
                                      ["919870000000", "cloud_api", "Ana"]]


def test_messaging_placeholder_without_value_is_refused() -> None:
    adapter = messaging(layout=LAYOUT)
    with pytest.raises(ProviderError, match="row 1: no value for layout placeholder"):
        adapter.build_requests(make_batch(make_recipients(1, channel="cloud_api")))


@pytest.mark.parametrize("settings", [
    {"schedule_at": NOW + dt.timedelta(hours=2)},
    {"schedule_at": NOW - dt.timedelta(minutes=1)},
    {"schedule_at": NOW + dt.timedelta(days=93)},  # beyond the page's 3 months: still held here
    {"delay": "PT15M"},
    {"delay": "P1M"},
], ids=["ahead", "past", "beyond-3-months", "delay", "delay-month"])
def test_messaging_never_sends_schedule_at_or_delay(settings: dict[str, Any]) -> None:
    session = FakeSession(reply(200, {"id": "task-1"}))
    result = messaging(session, **settings).submit(make_batch(make_recipients(1, name="Ana")))
    assert result.ok
    [sent] = session.sent
    assert set(form_of(sent)) == {"layout", "file", "slicingCondition"}
    assert b"scheduleAt" not in (sent.body or b"") and b"delay" not in (sent.body or b"")


def test_messaging_delay_is_an_iso_duration() -> None:
    for delay in PAGE_DELAYS:
        assert campaign_for("messaging_csv", delay=delay).delay == delay
    with pytest.raises(ValidationError, match="ISO-8601 duration"):
        campaign_for("messaging_csv", delay="15 minutes")


def test_messaging_schedule_at_and_delay_are_exclusive() -> None:
    with pytest.raises(ValidationError, match="not both"):
        campaign_for("messaging_csv", schedule_at=NOW + dt.timedelta(hours=1), delay="PT15M")


def test_messaging_slicing_condition_is_always_sent() -> None:
    batch = make_batch(make_recipients(1))
    [request] = messaging().build_requests(batch)
    assert form_of(request)["slicingCondition"].text == "fragmentedSlots"
    for value in ("fragmentedSlots", "immediateConsecutiveSlots", "deferredConsecutiveSlots"):
        [request] = messaging(provider={"slicing_condition": value}).build_requests(batch)
        assert form_of(request)["slicingCondition"].text == value
    with pytest.raises(ValidationError, match="slicing_condition"):
        campaign_for("messaging_csv", provider={"slicing_condition": "randomSlots"})


def test_messaging_answer_accepts_every_row() -> None:
    for body, reference in (({"id": "t-1"}, "t-1"), ({"taskId": 9}, "9"), ({}, None)):
        result = messaging(FakeSession(reply(201, body))).submit(make_batch(make_recipients(3)))
        assert result.ok and result.accepted == 3 and result.provider_reference == reference
        assert result.confirmed is None


def test_every_page_field_has_a_test() -> None:
    assert page_table_gaps(PAGE_FIELDS, globals()) == []
