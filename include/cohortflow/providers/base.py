"""What every provider adapter receives and returns.

An adapter turns one :class:`Batch` into exactly the HTTP request(s) its provider documents,
sends them with bounded retries, and reports a :class:`SubmitResult`. Credentials never appear
in ``repr``, logs or error text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: What a submission's answer means (docs/dispatch.md, "Delivery outcomes"):
#: ``accepted``: the provider took the batch. ``not_sent``: nothing reached the provider, or
#: it said it did not process the request (429, ...): safe to send again. ``unknown``: the
#: request may have been processed (a timeout or a dropped connection after the request was
#: written, a 5xx the page does not define): sent again only to a provider that de-duplicates.
#: ``rejected``: the provider refused it (another 4xx): fixed by changing the config.
Outcome = Literal["accepted", "not_sent", "unknown", "rejected"]


@dataclass(frozen=True)
class BatchRecipient:
    """One recipient inside a batch, as read from ``recipients.parquet``."""

    row_number: int
    phone_number: str | None  # E.164; None only for a user without one (campaigns of users)
    user_identifier: str | None = None
    variables: dict[str, str] = field(default_factory=dict)  # app variables and overrides
    message: str | None = None
    payload: str | None = None  # rendered layout JSON, when the campaign has a layout
    region: str | None = None
    connection_id: str | None = None  # assigned from connection_configs by weight
    caller_id: str | None = None


@dataclass(frozen=True)
class Batch:
    """A slice of a cohort submitted in one go; the idempotency key is deterministic."""

    campaign_id: str
    cohort_id: str
    batch_number: int
    attempt: int  # 0 for the first submission, n for the n-th retry round
    idempotency_key: str
    recipients: tuple[BatchRecipient, ...]
    name: str = ""  # human-readable batch name sent where a provider wants one

    @staticmethod
    def key_for(campaign_id: str, cohort_id: str, batch_number: int, attempt: int) -> str:
        """The idempotency key for a batch: stable across re-runs, unique per attempt."""
        return f"{campaign_id}:{cohort_id}:{batch_number:06d}:{attempt}"


@dataclass(frozen=True, repr=False)
class Credentials:
    """A provider secret (API key or token) and, where needed, an app id."""

    secret: str
    app_id: str | None = None
    source: str = ""  # e.g. "connection 'sarvam_default'" — named in error messages

    def __repr__(self) -> str:
        return f"Credentials(source={self.source!r}, secret=***)"


@dataclass(frozen=True)
class RowRejection:
    """A recipient the provider named as refused, and its reason as the provider gave it."""

    row_number: int
    reason: str


@dataclass(frozen=True)
class SubmitResult:
    """What the provider answered for a batch (after the retries that were safe to make).

    ``accepted`` counts the recipients the provider took in (uploaded). What it later reports
    about them, where its page documents a way, is ``confirmed`` (valid or imported) and
    ``provider_rejected``; ``None`` means not reported (yet), e.g. a Sarvam cohort still
    ``processing``. ``rejected_rows`` are recipients it refused by name (not in ``accepted``).
    """

    outcome: Outcome
    status_code: int | None
    accepted: int  # recipients the provider accepted
    provider_reference: str | None = None  # provider's batch/cohort id
    response: dict[str, Any] = field(default_factory=dict)  # body, secrets removed
    error: str | None = None  # provider message or transport failure when not accepted
    attempts: int = 1  # HTTP attempts made
    confirmed: int | None = None
    provider_rejected: int | None = None
    provider_status: str | None = None  # the provider's own word, e.g. "processing"
    rejected_rows: tuple[RowRejection, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the provider accepted the batch."""
        return self.outcome == "accepted"
