"""Configuration models: the mapping (Sarvam transformation config) and the campaign settings.

Every check of a configuration file happens here, once, at the edge. The rest of the code
receives these models, never dicts. Errors name the file and the field, e.g.
``include/campaigns/loans.yaml: allowed_schedule.timezone: unknown timezone 'Asia/Kolkatta'``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import isodate
import phonenumbers
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cohortflow.errors import ConfigError

#: The only keys Sarvam accepts under ``app_overrides``.
ALLOWED_OVERRIDES = ("initial_bot_message", "initial_state_name", "initial_language_name")

#: Header names recognised as the phone column when a mapping is inferred, in priority order.
PHONE_HEADERS = ("phone_number", "phoneNumber", "phone", "mobile", "msisdn", "contactCode")
#: Header names recognised as the user identifier when a mapping is inferred.
IDENTIFIER_HEADERS = ("user_id", "customer_id")
#: Columns every recipient already has; a variable or override of that name would clash.
RESERVED_FIELDS = ("row_number", "phone_number", "region", "user_identifier", "message", "payload")

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9 _-]{1,50}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_SCHEDULE_AHEAD = dt.timedelta(days=92)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- mapping


class FieldMapping(_Strict):
    """Where one output field comes from: a column, or a fixed value; optionally formatted."""

    column_name: str | None = None
    value: str | None = None
    required: bool = False
    format: str | None = Field(
        default=None, description="Name of a formatting macro in sql/macros (e.g. title_case)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> FieldMapping:
        if (self.column_name is None) == (self.value is None):
            raise ValueError("give exactly one of 'column_name' or 'value'")
        if self.column_name is not None and not self.column_name.strip():
            raise ValueError("'column_name' is empty")
        if self.format is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.format):
            raise ValueError(f"'format' must be a macro name, got {self.format!r}")
        return self


class Mapping(_Strict):
    """Sarvam's transformation config, with cohortflow's extensions (required, format, value)."""

    phone_number: FieldMapping
    user_identifier: FieldMapping | None = None
    app_variables: dict[str, FieldMapping] = Field(default_factory=dict)
    app_overrides: dict[str, FieldMapping] = Field(default_factory=dict)
    inferred: bool = Field(default=False, exclude=True)

    @field_validator("phone_number")
    @classmethod
    def _phone_from_column(cls, value: FieldMapping) -> FieldMapping:
        if value.column_name is None:
            raise ValueError("the phone number must come from a column ('column_name')")
        return value

    @field_validator("app_variables")
    @classmethod
    def _unreserved_variables(cls, value: dict[str, FieldMapping]) -> dict[str, FieldMapping]:
        reserved = [name for name in value if name in RESERVED_FIELDS]
        if reserved:
            raise ValueError(
                f"{', '.join(map(repr, reserved))} is a recipient column cohortflow sets itself "
                f"({', '.join(RESERVED_FIELDS)}); give the variable another name"
            )
        return value

    @field_validator("app_overrides")
    @classmethod
    def _known_overrides(cls, value: dict[str, FieldMapping]) -> dict[str, FieldMapping]:
        unknown = sorted(set(value) - set(ALLOWED_OVERRIDES))
        if unknown:
            raise ValueError(
                f"unknown key(s) {', '.join(map(repr, unknown))}; "
                f"allowed keys are {', '.join(ALLOWED_OVERRIDES)}"
            )
        return value

    def output_fields(self) -> dict[str, FieldMapping]:
        """Every mapped output field except the phone: identifier, variables, overrides."""
        fields: dict[str, FieldMapping] = {}
        if self.user_identifier is not None:
            fields["user_identifier"] = self.user_identifier
        fields.update(self.app_variables)
        fields.update(self.app_overrides)
        return fields

    def referenced_columns(self) -> list[str]:
        """Columns the mapping reads, in mapping order, without repeats."""
        columns = [self.phone_number.column_name or ""]
        columns += [f.column_name for f in self.output_fields().values() if f.column_name]
        return list(dict.fromkeys(columns))

    def to_json(self) -> dict[str, Any]:
        """The mapping as Sarvam's JSON (with extensions), as recorded in summaries."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


