"""Nexus calls: one CSV upload per batch creates a batch of calls (``nexus-call-upload.txt``).

``POST {base_url}/api/call/upload`` as ``multipart/form-data`` with
``Authorization: Bearer <token>``.

Form fields and the choices where the page is vague:

- ``file``: ``contacts.csv`` with ``phoneNumber`` (E.164, with ``+``) then one column per
  variable key (first-seen order; empty cell when a recipient lacks a key).
- ``userId``, ``batchType``: from the provider config. ``batchName``:
  :func:`~cohortflow.providers.adapter.batch_label`.
- ``callingNumbers``: a JSON array string of the batch recipients' distinct ``caller_id``
  values (first-seen order); when none has one, every ``phone_numbers`` entry of the
  campaign's ``connection_configs``. Nexus expects the ids of provisioned numbers there; the
  config must hold those. None at all raises :class:`ProviderError` before sending.
- ``enableDNC``: ``"true"``/``"false"`` from ``enable_dnc``.
- ``type``: always ``"false"``, so that Nexus reports invalid rows (HTTP 422) instead of
  silently dropping them; upstream validation means there should be none.
- ``timezone``, ``callingHour`` (``{"start": "HH:MM", "end": "HH:MM"}`` as a JSON string) and
  ``allowedDays`` (a JSON array string of ISO day numbers, Monday = 1 ... Sunday = 7, sorted)
  from the campaign's ``allowed_schedule``.
- ``retry`` and ``delay``: sent only when set in the provider config, as decimal strings.
- Accepted count: ``batch.totalCalls`` (after Nexus's own de-duplication); reference:
  ``batch._id``. A 2xx body with ``success: false`` is a failure.

Delivery outcomes: the page documents no idempotency key, so Nexus is taken not to
de-duplicate. Its 500 covers "file parsing failed, database error, or other server errors":
the last of these may come after the batch was inserted, so a 5xx is an unknown outcome. The
page documents ``GET /api/call/batch-details/{batchId}``, but the id comes only in the upload's
answer, which an unknown outcome lacks: such a batch cannot be reconciled automatically and is
left unconfirmed for an operator.

Checked before any request (:meth:`NexusAdapter.problems`): ``user_id`` is 24 hexadecimal
characters (the page's example is a MongoDB ObjectId, and Nexus answers 400 "Invalid User ID
format" otherwise), and the campaign has calling numbers (``connection_configs``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import requests

from cohortflow.config import WEEKDAYS, NexusProvider
from cohortflow.errors import ProviderError
from cohortflow.providers.adapter import (
    Answer,
    PlannedRequest,
    Problem,
    ProviderAdapter,
    batch_label,
    csv_bytes,
    require_recipients,
    variable_names,
)
from cohortflow.providers.base import Batch

PHONE_COLUMN = "phoneNumber"
OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")


class NexusAdapter(ProviderAdapter[NexusProvider]):
    """Uploads each batch as a Nexus call batch."""

    kind = "nexus"

    def problems(self, variables: Sequence[str] = ()) -> list[Problem]:
        """A well-formed ``user_id``, and calling numbers to call from."""
        found = []
        if not OBJECT_ID.match(self.provider.user_id):
            found.append(Problem(
                "provider.user_id",
                f"{self.provider.user_id!r} is not a Nexus user id (24 hexadecimal characters, "
                "e.g. 64e5f12345abcdef12345678); copy it from Nexus"))
        if not any(c.phone_numbers for c in self.campaign.connection_configs):
            found.append(Problem(
                "connection_configs",
                "Nexus needs at least one calling number (callingNumbers); add "
                "connection_configs with phone_numbers (the ids of provisioned numbers)"))
        if PHONE_COLUMN in variables:
            found.append(Problem(
                "mapping.app_variables",
                f"a variable named {PHONE_COLUMN!r} would clash with Nexus's own column; "
                "rename it in the mapping"))
        return found

    def calling_numbers(self, batch: Batch) -> list[str]:
        """Caller ids for the batch: the recipients' own, else the campaign's connections."""
        numbers = list(dict.fromkeys(r.caller_id for r in batch.recipients if r.caller_id))
        if not numbers:
            numbers = list(
                dict.fromkeys(n for c in self.campaign.connection_configs for n in c.phone_numbers)
            )
        if not numbers:
            raise ProviderError(
                f"batch {batch.idempotency_key}: Nexus needs at least one calling number; "
                "add connection_configs with phone_numbers to the campaign",
                code="provider_data",
            )
        return numbers

    def form_fields(self, batch: Batch) -> dict[str, str]:
        """Every non-file form field, in the page's order."""
        p, schedule = self.provider, self.campaign.allowed_schedule
        fields = {
            "userId": p.user_id,
            "batchName": batch_label(batch),
            "batchType": p.batch_type,
            "callingNumbers": json.dumps(self.calling_numbers(batch)),
            "enableDNC": "true" if p.enable_dnc else "false",
            "type": "false",
            "timezone": schedule.timezone,
            "callingHour": json.dumps(
                {"start": schedule.allowed_start_time, "end": schedule.allowed_end_time}
            ),
            "allowedDays": json.dumps(sorted(WEEKDAYS.index(d) + 1 for d in schedule.allowed_days)),
        }
        if p.retry is not None:
            fields["retry"] = str(p.retry)
        if p.delay is not None:
            fields["delay"] = str(p.delay)
        return fields

    def plan(self, batch: Batch) -> list[PlannedRequest]:
        """One multipart upload holding every recipient of ``batch``."""
        require_recipients(batch)
        keys = variable_names(batch, reserved=(PHONE_COLUMN,))
        rows = [[r.phone_number, *(r.variables.get(k, "") for k in keys)] for r in batch.recipients]
        request = requests.Request(
            "POST",
            f"{self.provider.base_url}/api/call/upload",
            headers=self.headers(
                batch.idempotency_key, {"Authorization": f"Bearer {self.credentials.secret}"}
            ),
            data=self.form_fields(batch),
            files={"file": ("contacts.csv", csv_bytes([PHONE_COLUMN, *keys], rows), "text/csv")},
        )
        return [PlannedRequest(request, len(rows))]

    def read_answer(self, body: dict[str, Any], planned: PlannedRequest) -> Answer:
        """``batch.totalCalls`` and ``batch._id``; ``success: false`` is a failure."""
        found = body.get("batch")
        batch: dict[str, Any] = found if isinstance(found, dict) else {}
        reference = batch.get("_id")
        if body.get("success") is False:
            return Answer(0, reference, f"Nexus answered success=false: {body.get('message')}")
        total = batch.get("totalCalls")
        return Answer(total if isinstance(total, int) else planned.recipients, reference)
