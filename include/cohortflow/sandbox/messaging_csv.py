"""A messaging platform's send campaign from CSV (``messaging-csv-campaign.txt``)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import isodate

from cohortflow.sandbox.forms import (
    BadRequestError,
    FormPart,
    ProviderRequest,
    normalise_phone,
    read_csv,
    read_form,
    reference_for,
    require_fields,
)
from cohortflow.sandbox.recorder import Accepted, Reply


def messaging_csv(request: ProviderRequest, match: re.Match[str]) -> Reply:
    """Send campaign from CSV: layout placeholders, scheduleAt xor delay, slicingCondition."""
    presented = request.headers.get("Authorization", "")
    if presented != f"Bearer {request.keys.key}":
        raise BadRequestError(401, {"statusCode": 401, "message": f"invalid token '{presented}'"})

    def error(message: str) -> BadRequestError:
        return BadRequestError(400, {"statusCode": 400, "error": "Bad Request", "message": message})

    form = read_form(request, error)
    require_fields(form, ("layout", "file"), error)
    try:
        layout = json.loads(form["layout"].data)
        contact = layout["contact"]
        code_template, channel_template = contact["contactCode"], contact["channelType"]
    except (ValueError, KeyError, TypeError):
        raise error(
            "layout must be JSON with contact.contactCode and contact.channelType"
        ) from None
    odd = [mark for text in _strings(layout) for mark in TEMPLATE_MARK.findall(text)
           if not PLACEHOLDER.fullmatch(mark)]
    if odd:
        raise error(f"layout: {odd[0]!r} is not a {{{{variable}}}} placeholder")
    check_schedule(form, error)
    header, rows = read_csv(form["file"], error=error)
    missing = [
        p for p in dict.fromkeys(PLACEHOLDER.findall(json.dumps(layout))) if p not in header
    ]
    if missing:
        raise error(f"layout variable(s) without a CSV column: {', '.join(missing)}")
    accepted = []
    for row in rows:
        values = dict(zip(header, row, strict=True))

        def fill(template: str, values: dict[str, str] = values) -> str:
            return PLACEHOLDER.sub(lambda m: values[m.group(1)], str(template))

        fields = {k: fill(v) for k, v in (layout.get("customFields") or {}).items()}
        fields["channelType"] = fill(channel_template)
        accepted.append(Accepted(normalise_phone(fill(code_template)), variables=fields))
    reference = reference_for("messaging_csv")
    status = "scheduled" if "scheduleAt" in form or "delay" in form else "queued"
    return Reply(
        201,
        {"id": reference, "status": status, "contacts": len(accepted), "_reference": reference},
        accepted,
    )

#: "a maximum of 3 months into the future": calendar months.
MAX_SCHEDULE_AHEAD = isodate.Duration(months=3)
SCHEDULE_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
PLACEHOLDER = re.compile(r"\{\{([A-Za-z0-9_-]+)\}\}")
TEMPLATE_MARK = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{\{|\}\}")
SLICING_CONDITIONS = ("fragmentedSlots", "immediateConsecutiveSlots", "deferredConsecutiveSlots")


def _strings(node: Any) -> list[str]:
    """Every string inside a parsed JSON value."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for value in node.values() for text in _strings(value)]
    if isinstance(node, list):
        return [text for value in node for text in _strings(value)]
    return []


def check_schedule(form: dict[str, FormPart], error: Callable[[str], BadRequestError]) -> None:
    if "scheduleAt" in form and "delay" in form:
        raise error("scheduleAt and delay cannot be used together")
    if "scheduleAt" in form:
        text = form["scheduleAt"].text
        if not SCHEDULE_AT.match(text):
            raise error("scheduleAt must be ISO 8601 in UTC, e.g. 2025-10-01T12:15:00Z")
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        now = dt.datetime.now(dt.UTC)
        if not now - dt.timedelta(minutes=5) <= when <= now + MAX_SCHEDULE_AHEAD:
            raise error("scheduleAt must be between now and 3 months ahead")
    if "delay" in form:
        try:
            isodate.parse_duration(form["delay"].text)
        except (isodate.ISO8601Error, ValueError):
            raise error("delay must be an ISO 8601 duration, e.g. PT15M") from None
    slicing = form["slicingCondition"].text if "slicingCondition" in form else SLICING_CONDITIONS[0]
    if slicing not in SLICING_CONDITIONS:
        raise error(f"slicingCondition must be one of {', '.join(SLICING_CONDITIONS)}")
