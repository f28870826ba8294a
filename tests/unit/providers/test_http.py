"""What an answer means (accepted, not sent, unknown, rejected), what is retried and how long
it waits, what is never sent twice, and no secrets in any text."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from email.utils import format_datetime
from typing import Any

import pytest
import requests

from cohortflow.errors import ProviderError
from cohortflow.providers import adapter_for
from cohortflow.providers.base import Credentials
from cohortflow.providers.http import RetryPolicy, parse_retry_after, scrub, send
from cohortflow.sandbox.forms import parse_multipart
from tests.support.providers import campaign_for, make_batch, make_recipients

SECRET = "tok-SECRET-9911"
SOURCE = "connection 'sarvam_default'"

Answer = Callable[[requests.PreparedRequest], requests.Response]


def response(status: int, body: dict[str, Any] | None = None, **headers: str) -> Answer:
    """An answer giving ``status`` with a JSON ``body``."""

    def answer(prepared: requests.PreparedRequest) -> requests.Response:
        result = requests.Response()
        result.status_code = status
        result._content = json.dumps(body or {}).encode()
        result.headers.update({"Content-Type": "application/json", **headers})
        result.request = prepared
        return result

    return answer


def failure(error: Exception) -> Answer:
    """An answer raising ``error`` (timeout, dropped connection)."""

    def answer(prepared: requests.PreparedRequest) -> requests.Response:
        raise error

    return answer


class ScriptedSession(requests.Session):
    """A session answering each send with the next scripted answer, keeping what it was sent."""

    def __init__(self, *answers: Answer) -> None:
        super().__init__()
        self.answers = list(answers)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        return self.answers.pop(0)(request)


class Waits(list[float]):
    """An injected ``sleep`` that records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


POLICY = RetryPolicy(max_attempts=4, timeout_seconds=1, backoff_base=0.5, backoff_max=2)


def run(session: ScriptedSession, waits: Waits, policy: RetryPolicy = POLICY, *,
        deduplicates: bool = False) -> Any:
    request = requests.Request(
        "POST",
        "https://p.example/upload",
        headers={"Idempotency-Key": "k-1"},
        files={"file": ("a.csv", b"phone\n+911\n", "text/csv")},
    )
    return send(
        request,
        session=session,
        policy=policy,
        secrets=[SECRET],
        source=SOURCE,
        deduplicates=deduplicates,
        sleep=waits,
        rng=random.Random(1),
    )


def test_429_waits_retry_after_seconds_then_succeeds() -> None:
    session = ScriptedSession(_with_header(429, "Retry-After", "3"), response(200, {"ok": True}))
    waits = Waits()
    outcome = run(session, waits)
    assert outcome.ok and outcome.attempts == 2
    assert waits == [3.0]


def _with_header(status: int, name: str, value: str) -> Answer:
    return response(status, {}, **{name: value})


