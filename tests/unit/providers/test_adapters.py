"""Each adapter's request, field by field, against its provider page; credentials; registry."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
import requests

from cohortflow.config import CampaignConfig
from cohortflow.errors import ProviderError
from cohortflow.providers import adapter_for
from cohortflow.providers.base import Batch, BatchRecipient, Credentials
from cohortflow.providers.cometchat import MAX_ROWS, CometChatAdapter
from cohortflow.providers.credentials import resolve_credentials
from cohortflow.providers.http_json import HttpJsonAdapter
from cohortflow.providers.messaging_csv import MessagingCsvAdapter
from cohortflow.providers.nexus import NexusAdapter
from cohortflow.providers.sarvam import SarvamAdapter
from cohortflow.sandbox.forms import FormPart, parse_multipart

SECRET = "s3cret-KEY-0042"
CREDENTIALS = Credentials(SECRET, app_id="app-77", source="connection 'test_conn'")
BASE = "https://provider.example/api"
NEXUS_USER = "64e5f12345abcdef12345678"

PROVIDERS: dict[str, dict[str, Any]] = {
    "sarvam": {"kind": "sarvam", "org_id": "org1", "workspace_id": "ws1", "campaign_id": "cmp1"},
    "cometchat": {"kind": "cometchat", "campaign_id": "cc-9"},
    "messaging_csv": {"kind": "messaging_csv", "app_id": 12, "campaign_id": 34},
    "nexus": {"kind": "nexus", "user_id": NEXUS_USER},
    "http_json": {"kind": "http_json"},
}


def make_recipients(count: int, **variables: str) -> tuple[BatchRecipient, ...]:
    """``count`` recipients with distinct Indian mobile numbers and the given variables."""
    return tuple(
        BatchRecipient(
            row_number=i + 1,
            phone_number=f"+9198700{i:05d}",
            user_identifier=f"cust-{i}",
            variables=dict(variables),
        )
        for i in range(count)
    )


def make_batch(recipients: tuple[BatchRecipient, ...], *, number: int = 1) -> Batch:
    """A batch of ``recipients`` with a deterministic key."""
    return Batch(
        campaign_id="loans",
        cohort_id="june",
        batch_number=number,
        attempt=0,
        idempotency_key=Batch.key_for("loans", "june", number, 0),
        recipients=recipients,
    )


def campaign_for(kind: str, base_url: str = BASE, **settings: Any) -> CampaignConfig:
    """A campaign submitting to ``kind`` at ``base_url``."""
    provider = {**PROVIDERS[kind], "base_url": base_url, **settings.pop("provider", {})}
    return CampaignConfig.model_validate(
        {"campaign_id": "loans", "name": "loans", "provider": provider, **settings}
    )


def provider_in(campaign: CampaignConfig) -> Any:
    """The campaign's provider config (typed loosely: each test knows its kind)."""
    return campaign.provider


def form_of(request: requests.Request) -> dict[str, FormPart]:
    """The multipart fields of a request, as the server receives them."""
    prepared = request.prepare()
    assert isinstance(prepared.body, bytes)
    return parse_multipart(prepared.body, prepared.headers["Content-Type"])


def csv_rows(part: FormPart) -> list[list[str]]:
    """Header and rows of an uploaded CSV."""
    return list(csv.reader(io.StringIO(part.text)))


# ---------------------------------------------------------------------- sarvam


def test_sarvam_request_matches_cohort_upload_page() -> None:
    recipients = (
        BatchRecipient(
            1, "+919876543210", "c-1", {"customer_name": "Asha", "initial_language_name": "hi"}
        ),
        BatchRecipient(2, "+919812345678", "c-2", {"customer_name": "Ravi, Jr."}),
    )
    batch = make_batch(recipients)
    [request] = SarvamAdapter(
        campaign_for("sarvam"), provider_of("sarvam"), CREDENTIALS
    ).build_requests(batch)

    assert request.method == "POST"
    assert request.url == (f"{BASE}/v1/orgs/org1/workspaces/ws1/campaigns/cmp1/cohorts/upload")
    assert request.headers["X-API-Key"] == SECRET
    assert request.headers["Idempotency-Key"] == "loans:june:000001:0"
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


