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
error codes, and records every accepted recipient in DuckDB (table ``sandbox_recipients``;
``:memory:`` when no file is given). Like the providers, whose pages document no idempotency
key, it ignores ``Idempotency-Key``: a request sent twice is processed twice. Started with
``deduplicate=True`` (``cohortflow sandbox --deduplicate``) it plays a provider that honours
the key: the same key gets the stored answer again and its recipients are not recorded twice.

Test endpoints: ``GET /_sandbox/outcomes?since=<id>`` (deterministic call outcomes per
recipient, seeded by phone and key), ``GET /_sandbox/recipients`` and ``GET /_sandbox/stats``.

Faults (fractions of provider requests, seeded): ``fail_429`` (with ``Retry-After``),
``fail_500`` and ``drop`` (the connection closed unanswered), all before doing the work;
``slow`` (the work done after ``slow_seconds``, when the client has given up); and after the
work is done and recorded, ``drop_after_accept`` (the connection closed unanswered) and
``timeout_after_accept`` (answered after ``slow_seconds``). A 401 body echoes the key
presented, so that tests can prove the client scrubs secrets from provider answers.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cohortflow.sandbox.cometchat import cometchat
from cohortflow.sandbox.forms import BadRequestError, ProviderRequest, Reply
from cohortflow.sandbox.http_json import http_json
from cohortflow.sandbox.messaging_csv import messaging_csv
from cohortflow.sandbox.nexus import nexus
from cohortflow.sandbox.options import Faults, SandboxKeys
from cohortflow.sandbox.outcomes import outcome_for
from cohortflow.sandbox.recorder import Recorder
from cohortflow.sandbox.sarvam import sarvam

log = logging.getLogger(__name__)

Endpoint = Callable[[ProviderRequest, "re.Match[str]"], Reply]
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


class SandboxState:
    """What the server threads share: keys, faults, the recorder and counters."""

    def __init__(
        self, recorder: Recorder, keys: SandboxKeys, faults: Faults, *, deduplicate: bool = False
    ) -> None:
        """Hold the shared parts; faults are drawn from a generator seeded by ``faults.seed``.
        ``deduplicate``: honour ``Idempotency-Key`` (no documented provider does)."""
        self.recorder, self.keys, self.faults = recorder, keys, faults
        self.deduplicate = deduplicate
        self.stopping = threading.Event()
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def draw_fault(self) -> str | None:
        """The fault for the next provider request (a :class:`Faults` name), or ``None``."""
        f = self.faults
        with self._lock:
            r = self._rng.random()
        for name, fraction in (
            ("drop", f.drop),
            ("429", f.fail_429),
            ("500", f.fail_500),
            ("slow", f.slow),
            ("drop_after_accept", f.drop_after_accept),
            ("timeout_after_accept", f.timeout_after_accept),
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
            self._answer(provider, match, endpoint, fault)
        except Exception:  # a sandbox bug must still answer, not drop the connection
            log.exception("sandbox: %s endpoint failed", provider)
            sandbox.count("status_500")
            self._send(500, {"error": {"code": "ERR_OPERATION_FAILED", "message": "sandbox bug"}})

    def _answer(
        self, provider: str, match: re.Match[str], endpoint: Endpoint, fault: str | None
    ) -> None:
        sandbox = self.server.sandbox
        key = self.idempotency_key if sandbox.deduplicate else None
        stored = sandbox.recorder.replay(provider, key)
        if stored is not None:
            sandbox.count("replays")
            self._send(*stored, {"Idempotent-Replayed": "true"})
            return
        try:
            request = ProviderRequest(self.headers, self.body, sandbox.keys)
            reply = endpoint(request, match)
        except BadRequestError as exc:
            sandbox.count(f"status_{exc.status}")
            self._send(exc.status, exc.body)
            return
        status, body, replayed = sandbox.recorder.record(
            provider, self.idempotency_key, reply, deduplicate=sandbox.deduplicate)
        sandbox.count("replays" if replayed else f"status_{status}")
        if not replayed:
            log.info("%s: accepted %d recipient(s) (key %s)", provider, len(reply.recipients),
                     self.idempotency_key)
        if fault == "drop_after_accept":
            self.close_connection = True
            return
        if fault == "timeout_after_accept" and sandbox.stopping.wait(sandbox.faults.slow_seconds):
            return
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
        # duplicates: a recipient recorded twice under one key (a request processed twice);
        # repeats: a recipient recorded more than once under any keys (contacted again).
        by_provider = sandbox.recorder.query(
            "select provider, count(*) as recipients, count(distinct idempotency_key) as batches,"
            " count(*) - count(distinct (idempotency_key, coalesce(phone_number,"
            " user_identifier))) as duplicates,"
            " count(*) - count(distinct coalesce(phone_number, user_identifier)) as repeats"
            " from sandbox_recipients group by provider order by provider"
        )
        with sandbox._lock:
            counts = dict(sandbox.counts)
        return {
            "recipients": sum(r["recipients"] for r in by_provider),
            "duplicates": sum(r["duplicates"] for r in by_provider),
            "repeats": sum(r["repeats"] for r in by_provider),
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
    deduplicate: bool = False,
) -> SandboxServer:
    """A bound, not yet serving, sandbox server (port 0 picks a free port); ``deduplicate``
    makes it honour ``Idempotency-Key``."""
    server = SandboxServer((host, port), SandboxHandler)
    server.sandbox = SandboxState(Recorder(db), keys or SandboxKeys(), faults or Faults(),
                                  deduplicate=deduplicate)
    return server


def start_sandbox(
    port: int = 0,
    db: str | Path | None = None,
    faults: Faults | None = None,
    keys: SandboxKeys | None = None,
    host: str = "127.0.0.1",
    deduplicate: bool = False,
) -> SandboxHandle:
    """Start a sandbox in a background thread on ``host`` (a free port by default)."""
    server = make_server(host, port, db=db, faults=faults, keys=keys, deduplicate=deduplicate)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},  # so that stop() returns quickly
        name="cohortflow-sandbox",
        daemon=True,
    )
    thread.start()
    return SandboxHandle(server, thread)
