"""Sarvam scheduling API: one cohort upload per batch (``sarvam-cohort-upload.txt``).

``POST {base_url}/v1/orgs/{org_id}/workspaces/{workspace_id}/campaigns/{campaign_id}``
``/cohorts/upload`` as ``multipart/form-data`` with header ``X-API-Key`` and the fields
``name``, ``cohort_file`` and ``cohort_transformation_file``.

Choices where the page is vague:

- ``cohort_file`` is a UTF-8 CSV with columns ``phone_number`` (E.164, as validated upstream),
  ``user_identifier`` (empty when the recipient has none) and one column per variable or
  override key, named after the key. Keys are the recipients' ``variables`` in first-seen
  order; a recipient without a key gets an empty cell.
- ``cohort_transformation_file`` maps those columns back: ``phone_number`` and
  ``user_identifier`` (``required`` only when every recipient has one, so Sarvam's row rule
  "required columns must be non-empty" never rejects a row we consider valid), keys in
  :data:`cohortflow.config.ALLOWED_OVERRIDES` under ``app_overrides``, all others under
  ``app_variables``. Files are named ``<name>.csv`` and ``<name>.transformation.json``.
- ``name`` is :func:`~cohortflow.providers.adapter.batch_label` (Sarvam's naming rule for
  resources: letters, digits, space, ``_``, ``-``; at most 50 characters).
- Caller ids are not sent: Sarvam takes them from the campaign's ``connection_configs``.
- Accepted count: ``result.valid_records`` once the cohort is ``completed``; while it is still
  ``processing`` (the usual answer, processing is asynchronous) every uploaded row counts as
  accepted, and row rejections are read later from the cohort. ``failed`` is a failure.

Delivery outcomes: the page documents no idempotency key, so Sarvam is taken not to
de-duplicate; it defines no status as "not processed", so every 5xx is an unknown outcome. It
documents no way to look an upload up afterwards (the cohort id comes only in the answer), so
an unknown outcome cannot be reconciled automatically: the batch is left unconfirmed.

Nothing is checked before the first request beyond the credentials: the CSV's own column
names (``phone_number``, ``user_identifier``) are names no mapping may give a variable.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import requests

from cohortflow.config import ALLOWED_OVERRIDES, SarvamProvider
from cohortflow.providers.adapter import (
    Answer,
    PlannedRequest,
    ProviderAdapter,
    batch_label,
    csv_bytes,
    require_recipients,
    variable_names,
)
from cohortflow.providers.base import Batch

PHONE_COLUMN = "phone_number"
IDENTIFIER_COLUMN = "user_identifier"


class SarvamAdapter(ProviderAdapter[SarvamProvider]):
    """Uploads each batch as a Sarvam cohort (CSV + transformation config)."""

    kind = "sarvam"

    def url(self) -> str:
        """The cohort upload URL for the configured org, workspace and campaign."""
        p = self.provider
        return (
            f"{p.base_url}/v1/orgs/{quote(p.org_id, safe='')}"
            f"/workspaces/{quote(p.workspace_id, safe='')}"
            f"/campaigns/{quote(p.campaign_id, safe='')}/cohorts/upload"
        )

    def plan(self, batch: Batch) -> list[PlannedRequest]:
        """One multipart upload holding every recipient of ``batch``."""
        require_recipients(batch)
        keys = variable_names(batch, reserved=(PHONE_COLUMN, IDENTIFIER_COLUMN))
        rows = [
            [r.phone_number, r.user_identifier or "", *(r.variables.get(k, "") for k in keys)]
            for r in batch.recipients
        ]
        name = batch_label(batch)
        files = {
            "cohort_file": (
                f"{name}.csv",
                csv_bytes([PHONE_COLUMN, IDENTIFIER_COLUMN, *keys], rows),
                "text/csv",
            ),
            "cohort_transformation_file": (
                f"{name}.transformation.json",
                json.dumps(transformation_config(batch, keys)).encode("utf-8"),
                "application/json",
            ),
        }
        request = requests.Request(
            "POST",
            self.url(),
            headers=self.headers(batch.idempotency_key, {"X-API-Key": self.credentials.secret}),
            data={"name": name},
            files=files,
        )
        return [PlannedRequest(request, len(rows))]

    def read_answer(self, body: dict[str, Any], planned: PlannedRequest) -> Answer:
        """Counts from the cohort's ``result``; see the module docstring."""
        reference = body.get("cohort_id")
        status = body.get("status")
        if status == "failed":
            return Answer(0, reference, "Sarvam reports the cohort as failed")
        result = body.get("result") or {}
        if status == "completed" and isinstance(result.get("valid_records"), int):
            return Answer(result["valid_records"], reference)
        return Answer(planned.recipients, reference)


def transformation_config(batch: Batch, keys: list[str]) -> dict[str, Any]:
    """The transformation JSON mapping the uploaded CSV's columns back to Sarvam's fields."""
    every_has_identifier = all(r.user_identifier for r in batch.recipients)
    return {
        "phone_number": {"column_name": PHONE_COLUMN},
        "user_identifier": {"column_name": IDENTIFIER_COLUMN, "required": every_has_identifier},
        "app_variables": {k: {"column_name": k} for k in keys if k not in ALLOWED_OVERRIDES},
        "app_overrides": {k: {"column_name": k} for k in keys if k in ALLOWED_OVERRIDES},
    }
