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
- ``timezone``, ``callingHour`` and ``allowedDays`` from the campaign's ``allowed_schedule``,
  written as the page's example: ``callingHour`` is the JSON string
  ``{"start":"09:00","end":"17:00"}`` and ``allowedDays`` the JSON string ``[1,2,3,4,5]``
  (the example's working week, so ISO numbering: Monday = 1 ... Sunday = 7, sorted). A
  whole-day window (start = end, e.g. the default ``00:00``-``00:00``) is sent as ``00:00`` to
  ``23:59``; a window crossing midnight has no such form and is refused before sending.
- ``retry`` and ``delay``: sent only when set in the provider config, as decimal strings.
- Accepted count: ``batch.totalCalls`` (after Nexus's own de-duplication and DNC); reference:
  ``batch._id``. A 2xx body with ``success: false`` is a failure.
- Confirmation: as the page says, every accepted upload is followed by
  ``GET /api/call/batch-details/{batchId}``; its ``totalCalls`` (read from ``batch``, ``data``
  or the top level: the page does not show the answer) is the count imported, and what falls
  short of the rows sent is recorded as refused by the provider. When it cannot be read, the
  upload's own count stands and the batch says so.
- A 422 names invalid rows. The page says the upload inserts its calls "in a single
  transaction", so a 422 inserted none: those recipients are marked rejected
  (``provider_rejected`` with Nexus's reason) and the others are sent once more, in a new
  upload without them. Rows are matched by the phone number an entry carries, else by its
  ``row`` (a line number, header = 1, as a spreadsheet shows it); a 422 that cannot be
  matched row for row fails the whole batch instead.

Delivery outcomes: the page documents no idempotency key, so Nexus is taken not to
de-duplicate. Its 500 covers "file parsing failed, database error, or other server errors":
the last of these may come after the batch was inserted, so a 5xx is an unknown outcome. The
batch id needed by ``batch-details`` comes only in the upload's answer, which an unknown
outcome lacks: such a batch cannot be reconciled automatically and is left unconfirmed.

Checked before any request (:meth:`NexusAdapter.problems`): ``user_id`` is 24 hexadecimal
characters (the page's example is a MongoDB ObjectId, and Nexus answers 400 "Invalid User ID
format" otherwise), the campaign has calling numbers (``connection_configs``), and its window
does not cross midnight.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

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
    phone_of,
    require_recipients,
    variable_names,
)
from cohortflow.providers.base import Batch, RowRejection, SubmitResult

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
        schedule = self.campaign.allowed_schedule
        if schedule.start > schedule.end:
            found.append(Problem(
                "allowed_schedule",
                f"{schedule.allowed_start_time}-{schedule.allowed_end_time} crosses midnight, "
                "which Nexus's callingHour (one start and end) cannot express; use a window "
                "within one day (or 00:00-00:00 for the whole day)"))
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
        whole_day = schedule.start == schedule.end
        hours = {"start": "00:00" if whole_day else schedule.allowed_start_time,
                 "end": "23:59" if whole_day else schedule.allowed_end_time}
        fields = {
            "userId": p.user_id,
            "batchName": batch_label(batch),
            "batchType": p.batch_type,
            "callingNumbers": json.dumps(self.calling_numbers(batch), separators=(",", ":")),
            "enableDNC": "true" if p.enable_dnc else "false",
            "type": "false",
            "timezone": schedule.timezone,
            "callingHour": json.dumps(hours, separators=(",", ":")),
            "allowedDays": json.dumps(sorted(WEEKDAYS.index(d) + 1 for d in schedule.allowed_days),
                                      separators=(",", ":")),
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
        rows = [[phone_of(r, batch), *(r.variables.get(k, "") for k in keys)]
                for r in batch.recipients]
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
        if not isinstance(total, int):
            return Answer(planned.recipients, reference)
        return Answer(planned.recipients, reference, confirmed=total,
                      rejected=max(planned.recipients - total, 0))

    def invalid_rows(self, body: dict[str, Any], batch: Batch) -> list[RowRejection] | None:
        """The recipients a 422 names (see the module docstring), or None when its entries
        cannot all be matched to rows of ``batch``."""
        entries = _invalid_entries(body)
        if not entries:
            return None
        by_phone = {_digits(r.phone_number or ""): r.row_number for r in batch.recipients}
        by_line = {line: r.row_number for line, r in enumerate(batch.recipients, start=2)}
        named: dict[int, str] = {}
        for entry in entries:
            phone = next((entry[k] for k in ("phoneNumber", "phone_number", "phone")
                          if isinstance(entry.get(k), str | int)), None)
            line = next((entry[k] for k in ("row", "rowNumber", "line") if
                         isinstance(entry.get(k), int)), None)
            if phone is not None:
                row = by_phone.get(_digits(str(phone)))
            else:
                row = by_line.get(line) if line is not None else None
            if row is None:
                return None
            reason = next((str(entry[k]) for k in ("error", "reason", "message", "errors")
                           if entry.get(k)), "invalid row")
            named[row] = f"Nexus: {reason}"
        return [RowRejection(row, reason) for row, reason in sorted(named.items())]

    def confirm(self, result: SubmitResult) -> SubmitResult:
        """Read ``batch-details`` for the new batch and record what was imported."""
        if not result.provider_reference:
            return dataclasses.replace(result, provider_status="no batch id to confirm")
        url = (f"{self.provider.base_url}/api/call/batch-details/"
               f"{quote(result.provider_reference, safe='')}")
        request = requests.Request("GET", url, headers=self.headers(
            None, {"Authorization": f"Bearer {self.credentials.secret}"}))
        try:
            answer = self.call(request, repeatable=True)
        except ProviderError as exc:  # the upload stands: never let it look unsent
            return dataclasses.replace(
                result, provider_status=f"batch-details not read ({exc.message})")
        found = _total_calls(answer.body) if answer.ok else None
        if found is None:
            reason = answer.error or "no totalCalls in the answer"
            return dataclasses.replace(
                result, provider_status=f"batch-details not read ({reason})")
        sent = result.accepted
        named = len(result.rejected_rows)
        return dataclasses.replace(
            result,
            confirmed=found,
            provider_rejected=named + max(sent - found, 0),
            provider_status="imported" if found >= sent else f"imported {found} of {sent}",
        )


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _invalid_entries(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The invalid-row entries of a 422 answer, wherever the provider put them."""
    for key in ("invalidRows", "invalid_rows", "errors", "details", "rows", "data"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("invalidRows") or value.get("rows")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return value
    return []


def _total_calls(body: dict[str, Any]) -> int | None:
    for holder in (body.get("batch"), body.get("data"), body):
        if isinstance(holder, dict) and isinstance(holder.get("totalCalls"), int):
            return int(holder["totalCalls"])
    return None
