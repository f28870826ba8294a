"""Sending one provider request, retrying only what is safe to retry, secrets kept out of text.

Every failed attempt is classified (:data:`~cohortflow.providers.base.Outcome`):

- ``not_sent``: the connection was never opened (refused, DNS failure, connect timeout), HTTP
  429 (waiting ``Retry-After`` seconds or until its HTTP date, capped), 408 and 425 (the
  server says it did not process the request, RFC 9110), or a status the provider's page
  defines as not processed. Retried with exponential backoff and jitter.
- ``unknown``: the request may have been processed: a timeout or a dropped connection after
  the connection was open, a 5xx the page does not define. Retried (with the same
  ``Idempotency-Key``) only when the provider de-duplicates; otherwise returned at once, so a
  batch is never sent twice to a provider that would act on it twice.
- ``rejected``: any other 4xx, returned at once with the provider's message. 401 and 403
  raise a :class:`~cohortflow.errors.ProviderError` (code ``provider_auth``) naming where the
  credentials came from, since every later batch would fail the same way.

The request is prepared afresh for every attempt, so multipart bodies (files) are re-sent
whole. Every text returned or raised passes through :func:`scrub`, which removes the secret
even if a provider echoes it back.
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
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from cohortflow.errors import ProviderError
from cohortflow.phones import mask_phone
from cohortflow.providers.base import Outcome

log = logging.getLogger(__name__)

#: Statuses meaning the request was not processed, whatever the provider (RFC 9110).
NOT_PROCESSED_STATUSES = frozenset({408, 425, 429})
#: Statuses meaning the credentials are wrong: fail fast.
AUTH_STATUSES = frozenset({401, 403})
#: Longest provider message kept in an error text.
MAX_MESSAGE_CHARS = 500
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

    outcome: Outcome
    status_code: int | None
    body: dict[str, Any] = field(default_factory=dict)  # JSON body (secrets removed)
    error: str | None = None  # provider message or transport failure, scrubbed
    attempts: int = 1

    @property
    def ok(self) -> bool:
        """Whether the provider answered with a 2xx."""
        return self.outcome == "accepted"


def transport_outcome(error: requests.RequestException) -> Outcome:
    """``not_sent`` when ``error`` happened before a connection was open (refused, DNS, connect
    timeout) or before anything was sent (an invalid URL), else ``unknown``."""
    if isinstance(error, requests.ConnectTimeout):
        return "not_sent"
    if not isinstance(error, requests.ConnectionError | requests.Timeout
                      | requests.exceptions.ChunkedEncodingError):
        return "not_sent"  # InvalidURL, MissingSchema, ...: raised before sending
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or any(current is s for s in seen):
            continue
        if isinstance(current, NewConnectionError | ConnectTimeoutError):
            return "not_sent"
        seen.append(current)
        reason = getattr(current, "reason", None)
        stack += [reason if isinstance(reason, BaseException) else None,
                  current.__cause__, current.__context__,
                  *(a for a in current.args if isinstance(a, BaseException))]
    return "unknown"


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
    deduplicates: bool = False,
    not_processed: Iterable[int] = (),
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> HttpOutcome:
    """Send ``request`` until it is accepted, refused, its outcome is unknown (and the provider
    does not de-duplicate), or ``policy.max_attempts`` run out.

    ``not_processed``: statuses the provider's page defines as "not processed", retried like a
    429. ``source`` says where the credentials came from (e.g. ``connection 'sarvam_default'``)
    and is named when the provider refuses them. Raises :class:`ProviderError` on 401/403.
    """
    secrets = tuple(s for s in secrets if s)
    safe_statuses = NOT_PROCESSED_STATUSES | frozenset(not_processed)
    rng = rng or random.Random()
    last = HttpOutcome("not_sent", None, error="no attempt made", attempts=0)
    for attempt in range(1, policy.max_attempts + 1):
        wait: float | None = None
        try:
            response = session.send(
                session.prepare_request(request), timeout=policy.timeout_seconds
            )
            response.content  # noqa: B018 - read the whole answer before the connection goes
        except requests.RequestException as exc:
            kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
            last = HttpOutcome(transport_outcome(exc), None,
                               error=f"{kind} ({type(exc).__name__})", attempts=attempt)
        else:
            status = response.status_code
            body = scrub_value(_json_body(response), secrets)
            if 200 <= status < 300:
                return HttpOutcome("accepted", status, body, attempts=attempt)
            message = _clean(provider_message(response, body), secrets)
            if status in AUTH_STATUSES:
                raise ProviderError(
                    f"{request.method} {_path(request.url)}: HTTP {status}: the provider "
                    f"refused the credentials from {source or 'the configured credentials'}; "
                    f"check the key stored there ({message})",
                    code="provider_auth",
                )
            outcome: Outcome = ("not_sent" if status in safe_statuses
                                else "unknown" if status >= 500 else "rejected")
            last = HttpOutcome(outcome, status, body, f"HTTP {status}: {message}", attempt)
            if status == 429:
                after = parse_retry_after(response.headers.get("Retry-After"))
                if after is not None:
                    wait = min(after, policy.retry_after_max)
        finally:
            _fresh_connections(session)
        if last.outcome == "rejected" or (last.outcome == "unknown" and not deduplicates):
            return last
        if attempt == policy.max_attempts:
            break
        if wait is None:
            wait = policy.backoff(attempt, rng)
        log.info(
            "%s %s: attempt %d/%d %s (%s); retrying in %.2fs",
            request.method,
            _path(request.url),
            attempt,
            policy.max_attempts,
            last.outcome.replace("_", " "),
            last.error,
            wait,
        )
        sleep(wait)
    return HttpOutcome(
        last.outcome,
        last.status_code,
        last.body,
        f"gave up after {policy.max_attempts} attempts; last: {last.error}",
        policy.max_attempts,
    )


def _fresh_connections(session: requests.Session) -> None:
    """Drop pooled connections, so the next request opens a new one: a pooled connection the
    server is closing would make a request that never reached it look like one whose outcome
    is unknown (and such a batch is never sent again)."""
    close = getattr(session, "close", None)
    if callable(close):
        close()


def _clean(message: str, secrets: Iterable[str]) -> str:
    return mask_digits(scrub(message, secrets))[:MAX_MESSAGE_CHARS]


def _path(url: str | None) -> str:
    return urlsplit(url or "").path
