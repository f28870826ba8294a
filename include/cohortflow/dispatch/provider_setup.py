"""What must be true at the provider before anything is uploaded for a campaign.

- **Campaign settings** (Sarvam's campaign update): the YAML's settings, as the adapter's
  :meth:`~cohortflow.providers.adapter.ProviderAdapter.settings_update` writes them, are
  pushed whenever their fingerprint differs from the last one pushed. Until a push succeeds
  the provider holds stale settings (other hours, caller ids, retry rules), so nothing is
  uploaded: planning stops and submits are deferred, and the campaign's status says why.
- **The provider's campaign** (CometChat step 1, when no ``campaign_id`` is configured): it is
  created once and its id kept, so that every upload goes to the same campaign.

Both are recorded in ledgers (``ledgers/provider_settings/<campaign>/`` and
``ledgers/provider_campaigns/<campaign>/``): every push or refusal with its fingerprint, time,
answer and who asked; the created id.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cohortflow.config import CampaignConfig, CometChatProvider
from cohortflow.dispatch.delivery import delivery_summary
from cohortflow.errors import ProviderError
from cohortflow.providers import Credentials, ProviderAdapter, adapter_for
from cohortflow.providers.adapter import SettingsUpdate
from cohortflow.providers.http import mask_digits
from cohortflow.providers.registry import ADAPTERS
from cohortflow.warehouse import (
    append_event,
    folder_lock,
    ledger_dir,
    read_records,
    safe_component,
)

log = logging.getLogger(__name__)

SyncStatus = Literal["pushed", "refused", "unreachable"]


@dataclass(frozen=True)
class SettingsState:
    """Whether the provider holds the campaign's current settings, and what to do if not."""

    applies: bool  # the provider has campaign settings cohortflow pushes
    in_sync: bool
    fingerprint: str | None  # of the settings the YAML holds now
    pushed_at: str | None  # when the settings it holds were pushed
    detail: str
    blocked: bool = False  # the last push of these settings was refused or did not get through

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly (``campaign status --json``, ``campaign sync --json``)."""
        return {"applies": self.applies, "in_sync": self.in_sync, "blocked": self.blocked,
                "fingerprint": self.fingerprint, "pushed_at": self.pushed_at,
                "detail": self.detail}


def _settings_dir(warehouse: Path, campaign_id: str) -> Path:
    return ledger_dir(warehouse, "provider_settings") / safe_component(campaign_id)


def settings_update_for(campaign: CampaignConfig) -> SettingsUpdate | None:
    """The settings the campaign's provider should hold (no credentials needed), or None."""
    provider = campaign.provider
    if provider is None:
        return None
    return ADAPTERS[provider.kind](campaign, provider, Credentials("")).settings_update()


def settings_state(campaign: CampaignConfig, warehouse: Path) -> SettingsState:
    """Compare the YAML's settings with the last ones pushed (see the module docstring)."""
    update = settings_update_for(campaign)
    if update is None:
        return SettingsState(False, True, None, None, "the provider has no campaign settings")
    records = read_records(_settings_dir(warehouse, campaign.campaign_id))
    pushed = [r for r in records if r["status"] == "pushed"]
    last_pushed = pushed[-1] if pushed else None
    cid, kind = campaign.campaign_id, campaign.provider.kind if campaign.provider else "?"
    if last_pushed is not None and last_pushed["fingerprint"] == update.fingerprint:
        return SettingsState(True, True, update.fingerprint, last_pushed["at"],
                             f"settings pushed to {kind} at {last_pushed['at']}")
    last = records[-1] if records else None
    blocked = (last is not None and last["fingerprint"] == update.fingerprint
               and last["status"] != "pushed")
    if last is not None and blocked:
        if last["status"] == "refused":
            detail = (f"{kind} refused the settings update at {last['at']} ({last['error']}). "
                      f"{kind.capitalize()} takes updates only while its campaign is paused or "
                      f"scheduled: pause it there, then run `cohortflow campaign sync {cid}` "
                      "(dispatch also tries again on each run). Uploads wait until then.")
        else:
            detail = (f"the settings update did not reach {kind} at {last['at']} "
                      f"({last['error']}); dispatch tries again on each run, or run "
                      f"`cohortflow campaign sync {cid}`. Uploads wait until then.")
    elif last_pushed is None:
        detail = (f"settings not pushed to {kind} yet; dispatch pushes them before the first "
                  "upload")
    else:
        detail = (f"settings changed since they were pushed at {last_pushed['at']}; dispatch "
                  "pushes them before the next upload")
    return SettingsState(True, False, update.fingerprint,
                         last_pushed["at"] if last_pushed else None, detail, blocked)


def push_settings(
    campaign: CampaignConfig,
    warehouse: Path,
    adapter: ProviderAdapter[Any] | None = None,
    *,
    actor: str = "dispatch",
    force: bool = False,
    now: dt.datetime | None = None,
) -> SettingsState:
    """Push the campaign's settings when they differ from the last pushed (always with
    ``force``) and record the answer; the resulting state. One pusher at a time per campaign.

    Raises :class:`ProviderError` when the provider refuses the credentials (recorded too).
    """
    update = settings_update_for(campaign)
    if update is None:
        return settings_state(campaign, warehouse)
    folder = _settings_dir(warehouse, campaign.campaign_id)
    with folder_lock(folder):
        state = settings_state(campaign, warehouse)
        if state.in_sync and not force:
            return state
        adapter = adapter or adapter_for(campaign)
        record: dict[str, Any] = {"fingerprint": update.fingerprint, "actor": actor,
                                  "method": update.method, "url": update.url}
        at = now or dt.datetime.now(dt.UTC)
        try:
            answer = adapter.call(adapter.settings_request(update), repeatable=True)
        except ProviderError as exc:
            append_event(folder, record | {"status": "refused", "error": exc.message}, at)
            raise
        status: SyncStatus = ("pushed" if answer.ok else
                              "refused" if answer.outcome == "rejected" else "unreachable")
        provider_status = answer.body.get("status") if answer.ok else None
        append_event(folder, record | {"status": status, "http_status": answer.status_code,
                                       "error": answer.error,
                                       "provider_status": provider_status}, at)
        log.log(logging.INFO if answer.ok else logging.WARNING,
                "campaign %s: settings %s (%s)", campaign.campaign_id, status,
                answer.error or f"provider status {provider_status}")
    return settings_state(campaign, warehouse)


