"""Nexus (``nexus-call-upload.txt``): call uploads (422 with the invalid rows when ``type`` is
``"false"``, phone numbers de-duplicated keeping the first) and ``batch-details``."""

from __future__ import annotations

import re
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cohortflow.sandbox.forms import (
    BadRequestError,
    FormPart,
    ProviderRequest,
    json_field,
    normalise_phone,
    read_csv,
    read_form,
    reference_for,
    require_fields,
)
from cohortflow.sandbox.recorder import Accepted, Reply


def nexus(request: ProviderRequest, match: re.Match[str]) -> Reply:
    """Nexus call upload: fields, ``phoneNumber`` column, 422 invalid rows, dedupe."""
    presented = request.headers.get("Authorization", "")
    if presented != f"Bearer {request.keys.key}":
        raise BadRequestError(
            401, {"success": False, "message": f"Unauthorized: token '{presented}'"}
        )

    def error(message: str) -> BadRequestError:
        return BadRequestError(400, {"success": False, "message": message})

    form = read_form(request, error)
    if "file" not in form:
        raise error("Missing file")
    require_fields(form, ("userId", "batchName", "batchType", "callingNumbers"), error)
    if not (form["file"].filename or "").lower().endswith(".csv"):
        raise error("Unsupported file type: the sandbox reads .csv only")
    if not OBJECT_ID.match(form["userId"].text):
        raise error("Invalid User ID format")
    if form["batchType"].text not in ("outbound", "mixed"):
        raise error("Invalid batchType: use outbound or mixed")
    calling = json_field(form, "callingNumbers", list, error)
    if not calling or not all(isinstance(n, str) and n for n in calling):
        raise error("callingNumbers must be a non-empty JSON array of strings")
    check_schedule(form, error)
    header, rows = read_csv(form["file"], error=error)
    if "phoneNumber" not in header:
        raise error("Missing required column: phoneNumber")
    if not rows:
        raise error("Empty CSV: no valid rows")
    position = header.index("phoneNumber")
    refused = request.keys.nexus_invalid_numbers
    invalid = [
        {"row": number, "phoneNumber": row[position], "error": "invalid phone number"}
        for number, row in enumerate(rows, start=2)
        if normalise_phone(row[position]) is None or row[position] in refused
    ]
    if invalid and form.get("type", FormPart(b"false")).text != "true":
        raise BadRequestError(
            422, {"success": False, "message": "CSV contains invalid rows", "invalidRows": invalid}
        )
    seen: dict[str, Accepted] = {}
    for row in rows:
        phone = normalise_phone(row[position])
        if phone is not None and phone not in seen:
            variables = {h: v for h, v in zip(header, row, strict=True) if h != "phoneNumber"}
            seen[phone] = Accepted(
                phone, caller_id=calling[len(seen) % len(calling)], variables=variables
            )
    reference = reference_for("nexus")
    batch = {
        "_id": reference,
        "batchName": form["batchName"].text,
        "callingNumbers": calling,
        "totalCalls": len(seen),
    }
    request.world.add_nexus_batch(batch)
    return Reply(
        200, {"success": True, "batch": batch, "_reference": reference}, list(seen.values())
    )


def nexus_batch_details(request: ProviderRequest, match: re.Match[str]) -> Reply:
    """``GET /api/call/batch-details/{batchId}``: the batch as created, with its total calls.
    The page names the endpoint but not its answer; the sandbox answers as the upload does."""
    presented = request.headers.get("Authorization", "")
    if presented != f"Bearer {request.keys.key}":
        raise BadRequestError(
            401, {"success": False, "message": f"Unauthorized: token '{presented}'"}
        )
    batch = request.world.nexus_batch(match.group("batch"))
    if batch is None:
        raise BadRequestError(404, {"success": False, "message": "Batch not found"})
    return Reply(200, {"success": True, "batch": batch})


OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def check_schedule(
    form: dict[str, FormPart], error: Callable[[str], BadRequestError]
) -> None:
    if "enableDNC" in form and form["enableDNC"].text not in ("true", "false"):
        raise error("enableDNC must be 'true' or 'false'")
    if "timezone" in form:
        try:
            ZoneInfo(form["timezone"].text)
        except (ZoneInfoNotFoundError, ValueError):
            raise error("Invalid timezone") from None
    if "callingHour" in form:
        hours = json_field(form, "callingHour", dict, error)
        if not all(HHMM.match(str(hours.get(k, ""))) for k in ("start", "end")):
            raise error('callingHour must be {"start":"HH:MM","end":"HH:MM"}')
    if "allowedDays" in form:
        days = json_field(form, "allowedDays", list, error)
        if not days or not all(isinstance(d, int) and 1 <= d <= 7 for d in days):
            raise error("allowedDays must be a JSON array of day numbers 1 (Monday) to 7")
    for name in ("retry", "delay"):
        if name in form and not form[name].text.isdigit():
            raise error(f"{name} must be a number")
