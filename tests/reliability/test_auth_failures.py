"""A provider that refuses the credentials (401/403): one request, a clear message, no secret.

Every later batch would be refused the same way, so dispatch stops at the first refusal
instead of retrying: exactly one HTTP request per run reaches the provider. The message names
where the key came from (the Airflow connection or the environment variable) so the operator
knows what to fix, and never contains the key itself, even when the provider echoes it back.
Nothing is marked failed: the batches wait in the outbox and go, once, after the key is fixed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from cohortflow.config import CampaignConfig
from cohortflow.dispatch import run_dispatch
from cohortflow.dispatch.outbox import Outbox
from cohortflow.errors import ProviderError
from cohortflow.providers import adapter_for
from cohortflow.providers.base import Credentials
from cohortflow.providers.credentials import resolve_credentials
from cohortflow.sandbox import SandboxHandle, SandboxKeys, start_sandbox
from tests.support.dispatch import ALWAYS, indian_numbers, make_campaign, write_cohort
from tests.support.providers import PROVIDERS

PROJECT = Path(__file__).resolve().parents[2]
RIGHT_KEY = "right-key-6c1f0b9e"
WRONG_KEY = "wrong-key-2d7a44f3"
APP_ID = "sandbox-app"
CONNECTION = "sandbox_provider"
ENV_KEY = "COHORTFLOW_PROVIDER_SANDBOX_PROVIDER_KEY"
CALLERS = [{"connection_id": "c1", "phone_numbers": ["+918000000001"]}]
NOW = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
RECIPIENTS, BATCH_SIZE = 30, 10


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with start_sandbox(port=0, keys=SandboxKeys(RIGHT_KEY, APP_ID)) as handle:
        yield handle


def _stats(url: str) -> dict[str, Any]:
    stats: dict[str, Any] = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
    return stats


def _campaign(kind: str, url: str) -> CampaignConfig:
    provider = {**PROVIDERS[kind], "base_url": url, "conn_id": CONNECTION}
    return make_campaign(batch_size=BATCH_SIZE, connection_configs=CALLERS, provider=provider)


def _from_connection(campaign: CampaignConfig, key: str) -> Credentials:
    """Credentials as a task resolves them: from the Airflow connection ``sandbox_provider``."""
    assert campaign.provider is not None
    return resolve_credentials(campaign.provider, environ={},
                               lookup=lambda conn_id: (key, APP_ID))


@pytest.mark.parametrize("kind", sorted(PROVIDERS))
def test_refused_key_stops_the_run_after_one_request_naming_the_connection(
    tmp_path: Path, sandbox: SandboxHandle, kind: str
) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(RECIPIENTS))
    campaign = _campaign(kind, sandbox.url)
    wrong = adapter_for(campaign, _from_connection(campaign, WRONG_KEY))

    with pytest.raises(ProviderError) as refused:
        run_dispatch(campaign, tmp_path, NOW, adapter=wrong)

    message = str(refused.value)
    assert refused.value.code == "provider_auth"
    assert "HTTP 401" in message and f"connection '{CONNECTION}'" in message
    assert WRONG_KEY not in message and RIGHT_KEY not in message  # the sandbox echoes the key
    counts = _stats(sandbox.url)["counts"]
    assert counts["requests"] == 1 and counts["status_401"] == 1  # no retries, no more batches
    # Nothing marked failed: all still pending; Sarvam's refusal came at the settings update
    # pushed before anything is planned, so its batches are not even planned yet.
    assert _statuses(tmp_path) == (set() if kind == "sarvam" else {"pending"})

    right = adapter_for(campaign, _from_connection(campaign, RIGHT_KEY))
    report = run_dispatch(campaign, tmp_path, NOW, adapter=right)
    assert report.count("submitted") == RECIPIENTS
    stats = _stats(sandbox.url)
    assert stats["recipients"] == RECIPIENTS and stats["duplicates"] == 0


def _statuses(warehouse: Path) -> set[str]:
    outbox = Outbox(warehouse, "loans")
    results = outbox.results()
    return {Outbox.status_of(results.get(b.idempotency_key, [])) for b in outbox.batches()}


class _Forbidden(BaseHTTPRequestHandler):
    """Answers every POST with 403, echoing the credentials it was given."""

    requests_seen = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with _Forbidden.lock:
            _Forbidden.requests_seen += 1
        body = json.dumps({"error": f"{self.headers.get('Authorization')} may not post here"})
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def forbidding_provider() -> Iterator[str]:
    _Forbidden.requests_seen = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_403_also_stops_after_one_request_naming_the_connection(
    tmp_path: Path, forbidding_provider: str
) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(RECIPIENTS))
    campaign = _campaign("http_json", forbidding_provider)
    adapter = adapter_for(campaign, _from_connection(campaign, WRONG_KEY))

    with pytest.raises(ProviderError) as refused:
        run_dispatch(campaign, tmp_path, NOW, adapter=adapter)

    assert refused.value.code == "provider_auth"
    assert "HTTP 403" in str(refused.value)
    assert f"connection '{CONNECTION}'" in str(refused.value)
    assert WRONG_KEY not in str(refused.value)
    assert _Forbidden.requests_seen == 1


def test_the_cli_exits_with_an_error_naming_the_variable_and_never_the_key(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(RECIPIENTS))
    data = {"name": "loans", "status": "active", "allowed_schedule": ALWAYS,
            "attempts_per_second": 1000, "batch_size": BATCH_SIZE,
            "provider": {"kind": "sarvam", "base_url": sandbox.url, "conn_id": CONNECTION,
                         "org_id": "o", "workspace_id": "w", "campaign_id": "c"}}
    campaign = tmp_path / "loans.yaml"
    campaign.write_text(yaml.safe_dump(data), encoding="utf-8")
    env = {**os.environ, ENV_KEY: WRONG_KEY}
    cli = str(Path(sys.executable).with_name("cohortflow"))

    result = subprocess.run(
        [cli, "dispatch", "--campaign", str(campaign), "--warehouse", str(tmp_path),
         "--now", NOW.isoformat()],
        env=env, cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and f"env {ENV_KEY}" in result.stderr
    assert "HTTP 401" in result.stderr and "Traceback" not in result.stderr
    assert WRONG_KEY not in result.stdout + result.stderr
    assert _stats(sandbox.url)["counts"]["requests"] == 1
