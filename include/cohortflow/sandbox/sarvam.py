"""Sarvam cohort upload (``sarvam-cohort-upload.txt``): transformation config, blocking and
row-level rules."""

from __future__ import annotations

import datetime as dt
import json
import re

from cohortflow.config import ALLOWED_OVERRIDES
from cohortflow.sandbox.forms import (
    Accepted,
    BadRequestError,
    ProviderRequest,
    Reply,
    normalise_phone,
    read_csv,
    read_form,
    reference_for,
)


def sarvam(request: ProviderRequest, match: re.Match[str]) -> Reply:
    """Sarvam cohort upload: transformation config, blocking and row-level rules."""
    if request.headers.get("X-API-Key") != request.keys.key:
        raise BadRequestError(
            401, {"detail": f"Invalid API key '{request.headers.get('X-API-Key')}'"}
        )

    def error(message: str) -> BadRequestError:
        return BadRequestError(400, {"detail": message})

    form = read_form(request, error)
    missing = [n for n in ("name", "cohort_file", "cohort_transformation_file") if n not in form]
    if missing:
        raise BadRequestError(
            422,
            {
                "detail": [
                    {"loc": ["body", n], "msg": "Field required", "type": "missing"}
                    for n in missing
                ]
            },
        )
    try:
        config = json.loads(form["cohort_transformation_file"].data)
        phone_column = config["phone_number"]["column_name"]
    except (ValueError, KeyError, TypeError):
        raise error("cohort_transformation_file: not a valid transformation config") from None
    header, rows = read_csv(form["cohort_file"], error=error)
    fields = (
        {"user_identifier": config.get("user_identifier")} if config.get("user_identifier") else {}
    )
    fields |= dict(config.get("app_variables") or {})
    unknown = sorted(set(config.get("app_overrides") or {}) - set(ALLOWED_OVERRIDES))
    if unknown:
        raise error(f"app_overrides: unknown key(s) {', '.join(unknown)}")
    fields |= dict(config.get("app_overrides") or {})
    referenced = [
        phone_column,
        *(f.get("column_name") for f in fields.values() if f.get("column_name")),
    ]
    absent = [c for c in referenced if c not in header]
    if absent:
        raise error(
            f"column(s) {', '.join(absent)} referenced by the transformation config "
            "are not CSV headers"
        )
    if not rows:
        raise error("the CSV has no data rows")
    index = {name: i for i, name in enumerate(header)}
    required = [
        f["column_name"] for f in fields.values() if f.get("required") and f.get("column_name")
    ]
    accepted = []
    for row in rows:
        phone = normalise_phone(row[index[phone_column]])
        if phone is None or any(not row[index[c]].strip() for c in required):
            continue
        values = {
            k: row[index[f["column_name"]]] for k, f in fields.items() if f.get("column_name")
        }
        identifier = values.pop("user_identifier", None) or None
        accepted.append(Accepted(phone, identifier, variables=values))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    reference = reference_for("sarvam", request.idempotency_key)
    body = {
        "name": form["name"].text,
        "cohort_id": reference,
        "status": "completed",
        "source_type": "file_upload",
        "created_by": "sandbox",
        "created_at": now,
        "updated_at": now,
        "updated_by": None,
        "_reference": reference,
        "result": {
            "total_records": len(rows),
            "valid_records": len(accepted),
            "rejected_records": len(rows) - len(accepted),
        },
    }
    return Reply(200, body, accepted)
