"""A local stand-in for every provider: a real HTTP server for the demo and the tests.

It serves the five provider endpoints as their pages describe (paths are matched by their
documented suffix, so a ``base_url`` may carry a prefix such as ``/api/scheduling``):

==================  ============================================================================
sarvam              ``POST .../v1/orgs/{org}/workspaces/{ws}/campaigns/{c}/cohorts/upload``
cometchat           ``POST .../api/campaigns/upload``
messaging_csv       ``POST .../applications/{app}/campaigns/{c}/send-from-csv``
nexus               ``POST .../api/call/upload``
http_json           ``POST .../batches``
==================  ============================================================================

It checks the auth headers against the expected key (and CometChat app id), the required
form fields and the CSV (required columns, formats), answers with the documented bodies and
error codes, de-duplicates by ``Idempotency-Key`` (the same key gets the stored answer again
and its recipients are not recorded twice), and records every accepted recipient in DuckDB
(table ``sandbox_recipients``; ``:memory:`` when no file is given).

Test endpoints: ``GET /_sandbox/outcomes?since=<id>`` (deterministic call outcomes per
recipient, seeded by phone and key), ``GET /_sandbox/recipients`` and ``GET /_sandbox/stats``.

Faults (fractions of provider requests, seeded): ``fail_429`` (with ``Retry-After``),
``fail_500``, ``slow`` (answers after ``slow_seconds``, having done the work: the client
times out and retries with the same key) and ``drop`` (closes the connection unanswered,
before doing the work). A 401 body echoes the key presented, so that tests can prove the
client scrubs secrets from provider answers.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import random
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import isodate

from cohortflow.config import ALLOWED_OVERRIDES

log = logging.getLogger(__name__)

DEFAULT_KEY = "sandbox-key"
DEFAULT_APP_ID = "sandbox-app"
MAX_COMETCHAT_ROWS = 100_000
MAX_SCHEDULE_AHEAD = dt.timedelta(days=92)
_PHONE = re.compile(r"^\+?[1-9]\d{6,14}$")
_COLUMN_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_SCHEDULE_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
SLICING_CONDITIONS = ("fragmentedSlots", "immediateConsecutiveSlots", "deferredConsecutiveSlots")
#: Call outcomes and their weights (percent).
OUTCOMES: dict[str, int] = {
    "completed": 50,
    "no_answer": 20,
    "busy": 15,
    "failed": 10,
    "provider_error": 5,
}


# ---------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SandboxKeys:
    """The secrets the sandbox expects: one key for every provider, and CometChat's app id."""

    key: str = DEFAULT_KEY
    app_id: str = DEFAULT_APP_ID


@dataclass(frozen=True)
class Faults:
    """Fractions of provider requests that fail on purpose; drawn from a seeded generator."""

    fail_429: float = 0.0
    fail_500: float = 0.0
    slow: float = 0.0
    drop: float = 0.0
    seed: int = 0
    slow_seconds: float = 35.0  # longer than the default client timeout (30 s)
    retry_after: int = 1  # seconds, sent with every 429

    def __post_init__(self) -> None:
        fractions = (self.fail_429, self.fail_500, self.slow, self.drop)
        if any(f < 0 for f in fractions) or sum(fractions) > 1:
            raise ValueError("fault fractions must be >= 0 and add up to at most 1")


# ---------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class FormPart:
    """One field of a multipart form: its bytes, and its file name when it is a file."""

    data: bytes
    filename: str | None = None

    @property
    def text(self) -> str:
        """The field as UTF-8 text."""
        return self.data.decode("utf-8")


