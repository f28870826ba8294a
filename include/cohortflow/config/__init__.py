"""Configuration models (mapping, campaign, provider) and the loaders that validate them.

Every config file is validated here, once; errors name the file and the field.
"""

from cohortflow.config.campaign import (
    PLAIN_PLACEHOLDER,
    WEEKDAYS,
    AllowedSchedule,
    CampaignConfig,
    CampaignStatus,
    ConnectionConfig,
    RetryConfig,
    WebhookConfig,
    default_campaign,
)
from cohortflow.config.loading import (
    campaign_by_id,
    find_campaign,
    format_validation_error,
    load_campaign,
    load_campaigns,
    load_mapping,
    parse_mapping,
)
from cohortflow.config.mapping import (
    ALLOWED_OVERRIDES,
    IDENTIFIER_HEADERS,
    PHONE_HEADERS,
    RESERVED_FIELDS,
    FieldMapping,
    Mapping,
    infer_mapping,
)
from cohortflow.config.providers import (
    CometChatProvider,
    HttpJsonProvider,
    MessagingCsvProvider,
    NexusProvider,
    ProviderConfig,
    SarvamProvider,
)

__all__ = [
    "ALLOWED_OVERRIDES",
    "IDENTIFIER_HEADERS",
    "PHONE_HEADERS",
    "PLAIN_PLACEHOLDER",
    "RESERVED_FIELDS",
    "WEEKDAYS",
    "AllowedSchedule",
    "CampaignConfig",
    "CampaignStatus",
    "CometChatProvider",
    "ConnectionConfig",
    "FieldMapping",
    "HttpJsonProvider",
    "Mapping",
    "MessagingCsvProvider",
    "NexusProvider",
    "ProviderConfig",
    "RetryConfig",
    "SarvamProvider",
    "WebhookConfig",
    "campaign_by_id",
    "default_campaign",
    "find_campaign",
    "format_validation_error",
    "infer_mapping",
    "load_campaign",
    "load_campaigns",
    "load_mapping",
    "parse_mapping",
]
