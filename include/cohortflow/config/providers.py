"""Provider settings: one model per provider page, chosen by ``kind``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from cohortflow.config.base import StrictModel


class ProviderSettings(StrictModel):
    """What every provider has: where it is, where its credentials are, how patiently to send."""

    base_url: str
    conn_id: str | None = Field(
        default=None,
        description="Airflow connection holding the credentials; the CLI reads "
        "COHORTFLOW_PROVIDER_<CONN_ID>_KEY (and _APP_ID where needed) instead.",
    )
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=6, ge=1, le=20)

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/")


class SarvamProvider(ProviderSettings):
    """Sarvam scheduling API: cohort upload per batch."""

    kind: Literal["sarvam"]
    org_id: str
    workspace_id: str
    campaign_id: str


class CometChatProvider(ProviderSettings):
    """CometChat campaigns: create (unless ``campaign_id`` names one), upload, send.

    The page gives only the upload's path; the create and send paths are settings
    (``{campaign_id}`` is replaced by the campaign's id).
    """

    kind: Literal["cometchat"]
    campaign_id: str | None = Field(
        default=None, description="An existing CometChat campaign; without one, cohortflow "
        "creates a campaign from template_id on the first dispatch and keeps its id.")
    template_id: str | None = Field(
        default=None, description="The approved template a created campaign is linked to.")
    create_path: str = "/api/campaigns"
    upload_path: str = "/api/campaigns/upload"
    send_path: str = "/api/campaigns/{campaign_id}/send"

    @field_validator("create_path", "upload_path", "send_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"a path starts with '/', got {value!r}")
        return value

    @field_validator("send_path")
    @classmethod
    def _send_names_campaign(cls, value: str) -> str:
        if "{campaign_id}" not in value:
            raise ValueError("the send path must hold {campaign_id}")
        return value

    @model_validator(mode="after")
    def _campaign_or_template(self) -> CometChatProvider:
        if not self.campaign_id and not self.template_id:
            raise ValueError("give campaign_id (an existing CometChat campaign) or template_id "
                             "(cohortflow creates the campaign)")
        return self


class MessagingCsvProvider(ProviderSettings):
    """A messaging platform's "send campaign from CSV" endpoint with a JSON layout."""

    kind: Literal["messaging_csv"]
    app_id: int
    campaign_id: int
    slicing_condition: Literal[
        "fragmentedSlots", "immediateConsecutiveSlots", "deferredConsecutiveSlots"
    ] = "fragmentedSlots"


class NexusProvider(ProviderSettings):
    """Nexus calls: CSV upload creating a batch of outbound calls."""

    kind: Literal["nexus"]
    user_id: str
    batch_type: Literal["outbound", "mixed"] = "outbound"
    enable_dnc: bool = True
    retry: int | None = Field(default=None, ge=0)
    delay: int | None = Field(default=None, ge=0)


class HttpJsonProvider(ProviderSettings):
    """Any other provider: a JSON batch POST to ``base_url`` + ``path``."""

    kind: Literal["http_json"]
    path: str = "/batches"
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    deduplicates: bool = Field(
        default=False,
        description="Whether the provider drops a request whose Idempotency-Key it has seen; "
        "only then is a batch with an unknown outcome sent again.",
    )


ProviderConfig = Annotated[
    SarvamProvider | CometChatProvider | MessagingCsvProvider | NexusProvider | HttpJsonProvider,
    Field(discriminator="kind"),
]
