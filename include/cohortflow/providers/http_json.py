"""Any other provider: the batch as one JSON document.

``POST {base_url}{path}`` with ``Content-Type: application/json`` and the body::

    {"campaign_id": ..., "cohort_id": ..., "batch_number": ..., "idempotency_key": ...,
     "recipients": [{"phone_number", "user_identifier", "variables", "message",
                     "payload", "caller_id"}, ...]}

Auth: header ``auth_header`` (default ``Authorization``) with value ``"<auth_scheme> <key>"``
(default scheme ``Bearer``), or the bare key when ``auth_scheme`` is empty.
``payload`` is the recipient's rendered layout, sent as the JSON string it is.
Results: the response's ``accepted``, when it is an integer, is the count the provider
confirms (the rest reported as refused); reference: ``batch_id`` or ``id``.

Delivery outcomes: whether the provider de-duplicates by ``Idempotency-Key`` is the campaign's
``provider.deduplicates`` (default false): only then is a batch whose outcome is unknown sent
again with the same key. No lookup is known, so otherwise it is left unconfirmed.
"""

from __future__ import annotations

from typing import Any

import requests

from cohortflow.config import HttpJsonProvider
from cohortflow.providers.adapter import Answer, PlannedRequest, ProviderAdapter, require_recipients
from cohortflow.providers.base import Batch


class HttpJsonAdapter(ProviderAdapter[HttpJsonProvider]):
    """POSTs each batch as JSON to a configurable endpoint."""

    kind = "http_json"

    @property
    def deduplicates(self) -> bool:  # type: ignore[override]
        """As the campaign's ``provider.deduplicates`` says."""
        return self.provider.deduplicates

    def body(self, batch: Batch) -> dict[str, Any]:
        """The JSON document for ``batch``."""
        return {
            "campaign_id": batch.campaign_id,
            "cohort_id": batch.cohort_id,
            "batch_number": batch.batch_number,
            "idempotency_key": batch.idempotency_key,
            "recipients": [
                {
                    "phone_number": r.phone_number,
                    "user_identifier": r.user_identifier,
                    "variables": dict(r.variables),
                    "message": r.message,
                    "payload": r.payload,
                    "caller_id": r.caller_id,
                }
                for r in batch.recipients
            ],
        }

    def plan(self, batch: Batch) -> list[PlannedRequest]:
        """One JSON POST holding every recipient of ``batch``."""
        require_recipients(batch)
        p = self.provider
        value = (
            f"{p.auth_scheme} {self.credentials.secret}"
            if p.auth_scheme
            else (self.credentials.secret)
        )
        path = p.path if p.path.startswith("/") else f"/{p.path}"
        request = requests.Request(
            "POST",
            f"{p.base_url}{path}",
            headers=self.headers(batch.idempotency_key, {p.auth_header: value}),
            json=self.body(batch),
        )
        return [PlannedRequest(request, len(batch.recipients))]

    def read_answer(self, body: dict[str, Any], planned: PlannedRequest) -> Answer:
        """``accepted`` and ``batch_id``/``id`` from the response when given."""
        accepted = body.get("accepted")
        found = body.get("batch_id") or body.get("id")
        reference = str(found) if found else None
        if not isinstance(accepted, int):
            return Answer(planned.recipients, reference)
        return Answer(planned.recipients, reference, confirmed=accepted,
                      rejected=max(planned.recipients - accepted, 0))
