"""The Airflow UI for real: trigger cohort_ingest from its form, then find the cohort on the
Cohorts page (headless Debian chromium driven by Playwright).

Starts an api-server, a scheduler (LocalExecutor) and a dag-processor on a free loopback port,
with a throw-away AIRFLOW_HOME (SQLite), landing area and warehouse; copies an example CSV into
the landing area; triggers ``cohort_ingest`` from the trigger form with the ``file`` param;
waits for the run to succeed; opens the Cohorts page and checks the cohort is listed. Saves
screenshots to ``tests/browser/artifacts/`` and stops every process it started.

Skips when ``/usr/bin/chromium`` (Debian's chromium) or Playwright is missing; never downloads
a browser.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT / "include" / "examples" / "landing" / "loans"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_SECONDS = 300
RUN_SECONDS = 300

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]


@dataclass
class Airflow:
    """A running Airflow: its URL and folders."""

    url: str
    home: Path
    landing: Path
    warehouse: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _environment(root: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "COHORTFLOW"))}
    env.update(
        {
            "AIRFLOW_HOME": str(root / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # Only the run the form triggers: no scheduled run competes for the landing file.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "COHORTFLOW_LANDING": str(root / "landing"),
            "COHORTFLOW_WAREHOUSE": str(root / "warehouse"),
            "COHORTFLOW_CAMPAIGNS": str(PROJECT / "include" / "campaigns"),
        }
    )
    return env


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each started process group, then SIGKILL what is left after a grace period."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_ready(url: str, processes: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"an Airflow component exited early; logs in {logs}")
        health = _get_json(f"{url}/api/v2/monitor/health") or {}
        healthy = all(
            (health.get(part) or {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "dag_processor")
        )
        if healthy and _get_json(f"{url}/api/v2/dags/cohort_ingest") is not None:
            return
        time.sleep(2)
    pytest.fail(f"Airflow was not ready after {STARTUP_SECONDS}s; logs in {logs}")


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    """api-server + scheduler + dag-processor on a free port, stopped afterwards."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not at /usr/bin/chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    root = tmp_path_factory.mktemp("browser")
    port = _free_port()
    env = _environment(root, port)
    (root / "landing" / "loans").mkdir(parents=True)
    (root / "warehouse").mkdir()
    logs = root / "logs"
    logs.mkdir()
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [sys.executable, str(PROJECT / "scripts" / "airflow_init.py")],
        env=env,
        check=True,
        stdout=(logs / "init.log").open("wb"),
        stderr=subprocess.STDOUT,
        timeout=STARTUP_SECONDS,
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for component in ("api-server", "scheduler", "dag-processor"):
            processes.append(
                subprocess.Popen(
                    [str(bin_dir / "airflow"), component],
                    env=env,
                    cwd=root,
                    stdout=(logs / f"{component}.log").open("wb"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, processes, logs)
        yield Airflow(url, root / "airflow", root / "landing", root / "warehouse")
    finally:
        _stop(processes)


def _screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def _wait_for_run(page, url: str, run_id: str) -> str:  # type: ignore[no-untyped-def]
    """Poll the run the form created until it ends; its last state (``unknown``: never seen)."""
    deadline = time.monotonic() + RUN_SECONDS
    state = "unknown"
    while time.monotonic() < deadline:
        response = page.request.get(f"{url}/api/v2/dags/cohort_ingest/dagRuns/{run_id}")
        if response.ok:
            state = response.json()["state"]
            if state in ("success", "failed"):
                return str(state)
        time.sleep(2)
    return state


def _example_phones() -> list[str]:
    """The last ten digits of every phone in the example file (what must never be shown)."""
    with (EXAMPLE / "june_cohort.csv").open(encoding="utf-8", newline="") as handle:
        digits = [re.sub(r"\D", "", row["mobile"]) for row in csv.DictReader(handle)]
    return [d[-10:] for d in digits if len(d) >= 10]


def test_trigger_ingest_from_the_form_then_find_the_cohort(airflow: Airflow) -> None:
    from playwright.sync_api import expect, sync_playwright

    shutil.copy(EXAMPLE / "june_cohort.csv", airflow.landing / "loans" / "june_cohort.csv")
    shutil.copy(
        EXAMPLE / "june_cohort.mapping.json", airflow.landing / "loans" / "june_cohort.mapping.json"
    )
    run_id = f"browser_test_{int(time.time())}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)

            # The DAG's page and its trigger form, with the `file` param and our run id.
            page.goto(f"{airflow.url}/dags/cohort_ingest")
            page.get_by_role("button", name="Trigger").first.click()
            dialog = page.locator("[role=dialog][data-state=open]")
            dialog.locator("#element_file").fill("june_cohort.csv")
            dialog.get_by_text("Advanced Options").click()
            dialog.locator("input[name=dagRunId]").fill(run_id)
            _screenshot(page, "trigger_form.png")
            dialog.get_by_role("button", name="Trigger").last.click()
            # Under load the toast may come and go before we look: the run itself is the proof.

            state = _wait_for_run(page, airflow.url, run_id)
            run = page.request.get(
                f"{airflow.url}/api/v2/dags/cohort_ingest/dagRuns/{run_id}"
            ).json()
            assert state == "success", f"run {run_id} ended {state}"
            assert run["conf"]["file"] == "june_cohort.csv"
            assert list((airflow.landing.parent / "archive" / "loans").glob("*__june_cohort.csv"))

            # The Cohorts page, framed inside the Airflow UI.
            page.goto(f"{airflow.url}/plugin/cohorts")
            frame = page.frame_locator("iframe").first
            expect(frame.locator("h1")).to_have_text("Cohorts")
            row = frame.locator("tr[data-cohort]", has_text="june_cohort.csv")
            expect(row).to_be_visible()
            expect(row).to_contain_text("completed")
            expect(frame.locator('tr[data-campaign="loans"]')).to_be_visible()
            shot = _screenshot(page, "cohorts.png")

            # The page itself, and the report it links to: no full phone number anywhere.
            page.goto(f"{airflow.url}/cohortflow/")
            _screenshot(page, "cohorts_page.png")
            html = page.content()
            report_link = page.locator("tr[data-cohort] a", has_text="report.html").first
            report = page.request.get(
                f"{airflow.url}/cohortflow/{report_link.get_attribute('href')}"
            )
            assert report.ok
            for text in (html, report.text()):
                for phone in _example_phones():
                    assert phone not in text, "a full phone number is shown"
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
