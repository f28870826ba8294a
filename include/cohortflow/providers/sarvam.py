"""Sarvam scheduling API: campaign settings (``sarvam-campaign-update.txt``) and one cohort
upload per batch (``sarvam-cohort-upload.txt``), both with header ``X-API-Key``.

Settings: ``PATCH {base_url}/v1/orgs/{org_id}/workspaces/{workspace_id}/campaigns/{campaign_id}``
with the JSON body nested exactly as the page does (:func:`campaign_settings`): ``name``,
``description``, ``app_config`` {``app_id``, ``app_version``, ``attempts_per_second``,
``connection_configs``, ``retry_config``, ``app_type``, ``webhook_config``}, ``end_timestamp``,
``allowed_schedule``. Dispatch pushes them before any upload whenever they differ from what
was last pushed (``dispatch/provider_steps.py``). Choices where the page is vague: a setting
the YAML leaves unset (``description``, ``app_id``, ``app_version``, ``end_timestamp``,
``webhook_config``, an empty ``connection_configs``) is left out rather than sent as null,
so Sarvam keeps its own value; a whole-day window (start = end) is sent as ``00:00`` to
``23:59``; a window crossing midnight cannot be written as one start and end, so it is a
problem found before any request. The page allows updates only while the campaign is
``paused`` or ``scheduled``; a refusal is shown in the campaign's status and uploads wait.

Uploads: ``POST .../campaigns/{campaign_id}/cohorts/upload`` as ``multipart/form-data`` with the
fields ``name``, ``cohort_file`` and ``cohort_transformation_file``.

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
- Results: a ``completed`` answer's ``result`` gives the valid and rejected counts. A
  ``processing`` answer (the usual one: processing is asynchronous) has no counts yet, and the
  pages document no way to read a cohort later, so its rows are uploaded but their validation
  stays unreported (shown to operators as awaiting the provider). ``failed`` is a failure.

Delivery outcomes: the page documents no idempotency key, so Sarvam is taken not to
de-duplicate; it defines no status as "not processed", so every 5xx is an unknown outcome. It
documents no way to look an upload up afterwards (the cohort id comes only in the answer), so
an unknown outcome cannot be reconciled automatically: the batch is left unconfirmed.

Checked before the first request (:meth:`SarvamAdapter.problems`): the allowed window can be
written as Sarvam's start and end times. The CSV's own column names (``phone_number``,
``user_identifier``) are names no mapping may give a variable.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import requests

from cohortflow.config import ALLOWED_OVERRIDES, CampaignConfig, SarvamProvider
from cohortflow.providers.adapter import (
    Answer,
    PlannedRequest,
    Problem,
    ProviderAdapter,
    SettingsUpdate,
    batch_label,
    csv_bytes,
    phone_of,
    require_recipients,
    variable_names,
)
from cohortflow.providers.base import Batch

PHONE_COLUMN = "phone_number"
IDENTIFIER_COLUMN = "user_identifier"


class SarvamAdapter(ProviderAdapter[SarvamProvider]):
    """Uploads each batch as a Sarvam cohort (CSV + transformation config)."""

    kind = "sarvam"
    retries_calls = True

    def campaign_url(self) -> str:
        """The URL of the configured org, workspace and campaign (the settings endpoint)."""
        p = self.provider
        return (
            f"{p.base_url}/v1/orgs/{quote(p.org_id, safe='')}"
            f"/workspaces/{quote(p.workspace_id, safe='')}"
            f"/campaigns/{quote(p.campaign_id, safe='')}"
        )

    def url(self) -> str:
        """The cohort upload URL for the configured org, workspace and campaign."""
        return f"{self.campaign_url()}/cohorts/upload"

    def problems(self, variables: Sequence[str] = ()) -> list[Problem]:
        """The allowed window must fit Sarvam's start and end times (no midnight crossing)."""
        schedule = self.campaign.allowed_schedule
        if schedule.start > schedule.end:
            return [Problem(
                "allowed_schedule",
                f"{schedule.allowed_start_time}-{schedule.allowed_end_time} crosses midnight, "
                "which Sarvam's allowed_start_time/allowed_end_time cannot express; use a "
                "window within one day (or 00:00-00:00 for the whole day)")]
        return []

    def settings_update(self) -> SettingsUpdate:
        """The campaign's settings as the update page nests them."""
        return SettingsUpdate("PATCH", self.campaign_url(), campaign_settings(self.campaign))

    def settings_request(self, update: SettingsUpdate) -> requests.Request:
        """``update`` as a JSON PATCH with ``X-API-Key``."""
        headers = self.headers(f"settings:{update.fingerprint}",
                               {"X-API-Key": self.credentials.secret})
        return requests.Request(update.method, update.url, headers=headers, json=update.body)

    def plan(self, batch: Batch) -> list[PlannedRequest]:
        """One multipart upload holding every recipient of ``batch``."""
        require_recipients(batch)
        keys = variable_names(batch, reserved=(PHONE_COLUMN, IDENTIFIER_COLUMN))
        rows = [
            [phone_of(r, batch), r.user_identifier or "",
             *(r.variables.get(k, "") for k in keys)]
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
        """Counts from the cohort's ``result`` once ``completed``; see the module docstring."""
        reference = body.get("cohort_id")
        status = body.get("status")
        if status == "failed":
            return Answer(0, reference, "Sarvam reports the cohort as failed", status="failed")
        result = body.get("result") or {}
        valid, rejected = result.get("valid_records"), result.get("rejected_records")
        if status == "completed" and isinstance(valid, int):
            return Answer(planned.recipients, reference, confirmed=valid,
                          rejected=rejected if isinstance(rejected, int) else None,
                          status="completed")
        return Answer(planned.recipients, reference, status=str(status or "processing"))


def campaign_settings(campaign: CampaignConfig) -> dict[str, Any]:
    """The update body for ``campaign``, field for field as the page nests it (unset optional
    settings left out, see the module docstring)."""
    schedule = campaign.allowed_schedule
    retry = campaign.retry_config
    app_config = {
        "app_id": campaign.app_id,
        "app_version": campaign.app_version,
        "attempts_per_second": float(campaign.attempts_per_second),
        "connection_configs": [c.model_dump(mode="json") for c in campaign.connection_configs]
        or None,
        "retry_config": {
            "max_retries": retry.max_retries,
            "retry_on": retry.retry_on.model_dump(mode="json"),
            "retry_interval_minutes": list(retry.retry_interval_minutes),
        },
        "app_type": campaign.app_type,
        "webhook_config": campaign.webhook_config.model_dump(mode="json")
        if campaign.webhook_config else None,
    }
    whole_day = schedule.start == schedule.end
    body = {
        "name": campaign.name,
        "description": campaign.description,
        "app_config": _without_none(app_config),
        "end_timestamp": campaign.end_timestamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if campaign.end_timestamp else None,
        "allowed_schedule": {
            "allowed_start_time": "00:00" if whole_day else schedule.allowed_start_time,
            "allowed_end_time": "23:59" if whole_day else schedule.allowed_end_time,
            "allowed_days": list(schedule.allowed_days),
            "timezone": schedule.timezone,
        },
    }
    return _without_none(body)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def transformation_config(batch: Batch, keys: list[str]) -> dict[str, Any]:
    """The transformation JSON mapping the uploaded CSV's columns back to Sarvam's fields."""
    every_has_identifier = all(r.user_identifier for r in batch.recipients)
    return {
        "phone_number": {"column_name": PHONE_COLUMN},
        "user_identifier": {"column_name": IDENTIFIER_COLUMN, "required": every_has_identifier},
        "app_variables": {k: {"column_name": k} for k in keys if k not in ALLOWED_OVERRIDES},
        "app_overrides": {k: {"column_name": k} for k in keys if k in ALLOWED_OVERRIDES},
    }