def settings_preview(campaign: CampaignConfig) -> dict[str, Any] | None:
    """The settings request as ``campaign sync --dry-run`` prints it: method, URL, the auth
    header masked and the body with phone numbers and webhook secrets masked."""
    update = settings_update_for(campaign)
    if update is None:
        return None
    return {"method": update.method, "url": update.url, "headers": {"X-API-Key": "***"},
            "fingerprint": update.fingerprint, "body": _masked(update.body)}


_SECRET_WORDS = ("secret", "token", "key", "password", "auth", "signature")


def _masked(value: Any, name: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, name) for v in value]
    if isinstance(value, str):
        if any(word in name.lower() for word in _SECRET_WORDS):
            return "***"
        if name == "url" and "?" in value:
            return value.split("?", 1)[0] + "?***"
        return mask_digits(value)
    return value


# --------------------------------------------------------------------------- provider campaign


def _campaigns_dir(warehouse: Path, campaign_id: str) -> Path:
    return ledger_dir(warehouse, "provider_campaigns") / safe_component(campaign_id)


def with_provider_campaign(campaign: CampaignConfig, warehouse: Path) -> CampaignConfig:
    """``campaign`` with the provider campaign id cohortflow created filled in, when its
    config names none (CometChat step 1); unchanged otherwise."""
    provider = campaign.provider
    if not isinstance(provider, CometChatProvider) or provider.campaign_id:
        return campaign
    records = read_records(_campaigns_dir(warehouse, campaign.campaign_id))
    created = next((r["provider_campaign_id"] for r in reversed(records)
                    if r.get("provider_campaign_id")), None)
    if created is None:
        return campaign
    live = provider.model_copy(update={"campaign_id": created})
    return campaign.model_copy(update={"provider": live})


def ensure_provider_campaign(
    campaign: CampaignConfig, warehouse: Path, adapter: ProviderAdapter[Any] | None = None
) -> str | None:
    """Create the provider's campaign once when the adapter must (CometChat without a
    ``campaign_id``); None when it exists, else why uploads cannot start yet."""
    if with_provider_campaign(campaign, warehouse) is not campaign:
        return None  # created by an earlier run
    adapter = adapter or adapter_for(campaign)
    request = adapter.creation_request(campaign.name)
    if request is None:
        return None
    folder = _campaigns_dir(warehouse, campaign.campaign_id)
    with folder_lock(folder):
        if with_provider_campaign(campaign, warehouse) is not campaign:
            return None  # another process created it meanwhile
        # Creating an empty campaign twice contacts nobody, so an unknown outcome is retried.
        answer = adapter.call(request, repeatable=True)
        created = adapter.read_created(answer.body) if answer.ok else None
        append_event(folder, {"status": "created" if created else "failed",
                              "provider_campaign_id": created, "http_status": answer.status_code,
                              "error": answer.error or (None if created else
                                                        "no id in the answer")},
                     dt.datetime.now(dt.UTC))
    if created is None:
        why = answer.error or "no id in the answer"
        return (f"the {adapter.kind} campaign could not be created ({why}); dispatch tries "
                "again on its next run, or set provider.campaign_id")
    log.info("campaign %s: created %s campaign %s", campaign.campaign_id, adapter.kind, created)
    return None


def prepare_provider(
    campaign: CampaignConfig,
    warehouse: Path,
    adapter: ProviderAdapter[Any] | None = None,
    *,
    dry_run: bool = False,
) -> str | None:
    """Push stale settings and create the provider's campaign when needed: None when uploads
    may go ahead, else why they wait. ``dry_run`` sends nothing and says what it would do."""
    state = settings_state(campaign, warehouse)
    if not state.in_sync:
        if dry_run:
            return f"the campaign settings would be pushed first ({state.detail})"
        state = push_settings(campaign, warehouse, adapter)
        if not state.in_sync:
            return state.detail
    if dry_run:
        return None
    return ensure_provider_campaign(campaign, warehouse, adapter)


def attention(campaign: CampaignConfig, warehouse: Path) -> str | None:
    """What an operator must act on at the campaign's provider: settings it refused or did not
    get (why, what to do), or a send whose outcome is unknown; None otherwise (settings not
    pushed yet are pushed by the next dispatch)."""
    settings = settings_state(campaign, warehouse)
    if settings.blocked:
        return f"provider settings not in sync: {settings.detail}"
    delivery = delivery_summary(campaign, warehouse)
    if delivery and delivery["unconfirmed_batches"]:
        return (f"a send's outcome is unknown ({delivery['unconfirmed_batches']} batches): "
                "check with the provider; if it did not send, run "
                f"`cohortflow campaign send {campaign.campaign_id}`")
    return None
