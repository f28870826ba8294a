"""Reading provider requests as the pages describe them: multipart forms, CSV files, phones.

Every endpoint receives a :class:`ProviderRequest` and answers with a :class:`Reply`, or
raises :class:`BadRequestError` with the status and body the provider's page documents.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from cohortflow.sandbox.options import SandboxKeys
from cohortflow.sandbox.world import ProviderWorld

_PHONE = re.compile(r"^\+?[1-9]\d{6,14}$")


@dataclass(frozen=True)
class ProviderRequest:
    """One request to a provider endpoint: its headers, body and the sandbox's secrets."""

    headers: Message
    body: bytes
    keys: SandboxKeys
    world: ProviderWorld  # what the sandbox's provider accounts hold (campaigns, batches)

    @property
    def idempotency_key(self) -> str | None:
        """The request's ``Idempotency-Key`` header, if any."""
        return self.headers.get("Idempotency-Key") or None


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



def reference_for(provider: str, length: int = 24) -> str:
    """A new provider reference (batch id, cohort id): hexadecimal, ``length`` characters."""
    return hashlib.sha256(f"{provider}|{uuid.uuid4().hex}".encode()).hexdigest()[:length]


def read_form(
    request: ProviderRequest, error: Callable[[str], BadRequestError]
) -> dict[str, FormPart]:
    """The request's multipart form; ``error(message)`` builds the provider's 400 answer."""
    try:
        return parse_multipart(request.body, request.headers.get("Content-Type", ""))
    except ValueError as exc:
        raise error(str(exc)) from None


def require_fields(
    form: dict[str, FormPart], names: tuple[str, ...], error: Callable[[str], BadRequestError]
) -> None:
    """Refuse a form without every one of ``names`` (or with one of them blank)."""
    missing = [n for n in names if n not in form or not form[n].data.strip()]
    if missing:
        raise error(f"missing required field(s): {', '.join(missing)}")


def json_field(
    form: dict[str, FormPart], name: str, kind: type, error: Callable[[str], BadRequestError]
) -> Any:
    try:
        value = json.loads(form[name].data)
    except ValueError:
        raise error(f"{name} must be a JSON string") from None
    if not isinstance(value, kind):
        raise error(f"{name} must be a JSON {kind.__name__}")
    return value

