"""Which adapter serves which provider ``kind``: building one for a campaign, and checking a
campaign's provider settings before anything is sent."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import requests

from cohortflow.config import CampaignConfig
from cohortflow.errors import ConfigError, ProviderError
from cohortflow.providers.adapter import Problem, ProviderAdapter
from cohortflow.providers.base import Credentials
from cohortflow.providers.cometchat import CometChatAdapter
from cohortflow.providers.credentials import resolve_credentials
from cohortflow.providers.http import RetryPolicy
from cohortflow.providers.http_json import HttpJsonAdapter
from cohortflow.providers.messaging_csv import MessagingCsvAdapter
from cohortflow.providers.nexus import NexusAdapter
from cohortflow.providers.sarvam import SarvamAdapter

#: Adapter class per provider ``kind``.
ADAPTERS: dict[str, type[ProviderAdapter[Any]]] = {
    cls.kind: cls
    for cls in (SarvamAdapter, CometChatAdapter, MessagingCsvAdapter, NexusAdapter, HttpJsonAdapter)
}


def adapter_for(
    campaign: CampaignConfig,
    credentials: Credentials | None = None,
    session: requests.Session | None = None,
    *,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> ProviderAdapter[Any]:
    """The adapter for ``campaign.provider``; credentials are resolved when not given.

    ``policy`` sets the backoff (attempts and timeout come from the provider config);
    ``sleep`` and ``rng`` are injectable for tests.
    """
    provider = campaign.provider
    if provider is None:
        raise ProviderError(
            f"campaign {campaign.campaign_id!r} has no 'provider' configured",
            code="provider_config",
        )
    adapter_class = ADAPTERS[provider.kind]
    return adapter_class(
        campaign,
        provider,
        credentials or resolve_credentials(provider),
        session=session,
        policy=policy,
        sleep=sleep,
        rng=rng,
    )


def schedules_delivery(campaign: CampaignConfig) -> bool:
    """Whether the campaign's provider delivers only at a later send step that carries the
    schedule (its uploads need not wait for ``schedule_at``)."""
    provider = campaign.provider
    return provider is not None and ADAPTERS[provider.kind].schedules_delivery


def provider_retries(campaign: CampaignConfig) -> bool:
    """Whether the campaign's provider retries calls per ``retry_config`` itself (Sarvam)."""
    provider = campaign.provider
    return provider is not None and ADAPTERS[provider.kind].retries_calls


def campaign_recipient_limit(campaign: CampaignConfig) -> int | None:
    """The most recipients one campaign of the provider takes, when its page sets a limit."""
    provider = campaign.provider
    return None if provider is None else ADAPTERS[provider.kind].max_campaign_recipients


def campaign_problems(
    campaign: CampaignConfig,
    variables: Sequence[str] = (),
    credentials: Credentials | None = None,
) -> list[Problem]:
    """Everything that would make the campaign's provider refuse its batches, found without a
    request: no provider, no credentials, and the adapter's own checks."""
    provider = campaign.provider
    if provider is None:
        return [Problem("provider", "no provider is configured; add a 'provider' section "
                                    "(kind, base_url, conn_id, ...)")]
    found = []
    if credentials is None:
        try:
            credentials = resolve_credentials(provider)
        except ProviderError as exc:
            found.append(Problem("provider.conn_id" if provider.conn_id else "provider",
                                 exc.message))
            credentials = Credentials("", source=f"the {provider.kind} provider")
    adapter = ADAPTERS[provider.kind](campaign, provider, credentials)
    return found + adapter.problems(variables)


def check_sendable(
    campaign: CampaignConfig,
    variables: Sequence[str] = (),
    credentials: Credentials | None = None,
) -> None:
    """Raise :class:`ConfigError` listing every problem of :func:`campaign_problems`, one line
    each: ``<file>: <field>: <what is wrong and what to do>``."""
    problems = campaign_problems(campaign, variables, credentials)
    if problems:
        raise ConfigError(
            "\n".join(f"{campaign.source}: {p.field}: {p.message}" for p in problems),
            code="provider_config",
        )
