"""``cohortflow campaign sync | status | send``: what the provider holds, pushed and shown."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner

from cohortflow.cli import main
from cohortflow.config import load_campaign
from cohortflow.dispatch import run_dispatch
from cohortflow.providers import adapter_for
from cohortflow.providers.base import Credentials
from cohortflow.sandbox import SandboxHandle, SandboxKeys, start_sandbox
from tests.support.dispatch import ALWAYS, indian_numbers, write_cohort

KEY = "cli-sync-KEY-123"
NOW = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
CALLERS = [{"connection_id": "c1", "phone_numbers": ["+918012345678"], "weight": 2}]


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with start_sandbox(keys=SandboxKeys(KEY, "app-1")) as handle:
        yield handle


def _area(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: dict[str, Any],
          **settings: Any) -> Path:
    data = {"name": "loans", "status": "active", "allowed_schedule": ALWAYS,
            "provider": {**provider, "conn_id": "cli"}, **settings}
    (tmp_path / "loans.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("COHORTFLOW_CAMPAIGNS", str(tmp_path))
    monkeypatch.setenv("COHORTFLOW_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("COHORTFLOW_PROVIDER_CLI_KEY", KEY)
    monkeypatch.setenv("COHORTFLOW_PROVIDER_CLI_APP_ID", "app-1")
    return tmp_path


def _cli(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(arguments))
    return result.exit_code, result.output


def _sarvam(url: str) -> dict[str, Any]:
    return {"kind": "sarvam", "base_url": url, "org_id": "o", "workspace_id": "w",
            "campaign_id": "cmp"}


def test_sync_dry_run_prints_the_body_with_secrets_and_phones_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxHandle
) -> None:
    hook = {"url": "https://hooks.example/s?token=abc123", "metadata": {"api_key": "k-42"}}
    _area(tmp_path, monkeypatch, _sarvam(sandbox.url), connection_configs=CALLERS,
          webhook_config=hook)
    code, output = _cli("campaign", "sync", "loans", "--dry-run")

    assert code == 0
    shown = json.loads(output)
    assert shown["method"] == "PATCH" and shown["url"].endswith("/campaigns/cmp")
    assert shown["headers"] == {"X-API-Key": "***"}
    app = shown["body"]["app_config"]
    assert app["connection_configs"][0]["phone_numbers"] == ["+••••••••5678"]
    assert app["webhook_config"] == {"url": "https://hooks.example/s?***",
                                     "metadata": {"api_key": "***"}}
    assert KEY not in output and "8012345678" not in output and "abc123" not in output
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
    assert stats["counts"].get("requests", 0) == 0  # a dry run sends nothing


def test_sync_pushes_and_status_says_in_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxHandle
) -> None:
    _area(tmp_path, monkeypatch, _sarvam(sandbox.url))
    code, output = _cli("campaign", "sync", "loans")
    assert code == 0 and "settings pushed to sarvam" in output
    code, output = _cli("campaign", "status", "loans", "--json")
    assert code == 0 and json.loads(output)["provider_settings"]["in_sync"] is True


def test_sync_refused_exits_non_zero_saying_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxHandle
) -> None:
    _area(tmp_path, monkeypatch, _sarvam(sandbox.url))
    requests.post(f"{sandbox.url}/_sandbox/sarvam/campaigns/cmp/status",
                  json={"status": "active"}, timeout=5).raise_for_status()
    code, output = _cli("campaign", "sync", "loans")
    assert code == 2
    assert "sarvam refused the settings update" in output
    assert "pause it there, then run `cohortflow campaign sync loans`" in output
    code, output = _cli("campaign", "status", "loans")
    assert "provider settings: NOT in sync" in output


def test_sync_of_a_provider_without_settings_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _area(tmp_path, monkeypatch, {"kind": "http_json", "base_url": "http://127.0.0.1:9"})
    code, output = _cli("campaign", "sync", "loans")
    assert code == 0 and "has no campaign settings to push" in output


def test_send_again_after_an_unknown_send_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxHandle
) -> None:
    """A send whose answer was lost is not repeated by dispatch; the operator sends it."""
    area = _area(tmp_path, monkeypatch, {"kind": "cometchat", "base_url": sandbox.url,
                                         "campaign_id": "cc-1"})
    warehouse = area / "warehouse"
    write_cohort(warehouse, "loans", "c1", indian_numbers(4))
    campaign = load_campaign(area / "loans.yaml")
    adapter = adapter_for(campaign, Credentials(KEY, "app-1"))
    folder = warehouse / "ledgers" / "provider_deliveries" / "loans"
    real_call = adapter.call

    def lost_send(request: requests.Request, *, repeatable: bool) -> Any:
        if request.url and request.url.endswith("/send"):
            raise KeyboardInterrupt  # the sender dies mid-request
        return real_call(request, repeatable=repeatable)

    monkeypatch.setattr(adapter, "call", lost_send)
    with pytest.raises(KeyboardInterrupt):
        run_dispatch(campaign, warehouse, NOW, adapter=adapter)
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".json") == [
        "000001-sending.json"]

    code, output = _cli("campaign", "status", "loans")
    assert "a send's outcome is unknown" not in output  # not known yet: recorded on next run
    report = run_dispatch(campaign, warehouse, NOW, adapter=adapter_for(
        campaign, Credentials(KEY, "app-1")))
    assert report.delivery is None  # the interrupted send is unconfirmed, not repeated
    code, output = _cli("campaign", "status", "loans")
    assert "a send's outcome is unknown (1 batches)" in output
    code, output = _cli("campaign", "send", "loans")
    assert code == 0 and "send sent for 4 recipients in 1 batches" in output
    sends = requests.get(f"{sandbox.url}/_sandbox/cometchat/sends", timeout=5).json()["sends"]
    assert [s["recipients"] for s in sends] == [4]