def infer_mapping(headers: list[str], declared: set[str] | None = None) -> Mapping:
    """Infer a mapping from headers: known phone and identifier names, the rest as variables.

    Headers named like an allowed override become overrides. Headers named like a column
    cohortflow sets itself (:data:`RESERVED_FIELDS`, e.g. ``region``) are not mapped; they stay
    in the rejected rows' original columns. When the campaign declares
    variables, only headers that are declared variables are mapped (others are ignored), so an
    inferred mapping never trips the "undeclared variable" rule.
    """
    from cohortflow.errors import CohortError

    phone = next((h for name in PHONE_HEADERS for h in headers if h == name), None)
    if phone is None:
        lowered = {h.strip().lower(): h for h in headers}
        phone = next((lowered[n.lower()] for n in PHONE_HEADERS if n.lower() in lowered), None)
    if phone is None:
        raise CohortError(
            "no mapping was given and no phone column could be recognised; expected one of "
            f"{', '.join(PHONE_HEADERS)}; headers are: {', '.join(headers)}. "
            "Add a <name>.mapping.json beside the file or a mapping to the campaign config.",
            code="missing_column",
        )
    identifier = next((h for name in IDENTIFIER_HEADERS for h in headers if h == name), None)
    rest = [h for h in headers if h not in (phone, identifier)]
    overrides = {h: FieldMapping(column_name=h) for h in rest if h in ALLOWED_OVERRIDES}
    variables = {
        h: FieldMapping(column_name=h)
        for h in rest
        if h not in overrides and h not in RESERVED_FIELDS
        and (declared is None or h in declared)
    }
    return Mapping(
        phone_number=FieldMapping(column_name=phone),
        user_identifier=FieldMapping(column_name=identifier) if identifier else None,
        app_variables=variables,
        app_overrides=overrides,
        inferred=True,
    )


# --------------------------------------------------------------------------- campaign


class VariableSpec(_Strict):
    """A variable the campaign's agent or template declares."""

    required: bool = False
    description: str | None = None


class AllowedSchedule(_Strict):
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


class ConnectionConfig(_Strict):
    """A telephony connection and its caller IDs, chosen in proportion to ``weight``."""

    connection_id: str
    phone_numbers: list[str] = Field(min_length=1)
    weight: int = Field(default=1, ge=1)


class RetryToggle(_Strict):
    """Retry an outcome, or not."""

    enabled: bool = False


class ShortDurationRetry(_Strict):
    """Retry calls that completed but lasted less than ``threshold_seconds``."""

    enabled: bool = False
    threshold_seconds: int = Field(default=10, ge=0)


class ErrorRetry(_Strict):
    """Retry provider or internal errors with their own budget and interval."""

    enabled: bool = False
    max_retries: int = Field(default=3, ge=0)
    retry_interval_minutes: int = Field(default=5, ge=0)


class RetryOn(_Strict):
    """Which outcomes are retried (Sarvam's ``retry_on``)."""

    busy: RetryToggle = Field(default_factory=RetryToggle)
    failed: RetryToggle = Field(default_factory=RetryToggle)
    no_answer: RetryToggle = Field(default_factory=RetryToggle)
    short_duration: ShortDurationRetry = Field(default_factory=ShortDurationRetry)
    provider_error: ErrorRetry = Field(default_factory=ErrorRetry)
    internal_error: ErrorRetry = Field(default_factory=ErrorRetry)


class RetryConfig(_Strict):
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


class WebhookConfig(_Strict):
    """Where cohort, batch and campaign events are POSTed, with metadata echoed back."""

    url: str
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value


class _ProviderBase(_Strict):
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


