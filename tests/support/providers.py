"""Builders shared by the provider adapter tests: campaigns per provider kind, batches, the
multipart forms a request carries, a fake HTTP session, and the check of a page table.

Every provider test module (``tests/unit/providers/test_<provider>.py``) holds a
``PAGE_FIELDS`` table mapping each field, header and rule of its provider's page to the tests
that check it; :func:`page_table_gaps` is how a module proves its table names real tests.
"""

from __future__ import annotations

import csv
import io
import json
import types
from collections.abc import Callable, Mapping
from typing import Any

import requests

from cohortflow.config import CampaignConfig
from cohortflow.providers.base import Batch, BatchRecipient, Credentials
from cohortflow.sandbox.forms import FormPart, parse_multipart

#: The provider secret every test uses; it must never show up in results or errors.
SECRET = "s3cret-KEY-0042"
#: Credentials with an app id (CometChat needs one), named after a connection.
CREDENTIALS = Credentials(SECRET, app_id="app-77", source="connection 'test_conn'")
#: The provider base URL of :func:`campaign_for`.
BASE = "https://provider.example/api"
#: A Nexus user id in the page's format (a MongoDB ObjectId: 24 hexadecimal characters).
NEXUS_USER = "64e5f12345abcdef12345678"

#: The minimal provider section of each kind (``base_url`` is added by :func:`campaign_for`).
PROVIDERS: dict[str, dict[str, Any]] = {
    "sarvam": {"kind": "sarvam", "org_id": "org1", "workspace_id": "ws1", "campaign_id": "cmp1"},
    "cometchat": {"kind": "cometchat", "campaign_id": "cc-9"},
    "messaging_csv": {"kind": "messaging_csv", "app_id": 12, "campaign_id": 34},
    "nexus": {"kind": "nexus", "user_id": NEXUS_USER},
    "http_json": {"kind": "http_json"},
}

#: Answers one prepared request (see :func:`reply`).
Responder = Callable[[requests.PreparedRequest], requests.Response]


def make_recipients(count: int, **variables: str) -> tuple[BatchRecipient, ...]:
    """``count`` recipients with distinct Indian mobile numbers, user ids ``cust-<i>`` and the
    given variables; row numbers start at 1."""
    return tuple(
        BatchRecipient(
            row_number=i + 1,
            phone_number=f"+9198700{i:05d}",
            user_identifier=f"cust-{i}",
            variables=dict(variables),
        )
        for i in range(count)
    )


def make_batch(recipients: tuple[BatchRecipient, ...], *, number: int = 1, name: str = "") -> Batch:
    """A first-attempt batch of ``recipients`` of campaign ``loans``, cohort ``june``, with
    its deterministic key (``loans:june:<number>:0``)."""
    return Batch(
        campaign_id="loans",
        cohort_id="june",
        batch_number=number,
        attempt=0,
        idempotency_key=Batch.key_for("loans", "june", number, 0),
        recipients=recipients,
        name=name,
    )


def campaign_for(kind: str, base_url: str = BASE, **settings: Any) -> CampaignConfig:
    """A validated campaign ``loans`` submitting to a provider of ``kind`` at ``base_url``;
    ``provider={...}`` adds to the provider section, every other keyword is a campaign
    setting."""
    provider = {**PROVIDERS[kind], "base_url": base_url, **settings.pop("provider", {})}
    return CampaignConfig.model_validate(
        {"campaign_id": "loans", "name": "loans", "provider": provider, **settings}
    )


def provider_in(campaign: CampaignConfig) -> Any:
    """The campaign's provider config (typed loosely: each test knows its kind)."""
    return campaign.provider


def provider_of(kind: str) -> Any:
    """The validated provider config of ``campaign_for(kind)``."""
    return campaign_for(kind).provider


def form_of(request: requests.Request | requests.PreparedRequest) -> dict[str, FormPart]:
    """The multipart fields of a request (built or as sent), as the server receives them."""
    prepared = request.prepare() if isinstance(request, requests.Request) else request
    assert isinstance(prepared.body, bytes)
    return parse_multipart(prepared.body, prepared.headers["Content-Type"])


def json_of(request: requests.Request | requests.PreparedRequest) -> Any:
    """The JSON body of a request (built or as sent)."""
    prepared = request.prepare() if isinstance(request, requests.Request) else request
    assert prepared.headers["Content-Type"] == "application/json"
    return json.loads(prepared.body or b"")


def csv_rows(part: FormPart) -> list[list[str]]:
    """Header and rows of an uploaded CSV."""
    return list(csv.reader(io.StringIO(part.text)))


def reply(status: int, body: Any = None, **headers: str) -> Responder:
    """An answer with ``status`` and ``body`` as JSON (an empty object when None)."""

    def answer(prepared: requests.PreparedRequest) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps({} if body is None else body).encode("utf-8")
        response.headers.update({"Content-Type": "application/json", **headers})
        response.request = prepared
        response.url = prepared.url or ""
        return response

    return answer


class FakeSession(requests.Session):
    """A session answering each request with the next scripted answer instead of the network,
    keeping every request it was given; an unscripted request fails the test."""

    def __init__(self, *answers: Responder) -> None:
        super().__init__()
        self.answers = list(answers)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Record ``request`` and answer it with the next scripted answer."""
        self.sent.append(request)
        if not self.answers:
            raise AssertionError(f"unexpected request: {request.method} {request.url}")
        return self.answers.pop(0)(request)


def no_sleep(seconds: float) -> None:
    """An injected ``sleep`` that does not wait."""


def shape_mismatches(example: Any, actual: Any, where: str = "body") -> list[str]:
    """Where ``actual`` differs from a page's ``example`` in nesting: the same keys at every
    level (an empty example object is free-form), each list item against the example's first
    item, and the same value types (``2.5`` for ``250.05``, not ``"2.5"``)."""
    if type(actual) is not type(example):
        return [f"{where}: {type(actual).__name__}, page has {type(example).__name__}"]
    if isinstance(example, dict) and example:
        if set(actual) != set(example):
            return [f"{where}: keys {sorted(actual)}, page has {sorted(example)}"]
        return [m for k in example for m in shape_mismatches(example[k], actual[k], f"{where}.{k}")]
    if isinstance(example, list) and example:
        return [m for i, item in enumerate(actual)
                for m in shape_mismatches(example[0], item, f"{where}[{i}]")]
    return []


def page_table_gaps(
    table: Mapping[str, tuple[str, ...]], namespace: Mapping[str, Any]
) -> list[str]:
    """What is wrong with a module's ``PAGE_FIELDS``: an empty table, a page entry checked by
    no test, or a named test that is not a test function of the module (``namespace`` is the
    module's ``globals()``)."""
    gaps = [] if table else ["the table is empty"]
    for entry, tests in table.items():
        if not tests:
            gaps.append(f"{entry!r}: no test named")
        for name in tests:
            found = namespace.get(name)
            if not name.startswith("test_") or not isinstance(found, types.FunctionType):
                gaps.append(f"{entry!r}: {name} is not a test function of the module")
    return gaps
