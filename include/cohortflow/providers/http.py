"""Sending one provider request with bounded retries, and keeping secrets out of every text.

What is retried: HTTP 429 (waiting ``Retry-After`` seconds or until its HTTP date, capped),
HTTP 5xx, timeouts and dropped connections (``requests`` ``ConnectionError`` and
``ChunkedEncodingError``). Waits between attempts grow exponentially from
:attr:`RetryPolicy.backoff_base` up to :attr:`RetryPolicy.backoff_max`, with jitter.
What is not: any other 4xx fails at once with the provider's message; 401 and 403 raise a
:class:`~cohortflow.errors.ProviderError` (code ``provider_auth``) naming where the
credentials came from, since every later batch would fail the same way.

The request is prepared afresh for every attempt, so multipart bodies (files) are re-sent whole.
Every text returned or raised passes through :func:`scrub`, which removes the secret even if a
provider echoes it back.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from cohortflow.errors import ProviderError
from cohortflow.phones import mask_phone

log = logging.getLogger(__name__)

#: Statuses that are retried besides every 5xx.
RETRY_STATUSES = frozenset({408, 425, 429})
#: Statuses meaning the credentials are wrong: fail fast.
AUTH_STATUSES = frozenset({401, 403})
#: Longest provider message kept in an error text.
MAX_MESSAGE_CHARS = 500
_TRANSIENT_ERRORS = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)
_PHONE_LIKE = re.compile(r"\+?\d{7,15}")


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for a response and how often, and how patiently, to try again."""

    max_attempts: int = 6
    timeout_seconds: float = 30.0
    backoff_base: float = 0.5  # wait before the 2nd attempt (before jitter)
    backoff_max: float = 30.0  # no wait between attempts is longer
    retry_after_max: float = 120.0  # a provider's Retry-After is honoured up to this
    jitter: float = 0.5  # fraction of each backoff wait that is randomised

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), jittered and capped."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return ceiling * (1 - self.jitter) + ceiling * self.jitter * rng.random()


@dataclass(frozen=True)
class HttpOutcome:
    """What came of one request after all its attempts."""

    ok: bool
    status_code: int | None
    body: dict[str, Any] = field(default_factory=dict)  # JSON body (secrets removed)
    error: str | None = None  # provider message or transport failure, scrubbed
    attempts: int = 1
    retryable: bool = False  # True when retries ran out on a transient failure


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def scrub_value(value: Any, secrets: Iterable[str]) -> Any:
    """A JSON value with every secret removed from every string inside it."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {scrub(str(k), secrets): scrub_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v, secrets) for v in value]
    return value


def mask_digits(text: str) -> str:
    """``text`` with every phone-like digit run masked by :func:`~cohortflow.phones.mask_phone`."""
    return _PHONE_LIKE.sub(lambda m: mask_phone(m.group()), text)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def provider_message(response: requests.Response, body: dict[str, Any]) -> str:
    """The most specific message a provider gave for a failed response."""
    for candidate in (
        body.get("error"),
        body.get("detail"),
        body.get("message"),
        body.get("errors"),
    ):
        if isinstance(candidate, dict):
            code, text = candidate.get("code"), candidate.get("message")
            if text:
                return f"{code}: {text}" if code else str(text)
        if candidate:
            return candidate if isinstance(candidate, str) else json.dumps(candidate)
    return response.text.strip() or (response.reason or "")


def _json_body(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {"data": data}


def send(
    request: requests.Request,
    *,
    session: requests.Session,
    policy: RetryPolicy,
    secrets: Iterable[str],
    source: str,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> HttpOutcome:
    """Send ``request`` until it succeeds, fails for good, or ``policy.max_attempts`` run out.

    ``source`` says where the credentials came from (e.g. ``connection 'sarvam_default'``)
    and is named when the provider refuses them. Raises :class:`ProviderError` on 401/403.
    """
    secrets = tuple(s for s in secrets if s)
    rng = rng or random.Random()
    last_error = ""
    last_status: int | None = None
    for attempt in range(1, policy.max_attempts + 1):
        wait: float | None = None
        try:
            response = session.send(
                session.prepare_request(request), timeout=policy.timeout_seconds
            )
        except _TRANSIENT_ERRORS as exc:
            last_status = None
            kind = "timed out" if isinstance(exc, requests.Timeout) else "connection dropped"
            last_error = f"{kind} ({type(exc).__name__})"
        else:
            status = response.status_code
            body = scrub_value(_json_body(response), secrets)
            if 200 <= status < 300:
                return HttpOutcome(True, status, body, attempts=attempt)
            message = _clean(provider_message(response, body), secrets)
            if status in AUTH_STATUSES:
                raise ProviderError(
                    f"{request.method} {_path(request.url)}: HTTP {status}: the provider "
                    f"refused the credentials from {source or 'the configured credentials'}; "
                    f"check the key stored there ({message})",
                    code="provider_auth",
                )
            if status not in RETRY_STATUSES and status < 500:
                return HttpOutcome(False, status, body, f"HTTP {status}: {message}", attempt)
            last_status, last_error = status, f"HTTP {status}: {message}"
            if status == 429:
                after = parse_retry_after(response.headers.get("Retry-After"))
                if after is not None:
                    wait = min(after, policy.retry_after_max)
        if attempt == policy.max_attempts:
            break
        if wait is None:
            wait = policy.backoff(attempt, rng)
        log.info(
            "%s %s: attempt %d/%d failed (%s); retrying in %.2fs",
            request.method,
            _path(request.url),
            attempt,
            policy.max_attempts,
            last_error,
            wait,
        )
        sleep(wait)
    return HttpOutcome(
        False,
        last_status,
        error=f"gave up after {policy.max_attempts} attempts; last: {last_error}",
        attempts=policy.max_attempts,
        retryable=True,
    )


def _clean(message: str, secrets: Iterable[str]) -> str:
    return mask_digits(scrub(message, secrets))[:MAX_MESSAGE_CHARS]


def _path(url: str | None) -> str:
    return urlsplit(url or "").path
