"""campaign_dispatch end to end with dag.test(): published cohorts reach the sandbox once."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cohortflow.sandbox import SandboxHandle, start_sandbox

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLES = PROJECT / "include" / "examples" / "landing"

pytestmark = pytest.mark.airflow


def _stats(sandbox: SandboxHandle) -> dict[str, object]:
    with urllib.request.urlopen(f"{sandbox.url}/_sandbox/stats", timeout=10) as response:
        data: dict[str, object] = json.loads(response.read())
    return data


@pytest.fixture
def area(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: Path
) -> Iterator[tuple[Path, SandboxHandle]]:
    with start_sandbox(port=0) as sandbox:
        campaigns = tmp_path / "campaigns"
        campaigns.mkdir()
        config = yaml.safe_load((PROJECT / "include" / "campaigns" / "loans.yaml").read_text())
        config["provider"]["base_url"] = sandbox.url
        config["dnc"] = str(PROJECT / "include" / "examples" / "dnc" / "loans_dnc.csv")
        config["allowed_schedule"] = {"allowed_start_time": "00:00", "allowed_end_time": "00:00",
                                      "timezone": "Asia/Kolkata"}
        (campaigns / "loans.yaml").write_text(yaml.safe_dump(config))
        landing = tmp_path / "landing"
        shutil.copytree(EXAMPLES / "loans", landing / "loans")
        monkeypatch.setenv("COHORTFLOW_LANDING", str(landing))
        monkeypatch.setenv("COHORTFLOW_WAREHOUSE", str(tmp_path / "warehouse"))
        monkeypatch.setenv("COHORTFLOW_CAMPAIGNS", str(campaigns))
        monkeypatch.setenv("COHORTFLOW_SETTLE_SECONDS", "0")
        monkeypatch.setenv("AIRFLOW_CONN_SANDBOX_PROVIDER",
                           json.dumps({"conn_type": "http", "password": "sandbox-key"}))
        yield tmp_path, sandbox


def _run(dag_id: str) -> str:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags" / f"{dag_id}.py")).dags[dag_id]
    return str(dag.test().state)


def test_ingest_then_dispatch_sends_every_recipient_once(
    area: tuple[Path, SandboxHandle],
) -> None:
    tmp_path, sandbox = area
    assert _run("cohort_ingest") == "success"
    assert _run("campaign_dispatch") == "success"
    assert _stats(sandbox)["recipients"] == 4

    assert _run("campaign_dispatch") == "success"  # a re-run sends nothing again
    stats = _stats(sandbox)
    assert stats["recipients"] == 4
    assert stats["duplicates"] == 0

    import duckdb

    with duckdb.connect(str(tmp_path / "warehouse" / "cohortflow.duckdb"), read_only=True) as db:
        deliveries = db.execute(
            "select count(*), count(*) filter (where status = 'submitted') from deliveries"
        ).fetchone()
    assert deliveries == (4, 4)