def provider_of(kind: str) -> Any:
    """The validated provider config of ``campaign_for(kind)``."""
    return campaign_for(kind).provider


def test_sarvam_identifier_not_required_when_a_recipient_lacks_one() -> None:
    recipients = (BatchRecipient(1, "+919876543210"), BatchRecipient(2, "+919812345678", "c-2"))
    [request] = SarvamAdapter(
        campaign_for("sarvam"), provider_of("sarvam"), CREDENTIALS
    ).build_requests(make_batch(recipients))
    config = json.loads(form_of(request)["cohort_transformation_file"].data)
    assert config["user_identifier"] == {"column_name": "user_identifier", "required": False}


def test_variable_named_like_a_provider_column_is_refused() -> None:
    batch = make_batch(make_recipients(1, phone_number="x"))
    adapter = SarvamAdapter(campaign_for("sarvam"), provider_of("sarvam"), CREDENTIALS)
    with pytest.raises(ProviderError, match="phone_number"):
        adapter.build_requests(batch)


# ---------------------------------------------------------------------- cometchat


def test_cometchat_request_matches_csv_upload_page() -> None:
    recipients = (
        BatchRecipient(1, "+919876543210", "user-1", {"name": "Asha", "discount_code": "X1"}),
        BatchRecipient(2, "+919812345678", None, {"name": "Ravi", "discount_code": "X2"}),
    )
    adapter = CometChatAdapter(campaign_for("cometchat"), provider_of("cometchat"), CREDENTIALS)
    [request] = adapter.build_requests(make_batch(recipients))

    assert request.method == "POST"
    assert request.url == f"{BASE}/api/campaigns/upload"
    assert request.headers["appId"] == "app-77"
    assert request.headers["apiKey"] == SECRET
    assert request.headers["Idempotency-Key"] == "loans:june:000001:0"
    form = form_of(request)
    assert set(form) == {"file", "campaignId"}
    assert form["campaignId"].text == "cc-9"
    assert form["file"].filename == "recipients.csv"
    assert csv_rows(form["file"]) == [
        ["user_id", "name", "discount_code"],
        ["user-1", "Asha", "X1"],
        ["+919812345678", "Ravi", "X2"],  # no identifier: the E.164 phone is the user id
    ]


def test_cometchat_invalid_column_name_is_refused_before_sending() -> None:
    session = requests.Session()
    session.send = _must_not_send  # type: ignore[method-assign]
    adapter = CometChatAdapter(
        campaign_for("cometchat"), provider_of("cometchat"), CREDENTIALS, session=session
    )
    with pytest.raises(ProviderError, match="'first name'"):
        adapter.submit(make_batch(make_recipients(2, **{"first name": "A"})))


