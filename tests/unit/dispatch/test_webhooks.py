"""Webhooks: JSON POST with metadata, retried, recorded, never carrying phones or secrets."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cohortflow.dispatch.webhooks import notify_cohorts, send_event
from cohortflow.warehouse.ledger import read_records
from cohortflow.warehouse.paths import ledger_dir
from tests.support.dispatch import indian_numbers, make_campaign, write_cohort


class Receiver(ThreadingHTTPServer):
    bodies: list[dict[str, Any]]
    fail_first: int


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        status = 500 if len(self.server.bodies) <= self.server.fail_first else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), Handler)
    server.bodies, server.fail_first = [], 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _campaign(server: Receiver) -> Any:
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    return make_campaign(webhook_config={"url": url, "metadata": {"team": "collections"}})


def test_event_is_posted_with_metadata_and_recorded(tmp_path: Path, receiver: Receiver) -> None:
    campaign = _campaign(receiver)
    assert send_event(campaign, tmp_path, "batch_submitted", "e1", {"recipients": 3})
    (body,) = receiver.bodies
    assert body["event"] == "batch_submitted" and body["metadata"] == {"team": "collections"}
    records = read_records(ledger_dir(tmp_path, "webhooks") / "loans")
    assert [r["ok"] for r in records] == [True]


def test_failures_are_retried_and_every_attempt_recorded(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    assert send_event(_campaign(receiver), tmp_path, "batch_failed", "e2", {}, sleep=lambda s: None)
    records = read_records(ledger_dir(tmp_path, "webhooks") / "loans")
    assert [r["ok"] for r in records] == [False, False, True]


def test_a_delivered_event_is_not_sent_again(tmp_path: Path, receiver: Receiver) -> None:
    campaign = _campaign(receiver)
    send_event(campaign, tmp_path, "campaign_ended", "e3", {})
    send_event(campaign, tmp_path, "campaign_ended", "e3", {})
    assert len(receiver.bodies) == 1


def test_phone_numbers_and_secrets_never_leave(tmp_path: Path, receiver: Receiver) -> None:
    send_event(_campaign(receiver), tmp_path, "batch_failed", "e4",
               {"error": "rejected +919876543210", "api_key": "s3cret"})
    text = json.dumps(receiver.bodies[0])
    assert "9876543210" not in text and "3210" in text and "s3cret" not in text


def test_cohort_events_are_announced_once(tmp_path: Path, receiver: Receiver) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(2))
    write_cohort(tmp_path, "loans", "c2", [], status="failed")
    campaign = _campaign(receiver)
    assert notify_cohorts(campaign, tmp_path) == 2
    assert notify_cohorts(campaign, tmp_path) == 0
    assert sorted(b["event"] for b in receiver.bodies) == ["cohort_completed", "cohort_failed"]
