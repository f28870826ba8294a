"""A messaging platform's "send campaign from CSV" (``messaging-csv-campaign.txt``).

``POST {base_url}/applications/{app_id}/campaigns/{campaign_id}/send-from-csv`` as
``multipart/form-data``. The page gives the path parameters (application id, campaign id)
but not the path itself; this is the path we chose, built only here.

Choices where the page is vague:

- Auth: ``Authorization: Bearer <key>`` (the page only says "Credentials: Header").
- ``layout``: the campaign's ``layout`` as a JSON string. Without one, the default layout
  ``{"contact": {"contactCode": "{{contactCode}}", "channelType": "cloud_api"},
  "customFields": {<key>: "{{<key>}}" for every variable}}`` is sent (WhatsApp Cloud API).
- Placeholders are the platform's: only plain ``{{variable}}`` names, which the platform
  substitutes from the CSV (the campaign config refuses anything else, e.g. a Jinja filter);
  they are sent written exactly ``{{name}}``, without inner spaces.
- ``file``: a CSV whose columns are the layout's ``{{placeholders}}`` in order of first
  appearance. The placeholder in ``contact.contactCode`` gets the phone number in E.164
  digits without ``+`` (``34666777888``, as the page's examples); every other placeholder gets
  the recipient's variable of that name. A placeholder no recipient variable fills raises
  :class:`ProviderError` before sending.
- ``scheduleAt`` and ``delay`` are never sent: cohortflow holds the campaign itself (its
  ``schedule_at``, its ``delay`` counted from activation, its allowed hours) and uploads each
  batch when it is due, so the platform sends it at once. Sending them as well would apply the
  wait twice; letting the platform hold instead would let it send outside the allowed hours,
  which it does not know.
- ``slicingCondition``: always sent, from the provider config (default ``fragmentedSlots``).
  The platform assigns its own slots within 48 hours; cohortflow keeps only its own pacing
  (``attempts_per_second`` between uploads) and windows.
- The response body is not documented: every row sent counts as accepted; ``id`` (or
  ``taskId``) is kept as the reference when present.

Delivery outcomes: the page documents no idempotency key, so the platform is taken not to
de-duplicate; it defines no status as "not processed" and documents no way to look a sending
up afterwards, so an unknown outcome leaves the batch unconfirmed for an operator.

Checked when the campaign config is loaded: the layout has the page's two required fields,
``contact.contactCode`` (a ``{{placeholder}}``) and ``contact.channelType``, and only plain
placeholders.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from cohortflow.config import PLAIN_PLACEHOLDER, MessagingCsvProvider
from cohortflow.errors import ProviderError
from cohortflow.providers.adapter import (
    Answer,
    PlannedRequest,
    ProviderAdapter,
    csv_bytes,
    phone_of,
    require_recipients,
    variable_names,
)
from cohortflow.providers.base import Batch

PLACEHOLDER = PLAIN_PLACEHOLDER
DEFAULT_CHANNEL = "cloud_api"


class MessagingCsvAdapter(ProviderAdapter[MessagingCsvProvider]):
    """Sends a batch through a campaign of the messaging platform, one CSV per batch."""

    kind = "messaging_csv"

    def url(self) -> str:
        """The send-from-CSV URL for the configured application and campaign."""
        p = self.provider
        return f"{p.base_url}/applications/{p.app_id}/campaigns/{p.campaign_id}/send-from-csv"

    def layout(self, batch: Batch) -> dict[str, Any]:
        """The campaign's layout (placeholders written ``{{name}}``), or the default one (see
        the module docstring)."""
        if self.campaign.layout is not None:
            return json.loads(PLACEHOLDER.sub(r"{{\1}}", json.dumps(self.campaign.layout)))
        layout: dict[str, Any] = {
            "contact": {"contactCode": "{{contactCode}}", "channelType": DEFAULT_CHANNEL}
        }
        keys = variable_names(batch, reserved=("contactCode",))
        if keys:
            layout["customFields"] = {k: f"{{{{{k}}}}}" for k in keys}
        return layout

    def plan(self, batch: Batch) -> list[PlannedRequest]:
        """One multipart request with the layout, the CSV and the schedule fields."""
        require_recipients(batch)
        layout = self.layout(batch)
        contact_code = str(layout.get("contact", {}).get("contactCode", ""))
        match = PLACEHOLDER.fullmatch(contact_code.strip())
        if match is None:
            raise ProviderError(
                "layout: contact.contactCode must be a {{placeholder}} for the phone column, "
                f"got {contact_code!r}",
                code="provider_data",
            )
        phone_column = match.group(1)
        columns = list(dict.fromkeys(PLACEHOLDER.findall(json.dumps(layout))))
        rows = []
        for r in batch.recipients:
            missing = [c for c in columns if c != phone_column and c not in r.variables]
            if missing:
                raise ProviderError(
                    f"batch {batch.idempotency_key}, row {r.row_number}: no value for layout "
                    f"placeholder(s) {', '.join(missing)}",
                    code="provider_data",
                )
            rows.append(
                [
                    phone_of(r, batch).lstrip("+") if c == phone_column else r.variables[c]
                    for c in columns
                ]
            )
        data = {"layout": json.dumps(layout), "slicingCondition": self.provider.slicing_condition}
        request = requests.Request(
            "POST",
            self.url(),
            headers=self.headers(
                batch.idempotency_key, {"Authorization": f"Bearer {self.credentials.secret}"}
            ),
            data=data,
            files={"file": ("contacts.csv", csv_bytes(columns, rows), "text/csv")},
        )
        return [PlannedRequest(request, len(rows))]

    def read_answer(self, body: dict[str, Any], planned: PlannedRequest) -> Answer:
        """Every row counts as accepted; ``id``/``taskId`` is the reference."""
        reference = body.get("id") or body.get("taskId")
        return Answer(planned.recipients, str(reference) if reference else None)
