"""Which adapter serves which provider ``kind``, and building one for a campaign."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import requests

from cohortflow.config import CampaignConfig
from cohortflow.errors import ProviderError
from cohortflow.providers.adapter import ProviderAdapter
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
