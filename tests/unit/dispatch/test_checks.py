"""What a provider would refuse is found before any request: dispatch stops that campaign with
an error naming the file and the field, sends nothing, and marks no batch failed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from cohortflow.config import load_campaign
from cohortflow.dispatch import Outbox, run_dispatch
from cohortflow.errors import ConfigError
from cohortflow.sandbox import SandboxHandle, SandboxKeys, start_sandbox
from tests.support.dispatch import ALWAYS, indian_numbers, write_cohort
from tests.support.providers import NEXUS_USER, PROVIDERS

KEY = "checks-key"
ENV = "COHORTFLOW_PROVIDER_CHECKED_KEY"
CONNECTIONS = [{"connection_id": "c1", "phone_numbers": ["caller-1"]}]


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with start_sandbox(keys=SandboxKeys(KEY, "app-1")) as handle:
        yield handle


def _campaign(folder: Path, kind: str, url: str, **settings: Any) -> Path:
    provider = {**PROVIDERS[kind], "base_url": url, "conn_id": "checked",
                **settings.pop("provider", {})}
    data = {"name": "loans", "status": "active", "allowed_schedule": ALWAYS,
            "connection_configs": CONNECTIONS, "provider": provider, **settings}
    path = folder / "loans.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _refused(tmp_path: Path, sandbox: SandboxHandle, path: Path,
             variables: dict[str, list[str]] | None = None) -> str:
    """Dispatch the campaign at ``path``; the error it stopped with, once it is known that
    no request reached the provider and no batch was written."""
    write_cohort(tmp_path, "loans", "c1", indian_numbers(3), variables=variables)
    with pytest.raises(ConfigError) as error:
        run_dispatch(load_campaign(path), tmp_path)
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
    assert stats["counts"].get("requests", 0) == 0, "a request was made"
    assert Outbox(tmp_path, "loans").batches() == [], "a batch was planned"
    return error.value.message


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)
    monkeypatch.setenv("COHORTFLOW_PROVIDER_CHECKED_APP_ID", "app-1")


def test_missing_credentials_name_the_connection_and_variable(
    tmp_path: Path, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV)
    path = _campaign(tmp_path, "sarvam", sandbox.url)
    message = _refused(tmp_path, sandbox, path)
    assert message.startswith(f"{path}: provider.conn_id: no credentials for the sarvam provider")
    assert ENV in message and "connection 'checked'" in message


def test_a_nexus_user_id_that_is_not_24_hex_characters(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    path = _campaign(tmp_path, "nexus", sandbox.url, provider={"user_id": "64e5f1234"})
    message = _refused(tmp_path, sandbox, path)
    assert message == (f"{path}: provider.user_id: '64e5f1234' is not a Nexus user id "
                       "(24 hexadecimal characters, e.g. 64e5f12345abcdef12345678); copy it "
                       "from Nexus")


def test_nexus_without_calling_numbers(tmp_path: Path, sandbox: SandboxHandle) -> None:
    path = _campaign(tmp_path, "nexus", sandbox.url, connection_configs=[])
    message = _refused(tmp_path, sandbox, path)
    assert message.startswith(f"{path}: connection_configs: Nexus needs at least one calling "
                              "number (callingNumbers)")
    assert NEXUS_USER not in message


def test_cometchat_column_names_outside_its_charset(tmp_path: Path, sandbox: SandboxHandle) -> None:
    path = _campaign(tmp_path, "cometchat", sandbox.url)
    message = _refused(tmp_path, sandbox, path, variables={"first name": ["A", "B", "C"]})
    assert message == (f"{path}: mapping.app_variables: CometChat column names may hold only "
                       "letters, digits, '_' and '-' and may not be 'user_id': 'first name'; "
                       "rename the variables in the mapping")


def test_cometchat_without_an_app_id(
    tmp_path: Path, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COHORTFLOW_PROVIDER_CHECKED_APP_ID")
    path = _campaign(tmp_path, "cometchat", sandbox.url)
    message = _refused(tmp_path, sandbox, path)
    assert message.startswith(f"{path}: provider.conn_id: CometChat needs an App ID besides the "
                              "API key")
    assert KEY not in message


def test_a_messaging_layout_without_channel_type_is_a_config_error(tmp_path: Path) -> None:
    layout = {"contact": {"contactCode": "{{contactCode}}"}}
    path = _campaign(tmp_path, "messaging_csv", "http://127.0.0.1:9", layout=layout)
    with pytest.raises(ConfigError) as error:
        load_campaign(path)
    assert error.value.message == (
        f"{path}: layout.contact.channelType: is required by the messaging platform; give a "
        "channel (e.g. cloud_api) or a {{placeholder}}")


def test_a_messaging_layout_placeholder_with_a_filter_is_a_config_error(tmp_path: Path) -> None:
    layout = {"contact": {"contactCode": "{{phone}}", "channelType": "cloud_api"},
              "customFields": {"name": "{{ name | upper }}"}}
    path = _campaign(tmp_path, "messaging_csv", "http://127.0.0.1:9", layout=layout)
    with pytest.raises(ConfigError) as error:
        load_campaign(path)
    assert error.value.message.startswith(
        f"{path}: layout.customFields.name: placeholder '{{{{ name | upper }}}}' is not a plain "
        "variable name")


def test_a_cometchat_schedule_outside_allowed_hours_is_refused(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    hours = {"allowed_start_time": "09:00", "allowed_end_time": "18:00",
             "timezone": "Asia/Kolkata"}
    path = _campaign(tmp_path, "cometchat", sandbox.url, allowed_schedule=hours,
                     schedule_at="2030-01-07T22:00:00+05:30")
    message = _refused(tmp_path, sandbox, path)
    assert message == (f"{path}: schedule_at: the provider delivers everyone at schedule_at, "
                       "which is outside allowed_schedule; choose a time inside the allowed hours")


def test_every_problem_is_listed_at_once(tmp_path: Path, sandbox: SandboxHandle) -> None:
    path = _campaign(tmp_path, "nexus", sandbox.url, provider={"user_id": "x"},
                     connection_configs=[])
    message = _refused(tmp_path, sandbox, path)
    assert [line.split(": ")[1] for line in message.splitlines()] == [
        "provider.user_id", "connection_configs"]


def test_validate_checks_a_campaign_without_a_file_and_sends_nothing(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    path = _campaign(tmp_path, "nexus", sandbox.url, provider={"user_id": "x"})
    cli = str(Path(sys.executable).with_name("cohortflow"))
    refused = subprocess.run([cli, "validate", "--campaign", str(path)], capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2
    assert f"{path}: provider.user_id: 'x' is not a Nexus user id" in refused.stderr
    ok = _campaign(tmp_path, "nexus", sandbox.url)
    passed = subprocess.run([cli, "validate", "--campaign", str(ok)], capture_output=True,
                            text=True, timeout=120)
    assert passed.returncode == 0, passed.stderr
    assert "pass every check made before sending" in passed.stdout
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
    assert stats["counts"].get("requests", 0) == 0


def test_a_campaign_that_passes_is_sent(tmp_path: Path, sandbox: SandboxHandle) -> None:
    write_cohort(tmp_path, "loans", "c1", indian_numbers(3))
    report = run_dispatch(load_campaign(_campaign(tmp_path, "nexus", sandbox.url)), tmp_path)
    assert report.count("submitted") == 3
