"""The generic JSON batch endpoint (``http_json`` provider kind)."""

from __future__ import annotations

import json
import re

from cohortflow.sandbox.forms import (
    BadRequestError,
    ProviderRequest,
    normalise_phone,
    reference_for,
)
from cohortflow.sandbox.recorder import Accepted, Reply


def http_json(request: ProviderRequest, match: re.Match[str]) -> Reply:
    """Generic JSON batch: any header carrying the key (bare or after a scheme) authenticates."""
    key = request.keys.key
    if not any(v == key or v.endswith(f" {key}") for v in request.headers.values()):
        raise BadRequestError(401, {"error": "missing or invalid credentials"})
    try:
        document = json.loads(request.body)
        recipients = document["recipients"]
        accepted = [
            Accepted(
                normalise_phone(r["phone_number"]),
                r.get("user_identifier"),
                r.get("caller_id"),
                dict(r.get("variables") or {}),
            )
            for r in recipients
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BadRequestError(
            400, {"error": "expected JSON with recipients[].phone_number"}
        ) from None
    if any(a.phone_number is None for a in accepted):
        raise BadRequestError(400, {"error": "a recipient has an invalid phone_number"})
    reference = reference_for("http_json")
    return Reply(
        200, {"batch_id": reference, "accepted": len(accepted), "_reference": reference}, accepted
    )