class BadRequestError(Exception):
    """The request breaks the provider's contract: answered with ``status`` and ``body``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(json.dumps(body))
        self.status = status
        self.body = body


def parse_multipart(body: bytes, content_type: str) -> dict[str, FormPart]:
    """The fields of a ``multipart/form-data`` body (RFC 7578); raises ``ValueError``."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise ValueError("expected multipart/form-data with a boundary")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
        raise ValueError("multipart body has no closing boundary")
    fields: dict[str, FormPart] = {}
    for chunk in chunks[1:-1]:
        head, separator, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("multipart part without headers")
        headers = BytesParser(policy=HTTP).parsebytes(head + b"\r\n\r\n", headersonly=True)
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise ValueError("multipart part without a name")
        fields[name] = FormPart(data, headers.get_filename())
    return fields


def read_csv(
    part: FormPart, *, error: Callable[[str], BadRequestError]
) -> tuple[list[str], list[list[str]]]:
    """Header and data rows of an uploaded CSV (UTF-8, comma)."""
    try:
        text = part.data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error("the CSV is not UTF-8") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise error(f"invalid CSV: {exc}") from None
    if not rows or not any(rows[0]):
        raise error("the CSV is empty: the first row must be column headers")
    header = [h.strip() for h in rows[0]]
    data = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if any(len(r) != len(header) for r in data):
        raise error("invalid CSV: a row has a different number of cells than the header")
    return header, data


def normalise_phone(value: str) -> str | None:
    """``+<digits>`` for a plausible phone number, else ``None``."""
    cleaned = re.sub(r"[\s().-]", "", value)
    if not _PHONE.match(cleaned):
        return None
    return cleaned if cleaned.startswith("+") else f"+{cleaned}"


# ---------------------------------------------------------------------- recording


@dataclass(frozen=True)
class Accepted:
    """One recipient a provider endpoint accepted."""

    phone_number: str | None
    user_identifier: str | None = None
    caller_id: str | None = None
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class Reply:
    """An endpoint's answer and the recipients it accepted."""

    status: int
    body: dict[str, Any]
    recipients: list[Accepted] = field(default_factory=list)


_SCHEMA = (
    """create table if not exists sandbox_recipients (
        id bigint, provider varchar, idempotency_key varchar, reference varchar,
        phone_number varchar, user_identifier varchar, caller_id varchar, variables varchar,
        received_at timestamp)""",
    """create table if not exists sandbox_requests (
        provider varchar, idempotency_key varchar, status_code integer, response varchar,
        recipients integer, received_at timestamp)""",
)


