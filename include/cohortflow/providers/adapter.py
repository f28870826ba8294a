"""The common shape of a provider adapter: check the config, build the documented request,
send it, and say what the answer means.

:meth:`ProviderAdapter.problems` finds what can be known before any request (credentials, ids,
required fields, column names) so that a campaign with a config error sends nothing.
:meth:`ProviderAdapter.build_requests` is pure: it returns exactly the request the provider's
page documents, so tests check it field by field without a network. :meth:`submit` sends it
through :func:`cohortflow.providers.http.send` and classifies the answer
(:data:`~cohortflow.providers.base.Outcome`); where the page documents it, the provider's
refusal of named rows is mapped back to those recipients (:meth:`invalid_rows`, the rest is
sent again) and the upload is confirmed afterwards (:meth:`confirm`).

The steps around the uploads, where a page documents them, are hooks dispatch calls
(``dispatch/provider_steps.py``): the campaign settings pushed before any upload
(:meth:`settings_update`), creating the provider's campaign (:meth:`creation_request`) and
starting delivery once a run's uploads are done (:meth:`delivery_request`).

Every request carries the batch's ``Idempotency-Key`` header: it costs nothing and helps a
provider that honours it. Whether a provider does is :attr:`ProviderAdapter.deduplicates`,
taken from its page; none of the four documented providers says it does, so a request whose
outcome is unknown is never sent to them again by cohortflow itself.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, cast

import requests

from cohortflow import __version__
from cohortflow.config import CampaignConfig
from cohortflow.errors import ProviderError
from cohortflow.providers.base import (
    Batch,
    BatchRecipient,
    Credentials,
    RowRejection,
    SubmitResult,
)
from cohortflow.providers.http import HttpOutcome, RetryPolicy, send

P = TypeVar("P")

_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9 _-]+")


@dataclass(frozen=True)
class PlannedRequest:
    """One request of a submission and how many recipients it carries."""

    request: requests.Request
    recipients: int


@dataclass(frozen=True)
class Answer:
    """What an adapter reads from one successful response (see :class:`SubmitResult`)."""

    accepted: int
    reference: str | None = None
    error: str | None = None  # set when a 2xx body still reports a failure
    confirmed: int | None = None
    rejected: int | None = None
    status: str | None = None


@dataclass(frozen=True)
class SettingsUpdate:
    """Campaign settings as the provider's page nests them, and where they are sent."""

    method: str
    url: str
    body: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        """A stable hash of where and what: a changed YAML setting changes it."""
        text = json.dumps([self.method, self.url, self.body], sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Problem:
    """Something in a campaign's config that would make the provider refuse every batch."""

    field: str  # where in the campaign config, e.g. "provider.user_id"
    message: str  # what is wrong and what to do


class ProviderAdapter(ABC, Generic[P]):
    """Turns a :class:`Batch` into a provider's documented request(s) and submits them."""

    kind: ClassVar[str]
    #: Whether the provider's page documents that it de-duplicates requests by a key.
    deduplicates: bool = False
    #: Statuses the provider's page defines as "not processed" (safe to send again).
    not_processed: ClassVar[frozenset[int]] = frozenset()
    #: Whether an upload reaches nobody until :meth:`delivery_request` is sent, which carries
    #: the campaign's ``schedule_at`` to the provider (CometChat): uploads need not wait for it.
    schedules_delivery: ClassVar[bool] = False
    #: The most recipients one provider campaign takes, when its page sets a limit.
    max_campaign_recipients: ClassVar[int | None] = None
    #: Whether the provider retries calls per the campaign's ``retry_config`` itself (it is
    #: pushed with the settings): cohortflow then schedules no retries of its own.
    retries_calls: ClassVar[bool] = False

    def __init__(
        self,
        campaign: CampaignConfig,
        provider: P,
        credentials: Credentials,
        *,
        session: requests.Session | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        """Bind the adapter to a campaign, its provider config and resolved credentials.

        ``policy`` supplies the backoff settings; attempts and timeout always come from the
        provider config (``max_attempts``, ``timeout_seconds``).
        """
        self.campaign = campaign
        self.provider = provider
        self.credentials = credentials
        self.session = session or requests.Session()
        self.policy = dataclasses.replace(
            policy or RetryPolicy(),
            max_attempts=getattr(provider, "max_attempts", RetryPolicy.max_attempts),
            timeout_seconds=getattr(provider, "timeout_seconds", RetryPolicy.timeout_seconds),
        )
        self.sleep = sleep
        self.rng = rng or random.Random()

    def bound_to(self, campaign: CampaignConfig) -> ProviderAdapter[P]:
        """This adapter for another version of the campaign (e.g. with the provider campaign
        id dispatch created filled in), keeping credentials, session and retry settings."""
        if campaign is self.campaign or campaign.provider is None:
            return self
        provider = cast(P, campaign.provider)  # the same kind: only its ids were filled in
        copy = type(self)(campaign, provider, self.credentials, session=self.session,
                          sleep=self.sleep, rng=self.rng)
        copy.policy = self.policy
        return copy

    # ------------------------------------------------------------------ to implement

    @abstractmethod
    def plan(self, batch: Batch) -> list[PlannedRequest]:
        """The request(s) for ``batch``; raises :class:`ProviderError` for unsendable data."""

    def read_answer(self, body: dict[str, Any], planned: PlannedRequest) -> Answer:
        """Accepted count and reference from a 2xx body; by default every recipient sent."""
        return Answer(planned.recipients)

    def problems(self, variables: Sequence[str] = ()) -> list[Problem]:
        """What the provider would refuse in this campaign's config, before any request.
        ``variables``: the variable columns the campaign's cohorts hold."""
        return []

    def invalid_rows(self, body: dict[str, Any], batch: Batch) -> list[RowRejection] | None:
        """The recipients a refusal names, when the page says the rest was not processed and
        may be sent again without them; None when the refusal cannot be mapped back."""
        return None

    def confirm(self, result: SubmitResult) -> SubmitResult:
        """Follow an accepted upload with the page's confirmation read (default: none)."""
        return result

    def settings_update(self) -> SettingsUpdate | None:
        """The campaign settings to push before any upload, when the page documents how."""
        return None

    def settings_request(self, update: SettingsUpdate) -> requests.Request:
        """The request that sends ``update`` (with the provider's auth)."""
        raise NotImplementedError(f"{self.kind} has no campaign settings to push")

    def creation_request(self, name: str) -> requests.Request | None:
        """The request creating the provider's campaign, when cohortflow must create it."""
        return None

    def read_created(self, body: dict[str, Any]) -> str | None:
        """The new campaign's id from the creation answer."""
        return None

    def delivery_request(self, scheduled_at: dt.datetime | None) -> requests.Request | None:
        """The request that starts delivery of what was uploaded (``scheduled_at``: when the
        provider should deliver), when the page has such a step."""
        return None

    # ------------------------------------------------------------------ shared

    def call(self, request: requests.Request, *, repeatable: bool) -> HttpOutcome:
        """Send one request that is not a batch (settings, creation, delivery) with the same
        retry rules; ``repeatable``: sending it twice has the effect of sending it once (a
        PATCH of the same settings), so an unknown outcome may be retried."""
        return send(
            request,
            session=self.session,
            policy=self.policy,
            secrets=self.secrets,
            source=self.credentials.source,
            deduplicates=repeatable or self.deduplicates,
            not_processed=self.not_processed,
            sleep=self.sleep,
            rng=self.rng,
        )

    def build_requests(self, batch: Batch) -> list[requests.Request]:
        """Exactly the documented request(s) for ``batch``, not sent."""
        return [planned.request for planned in self.plan(batch)]

    def submit(self, batch: Batch) -> SubmitResult:
        """Send ``batch`` and classify the answer; raises :class:`ProviderError` for refused
        credentials (every batch would fail alike) or data the provider cannot take.

        A refusal naming rows (:meth:`invalid_rows`) marks those recipients rejected and sends
        the rest once more; an accepted upload is then confirmed (:meth:`confirm`)."""
        result = self._send_requests(batch)
        if result.outcome == "rejected":
            named = self.invalid_rows(result.response, batch)
            if named:
                result = self._without_rows(batch, result, named)
        return self.confirm(result) if result.ok else result

    def _without_rows(
        self, batch: Batch, refused: SubmitResult, named: list[RowRejection]
    ) -> SubmitResult:
        """Send ``batch`` again without the ``named`` recipients (a new key: it is another
        request), and carry the rejections on the result."""
        rows = {rejection.row_number for rejection in named}
        rest = dataclasses.replace(
            batch,
            idempotency_key=f"{batch.idempotency_key}:without-{len(rows)}",
            recipients=tuple(r for r in batch.recipients if r.row_number not in rows),
        )
        extra = {"rejected_rows": tuple(named), "provider_rejected": len(named)}
        if not rest.recipients:
            return dataclasses.replace(refused, **extra)  # type: ignore[arg-type]
        second = self._send_requests(rest)
        return dataclasses.replace(
            second,
            attempts=refused.attempts + second.attempts,
            response={"refused": refused.response, "resent": second.response},
            provider_rejected=len(named) + (second.provider_rejected or 0),
            rejected_rows=tuple(named),
        )

    def _send_requests(self, batch: Batch) -> SubmitResult:
        accepted, attempts = 0, 0
        status: int | None = None
        references: list[str] = []
        bodies: list[dict[str, Any]] = []
        answers: list[Answer] = []
        for planned in self.plan(batch):
            outcome = send(
                planned.request,
                session=self.session,
                policy=self.policy,
                secrets=self.secrets,
                source=self.credentials.source,
                deduplicates=self.deduplicates,
                not_processed=self.not_processed,
                sleep=self.sleep,
                rng=self.rng,
            )
            attempts += outcome.attempts
            bodies.append(outcome.body)
            status = outcome.status_code
            answer = self.read_answer(outcome.body, planned) if outcome.ok else None
            error = outcome.error if answer is None else answer.error
            if answer is not None:
                answers.append(answer)
                accepted += answer.accepted
                if answer.reference:
                    references.append(answer.reference)
            if error is not None:  # a 2xx body reporting a failure is a refusal
                return SubmitResult(
                    outcome=outcome.outcome if answer is None else "rejected",
                    status_code=status,
                    accepted=accepted,
                    provider_reference=",".join(references) or None,
                    response=_combined(bodies),
                    error=error,
                    attempts=attempts,
                )
        return SubmitResult(
            outcome="accepted",
            status_code=status,
            accepted=accepted,
            provider_reference=",".join(references) or None,
            response=_combined(bodies),
            attempts=attempts,
            confirmed=_total(a.confirmed for a in answers),
            provider_rejected=_total(a.rejected for a in answers),
            provider_status=",".join(dict.fromkeys(a.status for a in answers if a.status)) or None,
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Texts that must never appear in results, errors or logs."""
        return (self.credentials.secret,)

    def headers(self, idempotency_key: str | None, auth: dict[str, str]) -> dict[str, str]:
        """Common headers (idempotency key unless None, as for a read; accept; user agent)
        plus the provider's auth."""
        common = {
            "Accept": "application/json",
            # A new connection per upload: a reused one the server has closed would make a
            # request that never reached it look like one whose outcome is unknown.
            "Connection": "close",
            "User-Agent": f"cohortflow/{__version__}",
        }
        if idempotency_key is not None:
            common = {"Idempotency-Key": idempotency_key, **common}
        return {**common, **auth}


# ---------------------------------------------------------------------- helpers


def _combined(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    return bodies[0] if len(bodies) == 1 else {"parts": bodies}


def _total(counts: Iterable[int | None]) -> int | None:
    """The sum, or None when any part is unknown."""
    values = list(counts)
    return None if not values or any(v is None for v in values) else sum(v or 0 for v in values)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """A UTF-8 CSV (comma, header row, quoted where needed, CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def variable_names(batch: Batch, *, reserved: Iterable[str] = ()) -> list[str]:
    """Variable keys used by any recipient, in first-seen order; refuses reserved names."""
    names = list(dict.fromkeys(key for r in batch.recipients for key in r.variables))
    clash = sorted(set(names) & set(reserved))
    if clash:
        raise ProviderError(
            f"batch {batch.idempotency_key}: variable name(s) {', '.join(clash)} clash with "
            "the provider's own columns; rename them in the mapping",
            code="provider_data",
        )
    return names


def batch_label(batch: Batch, *, max_length: int = 50) -> str:
    """A readable batch name: letters, digits, space, ``_`` and ``-``, at most ``max_length``."""
    if batch.name:
        return _LABEL_UNSAFE.sub("_", batch.name)[:max_length]
    tail = f"-b{batch.batch_number:06d}-a{batch.attempt}"
    head = _LABEL_UNSAFE.sub("_", f"{batch.campaign_id}-{batch.cohort_id}")
    return head[: max_length - len(tail)] + tail


def phone_of(recipient: BatchRecipient, batch: Batch) -> str:
    """The recipient's E.164 number; a provider that calls or messages by phone cannot take a
    recipient without one (only campaigns of users have such recipients)."""
    if recipient.phone_number is None:
        raise ProviderError(
            f"batch {batch.idempotency_key}, row {recipient.row_number}: no phone number; this "
            "provider contacts recipients by phone", code="provider_data")
    return recipient.phone_number


def require_recipients(batch: Batch) -> None:
    """Refuse an empty batch: every provider rejects a CSV without data rows."""
    if not batch.recipients:
        raise ProviderError(
            f"batch {batch.idempotency_key} has no recipients", code="provider_data"
        )
