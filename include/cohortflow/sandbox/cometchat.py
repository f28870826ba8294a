"""CometChat campaign CSV upload (``cometchat-csv-campaign.txt``)."""

from __future__ import annotations

import re

from cohortflow.sandbox.forms import (
    Accepted,
    BadRequestError,
    ProviderRequest,
    Reply,
    normalise_phone,
    read_csv,
    read_form,
    require_fields,
)

#: CometChat's limit of data rows in one uploaded CSV.
MAX_ROWS = 100_000
COLUMN_NAME = re.compile(r"^[A-Za-z0-9_-]+$")

def cometchat(request: ProviderRequest, match: re.Match[str]) -> Reply:
    """CometChat CSV upload: ``user_id`` column, column-name charset, 100,000 rows."""
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

    def error(message: str) -> BadRequestError:
        return BadRequestError(400, {"error": {"code": "ERR_BAD_REQUEST", "message": message}})

    form = read_form(request, error)
    require_fields(form, ("file", "campaignId"), error)
    known = request.keys.cometchat_campaigns
    if known is not None and form["campaignId"].text not in known:
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
    return Reply(
        200,
        {"data": {"campaignId": campaign_id, "count": len(accepted)}, "_reference": campaign_id},
        accepted,
    )
