"""Which adapter serves which provider kind, the checks made before anything is sent
(``campaign_problems`` / ``check_sendable``), and where credentials come from."""

from __future__ import annotations

import json

import pytest

from cohortflow.config import CampaignConfig
from cohortflow.errors import ConfigError, ProviderError
from cohortflow.providers import (
    adapter_for,
    campaign_problems,
    campaign_recipient_limit,
    check_sendable,
    schedules_delivery,
)
from cohortflow.providers.base import Credentials
from cohortflow.providers.cometchat import CometChatAdapter
from cohortflow.providers.credentials import resolve_credentials
from cohortflow.providers.http_json import HttpJsonAdapter
from cohortflow.providers.messaging_csv import MessagingCsvAdapter
from cohortflow.providers.nexus import NexusAdapter
from cohortflow.providers.sarvam import SarvamAdapter
from tests.support.providers import (
    CREDENTIALS,
    PROVIDERS,
    SECRET,
    campaign_for,
    make_batch,
    provider_of,
)

CALLERS = [{"connection_id": "c1", "phone_numbers": ["64e5f12345abcdef87654321"]}]


@pytest.mark.parametrize(
    ("kind", "adapter_class"),
    [
        ("sarvam", SarvamAdapter),
        ("cometchat", CometChatAdapter),
        ("messaging_csv", MessagingCsvAdapter),
        ("nexus", NexusAdapter),
        ("http_json", HttpJsonAdapter),
    ],
)
def test_adapter_for_picks_the_adapter_of_the_provider_kind(kind: str, adapter_class: type) -> None:
    adapter = adapter_for(campaign_for(kind), CREDENTIALS)
    assert type(adapter) is adapter_class
    assert adapter.policy.max_attempts == 6 and adapter.policy.timeout_seconds == 30.0


def test_adapter_for_without_provider_names_the_campaign() -> None:
    with pytest.raises(ProviderError, match="'loans' has no 'provider'"):
        adapter_for(CampaignConfig(campaign_id="loans", name="loans"))


def test_adapter_for_resolves_credentials_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTFLOW_PROVIDER_HTTP_JSON_KEY", SECRET)
    adapter = adapter_for(campaign_for("http_json"))
    assert adapter.credentials.secret == SECRET
    assert adapter.credentials.source == "env COHORTFLOW_PROVIDER_HTTP_JSON_KEY"


@pytest.mark.parametrize("kind", sorted(PROVIDERS))
def test_every_adapter_refuses_an_empty_batch(kind: str) -> None:
    adapter = adapter_for(campaign_for(kind, connection_configs=CALLERS), CREDENTIALS)
    with pytest.raises(ProviderError, match="has no recipients") as info:
        adapter.build_requests(make_batch(()))
    assert info.value.code == "provider_data"


def test_delivery_step_and_recipient_limit_by_kind() -> None:
    for kind in PROVIDERS:
        campaign = campaign_for(kind)
        assert schedules_delivery(campaign) is (kind == "cometchat")
        assert campaign_recipient_limit(campaign) == (100_000 if kind == "cometchat" else None)
    bare = CampaignConfig(campaign_id="loans", name="loans")
    assert not schedules_delivery(bare) and campaign_recipient_limit(bare) is None


def test_campaign_problems_without_a_provider() -> None:
    [problem] = campaign_problems(CampaignConfig(campaign_id="loans", name="loans"))
    assert problem.field == "provider" and "add a 'provider' section" in problem.message


def test_campaign_problems_without_credentials_name_where_to_set_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COHORTFLOW_PROVIDER_SARVAM_KEY", raising=False)
    [problem] = campaign_problems(campaign_for("sarvam"))
    assert problem.field == "provider"
    assert "COHORTFLOW_PROVIDER_SARVAM_KEY" in problem.message


def test_campaign_problems_include_the_adapters_own() -> None:
    campaign = campaign_for("cometchat", variables=["name"])
    problems = campaign_problems(campaign, ["name", "coupon"], Credentials(SECRET, "app"))
    assert [p.field for p in problems] == ["variables"]
    assert campaign_problems(campaign, ["name"], Credentials(SECRET, "app")) == []


def test_check_sendable_lists_every_problem_one_line_each() -> None:
    campaign = campaign_for("nexus", provider={"user_id": "someone"})
    with pytest.raises(ConfigError) as info:
        check_sendable(campaign, credentials=CREDENTIALS)
    lines = str(info.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["provider.user_id", "connection_configs"]
    assert all(line.startswith("campaign 'loans': ") for line in lines)
    assert info.value.code == "provider_config"
    check_sendable(campaign_for("nexus", connection_configs=CALLERS), credentials=CREDENTIALS)


def test_credentials_from_environment_by_conn_id() -> None:
    provider = campaign_for("cometchat", provider={"conn_id": "comet-chat.prod"}).provider
    assert provider is not None
    environ = {
        "COHORTFLOW_PROVIDER_COMET_CHAT_PROD_KEY": SECRET,
        "COHORTFLOW_PROVIDER_COMET_CHAT_PROD_APP_ID": "app-1",
    }
    credentials = resolve_credentials(provider, environ=environ, lookup=lambda _: None)
    assert (credentials.secret, credentials.app_id) == (SECRET, "app-1")
    assert credentials.source == "env COHORTFLOW_PROVIDER_COMET_CHAT_PROD_KEY"
    assert SECRET not in repr(credentials)


def test_credentials_from_environment_by_kind_without_conn_id() -> None:
    provider = provider_of("messaging_csv")
    environ = {"COHORTFLOW_PROVIDER_MESSAGING_CSV_KEY": SECRET}
    assert resolve_credentials(provider, environ=environ).secret == SECRET


def test_credentials_from_the_airflow_connection() -> None:
    provider = campaign_for("sarvam", provider={"conn_id": "sarvam_default"}).provider
    assert provider is not None
    credentials = resolve_credentials(
        provider,
        environ={},
        lookup=lambda conn_id: (SECRET, "app") if conn_id == "sarvam_default" else None,
    )
    assert credentials.secret == SECRET and credentials.source == "connection 'sarvam_default'"


def test_missing_credentials_name_the_connection_and_variable() -> None:
    provider = campaign_for("sarvam", provider={"conn_id": "sarvam_default"}).provider
    assert provider is not None
    with pytest.raises(ProviderError) as info:
        resolve_credentials(provider, environ={}, lookup=lambda _: None)
    assert "'sarvam_default'" in str(info.value)
    assert "COHORTFLOW_PROVIDER_SARVAM_DEFAULT_KEY" in str(info.value)
    assert info.value.code == "provider_credentials"


@pytest.mark.airflow
def test_credentials_read_a_real_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEXUS_T",
        json.dumps({"conn_type": "http", "password": SECRET, "extra": {"app_id": "a-9"}}),
    )
    provider = campaign_for("nexus", provider={"conn_id": "nexus_t"}).provider
    assert provider is not None
    credentials = resolve_credentials(provider, environ={})
    assert (credentials.secret, credentials.app_id) == (SECRET, "a-9")
    assert credentials.source == "connection 'nexus_t'"
