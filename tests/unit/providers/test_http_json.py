"""The generic JSON adapter against its own contract (no provider page: the adapter's module
docstring is the contract, ``include/cohortflow/providers/http_json.py``).

:data:`PAGE_FIELDS` maps every field and rule of that contract to the tests below that check it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cohortflow.errors import ProviderError
from cohortflow.providers.base import BatchRecipient
from cohortflow.providers.http_json import HttpJsonAdapter
from tests.support.providers import (
    BASE,
    CREDENTIALS,
    SECRET,
    FakeSession,
    campaign_for,
    json_of,
    make_batch,
    make_recipients,
    no_sleep,
    page_table_gaps,
    reply,
)

DOCUMENTED = "test_http_json_request_has_the_documented_body_and_configured_auth"
PAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "POST {base_url}{path} (path default /batches)":
        (DOCUMENTED, "test_http_json_default_auth_is_bearer", "test_http_json_path_gets_a_slash"),
    "Content-Type: application/json": (DOCUMENTED,),
    "body campaign_id, cohort_id, batch_number, idempotency_key": (DOCUMENTED,),
    "body recipients[].phone_number/user_identifier/variables/message/payload/caller_id":
        (DOCUMENTED,),
    "payload: the rendered layout, sent as the JSON string it is": (DOCUMENTED,),
    "auth_header (default Authorization), auth_scheme (default Bearer)":
        (DOCUMENTED, "test_http_json_default_auth_is_bearer"),
    "bare key when auth_scheme is empty": (DOCUMENTED,),
    "answer accepted (integer): confirmed, the rest refused":
        ("test_http_json_accepted_in_answer_is_confirmed",),
    "answer batch_id or id: reference": ("test_http_json_accepted_in_answer_is_confirmed",),
    "provider.deduplicates (default false)": ("test_http_json_deduplicates_as_configured",),
    "a batch without recipients is refused": ("test_empty_batch_is_refused",),
}


def http_json(session: FakeSession | None = None, **settings: Any) -> HttpJsonAdapter:
    """A JSON adapter for ``campaign_for("http_json", **settings)``."""
    campaign = campaign_for("http_json", **settings)
    assert campaign.provider is not None and campaign.provider.kind == "http_json"
    return HttpJsonAdapter(campaign, campaign.provider, CREDENTIALS, session=session,
                           sleep=no_sleep)


def test_http_json_request_has_the_documented_body_and_configured_auth() -> None:
    adapter = http_json(provider={"path": "/v2/batches", "auth_header": "X-Token",
                                  "auth_scheme": ""})
    recipient = BatchRecipient(
        7,
        "+919876543210",
        "c-7",
        {"a": "1"},
        message="Hi",
        payload='{"x": 1}',
        caller_id="+911140000000",
    )
    [request] = adapter.build_requests(make_batch((recipient,), number=3))
    assert request.method == "POST"
    assert request.url == f"{BASE}/v2/batches"
    assert request.headers["X-Token"] == SECRET
    assert "Authorization" not in request.headers
    assert request.headers["Idempotency-Key"] == "loans:june:000003:0"
    assert json_of(request) == {
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
    [request] = http_json().build_requests(make_batch(make_recipients(1)))
    assert request.url == f"{BASE}/batches"
    assert request.headers["Authorization"] == f"Bearer {SECRET}"


def test_http_json_path_gets_a_slash() -> None:
    [request] = http_json(provider={"path": "v3/upload"}).build_requests(
        make_batch(make_recipients(1)))
    assert request.url == f"{BASE}/v3/upload"


def test_http_json_accepted_in_answer_is_confirmed() -> None:
    cases = [({"accepted": 2, "batch_id": "b-1"}, 2, 1, "b-1"),
             ({"accepted": 3, "id": 17}, 3, 0, "17"),
             ({"accepted": "3"}, None, None, None)]  # not an integer: not reported
    for body, confirmed, refused, reference in cases:
        session = FakeSession(reply(200, body))
        result = http_json(session).submit(make_batch(make_recipients(3)))
        assert result.ok and result.accepted == 3 and result.provider_reference == reference
        assert (result.confirmed, result.provider_rejected) == (confirmed, refused)
        assert json.loads(session.sent[0].body or b"")["batch_number"] == 1


def test_http_json_deduplicates_as_configured() -> None:
    assert http_json().deduplicates is False
    assert http_json(provider={"deduplicates": True}).deduplicates is True


def test_empty_batch_is_refused() -> None:
    with pytest.raises(ProviderError, match="no recipients") as info:
        http_json().build_requests(make_batch(()))
    assert info.value.code == "provider_data"


def test_every_page_field_has_a_test() -> None:
    assert page_table_gaps(PAGE_FIELDS, globals()) == []
