"""CometChat campaigns: CSV upload of recipients (``cometchat-csv-campaign.txt``).

``POST {base_url}/api/campaigns/upload`` as ``multipart/form-data``.

Choices where the page is vague (it names the headers and form fields only by description):

- Headers ``appId`` (the CometChat App ID) and ``apiKey`` (the API key), the names CometChat's
  REST API uses. The app id comes from the credentials (``..._APP_ID`` or the connection's
  extra ``app_id`` / login); without one the batch is refused before sending.
- Form fields ``file`` (the CSV, ``recipients.csv``, ``text/csv``) and ``campaignId``.
- CSV columns: ``user_id`` then one column per variable key (first-seen order; empty cell
  when a recipient lacks a key). Column names must consist of letters, digits, ``_`` and
  ``-``: any other name raises :class:`ProviderError` before anything is sent.
- ``user_id`` is the recipient's ``user_identifier`` when present, else its E.164 phone number
  (a cohort without identifiers still reaches users whose CometChat id is their number).
- At most :data:`MAX_ROWS` (100,000) data rows per upload: larger batches are split into
  consecutive uploads, part ``i`` of ``n`` carrying ``Idempotency-Key: <key>-part<i>of<n>``.
- Accepted count: the response's ``count`` (top level or under ``data``), else the rows sent.
"""

from __future__ import annotations

import re
from typing import Any

import requests

from cohortflow.config import CometChatProvider
from cohortflow.errors import ProviderError
from cohortflow.providers.adapter import (
    Answer,
    PlannedRequest,
    ProviderAdapter,
    csv_bytes,
    part_key,
    require_recipients,
    variable_names,
)
from cohortflow.providers.base import Batch

#: CometChat's limit of data rows in one uploaded CSV.
MAX_ROWS = 100_000
USER_ID_COLUMN = "user_id"
_COLUMN_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class CometChatAdapter(ProviderAdapter[CometChatProvider]):
    """Uploads a batch's user ids and variables to a CometChat campaign."""

    kind = "cometchat"
    max_rows: int = MAX_ROWS

    def plan(self, batch: Batch) -> list[PlannedRequest]:
        """One upload per :attr:`max_rows` recipients."""
        require_recipients(batch)
        if not self.credentials.app_id:
            raise ProviderError(
                f"CometChat needs an App ID besides the API key: none in "
                f"{self.credentials.source or 'the credentials'} (set its _APP_ID variable or "
                "the connection's extra 'app_id')",
                code="provider_credentials",
            )
        keys = variable_names(batch, reserved=(USER_ID_COLUMN,))
        invalid = [k for k in keys if not _COLUMN_NAME.match(k)]
        if invalid:
            raise ProviderError(
                f"batch {batch.idempotency_key}: CometChat column names may hold only letters, "
                f"digits, '_' and '-': {', '.join(map(repr, invalid))}",
                code="provider_data",
            )
        rows = [
            [r.user_identifier or r.phone_number, *(r.variables.get(k, "") for k in keys)]
            for r in batch.recipients
        ]
        chunks = [rows[i : i + self.max_rows] for i in range(0, len(rows), self.max_rows)]
        auth = {"appId": self.credentials.app_id, "apiKey": self.credentials.secret}
        planned = []
        for index, chunk in enumerate(chunks, start=1):
            request = requests.Request(
                "POST",
                f"{self.provider.base_url}/api/campaigns/upload",
                headers=self.headers(part_key(batch, index, len(chunks)), auth),
                data={"campaignId": self.provider.campaign_id},
                files={
                    "file": (
                        "recipients.csv",
                        csv_bytes([USER_ID_COLUMN, *keys], chunk),
                        "text/csv",
                    )
                },
            )
            planned.append(PlannedRequest(request, len(chunk)))
        return planned

    def read_answer(self, body: dict[str, Any], planned: PlannedRequest) -> Answer:
        """``count`` from the response (``data.count`` or ``count``)."""
        found = body.get("data")
        data: dict[str, Any] = found if isinstance(found, dict) else body
        count = data.get("count")
        reference = data.get("campaignId") or self.provider.campaign_id
        return Answer(count if isinstance(count, int) else planned.recipients, str(reference))