class Recorder:
    """Thread-safe store of accepted recipients and idempotent answers (DuckDB)."""

    def __init__(self, db: str | Path | None) -> None:
        """Open (or create) the database; ``None`` keeps it in memory."""
        self._lock = threading.Lock()
        self._db = duckdb.connect(str(db) if db else ":memory:")
        for statement in _SCHEMA:
            self._db.execute(statement).fetchall()
        self._replies: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        for provider, key, status, body in self._db.execute(
            "select provider, idempotency_key, status_code, response from sandbox_requests"
        ).fetchall():
            self._replies[(provider, key)] = (status, json.loads(body))
        rows = self._db.execute("select coalesce(max(id), 0) from sandbox_recipients").fetchall()
        self._last_id = int(rows[0][0])

    def replay(self, provider: str, key: str | None) -> tuple[int, dict[str, Any]] | None:
        """The stored answer for an idempotency key already seen, else ``None``."""
        if key is None:
            return None
        with self._lock:
            return self._replies.get((provider, key))

    def record(
        self, provider: str, key: str | None, reply: Reply
    ) -> tuple[int, dict[str, Any], bool]:
        """Store a reply and its recipients once per key: ``(status, body, replayed)``."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # stored as naive UTC
        with self._lock:
            if key is not None and (provider, key) in self._replies:
                status, body = self._replies[(provider, key)]
                return status, body, True
            first = self._last_id + 1
            self._last_id += len(reply.recipients)
            reference = str(reply.body.get("_reference", ""))
            body = {k: v for k, v in reply.body.items() if k != "_reference"}
            if reply.recipients:
                self._db.execute(
                    "insert into sandbox_recipients select unnest(?), ?, ?, ?, unnest(?),"
                    " unnest(?), unnest(?), unnest(?), ?",
                    [
                        list(range(first, first + len(reply.recipients))),
                        provider,
                        key,
                        reference,
                        [r.phone_number for r in reply.recipients],
                        [r.user_identifier for r in reply.recipients],
                        [r.caller_id for r in reply.recipients],
                        [json.dumps(r.variables) for r in reply.recipients],
                        now,
                    ],
                ).fetchall()
            if key is not None:
                self._db.execute(
                    "insert into sandbox_requests values (?, ?, ?, ?, ?, ?)",
                    [provider, key, reply.status, json.dumps(body), len(reply.recipients), now],
                ).fetchall()
                self._replies[(provider, key)] = (reply.status, body)
            return reply.status, body, False

    def query(self, sql: str, parameters: list[Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a read-only query as dicts."""
        with self._lock:
            cursor = self._db.execute(sql, parameters or [])
            names = [d[0] for d in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


# ---------------------------------------------------------------------- endpoints


def _reference(provider: str, key: str | None, length: int = 24) -> str:
    seed = f"{provider}|{key}" if key else uuid.uuid4().hex
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _form(handler: SandboxHandler, error: Callable[[str], BadRequestError]) -> dict[str, FormPart]:
    try:
        return parse_multipart(handler.body, handler.headers.get("Content-Type", ""))
    except ValueError as exc:
        raise error(str(exc)) from None


def _require(
    form: dict[str, FormPart], names: tuple[str, ...], error: Callable[[str], BadRequestError]
) -> None:
    missing = [n for n in names if n not in form or not form[n].data.strip()]
    if missing:
        raise error(f"missing required field(s): {', '.join(missing)}")


def sarvam(handler: SandboxHandler, match: re.Match[str]) -> Reply:
    """Sarvam cohort upload: transformation config, blocking and row-level rules."""
    sandbox = handler.server.sandbox
    if handler.headers.get("X-API-Key") != sandbox.keys.key:
        raise BadRequestError(
            401, {"detail": f"Invalid API key '{handler.headers.get('X-API-Key')}'"}
        )

    def error(message: str) -> BadRequestError:
        return BadRequestError(400, {"detail": message})

    form = _form(handler, error)
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
    reference = _reference("sarvam", handler.idempotency_key)
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


def cometchat(handler: SandboxHandler, match: re.Match[str]) -> Reply:
    """CometChat CSV upload: ``user_id`` column, column-name charset, 100,000 rows."""
    sandbox = handler.server.sandbox
    app_id, api_key = handler.headers.get("appId"), handler.headers.get("apiKey")
    if app_id != sandbox.keys.app_id or api_key != sandbox.keys.key:
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

    form = _form(handler, error)
    _require(form, ("file", "campaignId"), error)
    header, rows = read_csv(form["file"], error=error)
    if "user_id" not in header:
        raise error("missing user_id column")
    bad = [h for h in header if not _COLUMN_NAME.match(h)]
    if bad:
        raise error(f"invalid column name(s): {', '.join(bad)}")
    if len(rows) > MAX_COMETCHAT_ROWS:
        raise error(f"too many rows: {len(rows)} > {MAX_COMETCHAT_ROWS}")
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


def messaging_csv(handler: SandboxHandler, match: re.Match[str]) -> Reply:
    """Send campaign from CSV: layout placeholders, scheduleAt xor delay, slicingCondition."""
    sandbox = handler.server.sandbox
    presented = handler.headers.get("Authorization", "")
    if presented != f"Bearer {sandbox.keys.key}":
        raise BadRequestError(401, {"statusCode": 401, "message": f"invalid token '{presented}'"})

    def error(message: str) -> BadRequestError:
        return BadRequestError(400, {"statusCode": 400, "error": "Bad Request", "message": message})

    form = _form(handler, error)
    _require(form, ("layout", "file"), error)
    try:
        layout = json.loads(form["layout"].data)
        contact = layout["contact"]
        code_template, channel_template = contact["contactCode"], contact["channelType"]
    except (ValueError, KeyError, TypeError):
        raise error(
            "layout must be JSON with contact.contactCode and contact.channelType"
        ) from None
    _check_schedule(form, error)
    header, rows = read_csv(form["file"], error=error)
    missing = [
        p for p in dict.fromkeys(_PLACEHOLDER.findall(json.dumps(layout))) if p not in header
    ]
    if missing:
        raise error(f"layout variable(s) without a CSV column: {', '.join(missing)}")
    accepted = []
    for row in rows:
        values = dict(zip(header, row, strict=True))

        def fill(template: str, values: dict[str, str] = values) -> str:
            return _PLACEHOLDER.sub(lambda m: values[m.group(1)], str(template))

        fields = {k: fill(v) for k, v in (layout.get("customFields") or {}).items()}
        fields["channelType"] = fill(channel_template)
        accepted.append(Accepted(normalise_phone(fill(code_template)), variables=fields))
    reference = _reference("messaging_csv", handler.idempotency_key)
    status = "scheduled" if "scheduleAt" in form or "delay" in form else "queued"
    return Reply(
        201,
        {"id": reference, "status": status, "contacts": len(accepted), "_reference": reference},
        accepted,
    )


def _check_schedule(form: dict[str, FormPart], error: Callable[[str], BadRequestError]) -> None:
    if "scheduleAt" in form and "delay" in form:
        raise error("scheduleAt and delay cannot be used together")
    if "scheduleAt" in form:
        text = form["scheduleAt"].text
        if not _SCHEDULE_AT.match(text):
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


def nexus(handler: SandboxHandler, match: re.Match[str]) -> Reply:
    """Nexus call upload: fields, ``phoneNumber`` column, 422 invalid rows, dedupe."""
    sandbox = handler.server.sandbox
    presented = handler.headers.get("Authorization", "")
    if presented != f"Bearer {sandbox.keys.key}":
        raise BadRequestError(
            401, {"success": False, "message": f"Unauthorized: token '{presented}'"}
        )

    def error(message: str) -> BadRequestError:
        return BadRequestError(400, {"success": False, "message": message})

    form = _form(handler, error)
    if "file" not in form:
        raise error("Missing file")
    _require(form, ("userId", "batchName", "batchType", "callingNumbers"), error)
    if not (form["file"].filename or "").lower().endswith(".csv"):
        raise error("Unsupported file type: the sandbox reads .csv only")
    if not _OBJECT_ID.match(form["userId"].text):
        raise error("Invalid User ID format")
    if form["batchType"].text not in ("outbound", "mixed"):
        raise error("Invalid batchType: use outbound or mixed")
    calling = _json_field(form, "callingNumbers", list, error)
    if not calling or not all(isinstance(n, str) and n for n in calling):
        raise error("callingNumbers must be a non-empty JSON array of strings")
    _check_nexus_schedule(form, error)
    header, rows = read_csv(form["file"], error=error)
    if "phoneNumber" not in header:
        raise error("Missing required column: phoneNumber")
    if not rows:
        raise error("Empty CSV: no valid rows")
    position = header.index("phoneNumber")
    invalid = [
        {"row": number, "phoneNumber": row[position], "error": "invalid phone number"}
        for number, row in enumerate(rows, start=2)
        if normalise_phone(row[position]) is None
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
    reference = _reference("nexus", handler.idempotency_key)
    batch = {
        "_id": reference,
        "batchName": form["batchName"].text,
        "callingNumbers": calling,
        "totalCalls": len(seen),
    }
    return Reply(
        200, {"success": True, "batch": batch, "_reference": reference}, list(seen.values())
    )


def _json_field(
    form: dict[str, FormPart], name: str, kind: type, error: Callable[[str], BadRequestError]
) -> Any:
    try:
        value = json.loads(form[name].data)
    except ValueError:
        raise error(f"{name} must be a JSON string") from None
    if not isinstance(value, kind):
        raise error(f"{name} must be a JSON {kind.__name__}")
    return value


def _check_nexus_schedule(
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
        hours = _json_field(form, "callingHour", dict, error)
        if not all(_HHMM.match(str(hours.get(k, ""))) for k in ("start", "end")):
            raise error('callingHour must be {"start":"HH:MM","end":"HH:MM"}')
    if "allowedDays" in form:
        days = _json_field(form, "allowedDays", list, error)
        if not days or not all(isinstance(d, int) and 1 <= d <= 7 for d in days):
            raise error("allowedDays must be a JSON array of day numbers 1 (Monday) to 7")
    for name in ("retry", "delay"):
        if name in form and not form[name].text.isdigit():
            raise error(f"{name} must be a number")


def http_json(handler: SandboxHandler, match: re.Match[str]) -> Reply:
    """Generic JSON batch: any header carrying the key (bare or after a scheme) authenticates."""
    key = handler.server.sandbox.keys.key
    if not any(v == key or v.endswith(f" {key}") for v in handler.headers.values()):
        raise BadRequestError(401, {"error": "missing or invalid credentials"})
    try:
        document = json.loads(handler.body)
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
    reference = _reference("http_json", handler.idempotency_key)
    return Reply(
        200, {"batch_id": reference, "accepted": len(accepted), "_reference": reference}, accepted
    )


Endpoint = Callable[["SandboxHandler", "re.Match[str]"], Reply]
ROUTES: tuple[tuple[str, re.Pattern[str], Endpoint], ...] = (
    (
        "sarvam",
        re.compile(r"/v1/orgs/[^/]+/workspaces/[^/]+/campaigns/[^/]+/cohorts/upload$"),
        sarvam,
    ),
    ("cometchat", re.compile(r"/api/campaigns/upload$"), cometchat),
    ("messaging_csv", re.compile(r"/applications/\d+/campaigns/\d+/send-from-csv$"), messaging_csv),
    ("nexus", re.compile(r"/api/call/upload$"), nexus),
    ("http_json", re.compile(r"/batches$"), http_json),
)


# ---------------------------------------------------------------------- outcomes


def outcome_for(
    phone_number: str | None, idempotency_key: str | None, received_at: dt.datetime | None = None
) -> dict[str, Any]:
    """A deterministic pseudo-random call outcome, seeded by phone number and key.

    ``at`` (ISO 8601, UTC) is ``received_at`` (naive UTC) plus a seeded 5 to 900 seconds.
    """
    seed = hashlib.sha256(f"{phone_number}|{idempotency_key}".encode()).digest()
    rng = random.Random(int.from_bytes(seed[:8], "big"))
    status = rng.choices(list(OUTCOMES), list(OUTCOMES.values()))[0]
    duration = rng.choice((rng.randint(1, 9), rng.randint(10, 300))) if status == "completed" else 0
    error = {
        "failed": "SIP 480 Temporarily Unavailable",
        "provider_error": "SIP 503 Service Unavailable",
    }.get(status)
    start = (received_at or dt.datetime(2000, 1, 1)).replace(tzinfo=dt.UTC)
    at = start + dt.timedelta(seconds=rng.randint(5, 900))
    return {
        "status": status,
        "duration_seconds": duration,
        "provider_error": error,
        "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# ---------------------------------------------------------------------- server


class SandboxState:
    """What the server threads share: keys, faults, the recorder and counters."""

    def __init__(self, recorder: Recorder, keys: SandboxKeys, faults: Faults) -> None:
        """Hold the shared parts; faults are drawn from a generator seeded by ``faults.seed``."""
        self.recorder, self.keys, self.faults = recorder, keys, faults
        self.stopping = threading.Event()
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def draw_fault(self) -> str | None:
        """``drop``, ``429``, ``500``, ``slow`` or ``None`` for the next provider request."""
        f = self.faults
        with self._lock:
            r = self._rng.random()
        for name, fraction in (
            ("drop", f.drop),
            ("429", f.fail_429),
            ("500", f.fail_500),
            ("slow", f.slow),
        ):
            if r < fraction:
                return name
            r -= fraction
        return None

    def count(self, name: str) -> None:
        """Add one to a counter shown by ``/_sandbox/stats``."""
        with self._lock:
            self.counts[name] += 1


class SandboxServer(ThreadingHTTPServer):
    """A threading HTTP server carrying the sandbox state."""

    daemon_threads = True
    sandbox: SandboxState

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a handler failure once, without printing request data."""
        log.exception("sandbox: request from %s failed", client_address[0])


class SandboxHandler(BaseHTTPRequestHandler):
    """Routes one request to a provider endpoint or a test endpoint."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: SandboxServer
    body: bytes = b""

    @property
    def idempotency_key(self) -> str | None:
        """The request's ``Idempotency-Key`` header, if any."""
        return self.headers.get("Idempotency-Key") or None

    def log_message(self, format: str, *args: Any) -> None:
        """Access log lines go to the module logger at debug level (paths hold no phones)."""
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        """Test endpoints: outcomes, recipients, stats."""
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        views = {
            "/_sandbox/outcomes": self._outcomes,
            "/_sandbox/recipients": self._recipients,
            "/_sandbox/stats": self._stats,
        }
        view = views.get(url.path)
        if view is None:
            self._send(404, {"error": "not found"})
            return
        try:
            self._send(200, view(query))
        except ValueError as exc:
            self._send(400, {"error": str(exc)})

    def do_POST(self) -> None:
        """Provider endpoints, with faults, idempotency and recording."""
        sandbox = self.server.sandbox
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        found = ((name, pattern.search(path), endpoint) for name, pattern, endpoint in ROUTES)
        route = next(((n, m, e) for n, m, e in found if m is not None), None)
        if route is None:
            self._send(404, {"error": f"no sandbox endpoint at {path}"})
            return
        provider, match, endpoint = route
        sandbox.count("requests")
        fault = sandbox.draw_fault()
        if fault is not None:
            sandbox.count(f"fault_{fault}")
        if fault == "drop":
            self.close_connection = True
            return
        if fault == "429":
            self._send(
                429, {"error": "rate limited"}, {"Retry-After": str(sandbox.faults.retry_after)}
            )
            return
        if fault == "500":
            self._send(
                500, {"error": {"code": "ERR_OPERATION_FAILED", "message": "injected fault"}}
            )
            return
        if fault == "slow" and sandbox.stopping.wait(sandbox.faults.slow_seconds):
            return
        try:
            self._answer(provider, match, endpoint)
        except Exception:  # a sandbox bug must still answer, not drop the connection
            log.exception("sandbox: %s endpoint failed", provider)
            sandbox.count("status_500")
            self._send(500, {"error": {"code": "ERR_OPERATION_FAILED", "message": "sandbox bug"}})

    def _answer(self, provider: str, match: re.Match[str], endpoint: Endpoint) -> None:
        sandbox, key = self.server.sandbox, self.idempotency_key
        stored = sandbox.recorder.replay(provider, key)
        if stored is not None:
            sandbox.count("replays")
            self._send(*stored, {"Idempotent-Replayed": "true"})
            return
        try:
            reply = endpoint(self, match)
        except BadRequestError as exc:
            sandbox.count(f"status_{exc.status}")
            self._send(exc.status, exc.body)
            return
        status, body, replayed = sandbox.recorder.record(provider, key, reply)
        sandbox.count("replays" if replayed else f"status_{status}")
        if not replayed:
            log.info("%s: accepted %d recipient(s) (key %s)", provider, len(reply.recipients), key)
        self._send(status, body, {"Idempotent-Replayed": "true"} if replayed else None)

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. timed out)

    def _outcomes(self, query: dict[str, str]) -> dict[str, Any]:
        since, limit = int(query.get("since", 0)), min(int(query.get("limit", 1000)), 10_000)
        rows = self.server.sandbox.recorder.query(
            "select id, provider, idempotency_key, reference, phone_number, user_identifier,"
            " caller_id, received_at from sandbox_recipients where id > ? order by id limit ?",
            [since, limit],
        )
        outcomes = [
            row
            | outcome_for(
                row["phone_number"] or row["user_identifier"],
                row["idempotency_key"],
                row["received_at"],
            )
            | {"received_at": row["received_at"].isoformat() + "Z"}
            for row in rows
        ]
        return {"outcomes": outcomes, "next_since": rows[-1]["id"] if rows else since}

    def _recipients(self, query: dict[str, str]) -> dict[str, Any]:
        where, parameters = [], []
        for name in ("provider", "idempotency_key", "phone_number"):
            if name in query:
                where.append(f"{name} = ?")
                parameters.append(query[name])
        clause = f"where {' and '.join(where)}" if where else ""
        recorder = self.server.sandbox.recorder
        summary = recorder.query(
            "select count(*) as count, count(distinct coalesce(phone_number, user_identifier))"
            f" as distinct_recipients from sandbox_recipients {clause}",
            parameters,
        )[0]
        rows = recorder.query(
            "select id, provider, idempotency_key, phone_number, user_identifier, caller_id"
            f" from sandbox_recipients {clause} order by id limit ?",
            [*parameters, min(int(query.get("limit", 1000)), 100_000)],
        )
        return summary | {"recipients": rows}

    def _stats(self, query: dict[str, str]) -> dict[str, Any]:
        sandbox = self.server.sandbox
        by_provider = sandbox.recorder.query(
            "select provider, count(*) as recipients, count(distinct idempotency_key) as batches,"
            " count(*) - count(distinct (idempotency_key, coalesce(phone_number,"
            " user_identifier))) as duplicates from sandbox_recipients group by provider"
            " order by provider"
        )
        with sandbox._lock:
            counts = dict(sandbox.counts)
        return {
            "recipients": sum(r["recipients"] for r in by_provider),
            "duplicates": sum(r["duplicates"] for r in by_provider),
            "by_provider": {r.pop("provider"): r for r in by_provider},
            "counts": counts,
        }


class SandboxHandle:
    """A sandbox running in a background thread: ``.url``, ``.stop()``, a context manager."""

    def __init__(self, server: SandboxServer, thread: threading.Thread) -> None:
        """Wrap a started server and the thread serving it."""
        self.server, self.thread = server, thread
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    @property
    def state(self) -> SandboxState:
        """The shared state (recorder, counters) for tests."""
        return self.server.sandbox

    def stop(self) -> None:
        """Stop serving, release the port and close the database."""
        self.server.sandbox.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.server.sandbox.recorder.close()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    db: str | Path | None = None,
    faults: Faults | None = None,
    keys: SandboxKeys | None = None,
) -> SandboxServer:
    """A bound, not yet serving, sandbox server (port 0 picks a free port)."""
    server = SandboxServer((host, port), SandboxHandler)
    server.sandbox = SandboxState(Recorder(db), keys or SandboxKeys(), faults or Faults())
    return server


def start_sandbox(
    port: int = 0,
    db: str | Path | None = None,
    faults: Faults | None = None,
    keys: SandboxKeys | None = None,
    host: str = "127.0.0.1",
) -> SandboxHandle:
    """Start a sandbox in a background thread on ``host`` (a free port by default)."""
    server = make_server(host, port, db=db, faults=faults, keys=keys)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},  # so that stop() returns quickly
        name="cohortflow-sandbox",
        daemon=True,
    )
    thread.start()
    return SandboxHandle(server, thread)
