"""The sandbox as a real server: contracts, no de-duplication unless asked, recording,
outcomes and faults."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from cohortflow.cli.sandbox import sandbox as sandbox_command
from cohortflow.errors import ProviderError
from cohortflow.providers import RetryPolicy, adapter_for
from cohortflow.providers.base import Batch, BatchRecipient, Credentials
from cohortflow.sandbox import Faults, SandboxHandle, SandboxKeys, start_sandbox
from cohortflow.sandbox.forms import parse_multipart
from tests.support.providers import PROVIDERS, campaign_for, make_batch, make_recipients

KEY = "sbx-SECRET-7781"
APP_ID = "sbx-app"
CREDENTIALS = Credentials(KEY, APP_ID, source="env COHORTFLOW_PROVIDER_TEST_KEY")
CONNECTIONS = [{"connection_id": "c1", "phone_numbers": ["caller-1", "caller-2"]}]
FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05, retry_after_max=0.05)


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with start_sandbox(keys=SandboxKeys(KEY, APP_ID)) as handle:
        yield handle


def get(handle: SandboxHandle, path: str, **params: Any) -> Any:
    response = requests.get(f"{handle.url}{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def submit(handle: SandboxHandle, kind: str, batch: Batch, **settings: Any) -> Any:
    campaign = campaign_for(kind, handle.url, connection_configs=CONNECTIONS, **settings)
    return adapter_for(campaign, CREDENTIALS, policy=FAST).submit(batch)


@pytest.mark.parametrize("kind", sorted(PROVIDERS))
def test_submission_through_each_adapter_is_recorded(sandbox: SandboxHandle, kind: str) -> None:
    batch = make_batch(make_recipients(25, name="Asha"))
    result = submit(sandbox, kind, batch)

    assert result.ok and result.accepted == 25 and result.attempts == 1
    recorded = get(sandbox, "/_sandbox/recipients", provider=kind)
    assert recorded["count"] == 25 and recorded["distinct_recipients"] == 25
    assert {r["idempotency_key"] for r in recorded["recipients"]} == {batch.idempotency_key}
    if kind == "nexus":
        assert {r["caller_id"] for r in recorded["recipients"]} == {"caller-1", "caller-2"}


def test_by_default_the_same_key_twice_is_processed_twice_as_by_the_providers(
    sandbox: SandboxHandle,
) -> None:
    batch = make_batch(make_recipients(10))
    first, second = submit(sandbox, "nexus", batch), submit(sandbox, "nexus", batch)

    assert first.ok and second.ok
    stats = get(sandbox, "/_sandbox/stats")
    assert stats["recipients"] == 20 and stats["duplicates"] == 10 and stats["repeats"] == 10
    assert "replays" not in stats["counts"]


def test_a_deduplicating_sandbox_records_the_same_key_once() -> None:
    batch = make_batch(make_recipients(10))
    with start_sandbox(keys=SandboxKeys(KEY, APP_ID), deduplicate=True) as handle:
        first, second = submit(handle, "nexus", batch), submit(handle, "nexus", batch)
        stats = get(handle, "/_sandbox/stats")

    assert first.ok and second.ok
    assert second.response == first.response and second.provider_reference
    assert stats["recipients"] == 10 and stats["duplicates"] == 0
    assert stats["counts"]["replays"] == 1


def test_a_new_attempt_key_is_recorded_again(sandbox: SandboxHandle) -> None:
    recipients = make_recipients(3)
    submit(sandbox, "http_json", make_batch(recipients))
    retry = Batch("loans", "june", 1, 1, Batch.key_for("loans", "june", 1, 1), recipients)
    submit(sandbox, "http_json", retry)
    assert get(sandbox, "/_sandbox/stats")["recipients"] == 6


@pytest.mark.parametrize("kind", sorted(PROVIDERS))
def test_wrong_key_fails_fast_without_echoing_the_secret(sandbox: SandboxHandle, kind: str) -> None:
    wrong = Credentials("WRONG-secret-123", APP_ID, source="connection 'demo'")
    campaign = campaign_for(kind, sandbox.url, connection_configs=CONNECTIONS)
    with pytest.raises(ProviderError) as info:
        adapter_for(campaign, wrong, policy=FAST).submit(make_batch(make_recipients(1)))
    assert info.value.code == "provider_auth" and "connection 'demo'" in str(info.value)
    assert "WRONG-secret-123" not in str(info.value)
    assert get(sandbox, "/_sandbox/stats")["recipients"] == 0


def test_nexus_invalid_rows_are_rejected_and_the_rest_sent_once(sandbox: SandboxHandle) -> None:
    recipients = (*make_recipients(1), BatchRecipient(2, "+12"))
    result = submit(sandbox, "nexus", make_batch(recipients))

    assert result.ok and result.accepted == 1 and result.confirmed == 1
    assert result.response["refused"]["invalidRows"][0]["row"] == 3
    assert [(r.row_number, r.reason) for r in result.rejected_rows] == [
        (2, "Nexus: invalid phone number")]
    stats = get(sandbox, "/_sandbox/stats")
    assert stats["recipients"] == 1 and stats["counts"]["status_422"] == 1


def test_nexus_deduplicates_phone_numbers_keeping_the_first(sandbox: SandboxHandle) -> None:
    recipients = (*make_recipients(2), BatchRecipient(3, "+919870000000"))
    result = submit(sandbox, "nexus", make_batch(recipients))
    assert result.ok and result.accepted == 3
    assert result.response["batch"]["totalCalls"] == 2
    assert (result.confirmed, result.provider_rejected) == (2, 1)  # read from batch-details
    assert result.provider_status == "imported 2 of 3"


def test_sarvam_answers_processing_and_completes_later(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipients = (*make_recipients(2), BatchRecipient(3, "not-a-phone", "c-3"))
    result = submit(sandbox, "sarvam", make_batch(recipients))
    assert result.ok and result.accepted == 3
    assert (result.provider_status, result.confirmed) == ("processing", None)
    assert result.response["result"]["valid_records"] == 0
    monkeypatch.setattr("cohortflow.sandbox.world.SARVAM_PROCESSING_SECONDS", 0.0)
    later = get(sandbox, f"/_sandbox/sarvam/cohorts/{result.provider_reference}")
    assert later["status"] == "completed"
    assert later["result"] == {"total_records": 3, "valid_records": 2, "rejected_records": 1}


def test_sarvam_blocking_rule_missing_column_rejects_upload(sandbox: SandboxHandle) -> None:
    config = {"phone_number": {"column_name": "mobile"}}
    response = requests.post(
        f"{sandbox.url}/v1/orgs/o/workspaces/w/campaigns/c/cohorts/upload",
        headers={"X-API-Key": KEY},
        data={"name": "june"},
        files={
            "cohort_file": ("c.csv", b"phone\n+919876543210\n", "text/csv"),
            "cohort_transformation_file": ("t.json", json.dumps(config).encode(), "text/json"),
        },
        timeout=10,
    )
    assert response.status_code == 400 and "mobile" in response.json()["detail"]


def test_sarvam_missing_form_field_is_422(sandbox: SandboxHandle) -> None:
    response = requests.post(
        f"{sandbox.url}/v1/orgs/o/workspaces/w/campaigns/c/cohorts/upload",
        headers={"X-API-Key": KEY},
        files={"name": (None, "june")},
        timeout=10,
    )
    assert response.status_code == 422
    assert {e["loc"][1] for e in response.json()["detail"]} == {
        "cohort_file",
        "cohort_transformation_file",
    }


def test_cometchat_missing_user_id_column_is_err_bad_request(sandbox: SandboxHandle) -> None:
    response = requests.post(
        f"{sandbox.url}/api/campaigns/upload",
        headers={"appId": APP_ID, "apiKey": KEY},
        data={"campaignId": "c1"},
        files={"file": ("r.csv", b"uid,name\nu1,A\n", "text/csv")},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ERR_BAD_REQUEST"


def test_cometchat_wrong_app_id_is_refused(sandbox: SandboxHandle) -> None:
    credentials = Credentials(KEY, "other-app", source="env X")
    campaign = campaign_for("cometchat", sandbox.url)
    with pytest.raises(ProviderError, match="HTTP 401"):
        adapter_for(campaign, credentials).submit(make_batch(make_recipients(1)))


def test_messaging_refuses_schedule_and_delay_together(sandbox: SandboxHandle) -> None:
    layout = {"contact": {"contactCode": "{{c}}", "channelType": "cloud_api"}}
    response = requests.post(
        f"{sandbox.url}/applications/1/campaigns/2/send-from-csv",
        headers={"Authorization": f"Bearer {KEY}"},
        data={"layout": json.dumps(layout), "scheduleAt": "2030-01-01T00:00:00Z", "delay": "PT15M"},
        files={"file": ("c.csv", b"c\n34666777888\n", "text/csv")},
        timeout=10,
    )
    assert response.status_code == 400 and "cannot be used together" in response.json()["message"]


def test_outcomes_are_deterministic_and_paged(sandbox: SandboxHandle) -> None:
    submit(sandbox, "http_json", make_batch(make_recipients(30)))
    first = get(sandbox, "/_sandbox/outcomes", since=0, limit=20)
    rest = get(sandbox, "/_sandbox/outcomes", since=first["next_since"])
    again = get(sandbox, "/_sandbox/outcomes", since=0, limit=100)

    outcomes = first["outcomes"] + rest["outcomes"]
    assert len(first["outcomes"]) == 20 and len(outcomes) == 30
    assert [o["id"] for o in outcomes] == list(range(1, 31))
    assert [(o["status"], o["duration_seconds"]) for o in outcomes] == [
        (o["status"], o["duration_seconds"]) for o in again["outcomes"]
    ]
    assert {o["status"] for o in outcomes} <= {
        "completed",
        "no_answer",
        "busy",
        "failed",
        "provider_error",
    }
    assert all(o["duration_seconds"] > 0 for o in outcomes if o["status"] == "completed")
    assert all(o["at"].endswith("Z") and o["phone_number"] for o in outcomes)


def test_recordings_survive_a_restart_with_the_same_db(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.duckdb"
    batch = make_batch(make_recipients(5))
    with start_sandbox(db=db, keys=SandboxKeys(KEY, APP_ID), deduplicate=True) as handle:
        submit(handle, "sarvam", batch)
    with start_sandbox(db=db, keys=SandboxKeys(KEY, APP_ID), deduplicate=True) as handle:
        submit(handle, "sarvam", batch)
        assert get(handle, "/_sandbox/stats")["recipients"] == 5  # the key is remembered


def _batches_of(recipients: tuple[BatchRecipient, ...], size: int) -> list[Batch]:
    return [Batch("loans", "june", n, 0, Batch.key_for("loans", "june", n, 0),
                  recipients[(n - 1) * size : n * size])
            for n in range(1, len(recipients) // size + 1)]


def test_faulty_sandbox_never_takes_a_batch_twice_and_each_answer_says_what_happened() -> None:
    """Without de-duplication: nothing is retried whose outcome is unknown, so every recipient
    is recorded at most once, and exactly the batches whose answer was 'accepted' or whose
    outcome is unknown may be recorded."""
    faults = Faults(fail_429=0.2, fail_500=0.1, slow=0.05, drop=0.05, drop_after_accept=0.05,
                    timeout_after_accept=0.05, seed=7, slow_seconds=1.0)
    recipients = make_recipients(2000, name="Asha")
    started = time.monotonic()
    with start_sandbox(faults=faults, keys=SandboxKeys(KEY, APP_ID)) as handle:
        campaign = campaign_for(
            "sarvam", handle.url, provider={"max_attempts": 20, "timeout_seconds": 0.5}
        )
        adapter = adapter_for(campaign, CREDENTIALS, policy=FAST)
        results = [(b, adapter.submit(b)) for b in _batches_of(recipients, 100)]
        time.sleep(1.2)  # the slow requests are recorded once the sandbox gets to them
        stats = get(handle, "/_sandbox/stats")
        recorded = get(handle, "/_sandbox/recipients", limit=5000)

    assert {r.outcome for _, r in results} <= {"accepted", "unknown"}
    assert stats["duplicates"] == 0 and stats["repeats"] == 0
    keys = {row["idempotency_key"] for row in recorded["recipients"]}
    accepted = {b.idempotency_key for b, r in results if r.ok}
    unknown = {b.idempotency_key for b, r in results if r.outcome == "unknown"}
    assert accepted <= keys <= accepted | unknown  # an unknown outcome may or may not be there
    assert sum(r.accepted for _, r in results) == 100 * len(accepted)
    assert unknown, "some faults hit after the connection opened"
    injected = {k: v for k, v in stats["counts"].items() if k.startswith("fault_")}
    assert {"fault_429", "fault_500", "fault_drop_after_accept"} <= set(injected)
    assert time.monotonic() - started < 30
    assert all(KEY not in json.dumps(r.response) + str(r.error) for _, r in results)


def test_a_deduplicating_sandbox_under_every_fault_takes_every_recipient_exactly_once() -> None:
    faults = Faults(fail_429=0.2, fail_500=0.1, slow=0.05, drop=0.05, drop_after_accept=0.05,
                    timeout_after_accept=0.05, seed=7, slow_seconds=1.0)
    recipients = make_recipients(2000, name="Asha")
    with start_sandbox(faults=faults, keys=SandboxKeys(KEY, APP_ID), deduplicate=True) as handle:
        campaign = campaign_for(
            "http_json", handle.url,
            provider={"max_attempts": 20, "timeout_seconds": 0.5, "deduplicates": True},
        )
        adapter = adapter_for(campaign, CREDENTIALS, policy=FAST)
        results = [adapter.submit(b) for b in _batches_of(recipients, 100)]
        stats = get(handle, "/_sandbox/stats")
        recorded = get(handle, "/_sandbox/recipients", limit=5000)

    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert stats["recipients"] == 2000 and stats["duplicates"] == 0
    assert sorted(r["phone_number"] for r in recorded["recipients"]) == sorted(
        r.phone_number for r in recipients
    )
    assert stats["counts"]["replays"] > 0  # unknown outcomes were sent again and replayed


def test_multipart_parser_reads_fields_and_files() -> None:
    prepared = requests.Request(
        "POST",
        "http://x",
        data={"name": "a b"},
        files={"file": ("f.csv", b"x,y\r\n1,2\r\n", "text/csv")},
    ).prepare()
    assert isinstance(prepared.body, bytes)
    form = parse_multipart(prepared.body, prepared.headers["Content-Type"])
    assert form["name"].text == "a b" and form["name"].filename is None
    assert form["file"].data == b"x,y\r\n1,2\r\n" and form["file"].filename == "f.csv"
    with pytest.raises(ValueError, match="boundary"):
        parse_multipart(b"", "application/json")


def test_cli_help_shows_an_example() -> None:
    result = CliRunner().invoke(sandbox_command, ["--help"])
    assert result.exit_code == 0
    assert "--drop-after-accept 0.05 --timeout-after-accept 0.05" in result.output
    assert "--deduplicate" in result.output