class SarvamProvider(_ProviderBase):
    """Sarvam scheduling API: cohort upload per batch."""

    kind: Literal["sarvam"]
    org_id: str
    workspace_id: str
    campaign_id: str


class CometChatProvider(_ProviderBase):
    """CometChat campaigns: CSV upload of user ids and template variables."""

    kind: Literal["cometchat"]
    campaign_id: str


class MessagingCsvProvider(_ProviderBase):
    """A messaging platform's "send campaign from CSV" endpoint with a JSON layout."""

    kind: Literal["messaging_csv"]
    app_id: int
    campaign_id: int
    slicing_condition: Literal[
        "fragmentedSlots", "immediateConsecutiveSlots", "deferredConsecutiveSlots"
    ] = "fragmentedSlots"


class NexusProvider(_ProviderBase):
    """Nexus calls: CSV upload creating a batch of outbound calls."""

    kind: Literal["nexus"]
    user_id: str
    batch_type: Literal["outbound", "mixed"] = "outbound"
    enable_dnc: bool = True
    retry: int | None = Field(default=None, ge=0)
    delay: int | None = Field(default=None, ge=0)


class HttpJsonProvider(_ProviderBase):
    """Any other provider: a JSON batch POST to ``base_url`` + ``path``."""

    kind: Literal["http_json"]
    path: str = "/batches"
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"


ProviderConfig = Annotated[
    SarvamProvider | CometChatProvider | MessagingCsvProvider | NexusProvider | HttpJsonProvider,
    Field(discriminator="kind"),
]

CampaignStatus = Literal["scheduled", "active", "paused", "ended", "cancelled"]


class CampaignConfig(_Strict):
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
        import hashlib

        data = self.model_dump(mode="json", exclude={"status"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def default_campaign(campaign_id: str) -> CampaignConfig:
    """The settings used for a landing folder that has no campaign config."""
    return CampaignConfig(campaign_id=campaign_id, name=_safe_name(campaign_id))


def _safe_name(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9 _-]", "_", text)[:50]
    return cleaned or "campaign"


# --------------------------------------------------------------------------- loading


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem: ``<file>: <field.path>: <message>``."""
    lines = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {path}: {message}")
    return "\n".join(lines)


def _read_structured(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.').upper()}: {exc}") from None


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping JSON file."""
    data = _read_structured(path)
    return parse_mapping(data, source=str(path))


def parse_mapping(data: Any, *, source: str) -> Mapping:
    """Validate mapping data that came from ``source`` (a file name, for messages)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a mapping must be a JSON object")
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


def load_campaign(path: Path) -> CampaignConfig:
    """Read and validate a campaign YAML; ``campaign_id`` defaults to the file's stem.

    A relative ``dnc`` path is resolved against the campaign file's folder.
    """
    data = _read_structured(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a campaign config must be a mapping of settings")
    data.setdefault("campaign_id", path.stem)
    data.setdefault("name", _safe_name(str(data["campaign_id"])))
    try:
        campaign = CampaignConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None
    if campaign.dnc is not None and not campaign.dnc.is_absolute():
        campaign = campaign.model_copy(update={"dnc": (path.parent / campaign.dnc).resolve()})
    if campaign.schedule_at is not None:
        ahead = campaign.schedule_at - dt.datetime.now(dt.UTC)
        if ahead > MAX_SCHEDULE_AHEAD:
            raise ConfigError(f"{path}: schedule_at: at most 3 months ahead of now")
    return campaign


def find_campaign(campaigns_dir: Path, campaign_id: str) -> CampaignConfig:
    """The campaign config for ``campaign_id`` from ``campaigns_dir``, or the defaults."""
    for suffix in (".yaml", ".yml"):
        candidate = campaigns_dir / f"{campaign_id}{suffix}"
        if candidate.is_file():
            return load_campaign(candidate)
    return default_campaign(campaign_id)
