"""Reading configuration files: every check happens here, once, at the edge.

The rest of the code receives models, never dicts. Errors name the file and the field, e.g.
``include/campaigns/loans.yaml: allowed_schedule.timezone: unknown timezone 'Asia/Kolkatta'``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cohortflow.config.campaign import (
    CampaignConfig,
    default_campaign,
    safe_name,
)
from cohortflow.config.mapping import Mapping
from cohortflow.errors import ConfigError

log = logging.getLogger(__name__)


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem: ``<file>: <field.path>: <message>``."""
    lines = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        # A check across fields names its field at the start of its message.
        lines.append(f"{source}: {path}: {message}" if path else f"{source}: {message}")
    return "\n".join(lines)


class _RepeatedKeyError(ValueError):
    """A JSON object names the same key twice (json.loads would keep the last silently)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _RepeatedKeyError(key)
        seen[key] = value
    return seen


def read_structured(path: Path) -> Any:
    """The JSON or YAML data of ``path``; a JSON object that repeats a key is a ConfigError
    naming the key (only one of the two values could be used)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text, object_pairs_hook=_unique_keys)
        return yaml.safe_load(text)
    except _RepeatedKeyError as exc:
        raise ConfigError(
            f"{path}: the key {exc.args[0]!r} is given twice in the same object; keep one of "
            "them (only one value can be used)"
        ) from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.').upper()}: {exc}") from None


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping JSON file."""
    data = read_structured(path)
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
    data = read_structured(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a campaign config must be a mapping of settings")
    data.setdefault("campaign_id", path.stem)
    data.setdefault("name", safe_name(str(data["campaign_id"])))
    try:
        campaign = CampaignConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None
    if campaign.dnc is not None and not campaign.dnc.is_absolute():
        campaign = campaign.model_copy(update={"dnc": (path.parent / campaign.dnc).resolve()})
    campaign._source = str(path)
    return campaign


def find_campaign(campaigns_dir: Path, campaign_id: str) -> CampaignConfig:
    """The campaign config for ``campaign_id`` from ``campaigns_dir``, or the defaults."""
    for suffix in (".yaml", ".yml"):
        candidate = campaigns_dir / f"{campaign_id}{suffix}"
        if candidate.is_file():
            return load_campaign(candidate)
    return default_campaign(campaign_id)


def campaign_by_id(campaign_id: str, campaigns_dir: Path) -> CampaignConfig:
    """The campaign config named ``campaign_id`` in ``campaigns_dir``; a clear error when
    there is none (unlike :func:`find_campaign`, which falls back to the defaults)."""
    for suffix in (".yaml", ".yml"):
        if (campaigns_dir / f"{campaign_id}{suffix}").is_file():
            return load_campaign(campaigns_dir / f"{campaign_id}{suffix}")
    raise ConfigError(f"{campaigns_dir}: no {campaign_id}.yaml; is the campaign id right?")


def load_campaigns(campaigns_dir: Path) -> list[CampaignConfig]:
    """Every valid campaign config; invalid ones are logged (with file and field) and skipped."""
    found = []
    for path in sorted([*campaigns_dir.glob("*.yaml"), *campaigns_dir.glob("*.yml")]):
        try:
            found.append(load_campaign(path))
        except ConfigError as exc:
            log.error("skipping campaign config: %s", exc)
    return found
