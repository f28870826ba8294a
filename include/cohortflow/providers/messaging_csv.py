"""A messaging platform's "send campaign from CSV" (``messaging-csv-campaign.txt``).

``POST {base_url}/applications/{app_id}/campaigns/{campaign_id}/send-from-csv`` as
``multipart/form-data``. The page gives the path parameters (application id, campaign id)
but not the path itself; this is the path we chose, built only here.

Choices where the page is vague:

- Auth: ``Authorization: Bearer <key>`` (the page only says "Credentials: Header").
- ``layout``: the campaign's ``layout`` as a JSON string. Without one, the default layout
  ``{"contact": {"contactCode": "{{contactCode}}", "channelType": "cloud_api"},
  "customFields": {<key>: "{{<key>}}" for every variable}}`` is sent (WhatsApp Cloud API).
- ``file``: a CSV whose columns are the layout's ``{{placeholders}}`` in order of first
  appearance. The placeholder in ``contact.contactCode`` gets the phone number in E.164
  digits without ``+`` (``34666777888``, as the page's examples); every other placeholder gets
  the recipient's variable of that name. A placeholder no recipient variable fills, or a
  ``contactCode`` that is not a placeholder, raises :class:`ProviderError` before sending.
- ``scheduleAt``: the campaign's ``schedule_at`` in UTC as ``YYYY-MM-DDTHH:MM:SSZ`` when it
  is in the future (omitted once it has passed: the batch is due now); more than 3 months
  ahead is refused. ``delay``: the campaign's ISO-8601 duration, as given. Never both.
- ``slicingCondition``: always sent, from the provider config (default ``fragmentedSlots``).
- The response body is not documented: every row sent counts as accepted; ``id`` (or
  ``taskId``) is kept as the reference when present.

Delivery outcomes: the page documents no idempotency key, so the platform is taken not to
de-duplicate; it defines no status as "not processed" and documents no way to look a sending
up afterwards, so an unknown outcome leaves the batch unconfirmed for an operator.

Checked before any request (:meth:`MessagingCsvAdapter.problems`): the layout has the page's
two required fields, ``contact.contactCode`` (a ``{{placeholder}}``) and ``contact.channelType``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import requests

from cohortflow.config import MAX_SCHEDULE_AHEAD, MessagingCsvProvider
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

PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
DEFAULT_CHANNEL = "cloud_api"


class MessagingCsvAdapter(ProviderAdapter[MessagingCsvProvider]):
    """Sends a batch through a campaign of the messaging platform, one CSV per batch."""

    kind = "messaging_csv"
    #: The current time (UTC); replaced in tests.
    clock: Callable[[], dt.datetime] = staticmethod(lambda: dt.datetime.now(dt.UTC))

    def url(self) -> str:
        """The send-from-CSV URL for the configured application and campaign."""
        p = self.provider
        return f"{p.base_url}/applications/{p.app_id}/campaigns/{p.campaign_id}/send-from-csv"

    def problems(self, variables: Sequence[str] = ()) -> list[Problem]:
        """The layout's required ``contact`` fields."""
        layout = self.campaign.layout
        if layout is None:
            return []
        contact = layout.get("contact")
        contact = contact if isinstance(contact, dict) else {}
        found = []
        if not PLACEHOLDER.fullmatch(str(contact.get("contactCode", "")).strip()):
            found.append(Problem("layout.contact.contactCode",
                                 "must be a {{placeholder}} for the phone column, as the page's "
                                 "examples write it"))
        if not str(contact.get("channelType", "")).strip():
            found.append(Problem("layout.contact.channelType",
                                 "is required by the platform; give a channel (e.g. cloud_api) "
                                 "or a {{placeholder}}"))
        return found

    def layout(self, batch: Batch) -> dict[str, Any]:
        """The campaign's layout, or the default one (see the module docstring)."""
        if self.campaign.layout is not None:
            return self.campaign.layout
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
                    r.phone_number.lstrip("+") if c == phone_column else r.variables[c]
                    for c in columns
                ]
            )
        data = {"layout": json.dumps(layout), **self.schedule_fields()}
        data["slicingCondition"] = self.provider.slicing_condition
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

    def schedule_fields(self) -> dict[str, str]:
        """``scheduleAt`` or ``delay`` from the campaign, checked against the page's rules."""
        schedule_at, delay = self.campaign.schedule_at, self.campaign.delay
        if schedule_at is not None and delay is not None:
            raise ProviderError("give either schedule_at or delay, not both", code="provider_data")
        if delay is not None:
            return {"delay": delay}
        if schedule_at is None:
            return {}
        now = self.clock()
        when = schedule_at.astimezone(dt.UTC)
        if when <= now:
            return {}
        if when - now > MAX_SCHEDULE_AHEAD:
            raise ProviderError(
                f"schedule_at {when:%Y-%m-%dT%H:%M:%SZ} is more than 3 months ahead",
                code="provider_data",
            )
        return {"scheduleAt": when.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def read_answer(self, body: dict[str, Any], planned: PlannedRequest) -> Answer:
        """Every row counts as accepted; ``id``/``taskId`` is the reference."""
        reference = body.get("id") or body.get("taskId")
        return Answer(planned.recipients, str(reference) if reference else None)
