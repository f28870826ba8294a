"""CometChat campaigns (``cometchat-csv-campaign.txt``): create, upload the CSV, send.

The page's flow is three calls: create a campaign linked to an approved template (step 1),
upload a CSV of recipients to it (step 2, ``POST /api/campaigns/upload``), send it (step 3,
with ``scheduledAt`` for scheduling). Only step 2's path is on the page; steps 1 and 3 are
provider settings, ``create_path`` (default ``/api/campaigns``) and ``send_path`` (default
``/api/campaigns/{campaign_id}/send``), so they can be pointed at the real paths.

Choices where the page is vague (it names headers and fields only by description):

- Headers ``appId`` (the CometChat App ID) and ``apiKey`` (the API key), the names CometChat's
  REST API uses. The app id comes from the credentials (``..._APP_ID`` or the connection's
  extra ``app_id`` / login).
- Step 1 runs only when the provider config has no ``campaign_id``: a JSON POST
  ``{"name": <campaign name>, "templateId": <template_id>}``; the id is read from the answer's
  ``data.id`` or ``id`` and kept in the warehouse, so the campaign is created once.
- Step 2: form fields ``file`` (``recipients.csv``, ``text/csv``) and ``campaignId``. CSV
  columns: ``user_id`` (the recipient's ``user_identifier``: CometChat recipients are users,
  and a phone number is never used in its place) then one column per variable (first-seen
  order; empty cell when a recipient lacks one). Sarvam's override keys are never sent.
  Accepted count: the answer's ``count`` (top level or under ``data``), the recipients
  "successfully parsed and added"; the difference to the rows sent is reported as refused.
- Step 3: one JSON POST per dispatch run that uploaded anything, after its uploads, with
  ``{"scheduledAt": "<ISO 8601 UTC>"}`` when the campaign's ``schedule_at`` is still ahead and
  ``{}`` otherwise. Uploads reach nobody until then, so they do not wait for ``schedule_at``
  (:attr:`schedules_delivery`); the delivery happens at ``scheduledAt``. The page does not say
  whether sending a campaign again re-delivers to recipients of an earlier send; cohortflow
  sends once per run so that each run's recipients are delivered.
- At most :data:`MAX_ROWS` (100,000) recipients per upload and per campaign (the page's
  "Max users" of the CSV upload): ``batch_size`` may not exceed it, and dispatch refuses to
  plan more than that for one CometChat campaign.

Delivery outcomes: the page documents no idempotency key, so CometChat is taken not to
de-duplicate. Its 500 ``ERR_OPERATION_FAILED`` ("CSV parsing or recipient creation failed")
may follow a partial creation, so it is an unknown outcome, not "not processed"; no lookup is
documented, so such an upload is left unconfirmed for an operator, and so is a send step
whose outcome is unknown.

Checked before any request (:meth:`CometChatAdapter.problems`): an App ID in the
credentials, ``batch_size`` within :data:`MAX_ROWS`, variable names CometChat accepts and that
the campaign declares (its template's ``variableSchema``), and no Sarvam overrides. Dispatch
also checks that ``schedule_at`` is inside the allowed hours and before ``end_timestamp``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import requests

from cohortflow.config import ALLOWED_OVERRIDES, CometChatProvider
from cohortflow.errors import ProviderError
from cohortflow.providers.adapter import (
    Answer,
    PlannedRequest,
    Problem,
    ProviderAdapter,
    csv_bytes,
    require_recipients,
    variable_names,
)
from cohortflow.providers.base import Batch

#: CometChat's limit of users in one uploaded CSV, and in one campaign.
MAX_ROWS = 100_000
USER_ID_COLUMN = "user_id"
COLUMN_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class CometChatAdapter(ProviderAdapter[CometChatProvider]):
    """Uploads a batch's user ids and variables to a CometChat campaign, which dispatch then
    sends once per run."""

    kind = "cometchat"
    schedules_delivery = True
    max_campaign_recipients = MAX_ROWS
    max_rows: int = MAX_ROWS

    def problems(self, variables: Sequence[str] = ()) -> list[Problem]:
        """App ID, batch size, variable names CometChat accepts and the template declares."""
        found = []
        if self.credentials.secret and not self.credentials.app_id:
            found.append(Problem(
                "provider.conn_id",
                f"CometChat needs an App ID besides the API key: none in "
                f"{self.credentials.source or 'the credentials'}; set its _APP_ID variable or "
                "the connection's extra 'app_id'"))
        if self.campaign.batch_size > self.max_rows:
            found.append(Problem(
                "batch_size", f"{self.campaign.batch_size:,} is more than the {self.max_rows:,} "
                "rows CometChat takes in one upload; set batch_size to at most that"))
        invalid = [v for v in variables if not COLUMN_NAME.match(v) or v == USER_ID_COLUMN]
        if invalid:
            found.append(Problem(
                "mapping.app_variables",
                f"CometChat column names may hold only letters, digits, '_' and '-' and may not "
                f"be {USER_ID_COLUMN!r}: {', '.join(map(repr, invalid))}; rename the variables "
                "in the mapping"))
        overrides = [v for v in variables if v in ALLOWED_OVERRIDES]
        if overrides:
            found.append(Problem(
                "mapping.app_overrides",
                f"{', '.join(overrides)} are Sarvam settings, not CometChat template variables; "
                "remove them from the mapping"))
        declared = self.campaign.variables
        undeclared = [v for v in variables if declared and v not in declared
                      and v not in ALLOWED_OVERRIDES]
        if undeclared:
            found.append(Problem(
                "variables",
                f"column(s) {', '.join(undeclared)} are not variables of the campaign's template "
                f"(variableSchema: {', '.join(declared)}); rename them or declare them"))
        return found

    def _auth(self) -> dict[str, str]:
        if not self.credentials.app_id:
            raise ProviderError(
                f"CometChat needs an App ID besides the API key: none in "
                f"{self.credentials.source or 'the credentials'} (set its _APP_ID variable or "
                "the connection's extra 'app_id')",
                code="provider_credentials",
            )
        return {"appId": self.credentials.app_id, "apiKey": self.credentials.secret}

    def campaign_ref(self) -> str:
        """The CometChat campaign id: configured, or created by dispatch (step 1)."""
        if not self.provider.campaign_id:
            raise ProviderError(
                f"{self.campaign.source}: provider.campaign_id: the CometChat campaign has not "
                "been created yet; run a dispatch (it creates it from template_id) or set "
                "campaign_id", code="provider_config")
        return self.provider.campaign_id

    def plan(self, batch: Batch) -> list[PlannedRequest]:
        """One upload (step 2) holding every recipient of ``batch``."""
        require_recipients(batch)
        auth = self._auth()
        keys = [k for k in variable_names(batch, reserved=(USER_ID_COLUMN,))
                if k not in ALLOWED_OVERRIDES]
        invalid = [k for k in keys if not COLUMN_NAME.match(k)]
        if invalid:
            raise ProviderError(
                f"batch {batch.idempotency_key}: CometChat column names may hold only letters, "
                f"digits, '_' and '-': {', '.join(map(repr, invalid))}",
                code="provider_data",
            )
        if len(batch.recipients) > self.max_rows:
            raise ProviderError(
                f"batch {batch.idempotency_key}: {len(batch.recipients):,} recipients, more "
                f"than the {self.max_rows:,} rows of one CometChat upload", code="provider_data")
        missing = [r.row_number for r in batch.recipients if not r.user_identifier]
        if missing:
            raise ProviderError(
                f"batch {batch.idempotency_key}: row(s) {', '.join(map(str, missing[:10]))} have "
                "no user_identifier; CometChat recipients are users (ingest rejects such rows)",
                code="provider_data")
        rows = [[r.user_identifier or "", *(r.variables.get(k, "") for k in keys)]
                for r in batch.recipients]
        request = requests.Request(
            "POST",
            f"{self.provider.base_url}{self.provider.upload_path}",
            headers=self.headers(batch.idempotency_key, auth),
            data={"campaignId": self.campaign_ref()},
            files={"file": ("recipients.csv", csv_bytes([USER_ID_COLUMN, *keys], rows),
                            "text/csv")},
        )
        return [PlannedRequest(request, len(rows))]

    def read_answer(self, body: dict[str, Any], planned: PlannedRequest) -> Answer:
        """``count`` from the answer (``data.count`` or ``count``): the users added."""
        found = body.get("data")
        data: dict[str, Any] = found if isinstance(found, dict) else body
        count = data.get("count")
        reference = str(data.get("campaignId") or self.provider.campaign_id or "") or None
        if not isinstance(count, int):
            return Answer(planned.recipients, reference)
        return Answer(planned.recipients, reference, confirmed=count,
                      rejected=max(planned.recipients - count, 0))

    def creation_request(self, name: str) -> requests.Request | None:
        """Step 1 when no ``campaign_id`` is configured: create it from ``template_id``."""
        if self.provider.campaign_id:
            return None
        return requests.Request(
            "POST", f"{self.provider.base_url}{self.provider.create_path}",
            headers=self.headers(f"create:{self.campaign.campaign_id}", self._auth()),
            json={"name": name, "templateId": self.provider.template_id})

    def read_created(self, body: dict[str, Any]) -> str | None:
        """The new campaign's id: ``data.id`` or ``id``."""
        found = body.get("data")
        data: dict[str, Any] = found if isinstance(found, dict) else body
        created = data.get("id") or data.get("campaignId")
        return str(created) if created else None

    def delivery_request(self, scheduled_at: dt.datetime | None) -> requests.Request:
        """Step 3: send the campaign, at ``scheduled_at`` when given."""
        path = self.provider.send_path.format(campaign_id=quote(self.campaign_ref(), safe=""))
        body = ({"scheduledAt": scheduled_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
                if scheduled_at is not None else {})
        return requests.Request(
            "POST", f"{self.provider.base_url}{path}",
            headers=self.headers(f"send:{self.campaign.campaign_id}", self._auth()), json=body)
