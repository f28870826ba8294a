"""CometChat campaigns (``cometchat-csv-campaign.txt``): create (step 1), CSV upload (step 2)
and send (step 3); uploaded recipients are delivered only once their campaign is sent. The page
gives only step 2's path; the sandbox serves steps 1 and 3 at cohortflow's default paths."""

from __future__ import annotations

import json
import re

from cohortflow.sandbox.forms import (
    BadRequestError,
    ProviderRequest,
    normalise_phone,
    read_csv,
    read_form,
    require_fields,
)
from cohortflow.sandbox.recorder import Accepted, Reply

#: CometChat's limit of data rows in one uploaded CSV.
MAX_ROWS = 100_000
COLUMN_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
SCHEDULED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$")

def cometchat(request: ProviderRequest, match: re.Match[str]) -> Reply:
    """Step 2, CSV upload: ``user_id`` column, column-name charset, 100,000 rows; the
    recipients wait for the send step."""
    _authorise(request)

    def error(message: str) -> BadRequestError:
        return BadRequestError(400, {"error": {"code": "ERR_BAD_REQUEST", "message": message}})

    form = read_form(request, error)
    require_fields(form, ("file", "campaignId"), error)
    if not request.world.cometchat_campaign_exists(form["campaignId"].text,
                                                   request.keys.cometchat_campaigns):
        raise BadRequestError(
            404, {"error": {"code": "ERR_NOT_FOUND", "message": "Campaign not found"}})
    header, rows = read_csv(form["file"], error=error)
    if "user_id" not in header:
        raise error("missing user_id column")
    bad = [h for h in header if not COLUMN_NAME.match(h)]
    if bad:
        raise error(f"invalid column name(s): {', '.join(bad)}")
    if len(rows) > MAX_ROWS:
        raise error(f"too many rows: {len(rows)} > {MAX_ROWS}")
    position = header.index("user_id")
    accepted = [
        Accepted(
            normalise_phone(row[position]),
            row[position],
            variables={h: v for h, v in zip(header, row, strict=True) if h != "user_id"},
        )
        for row in rows
        if row[position].strip()
    ]
    campaign_id = form["campaignId"].text
    return Reply(  # recipients wait for the campaign to be sent (step 3)
        200,
        {"data": {"campaignId": campaign_id, "count": len(accepted)}, "_reference": campaign_id},
        accepted,
        held=True,
    )


def cometchat_send(request: ProviderRequest, match: re.Match[str]) -> Reply:
    """Step 3, send the campaign: its uploaded recipients are delivered (at ``scheduledAt``
    when given). The page names the step but not its URL or body; the sandbox serves
    ``POST /api/campaigns/{id}/send`` with an optional JSON ``{"scheduledAt": ISO 8601}``."""
    _authorise(request)
    campaign_id = match.group("campaign")
    if not request.world.cometchat_campaign_exists(campaign_id, request.keys.cometchat_campaigns):
        raise BadRequestError(
            404, {"error": {"code": "ERR_NOT_FOUND", "message": "Campaign not found"}})
    scheduled_at = None
    if request.body.strip():
        try:
            document = json.loads(request.body)
            scheduled_at = document.get("scheduledAt") if isinstance(document, dict) else None
        except ValueError:
            raise BadRequestError(400, {"error": {"code": "ERR_BAD_REQUEST",
                                                  "message": "the body must be JSON"}}) from None
        if scheduled_at is not None and not SCHEDULED_AT.match(str(scheduled_at)):
            raise BadRequestError(400, {"error": {"code": "ERR_BAD_REQUEST",
                                                  "message": "scheduledAt must be ISO 8601"}})
    send = request.world.send_cometchat(campaign_id, scheduled_at)
    return Reply(200, {"data": {"campaignId": campaign_id, "status": "scheduled" if scheduled_at
                                else "sending", "recipients": send["recipients"]}})


def cometchat_create(request: ProviderRequest, match: re.Match[str]) -> Reply:
    """Step 1, create a campaign: JSON ``{"name", "templateId"}``; answers ``{"data": {"id"}}``.
    The page names the step but not its URL or body; the sandbox serves
    ``POST /api/campaigns``."""
    _authorise(request)
    try:
        document = json.loads(request.body)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not document.get("name") or not document.get(
            "templateId"):
        raise BadRequestError(400, {"error": {"code": "ERR_BAD_REQUEST",
                                              "message": "name and templateId are required"}})
    created = request.world.create_cometchat_campaign(str(document["name"]),
                                                      str(document["templateId"]))
    return Reply(201, {"data": created})


def _authorise(request: ProviderRequest) -> None:
    app_id, api_key = request.headers.get("appId"), request.headers.get("apiKey")
    if app_id != request.keys.app_id or api_key != request.keys.key:
        raise BadRequestError(
            401,
            {
                "error": {
                    "code": "ERR_UNAUTHORIZED",
                    "message": f"invalid appId or apiKey '{api_key}'",
                }
            },
        )
