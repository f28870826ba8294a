"""The common shape of a provider adapter: build the documented requests, then send them.

:meth:`ProviderAdapter.build_requests` is pure: it returns exactly the request(s) the provider's
page documents, so tests check them field by field without a network. :meth:`submit` sends
them through :func:`cohortflow.providers.http.send` (bounded retries, secrets scrubbed) and
folds the answers into one :class:`SubmitResult`.

Every request carries the batch's ``Idempotency-Key`` header. When an adapter must split a
batch into several uploads, each part carries ``<key>-part<i>of<n>``, so that a provider which
de-duplicates by key does not mistake the second part for a replay of the first.
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


class ProviderAdapter(ABC, Generic[P]):
    """Turns a :class:`Batch` into a provider's documented request(s) and submits them."""

    kind: ClassVar[str]

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

    # ------------------------------------------------------------------ shared

    def build_requests(self, batch: Batch) -> list[requests.Request]:
        """Exactly the documented request(s) for ``batch``, not sent."""
        return [planned.request for planned in self.plan(batch)]

    def submit(self, batch: Batch) -> SubmitResult:
        """Send ``batch``; raises :class:`ProviderError` for refused credentials or bad data."""
        planned_requests = self.plan(batch)
        accepted, attempts = 0, 0
        status: int | None = None
        references: list[str] = []
        bodies: list[dict[str, Any]] = []
        for planned in planned_requests:
            outcome = send(
                planned.request,
                session=self.session,
                policy=self.policy,
                secrets=self.secrets,
                source=self.credentials.source,
                sleep=self.sleep,
                rng=self.rng,
            )
            attempts += outcome.attempts
            bodies.append(outcome.body)
            answer = self.read_answer(outcome.body, planned) if outcome.ok else None
            error = outcome.error if answer is None else answer.error
            if answer is not None:
                accepted += answer.accepted
                if answer.reference:
                    references.append(answer.reference)
            if error is not None:
                return SubmitResult(
                    ok=False,
                    status_code=outcome.status_code,
                    accepted=accepted,
                    provider_reference=",".join(references) or None,
                    response=_combined(bodies),
                    error=error,
                    attempts=attempts,
                    retryable=outcome.retryable,
                )
            status = outcome.status_code
        return SubmitResult(
            ok=True,
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


def part_key(batch: Batch, index: int, parts: int) -> str:
    """The idempotency key of part ``index`` (1-based) of ``parts``; the batch key if one."""
    return batch.idempotency_key if parts == 1 else f"{batch.idempotency_key}-part{index}of{parts}"


def require_recipients(batch: Batch) -> None:
    """Refuse an empty batch: every provider rejects a CSV without data rows."""
    if not batch.recipients:
        raise ProviderError(
            f"batch {batch.idempotency_key} has no recipients", code="provider_data"
        )
