"""The common shape of a provider adapter: check the config, build the documented request,
send it, and say what the answer means.

:meth:`ProviderAdapter.problems` finds what can be known before any request (credentials, ids,
required fields, column names) so that a campaign with a config error sends nothing.
:meth:`ProviderAdapter.build_requests` is pure: it returns exactly the request the provider's
page documents, so tests check it field by field without a network. :meth:`submit` sends it
through :func:`cohortflow.providers.http.send` and classifies the answer
(:data:`~cohortflow.providers.base.Outcome`).

Every request carries the batch's ``Idempotency-Key`` header: it costs nothing and helps a
provider that honours it. Whether a provider does is :attr:`ProviderAdapter.deduplicates`,
taken from its page; none of the four documented providers says it does, so a request whose
outcome is unknown is never sent to them again by cohortflow itself.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import requests

from cohortflow import __version__
from cohortflow.config import CampaignConfig
from cohortflow.errors import ProviderError
from cohortflow.providers.base import Batch, Credentials, SubmitResult
from cohortflow.providers.http import RetryPolicy, send

P = TypeVar("P")

_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9 _-]+")


@dataclass(frozen=True)
class PlannedRequest:
    """One request of a submission and how many recipients it carries."""

    request: requests.Request
    recipients: int


@dataclass(frozen=True)
class Answer:
    """What an adapter reads from one successful response."""

    accepted: int
    reference: str | None = None
    error: str | None = None  # set when a 2xx body still reports a failure


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

    # ------------------------------------------------------------------ shared

    def build_requests(self, batch: Batch) -> list[requests.Request]:
        """Exactly the documented request(s) for ``batch``, not sent."""
        return [planned.request for planned in self.plan(batch)]

    def submit(self, batch: Batch) -> SubmitResult:
        """Send ``batch`` and classify the answer; raises :class:`ProviderError` for refused
        credentials (every batch would fail alike) or data the provider cannot take."""
        accepted, attempts = 0, 0
        status: int | None = None
        references: list[str] = []
        bodies: list[dict[str, Any]] = []
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
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Texts that must never appear in results, errors or logs."""
        return (self.credentials.secret,)

    def headers(self, idempotency_key: str, auth: dict[str, str]) -> dict[str, str]:
        """Common headers (idempotency key, accept, user agent) plus the provider's auth."""
        return {
            "Idempotency-Key": idempotency_key,
            "Accept": "application/json",
            # A new connection per upload: a reused one the server has closed would make a
            # request that never reached it look like one whose outcome is unknown.
            "Connection": "close",
            "User-Agent": f"cohortflow/{__version__}",
            **auth,
        }


# ---------------------------------------------------------------------- helpers


def _combined(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    return bodies[0] if len(bodies) == 1 else {"parts": bodies}


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


def require_recipients(batch: Batch) -> None:
    """Refuse an empty batch: every provider rejects a CSV without data rows."""
    if not batch.recipients:
        raise ProviderError(
            f"batch {batch.idempotency_key} has no recipients", code="provider_data"
        )