def test_retry_after_http_date_is_honoured() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    header = format_datetime(now + dt.timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(header, now=now) == 7.0
    assert parse_retry_after("soon") is None


def test_retry_after_is_capped() -> None:
    session = ScriptedSession(_with_header(429, "Retry-After", "3600"), response(200))
    waits = Waits()
    run(session, waits, RetryPolicy(max_attempts=2, retry_after_max=10))
    assert waits == [10.0]


def refused() -> requests.ConnectionError:
    """What requests raises when nothing listens on the port: the connection never opened."""
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    opening = NewConnectionError(None, "Failed to establish a new connection: refused")
    return requests.ConnectionError(MaxRetryError(None, "/upload", opening))  # type: ignore[arg-type]


def test_a_5xx_is_an_unknown_outcome_and_not_sent_again() -> None:
    session = ScriptedSession(response(500), response(200))
    waits = Waits()
    outcome = run(session, waits)
    assert outcome.outcome == "unknown" and outcome.status_code == 500
    assert outcome.attempts == 1 and len(session.sent) == 1 and waits == []


def test_a_5xx_is_sent_again_to_a_provider_that_deduplicates() -> None:
    session = ScriptedSession(response(500), response(503), response(200, {"id": "b1"}))
    waits = Waits()
    outcome = run(session, waits, deduplicates=True)
    assert outcome.ok and outcome.attempts == 3 and outcome.body == {"id": "b1"}
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0  # exponential, jittered


@pytest.mark.parametrize(
    "error",
    [
        requests.ReadTimeout("slow"),
        requests.ConnectionError("Connection aborted: RemoteDisconnected"),
        requests.exceptions.ChunkedEncodingError("cut"),
    ],
    ids=["timeout", "dropped", "chunked"],
)
def test_a_failure_after_the_connection_opened_is_unknown(error: Exception) -> None:
    session = ScriptedSession(failure(error), response(200))
    outcome = run(session, Waits())
    assert outcome.outcome == "unknown" and outcome.attempts == 1 and len(session.sent) == 1
    retried = run(ScriptedSession(failure(error), response(200)), Waits(), deduplicates=True)
    assert retried.ok and retried.attempts == 2


@pytest.mark.parametrize("error", [refused(), requests.ConnectTimeout("no SYN-ACK")],
                         ids=["refused", "connect timeout"])
def test_a_connection_that_never_opened_is_not_sent_and_retried(error: Exception) -> None:
    session = ScriptedSession(failure(error), response(200))
    outcome = run(session, Waits())
    assert outcome.ok and outcome.attempts == 2


def test_every_attempt_resends_the_whole_body_and_idempotency_key() -> None:
    session = ScriptedSession(response(429), failure(refused()), response(200))
    run(session, Waits())
    assert len(session.sent) == 3
    assert {p.headers["Idempotency-Key"] for p in session.sent} == {"k-1"}
    files = [
        parse_multipart(p.body, p.headers["Content-Type"])["file"].data
        for p in session.sent
    ]
    assert files == [b"phone\n+911\n"] * 3  # rebuilt (fresh boundary) and re-sent whole


def test_retries_are_bounded_and_backoff_capped() -> None:
    session = ScriptedSession(*[response(429)] * 4)
    waits = Waits()
    outcome = run(session, waits)
    assert outcome.outcome == "not_sent"
    assert outcome.attempts == 4 and len(session.sent) == 4
    assert len(waits) == 3 and all(w <= POLICY.backoff_max for w in waits)
    assert outcome.error.startswith("gave up after 4 attempts; last: HTTP 429")


def test_a_deduplicating_provider_keeps_an_unknown_outcome_after_the_last_attempt() -> None:
    outcome = run(ScriptedSession(*[response(502)] * 4), Waits(), deduplicates=True)
    assert outcome.outcome == "unknown" and outcome.attempts == 4
    assert outcome.error.startswith("gave up after 4 attempts; last: HTTP 502")


@pytest.mark.parametrize("status", [408, 425])
def test_statuses_meaning_not_processed_are_retried(status: int) -> None:
    outcome = run(ScriptedSession(response(status), response(200)), Waits())
    assert outcome.ok and outcome.attempts == 2


def test_a_status_the_page_defines_as_not_processed_is_retried() -> None:
    request = requests.Request("POST", "https://p.example/upload")
    outcome = send(request, session=ScriptedSession(response(503), response(200)),
                   policy=POLICY, secrets=[], source=SOURCE, not_processed={503},
                   sleep=Waits(), rng=random.Random(1))
    assert outcome.ok and outcome.attempts == 2


def test_400_fails_at_once_with_the_provider_message() -> None:
    body = {"error": {"code": "ERR_BAD_REQUEST", "message": "Missing user_id column"}}
    session = ScriptedSession(response(400, body))
    waits = Waits()
    outcome = run(session, waits)
    assert outcome.outcome == "rejected"
    assert outcome.status_code == 400 and outcome.attempts == 1 and waits == []
    assert outcome.error == "HTTP 400: ERR_BAD_REQUEST: Missing user_id column"


def test_401_fails_fast_naming_the_connection_never_the_secret() -> None:
    session = ScriptedSession(response(401, {"detail": f"Invalid API key '{SECRET}'"}))
    with pytest.raises(ProviderError) as info:
        run(session, Waits())
    assert info.value.code == "provider_auth"
    assert SOURCE in str(info.value) and "HTTP 401" in str(info.value)
    assert SECRET not in str(info.value) and len(session.sent) == 1


def test_403_fails_fast_too() -> None:
    with pytest.raises(ProviderError, match="HTTP 403"):
        run(ScriptedSession(response(403)), Waits())


def test_secret_echoed_in_a_success_body_is_scrubbed() -> None:
    session = ScriptedSession(response(200, {"note": f"key {SECRET} ok", SECRET: [SECRET]}))
    outcome = run(session, Waits())
    assert SECRET not in json.dumps(outcome.body)
    assert scrub(f"a{SECRET}b", [SECRET]) == "a***b"


def test_phone_numbers_in_provider_messages_are_masked() -> None:
    session = ScriptedSession(response(422, {"message": "invalid row +919876543210"}))
    outcome = run(session, Waits())
    assert "+919876543210" not in outcome.error and "3210" in outcome.error


def test_adapter_submit_records_failure_without_secret() -> None:
    session = ScriptedSession(response(400, {"detail": f"bad name; key was {SECRET}"}))
    adapter = adapter_for(
        campaign_for("sarvam"), Credentials(SECRET, source=SOURCE), session, sleep=Waits()
    )
    result = adapter.submit(make_batch(make_recipients(2)))
    assert not result.ok and result.status_code == 400 and result.accepted == 0
    assert result.error == "HTTP 400: bad name; key was ***"
    assert SECRET not in repr(result)


def test_adapter_submit_uses_attempts_and_timeout_from_provider_config() -> None:
    campaign = campaign_for("http_json", provider={"max_attempts": 2, "timeout_seconds": 0.5})
    session = ScriptedSession(response(429), response(429))
    adapter = adapter_for(campaign, Credentials(SECRET, source=SOURCE), session, sleep=Waits())
    result = adapter.submit(make_batch(make_recipients(1)))
    assert result.outcome == "not_sent" and result.attempts == 2
    assert adapter.policy.timeout_seconds == 0.5


@pytest.mark.parametrize(("deduplicates", "sent"), [(False, 1), (True, 2)])
def test_http_json_sends_an_unknown_outcome_again_only_when_configured_to(
    deduplicates: bool, sent: int
) -> None:
    campaign = campaign_for("http_json", provider={"deduplicates": deduplicates})
    session = ScriptedSession(failure(requests.ReadTimeout("slow")), response(200))
    adapter = adapter_for(campaign, Credentials(SECRET, source=SOURCE), session, sleep=Waits())
    adapter.submit(make_batch(make_recipients(1)))
    assert len(session.sent) == sent


@pytest.mark.parametrize("kind", ["sarvam", "cometchat", "messaging_csv", "nexus"])
def test_no_documented_provider_is_taken_to_deduplicate(kind: str) -> None:
    adapter = adapter_for(campaign_for(kind), Credentials(SECRET, "app", source=SOURCE))
    assert adapter.deduplicates is False


def test_a_real_refused_connection_is_not_sent_and_a_real_drop_is_unknown() -> None:
    """Against real sockets: nothing listening (the request was never written) against a
    server that reads the request and closes without answering (it may have acted on it)."""
    import socket
    import threading

    from cohortflow.providers.http import transport_outcome

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more
    with pytest.raises(requests.ConnectionError) as refused:
        requests.post(f"http://127.0.0.1:{port}/upload", data=b"x", timeout=2)
    assert transport_outcome(refused.value) == "not_sent"

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def read_then_close() -> None:
        connection, _ = server.accept()
        connection.recv(65536)
        connection.close()

    threading.Thread(target=read_then_close, daemon=True).start()
    with pytest.raises(requests.ConnectionError) as dropped:
        requests.post(f"http://127.0.0.1:{server.getsockname()[1]}/upload", data=b"x",
                      timeout=2)
    server.close()
    assert transport_outcome(dropped.value) == "unknown"
