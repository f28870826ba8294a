"""CometChat campaigns: CSV upload of recipients (``cometchat-csv-campaign.txt``).

``POST {base_url}/api/campaigns/upload`` as ``multipart/form-data``.

Choices where the page is vague (it names the headers and form fields only by description):

- Headers ``appId`` (the CometChat App ID) and ``apiKey`` (the API key), the names CometChat's
  REST API uses. The app id comes from the credentials (``..._APP_ID`` or the connection's
  extra ``app_id`` / login).
- Form fields ``file`` (the CSV, ``recipients.csv``, ``text/csv``) and ``campaignId``.
- CSV columns: ``user_id`` then one column per variable key (first-seen order; empty cell
  when a recipient lacks a key). Column names must consist of letters, digits, ``_`` and
  ``-``.
- ``user_id`` is the recipient's ``user_identifier`` when present, else its E.164 phone number
  (a cohort without identifiers still reaches users whose CometChat id is their number).
- At most :data:`MAX_ROWS` (100,000) data rows per upload: a campaign's ``batch_size`` may not
  exceed it, so one batch is one upload.
- Accepted count: the response's ``count`` (top level or under ``data``), else the rows sent.

Delivery outcomes: the page documents no idempotency key, so CometChat is taken not to
de-duplicate. Its 500 ``ERR_OPERATION_FAILED`` ("CSV parsing or recipient creation failed")
may follow a partial creation, so it is an unknown outcome, not "not processed". The page
offers no way to look an upload up afterwards, so an unknown outcome cannot be reconciled
automatically: the batch is left unconfirmed for an operator.

Checked before any request (:meth:`CometChatAdapter.problems`): an App ID in the
credentials, ``batch_size`` within :data:`MAX_ROWS`, and variable names CometChat accepts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import requests

from cohortflow.config import CometChatProvider
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

#: CometChat's limit of data rows in one uploaded CSV.
MAX_ROWS = 100_000
USER_ID_COLUMN = "user_id"
COLUMN_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class CometChatAdapter(ProviderAdapter[CometChatProvider]):
    """Uploads a batch's user ids and variables to a CometChat campaign."""

    kind = "cometchat"
    max_rows: int = MAX_ROWS

    def problems(self, variables: Sequence[str] = ()) -> list[Problem]:
        """App ID present, batches within one upload, variable names CometChat accepts."""
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
        return found

    def plan(self, batch: Batch) -> list[PlannedRequest]:
        """One upload holding every recipient of ``batch``."""
        require_recipients(batch)
        if not self.credentials.app_id:
            raise ProviderError(
                f"CometChat needs an App ID besides the API key: none in "
                f"{self.credentials.source or 'the credentials'} (set its _APP_ID variable or "
                "the connection's extra 'app_id')",
                code="provider_credentials",
            )
        keys = variable_names(batch, reserved=(USER_ID_COLUMN,))
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
        rows = [
            [r.user_identifier or r.phone_number, *(r.variables.get(k, "") for k in keys)]
            for r in batch.recipients
        ]
        auth = {"appId": self.credentials.app_id, "apiKey": self.credentials.secret}
        request = requests.Request(
            "POST",
            f"{self.provider.base_url}/api/campaigns/upload",
            headers=self.headers(batch.idempotency_key, auth),
            data={"campaignId": self.provider.campaign_id},
            files={"file": ("recipients.csv", csv_bytes([USER_ID_COLUMN, *keys], rows),
                            "text/csv")},
        )
        return [PlannedRequest(request, len(rows))]

    def read_answer(self, body: dict[str, Any], planned: PlannedRequest) -> Answer:
        """``count`` from the response (``data.count`` or ``count``)."""
        found = body.get("data")
        data: dict[str, Any] = found if isinstance(found, dict) else body
        count = data.get("count")
        reference = data.get("campaignId") or self.provider.campaign_id
        return Answer(count if isinstance(count, int) else planned.recipients, str(reference))
