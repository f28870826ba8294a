"""A local stand-in for every provider: a real HTTP server for the demo and the tests.

It serves the five provider endpoints as their pages describe (paths are matched by their
documented suffix, so a ``base_url`` may carry a prefix such as ``/api/scheduling``):

==================  ============================================================================
sarvam              ``POST .../v1/orgs/{org}/workspaces/{ws}/campaigns/{c}/cohorts/upload``,
                    ``PATCH .../v1/orgs/{org}/workspaces/{ws}/campaigns/{c}``
cometchat           ``POST .../api/campaigns``, ``POST .../api/campaigns/upload``,
                    ``POST .../api/campaigns/{c}/send``
messaging_csv       ``POST .../applications/{app}/campaigns/{c}/send-from-csv``
nexus               ``POST .../api/call/upload``, ``GET .../api/call/batch-details/{id}``
http_json           ``POST .../batches``
==================  ============================================================================

It checks the auth headers against the expected key (and CometChat app id), the required
form fields and the CSV (required columns, formats), answers with the documented bodies and
error codes, and records every accepted recipient in DuckDB (table ``sandbox_recipients``;
``:memory:`` when no file is given). Like the providers, whose pages document no idempotency
key, it ignores ``Idempotency-Key``: a request sent twice is processed twice. Started with
``deduplicate=True`` (``cohortflow sandbox --deduplicate``) it plays a provider that honours
the key: the same key gets the stored answer again and its recipients are not recorded twice.

Test endpoints (sandbox/views.py): ``GET /_sandbox/outcomes?since=<id>`` (deterministic
call outcomes per recipient sent, seeded by phone and key), ``GET /_sandbox/recipients``,
``GET /_sandbox/stats``, ``GET /_sandbox/cometchat/sends``, ``GET /_sandbox/sarvam/campaigns/{c}``,
``POST /_sandbox/sarvam/campaigns/{c}/status`` (as Sarvam's console would) and
``GET /_sandbox/sarvam/cohorts/{id}`` (a cohort completes a moment after its upload).

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
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cohortflow.sandbox import views
from cohortflow.sandbox.cometchat import cometchat, cometchat_create, cometchat_send
from cohortflow.sandbox.forms import BadRequestError, ProviderRequest
from cohortflow.sandbox.http_json import http_json
from cohortflow.sandbox.messaging_csv import messaging_csv
from cohortflow.sandbox.nexus import nexus, nexus_batch_details
from cohortflow.sandbox.options import Faults, SandboxKeys
from cohortflow.sandbox.recorder import Recorder, Reply
from cohortflow.sandbox.sarvam import sarvam, sarvam_update
from cohortflow.sandbox.state import SandboxState

log = logging.getLogger(__name__)

#: The test endpoints under /_sandbox/ (sandbox/views.py).
VIEWS = {
    "/_sandbox/outcomes": views.outcomes,
    "/_sandbox/recipients": views.recipients,
    "/_sandbox/stats": views.stats,
    "/_sandbox/cometchat/sends": views.cometchat_sends,
}
SARVAM_CAMPAIGN = re.compile(r"^/_sandbox/sarvam/campaigns/([^/]+)$")
SARVAM_STATUS = re.compile(r"^/_sandbox/sarvam/campaigns/([^/]+)/status$")
SARVAM_COHORT = re.compile(r"^/_sandbox/sarvam/cohorts/([^/]+)$")

Endpoint = Callable[[ProviderRequest, "re.Match[str]"], Reply]
#: (method, provider, path pattern, endpoint): matched by the documented path's suffix.
ROUTES: tuple[tuple[str, str, re.Pattern[str], Endpoint], ...] = (
    ("POST", "sarvam",
     re.compile(r"/v1/orgs/[^/]+/workspaces/[^/]+/campaigns/[^/]+/cohorts/upload$"), sarvam),
    ("PATCH", "sarvam",
     re.compile(r"/v1/orgs/[^/]+/workspaces/[^/]+/campaigns/(?P<campaign>[^/]+)$"),
     sarvam_update),
    ("POST", "cometchat", re.compile(r"/api/campaigns/upload$"), cometchat),
    ("POST", "cometchat", re.compile(r"/api/campaigns$"), cometchat_create),
    ("POST", "cometchat", re.compile(r"/api/campaigns/(?P<campaign>[^/]+)/send$"),
     cometchat_send),
    ("POST", "messaging_csv", re.compile(r"/applications/\d+/campaigns/\d+/send-from-csv$"),
     messaging_csv),
    ("POST", "nexus", re.compile(r"/api/call/upload$"), nexus),
    ("GET", "nexus", re.compile(r"/api/call/batch-details/(?P<batch>[^/]+)$"),
     nexus_batch_details),
    ("POST", "http_json", re.compile(r"/batches$"), http_json),
)


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
        """Test endpoints (outcomes, recipients, stats, provider state) and provider reads."""
        url = urlsplit(self.path)
        if not url.path.startswith("/_sandbox/"):
            self._provider("GET")
            return
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        view = VIEWS.get(url.path)
        campaign = SARVAM_CAMPAIGN.match(url.path)
        if campaign is not None:
            found = self.server.sandbox.world.sarvam_campaign(campaign.group(1))
            self._send(200, {"campaign_id": found.campaign_id, "status": found.status,
                             "settings": found.settings, "updates": found.updates})
            return
        cohort = SARVAM_COHORT.match(url.path)
        if cohort is not None:
            found_cohort = self.server.sandbox.world.sarvam_cohort(cohort.group(1))
            self._send(200 if found_cohort else 404, found_cohort or {"error": "no such cohort"})
            return
        if view is None:
            self._send(404, {"error": "not found"})
            return
        try:
            self._send(200, view(self.server.sandbox, query))
        except ValueError as exc:
            self._send(400, {"error": str(exc)})

    def do_POST(self) -> None:
        """Provider endpoints; and ``/_sandbox/sarvam/campaigns/{id}/status`` to change a
        Sarvam campaign's status as its console would (``{"status": "active"}``)."""
        path = urlsplit(self.path).path
        status = SARVAM_STATUS.match(path)
        if status is None:
            self._provider("POST")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            wanted = json.loads(body)["status"]
            found = self.server.sandbox.world.set_sarvam_status(status.group(1), wanted)
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, {"campaign_id": found.campaign_id, "status": found.status})

    def do_PATCH(self) -> None:
        """Provider endpoints (Sarvam's campaign update)."""
        self._provider("PATCH")

    def _provider(self, method: str) -> None:
        """A provider endpoint, with faults, idempotency (when asked for) and recording."""
        sandbox = self.server.sandbox
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        found = ((name, pattern.search(path), endpoint)
                 for verb, name, pattern, endpoint in ROUTES if verb == method)
        route = next(((n, m, e) for n, m, e in found if m is not None), None)
        if route is None:
            self._send(404, {"error": f"no sandbox endpoint for {method} {path}"})
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
            request = ProviderRequest(self.headers, self.body, sandbox.keys, sandbox.world)
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
            if self.close_connection:  # the client asked for it: say so, as servers do
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. timed out)


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
