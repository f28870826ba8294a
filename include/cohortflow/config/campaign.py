"""Campaign settings: validation, schedule, pacing, callers, retries, webhooks, provider."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import isodate
import phonenumbers
from pydantic import Field, PrivateAttr, field_validator, model_validator

from cohortflow.config.base import StrictModel
from cohortflow.config.mapping import Mapping
from cohortflow.config.providers import ProviderConfig

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9 _-]{1,50}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
#: A messaging layout placeholder as the platform's page writes it: ``{{variable}}``.
PLAIN_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_-]+)\s*\}\}")
_ANY_TEMPLATE_MARK = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|\{\{|\}\}|\{%|%\}", re.S)

CampaignStatus = Literal["scheduled", "active", "paused", "ended", "cancelled"]


class VariableSpec(StrictModel):
    """A variable the campaign's agent or template declares."""

    required: bool = False
    description: str | None = None


class AllowedSchedule(StrictModel):
    """When recipients may be contacted: daily hours on allowed days, in one IANA timezone."""

    allowed_start_time: str = "00:00"
    allowed_end_time: str = "00:00"
    allowed_days: list[str] = Field(default_factory=lambda: list(WEEKDAYS))
    timezone: str = "Asia/Kolkata"

    @field_validator("allowed_start_time", "allowed_end_time")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"expected HH:MM (24-hour), got {value!r}")
        return value

    @field_validator("allowed_days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        names = {d.lower(): d for d in WEEKDAYS}
        days = []
        for day in value:
            if day.strip().lower() not in names:
                raise ValueError(f"unknown day {day!r}; use day names such as Monday")
            days.append(names[day.strip().lower()])
        if not days:
            raise ValueError("at least one allowed day is needed")
        return list(dict.fromkeys(days))

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's timezone."""
        return ZoneInfo(self.timezone)

    @property
    def start(self) -> dt.time:
        """Daily opening time."""
        return dt.time.fromisoformat(self.allowed_start_time)

    @property
    def end(self) -> dt.time:
        """Daily closing time (before the start when the window crosses midnight)."""
        return dt.time.fromisoformat(self.allowed_end_time)

    @property
    def weekdays(self) -> frozenset[int]:
        """Allowed days as ``datetime.weekday()`` numbers (Monday = 0)."""
        return frozenset(WEEKDAYS.index(d) for d in self.allowed_days)


class ConnectionConfig(StrictModel):
    """A telephony connection and its caller IDs, chosen in proportion to ``weight``."""

    connection_id: str
    phone_numbers: list[str] = Field(min_length=1)
    weight: int = Field(default=1, ge=1)


class RetryToggle(StrictModel):
    """Retry an outcome, or not."""

    enabled: bool = False


class ShortDurationRetry(StrictModel):
    """Retry calls that completed but lasted less than ``threshold_seconds``."""

    enabled: bool = False
    threshold_seconds: int = Field(default=10, ge=0)


class ErrorRetry(StrictModel):
    """Retry provider or internal errors with their own budget and interval."""

    enabled: bool = False
    max_retries: int = Field(default=3, ge=0)
    retry_interval_minutes: int = Field(default=5, ge=0)


class RetryOn(StrictModel):
    """Which outcomes are retried (Sarvam's ``retry_on``)."""

    busy: RetryToggle = Field(default_factory=RetryToggle)
    failed: RetryToggle = Field(default_factory=RetryToggle)
    no_answer: RetryToggle = Field(default_factory=RetryToggle)
    short_duration: ShortDurationRetry = Field(default_factory=ShortDurationRetry)
    provider_error: ErrorRetry = Field(default_factory=ErrorRetry)
    internal_error: ErrorRetry = Field(default_factory=ErrorRetry)


class RetryConfig(StrictModel):
    """Sarvam's ``retry_config``: a retry budget and the wait before each retry."""

    max_retries: int = Field(default=0, ge=0, le=10)
    retry_interval_minutes: list[int] = Field(default_factory=list)
    retry_on: RetryOn = Field(default_factory=RetryOn)

    @field_validator("retry_interval_minutes")
    @classmethod
    def _non_negative(cls, value: list[int]) -> list[int]:
        if any(v < 0 for v in value):
            raise ValueError("intervals must be zero or more minutes")
        return value

    def interval_for(self, retry_number: int) -> dt.timedelta:
        """Wait before retry ``retry_number`` (1-based); the last interval repeats."""
        if not self.retry_interval_minutes:
            return dt.timedelta(minutes=30)
        index = min(retry_number, len(self.retry_interval_minutes)) - 1
        return dt.timedelta(minutes=self.retry_interval_minutes[max(index, 0)])


class WebhookConfig(StrictModel):
    """Where cohort, batch and campaign events are POSTed, with metadata echoed back."""

    url: str
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value




class CampaignConfig(StrictModel):
    """A campaign: how its cohorts are validated and when and how recipients are contacted."""

    campaign_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str
    description: str | None = Field(default=None, max_length=150)
    status: CampaignStatus = "active"
    default_region: str = "IN"
    variables: dict[str, VariableSpec] = Field(default_factory=dict)
    mapping: Mapping | None = None
    template: str | None = None
    layout: dict[str, Any] | None = None
    dnc: Path | None = Field(default=None, description="CSV of numbers never to contact.")

    app_type: Literal["agent", "workflow"] = "agent"
    app_id: str | None = None
    app_version: int | None = None
    allowed_schedule: AllowedSchedule = Field(default_factory=AllowedSchedule)
    end_timestamp: dt.datetime | None = None
    schedule_at: dt.datetime | None = None
    delay: str | None = None
    recipient_local_time: bool = False
    attempts_per_second: Decimal = Field(default=Decimal(10), gt=0)
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    connection_configs: list[ConnectionConfig] = Field(default_factory=list)
    retry_config: RetryConfig = Field(default_factory=RetryConfig)
    webhook_config: WebhookConfig | None = None
    provider: ProviderConfig | None = None
    _source: str | None = PrivateAttr(default=None)

    @property
    def keyed_by_user(self) -> bool:
        """Whether the campaign's recipients are users (CometChat): cohorts are keyed and
        de-duplicated by ``user_identifier``, and the phone is optional."""
        return self.provider is not None and self.provider.kind == "cometchat"

    @property
    def source(self) -> str:
        """The file the campaign was loaded from, for messages (``campaign '<id>'`` when it
        was built in code)."""
        return self._source or f"campaign {self.campaign_id!r}"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_PATTERN.match(value):
            raise ValueError("at most 50 characters: letters, digits, hyphen, underscore and space")
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r}; use an ISO code such as IN or US")
        return region

    @field_validator("variables", mode="before")
    @classmethod
    def _variables_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {name: {} for name in value}
        return {k: (v or {}) for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("end_timestamp", "schedule_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a timezone offset, e.g. 2026-01-31T18:00:00+05:30 or ...Z")
        return value

    @field_validator("delay")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = isodate.parse_duration(value)
        except (isodate.ISO8601Error, ValueError):
            raise ValueError(
                f"expected an ISO-8601 duration such as PT15M or P3D, got {value!r}"
            ) from None
        if isinstance(parsed, dt.timedelta) and parsed < dt.timedelta(0):
            raise ValueError("a delay cannot be negative")
        return value

    @field_validator("layout")
    @classmethod
    def _layout(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        contact = value.get("contact")
        if not isinstance(contact, dict) or "contactCode" not in contact:
            raise ValueError("a layout needs contact.contactCode (and usually contact.channelType)")
        return value

    @model_validator(mode="after")
    def _schedule(self) -> CampaignConfig:
        if self.schedule_at is not None and self.delay is not None:
            raise ValueError("give either 'schedule_at' or 'delay', not both")
        return self

    @model_validator(mode="after")
    def _messaging_layout(self) -> CampaignConfig:
        """The messaging platform substitutes the layout itself: its two required contact
        fields must be there, and every placeholder must be a plain ``{{variable}}``."""
        if self.layout is None or self.provider is None or self.provider.kind != "messaging_csv":
            return self
        contact = self.layout["contact"]
        for name in ("contactCode", "channelType"):
            if not str(contact.get(name) or "").strip():
                raise ValueError(f"layout.contact.{name}: is required by the messaging "
                                 "platform; give a channel (e.g. cloud_api) or a {{placeholder}}"
                                 if name == "channelType" else
                                 f"layout.contact.{name}: is required by the messaging platform")
        if not PLAIN_PLACEHOLDER.fullmatch(str(contact["contactCode"]).strip()):
            raise ValueError("layout.contact.contactCode: must be a {{placeholder}} for the "
                             f"phone column, got {contact['contactCode']!r}")
        for where, text in _string_leaves(self.layout, "layout"):
            for mark in _ANY_TEMPLATE_MARK.finditer(text):
                if not PLAIN_PLACEHOLDER.fullmatch(mark.group()):
                    raise ValueError(
                        f"{where}: placeholder {mark.group()!r} is not a plain variable name; "
                        "the messaging platform substitutes only {{variable}} (letters, "
                        "digits, '_', '-'); format the column in the mapping instead")
        return self

    def delay_duration(self) -> dt.timedelta | None:
        """``delay`` as a timedelta (months and years counted from now)."""
        if self.delay is None:
            return None
        parsed = isodate.parse_duration(self.delay)
        if isinstance(parsed, dt.timedelta):
            return parsed
        now = dt.datetime.now(dt.UTC)
        return (now + parsed) - now

    def settings_fingerprint(self) -> str:
        """A stable hash of every setting except ``status``; used to refuse live edits."""
        data = self.model_dump(mode="json", exclude={"status"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _string_leaves(node: Any, where: str) -> list[tuple[str, str]]:
    """Every string inside a JSON value, with its dotted location."""
    if isinstance(node, str):
        return [(where, node)]
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _string_leaves(v, f"{where}.{k}")]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _string_leaves(v, f"{where}[{i}]")]
    return []


def default_campaign(campaign_id: str) -> CampaignConfig:
    """The settings used for a landing folder that has no campaign config."""
    return CampaignConfig(campaign_id=campaign_id, name=safe_name(campaign_id))


def safe_name(text: str) -> str:
    """``text`` as a campaign name Sarvam accepts (letters, digits, space, ``_``, ``-``)."""
    cleaned = re.sub(r"[^A-Za-z0-9 _-]", "_", text)[:50]
    return cleaned or "campaign"

