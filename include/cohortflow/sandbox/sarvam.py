"""Sarvam (``sarvam-cohort-upload.txt``, ``sarvam-campaign-update.txt``): cohort uploads with
their transformation config, blocking and row-level rules, answered ``processing``; campaign
updates, allowed only while the campaign is paused or scheduled."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cohortflow.config import ALLOWED_OVERRIDES
from cohortflow.sandbox.forms import (
    BadRequestError,
    ProviderRequest,
    normalise_phone,
    read_csv,
    read_form,
    reference_for,
)
from cohortflow.sandbox.recorder import Accepted, Reply
from cohortflow.sandbox.world import SarvamCohort, now_iso


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
    # Processing runs in the background, as the page says: the answer is `processing`, with
    # no counts yet (it completes a moment later), and the valid rows go on to be called.
    now = now_iso()
    reference = reference_for("sarvam")
    request.world.add_sarvam_cohort(SarvamCohort(
        reference, form["name"].text, len(rows), len(accepted), len(rows) - len(accepted)))
    body = {
        "name": form["name"].text,
        "cohort_id": reference,
        "status": "processing",
        "source_type": "file_upload",
        "created_by": "sandbox",
        "created_at": now,
        "updated_at": now,
        "updated_by": None,
        "_reference": reference,
        "result": {"total_records": len(rows), "valid_records": 0, "rejected_records": 0},
    }
    return Reply(200, body, accepted)


#: The fields of a campaign update (``sarvam-campaign-update.txt``), nested as the page does.
UPDATE_FIELDS = ("name", "description", "app_config", "end_timestamp", "allowed_schedule")
APP_CONFIG_FIELDS = ("app_id", "app_version", "attempts_per_second", "connection_configs",
                     "retry_config", "app_type", "webhook_config")
SCHEDULE_FIELDS = ("allowed_start_time", "allowed_end_time", "allowed_days", "timezone")
NAME = re.compile(r"^[A-Za-z0-9 _-]{1,50}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
UPDATABLE = ("paused", "scheduled")


def sarvam_update(request: ProviderRequest, match: re.Match[str]) -> Reply:
    """Sarvam campaign update: allowed only while the campaign is paused or scheduled; every
    field as the page nests it, names and lengths within the page's limits."""
    if request.headers.get("X-API-Key") != request.keys.key:
        raise BadRequestError(
            401, {"detail": f"Invalid API key '{request.headers.get('X-API-Key')}'"}
        )
    try:
        document = json.loads(request.body)
    except ValueError:
        raise BadRequestError(422, {"detail": "the body must be JSON"}) from None
    problems = _update_problems(document)
    if problems:
        raise BadRequestError(422, {"detail": [
            {"loc": ["body", *loc], "msg": msg, "type": "value_error"} for loc, msg in problems]})
    campaign = request.world.sarvam_campaign(match.group("campaign"))
    if campaign.status not in UPDATABLE:
        raise BadRequestError(400, {"detail": (
            "Updates are only allowed when the campaign is in paused or scheduled status; "
            f"campaign {campaign.campaign_id} is {campaign.status}")})
    campaign = request.world.update_sarvam(campaign.campaign_id, document)
    app_config = document.get("app_config") or {}
    body = {
        "name": document.get("name") or campaign.campaign_id,
        "campaign_id": campaign.campaign_id,
        "status": campaign.status,
        "app_id": app_config.get("app_id") or "",
        "created_by": "sandbox",
        "created_at": campaign.created_at,
        "updated_at": campaign.updated_at,
        "description": document.get("description"),
        "app_type": app_config.get("app_type", "agent"),
        "app_version": app_config.get("app_version"),
        "updated_by": "sandbox",
    }
    return Reply(200, body)


def _update_problems(document: Any) -> list[tuple[list[str], str]]:
    """What the page's request body rules refuse in ``document``: (location, message)."""
    if not isinstance(document, dict):
        return [([], "expected a JSON object")]
    problems = [([key], "unknown field") for key in document if key not in UPDATE_FIELDS]
    name, description = document.get("name"), document.get("description")
    if name is not None and not (isinstance(name, str) and NAME.match(name)):
        problems.append((["name"], "alphanumeric, hyphens, underscores and spaces; at most 50"))
    if description is not None and not (isinstance(description, str)
                                        and len(description) <= 150):
        problems.append((["description"], "at most 150 characters"))
    app_config = document.get("app_config")
    if app_config is not None:
        if not isinstance(app_config, dict):
            return [*problems, (["app_config"], "expected an object")]
        problems += [(["app_config", key], "unknown field") for key in app_config
                     if key not in APP_CONFIG_FIELDS]
        rate = app_config.get("attempts_per_second")
        if rate is not None and not (isinstance(rate, int | float) and rate > 0):
            problems.append((["app_config", "attempts_per_second"], "a positive number"))
        if app_config.get("app_type", "agent") not in ("agent", "workflow"):
            problems.append((["app_config", "app_type"], "agent or workflow"))
        for index, connection in enumerate(app_config.get("connection_configs") or []):
            if not (isinstance(connection, dict) and connection.get("connection_id")
                    and isinstance(connection.get("phone_numbers"), list)
                    and isinstance(connection.get("weight", 1), int)):
                problems.append((["app_config", "connection_configs", str(index)],
                                 "connection_id, phone_numbers and an integer weight"))
    schedule = document.get("allowed_schedule")
    if schedule is not None:
        problems += _schedule_problems(schedule)
    end = document.get("end_timestamp")
    if end is not None:
        try:
            dt.datetime.fromisoformat(str(end).replace("Z", "+00:00"))
        except ValueError:
            problems.append((["end_timestamp"], "an ISO 8601 date and time"))
    return problems


def _schedule_problems(schedule: Any) -> list[tuple[list[str], str]]:
    if not isinstance(schedule, dict):
        return [(["allowed_schedule"], "expected an object")]
    where = ["allowed_schedule"]
    problems = [([*where, key], "unknown field") for key in schedule if key not in SCHEDULE_FIELDS]
    for key in ("allowed_start_time", "allowed_end_time"):
        if key in schedule and not HHMM.match(str(schedule[key])):
            problems.append(([*where, key], "HH:MM"))
    days = schedule.get("allowed_days", [])
    if not isinstance(days, list) or any(day not in DAYS for day in days):
        problems.append(([*where, "allowed_days"], "day names such as Monday"))
    if "timezone" in schedule:
        try:
            ZoneInfo(str(schedule["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(([*where, "timezone"], "an IANA timezone"))
    return problems