def _must_not_send(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("nothing may be sent")


def test_cometchat_refuses_a_batch_above_the_row_limit_before_any_request() -> None:
    adapter = CometChatAdapter(campaign_for("cometchat"), provider_of("cometchat"), CREDENTIALS)
    adapter.max_rows = 2

    assert MAX_ROWS == 100_000
    with pytest.raises(ProviderError, match="5 recipients, more than the 2 rows"):
        adapter.build_requests(make_batch(make_recipients(5)))
    [problem] = adapter.problems()  # batch_size 1000 > 2: found before anything is sent
    assert problem.field == "batch_size"


def test_cometchat_one_upload_at_exactly_the_limit() -> None:
    adapter = CometChatAdapter(campaign_for("cometchat"), provider_of("cometchat"), CREDENTIALS)
    adapter.max_rows = 3
    [request] = adapter.build_requests(make_batch(make_recipients(3)))
    assert request.headers["Idempotency-Key"] == "loans:june:000001:0"


def test_cometchat_without_app_id_names_where_to_set_it() -> None:
    credentials = Credentials(SECRET, source="env COHORTFLOW_PROVIDER_COMETCHAT_KEY")
    adapter = CometChatAdapter(campaign_for("cometchat"), provider_of("cometchat"), credentials)
    with pytest.raises(ProviderError, match="COHORTFLOW_PROVIDER_COMETCHAT_KEY") as info:
        adapter.build_requests(make_batch(make_recipients(1)))
    assert SECRET not in str(info.value)


# ---------------------------------------------------------------------- messaging CSV

NOW = dt.datetime(2026, 1, 10, 8, 0, tzinfo=dt.UTC)
LAYOUT = {
    "contact": {"contactCode": "{{phoneNumber}}", "channelType": "{{channel}}"},
    "customFields": {"name": "{{nombre_cliente}}", "discount": "10%"},
}


def messaging_adapter(**settings: Any) -> MessagingCsvAdapter:
    campaign = campaign_for("messaging_csv", **settings)
    adapter = MessagingCsvAdapter(campaign, provider_in(campaign), CREDENTIALS)
    adapter.clock = lambda: NOW
    return adapter


def test_messaging_request_matches_send_from_csv_page() -> None:
    adapter = messaging_adapter(
        layout=LAYOUT,
        schedule_at=dt.datetime(
            2026, 1, 10, 17, 45, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
        ),
        provider={"slicing_condition": "immediateConsecutiveSlots"},
    )
    recipients = make_recipients(2, channel="cloud_api", nombre_cliente="Ana")
    [request] = adapter.build_requests(make_batch(recipients))

    assert request.method == "POST"
    assert request.url == f"{BASE}/applications/12/campaigns/34/send-from-csv"
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert request.headers["Idempotency-Key"] == "loans:june:000001:0"
    form = form_of(request)
    assert set(form) == {"layout", "file", "scheduleAt", "slicingCondition"}
    assert json.loads(form["layout"].text) == LAYOUT
    assert form["scheduleAt"].text == "2026-01-10T12:15:00Z"
    assert form["slicingCondition"].text == "immediateConsecutiveSlots"
    assert csv_rows(form["file"]) == [
        ["phoneNumber", "channel", "nombre_cliente"],
        ["919870000000", "cloud_api", "Ana"],
        ["919870000001", "cloud_api", "Ana"],
    ]


def test_messaging_sends_delay_and_default_layout() -> None:
    adapter = messaging_adapter(delay="PT15M")
    [request] = adapter.build_requests(make_batch(make_recipients(1, name="Ana")))
    form = form_of(request)
    assert set(form) == {"layout", "file", "delay", "slicingCondition"}
    assert form["delay"].text == "PT15M"
    assert form["slicingCondition"].text == "fragmentedSlots"
    assert json.loads(form["layout"].text) == {
        "contact": {"contactCode": "{{contactCode}}", "channelType": "cloud_api"},
        "customFields": {"name": "{{name}}"},
    }
    assert csv_rows(form["file"]) == [["contactCode", "name"], ["919870000000", "Ana"]]


def test_messaging_past_schedule_is_sent_now() -> None:
    adapter = messaging_adapter(schedule_at=NOW - dt.timedelta(minutes=1))
    [request] = adapter.build_requests(make_batch(make_recipients(1)))
    assert "scheduleAt" not in form_of(request)


def test_messaging_schedule_more_than_three_months_ahead_is_refused() -> None:
    adapter = messaging_adapter(schedule_at=NOW + dt.timedelta(days=93))
    with pytest.raises(ProviderError, match="3 months"):
        adapter.build_requests(make_batch(make_recipients(1)))


def test_messaging_placeholder_without_value_is_refused() -> None:
    adapter = messaging_adapter(layout=LAYOUT)
    with pytest.raises(ProviderError, match="row 1: no value for layout placeholder"):
        adapter.build_requests(make_batch(make_recipients(1, channel="cloud_api")))


# ---------------------------------------------------------------------- nexus


def test_nexus_request_matches_call_upload_page() -> None:
    campaign = campaign_for(
        "nexus",
        provider={"retry": 3, "delay": 60, "batch_type": "mixed"},
        allowed_schedule={
            "allowed_start_time": "09:00",
            "allowed_end_time": "17:00",
            "allowed_days": ["Friday", "Monday", "Sunday"],
            "timezone": "America/New_York",
        },
    )
    recipients = tuple(
        BatchRecipient(i + 1, f"+1202555{i:04d}", variables={"name": f"N{i}"}, caller_id=caller)
        for i, caller in enumerate(["cid-a", "cid-b", "cid-a"])
    )
    adapter = NexusAdapter(campaign, provider_in(campaign), CREDENTIALS)
    [request] = adapter.build_requests(make_batch(recipients))

    assert request.method == "POST"
    assert request.url == f"{BASE}/api/call/upload"
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert request.headers["Idempotency-Key"] == "loans:june:000001:0"
    form = form_of(request)
    assert {name: part.text for name, part in form.items() if name != "file"} == {
        "userId": NEXUS_USER,
        "batchName": "loans-june-b000001-a0",
        "batchType": "mixed",
        "callingNumbers": '["cid-a", "cid-b"]',
        "enableDNC": "true",
        "type": "false",
        "timezone": "America/New_York",
        "callingHour": '{"start": "09:00", "end": "17:00"}',
        "allowedDays": "[1, 5, 7]",
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


def test_nexus_calling_numbers_fall_back_to_connection_configs() -> None:
    campaign = campaign_for(
        "nexus",
        provider={"enable_dnc": False},
        connection_configs=[
            {"connection_id": "c1", "phone_numbers": ["n1", "n2"]},
            {"connection_id": "c2", "phone_numbers": ["n3"]},
        ],
    )
    [request] = NexusAdapter(campaign, provider_in(campaign), CREDENTIALS).build_requests(
        make_batch(make_recipients(1))
    )
    form = form_of(request)
    assert json.loads(form["callingNumbers"].text) == ["n1", "n2", "n3"]
    assert form["enableDNC"].text == "false"
    assert "retry" not in form and "delay" not in form


def test_nexus_without_calling_numbers_is_refused() -> None:
    adapter = NexusAdapter(campaign_for("nexus"), provider_of("nexus"), CREDENTIALS)
    with pytest.raises(ProviderError, match="calling number"):
        adapter.build_requests(make_batch(make_recipients(1)))


# ---------------------------------------------------------------------- generic JSON


def test_http_json_request_has_the_documented_body_and_configured_auth() -> None:
    campaign = campaign_for(
        "http_json", provider={"path": "/v2/batches", "auth_header": "X-Token", "auth_scheme": ""}
    )
    recipient = BatchRecipient(
        7,
        "+919876543210",
        "c-7",
        {"a": "1"},
        message="Hi",
        payload='{"x": 1}',
        caller_id="+911140000000",
    )
    [request] = HttpJsonAdapter(campaign, provider_in(campaign), CREDENTIALS).build_requests(
        make_batch((recipient,), number=3)
    )
    assert request.method == "POST"
    assert request.url == f"{BASE}/v2/batches"
    assert request.headers["X-Token"] == SECRET
    assert request.headers["Idempotency-Key"] == "loans:june:000003:0"
    prepared = request.prepare()
    assert prepared.headers["Content-Type"] == "application/json"
    assert json.loads(prepared.body or b"") == {
        "campaign_id": "loans",
        "cohort_id": "june",
        "batch_number": 3,
        "idempotency_key": "loans:june:000003:0",
        "recipients": [
            {
                "phone_number": "+919876543210",
                "user_identifier": "c-7",
                "variables": {"a": "1"},
                "message": "Hi",
                "payload": '{"x": 1}',
                "caller_id": "+911140000000",
            }
        ],
    }


def test_http_json_default_auth_is_bearer() -> None:
    [request] = HttpJsonAdapter(
        campaign_for("http_json"), provider_of("http_json"), CREDENTIALS
    ).build_requests(make_batch(make_recipients(1)))
    assert request.url == f"{BASE}/batches"
    assert request.headers["Authorization"] == f"Bearer {SECRET}"


def test_empty_batch_is_refused() -> None:
    adapter = HttpJsonAdapter(campaign_for("http_json"), provider_of("http_json"), CREDENTIALS)
    with pytest.raises(ProviderError, match="no recipients"):
        adapter.build_requests(make_batch(()))


# ---------------------------------------------------------------------- registry, credentials


@pytest.mark.parametrize(
    ("kind", "adapter_class"),
    [
        ("sarvam", SarvamAdapter),
        ("cometchat", CometChatAdapter),
        ("messaging_csv", MessagingCsvAdapter),
        ("nexus", NexusAdapter),
        ("http_json", HttpJsonAdapter),
    ],
)
def test_adapter_for_picks_the_adapter_of_the_provider_kind(kind: str, adapter_class: type) -> None:
    adapter = adapter_for(campaign_for(kind), CREDENTIALS)
    assert type(adapter) is adapter_class
    assert adapter.policy.max_attempts == 6 and adapter.policy.timeout_seconds == 30.0


def test_adapter_for_without_provider_names_the_campaign() -> None:
    with pytest.raises(ProviderError, match="'loans' has no 'provider'"):
        adapter_for(CampaignConfig(campaign_id="loans", name="loans"))


def test_credentials_from_environment_by_conn_id() -> None:
    provider = campaign_for("cometchat", provider={"conn_id": "comet-chat.prod"}).provider
    assert provider is not None
    environ = {
        "COHORTFLOW_PROVIDER_COMET_CHAT_PROD_KEY": SECRET,
        "COHORTFLOW_PROVIDER_COMET_CHAT_PROD_APP_ID": "app-1",
    }
    credentials = resolve_credentials(provider, environ=environ, lookup=lambda _: None)
    assert (credentials.secret, credentials.app_id) == (SECRET, "app-1")
    assert credentials.source == "env COHORTFLOW_PROVIDER_COMET_CHAT_PROD_KEY"
    assert SECRET not in repr(credentials)


def test_credentials_from_environment_by_kind_without_conn_id() -> None:
    provider = provider_of("messaging_csv")
    environ = {"COHORTFLOW_PROVIDER_MESSAGING_CSV_KEY": SECRET}
    assert resolve_credentials(provider, environ=environ).secret == SECRET


def test_credentials_from_the_airflow_connection() -> None:
    provider = campaign_for("sarvam", provider={"conn_id": "sarvam_default"}).provider
    assert provider is not None
    credentials = resolve_credentials(
        provider,
        environ={},
        lookup=lambda conn_id: (SECRET, "app") if conn_id == "sarvam_default" else None,
    )
    assert credentials.secret == SECRET and credentials.source == "connection 'sarvam_default'"


def test_missing_credentials_name_the_connection_and_variable() -> None:
    provider = campaign_for("sarvam", provider={"conn_id": "sarvam_default"}).provider
    assert provider is not None
    with pytest.raises(ProviderError) as info:
        resolve_credentials(provider, environ={}, lookup=lambda _: None)
    assert "'sarvam_default'" in str(info.value)
    assert "COHORTFLOW_PROVIDER_SARVAM_DEFAULT_KEY" in str(info.value)
    assert info.value.code == "provider_credentials"


@pytest.mark.airflow
def test_credentials_read_a_real_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEXUS_T",
        json.dumps({"conn_type": "http", "password": SECRET, "extra": {"app_id": "a-9"}}),
    )
    provider = campaign_for("nexus", provider={"conn_id": "nexus_t"}).provider
    assert provider is not None
    credentials = resolve_credentials(provider, environ={})
    assert (credentials.secret, credentials.app_id) == (SECRET, "a-9")
    assert credentials.source == "connection 'nexus_t'"
