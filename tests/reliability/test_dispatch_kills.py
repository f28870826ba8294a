"""The dispatch process SIGKILLed at random points, again and again, with provider faults on,
sends nobody twice and loses nobody without a trace.

One campaign of 20,000 recipients, one sandbox (on-disk database) that, like the providers,
processes a repeated request again, and answers 20% 429, 5% 500, and of what it processes
drops 5% unanswered and answers 5% after the client's timeout. ``cohortflow dispatch`` is
started, killed with SIGKILL after a seeded random delay, started again, ... ``kills`` times,
then run to the end. Afterwards: nobody was received twice; everyone was received exactly once
or is listed in an unconfirmed batch; and ``cohortflow campaigns --json`` adds up (sent +
unconfirmed + waiting + failed = recipients) and agrees with what the sandbox recorded. The
same run against a sandbox (and a campaign) that de-duplicate ends with nobody unconfirmed.

The killed runs are forked from a warm launcher that has already imported cohortflow (a cold
interpreter takes seconds to start under load), so that every kill lands inside the command's
own work (planning, outbox writes, sends, result writes) and 20 kills fit in ``make test``.
The clean runs after the kills are the real ``cohortflow`` console script in a fresh
interpreter; with faults on, a batch can run out of attempts in one run and is sent again
(same key) by the next, as an operator's re-run would.

The warehouse and the sandbox database live in a RAM-backed folder (``/dev/shm``) where there
is one: SIGKILL ends the process, not the machine, so the page cache survives and ``fsync``
plays no part in what is tested; without it a loaded disk stretches planning (one fsynced file
per batch) until every kill lands there.

``make soak`` (``COHORTFLOW_SOAK=1``) runs 100 kills over 20,000 recipients with every
provider fault switched on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from cohortflow.dispatch.outbox import Outbox
from cohortflow.sandbox import Faults, SandboxHandle, SandboxKeys, start_sandbox
from cohortflow.warehouse import catalog, register_cohorts
from tests.support.dispatch import ALWAYS, indian_numbers, write_cohort

PROJECT = Path(__file__).resolve().parents[2]
#: Clean runs after the last kill; more than one only when faults exhaust a batch's attempts.
MAX_FINAL_RUNS = 5
KEY = "kill-test-key"
CONNECTION = "sandbox_provider"
NOW = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
soak_only = pytest.mark.skipif(
    os.environ.get("COHORTFLOW_SOAK") != "1", reason="soak test: run `make soak`"
)

#: Imports the CLI once, then forks one `cohortflow dispatch` per line read from stdin (the
#: line names the child's log file), printing "pid <n>" and then "exit <code>" for each.
LAUNCHER = """
import os, sys
from cohortflow.cli import main
import cohortflow.cli.dispatch, cohortflow.dispatch.run, cohortflow.dispatch.catalog_tables
import cohortflow.providers.registry, cohortflow.dispatch.webhooks, cohortflow.config
import io, pyarrow as pa, pyarrow.parquet as pq
buffer = io.BytesIO()  # pyarrow imports pandas, where installed, on its first parquet use
pq.write_table(pa.table({"a": [1]}), buffer)
pq.read_table(buffer)
print("ready", flush=True)
for line in sys.stdin:
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        log = os.open(line.strip(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        code = 1
        try:
            main(sys.argv[1:], prog_name="cohortflow")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(f"pid {pid}", flush=True)
    _, status = os.waitpid(pid, 0)
    print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)
"""


@dataclass(frozen=True)
class KillPlan:
    """One campaign killed ``kills`` times after random delays of up to ``max_delay`` s."""

    recipients: int
    batch_size: int
    rate: int  # attempts_per_second: slow enough that the campaign outlasts every kill
    kills: int
    max_delay: float
    seed: int
    faults: Faults | None = None
    deduplicate: bool = False  # the sandbox (and the campaign's provider) de-duplicate by key


def _faults(seed: int) -> Faults:
    """20% 429, 5% 500, and of what is processed 5% dropped and 5% answered too late."""
    return Faults(fail_429=0.2, fail_500=0.05, drop_after_accept=0.05,
                  timeout_after_accept=0.05, seed=seed, slow_seconds=2.0, retry_after=1)


#: make test: 20,000 recipients in batches of 200 at 800/s (25 s of sending), 20 kills, every
#: fault on. A killed run sends at most one batch at once and then keeps the rate, so the
#: kills (~13 s of delays) cannot finish the campaign, however fast or slow the machine is.
DEFAULT = KillPlan(recipients=20_000, batch_size=200, rate=800, kills=20, max_delay=1.2,
                   seed=20, faults=_faults(20))
DEDUPLICATED = KillPlan(recipients=20_000, batch_size=200, rate=800, kills=20, max_delay=1.2,
                        seed=21, faults=_faults(21), deduplicate=True)
#: make soak: 20,000 recipients at 100/s, 100 kills, every fault on.
SOAK = KillPlan(recipients=20_000, batch_size=50, rate=100, kills=100, max_delay=2.0, seed=100,
                faults=_faults(100))


class Launcher:
    """The warm launcher process: :meth:`start` forks a dispatch run, :meth:`kill` ends it."""

    def __init__(self, arguments: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, *arguments], env=env, cwd=PROJECT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self._expect("ready")

    def _expect(self, word: str) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line.startswith(word), f"launcher said {line!r}, expected {word!r}"
        return line.removeprefix(word).strip()

    def start(self, log: Path) -> int:
        """Fork one run writing its output to ``log``; its pid."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{log}\n")
        self.process.stdin.flush()
        return int(self._expect("pid"))

    def kill(self, pid: int) -> int:
        """SIGKILL the run (if it is still going); its exit code (-9 when killed)."""
        with contextlib.suppress(ProcessLookupError):  # it had already finished
            os.kill(pid, signal.SIGKILL)
        return int(self._expect("exit"))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@dataclass
class KillRun:
    """What came of a kill campaign."""

    exit_codes: list[int]
    delays: list[float]
    points: Counter[str]  # where the kills landed, as seen from the ledgers and the sandbox
    accepted_before_final_run: int
    final_runs: list[str]  # the last line of each clean run's output
    seconds: float


def _campaign_file(folder: Path, plan: KillPlan, url: str) -> Path:
    data = {
        "name": "loans", "status": "active", "allowed_schedule": ALWAYS,
        "attempts_per_second": plan.rate, "batch_size": plan.batch_size,
        "provider": {"kind": "http_json", "base_url": url, "conn_id": CONNECTION,
                     "timeout_seconds": 1.0, "deduplicates": plan.deduplicate},
    }
    path = folder / "loans.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _sandbox_get(sandbox: SandboxHandle, path: str, **params: Any) -> dict[str, Any]:
    response = requests.get(f"{sandbox.url}{path}", params=params, timeout=60)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _progress(warehouse: Path, sandbox: SandboxHandle) -> tuple[int, int, int]:
    """(batches planned, recipients marked submitted, recipients the sandbox accepted)."""
    outbox = Outbox(warehouse, "loans")
    results = outbox.results()
    batches = outbox.batches()
    marked = sum(len(b.rows) for b in batches
                 if Outbox.status_of(results.get(b.idempotency_key, [])) == "submitted")
    return len(batches), marked, _sandbox_get(sandbox, "/_sandbox/stats")["recipients"]


def _pending(warehouse: Path) -> int:
    """Batches in the outbox without a final status (not sent yet, or interrupted mid-send)."""
    outbox = Outbox(warehouse, "loans")
    results = outbox.results()
    return sum(Outbox.status_of(results.get(b.idempotency_key, [])) in ("pending", "interrupted")
               for b in outbox.batches())


def _kill_point(before: tuple[int, int, int], after: tuple[int, int, int], batches: int) -> str:
    """Where a kill landed, judged by what the killed run left behind."""
    planned, marked, accepted = after
    if planned < batches:
        return "while writing the outbox"
    if accepted > before[2]:
        return "after a send, before its result" if accepted > marked else "between sends"
    if before[0] < batches:
        return "after planning, before the first send"
    return "before its first send"


def kill_campaign(folder: Path, sandbox: SandboxHandle, plan: KillPlan) -> KillRun:
    """Run one campaign, killing dispatch ``plan.kills`` times, then once to the end."""
    warehouse = folder / "warehouse"
    register_cohorts(warehouse, [write_cohort(warehouse, "loans", "c1",
                                              indian_numbers(plan.recipients))])
    campaign = _campaign_file(folder, plan, sandbox.url)
    arguments = ["dispatch", "--campaign", str(campaign), "--warehouse", str(warehouse),
                 "--now", NOW.isoformat()]
    env = {**os.environ, "COHORTFLOW_PROVIDER_SANDBOX_PROVIDER_KEY": KEY}
    logs = folder / "runs"
    logs.mkdir()
    rng = random.Random(plan.seed)
    started = time.monotonic()
    launcher = Launcher(arguments, env)
    exit_codes, delays, points = [], [], Counter[str]()
    try:
        for number in range(plan.kills):
            before = _progress(warehouse, sandbox)
            delay = rng.uniform(0.05, plan.max_delay)
            pid = launcher.start(logs / f"run-{number:03d}.log")
            time.sleep(delay)
            exit_codes.append(launcher.kill(pid))
            delays.append(delay)
            after = _progress(warehouse, sandbox)
            points[_kill_point(before, after, -(-plan.recipients // plan.batch_size))] += 1
    finally:
        launcher.close()
    accepted_before = _sandbox_get(sandbox, "/_sandbox/stats")["recipients"]
    final_outputs = []
    for _ in range(MAX_FINAL_RUNS):  # with faults on, a batch may run out of attempts: re-run
        final = subprocess.run(
            [str(Path(sys.executable).with_name("cohortflow")), *arguments], env=env,
            cwd=PROJECT, capture_output=True, text=True, timeout=1800,
        )
        assert final.returncode == 0, final.stdout + final.stderr
        final_outputs.append(final.stdout.strip().splitlines()[-1])
        if _pending(warehouse) == 0:
            break
    return KillRun(exit_codes, delays, points, accepted_before, final_outputs,
                   time.monotonic() - started)


def _check_nobody_twice_nobody_lost(
    sandbox: SandboxHandle, folder: Path, plan: KillPlan
) -> dict[str, Any]:
    warehouse, size = folder / "warehouse", plan.recipients
    time.sleep(2.2)  # answers the sandbox gave too late: their work is recorded by now
    stats = _sandbox_get(sandbox, "/_sandbox/stats")
    everyone = _sandbox_get(sandbox, "/_sandbox/recipients", limit=size + 1)
    received = [r["phone_number"] for r in everyone["recipients"]]
    # Nobody received twice: not under the same key, and not under two different keys.
    assert stats["duplicates"] == 0 and stats["repeats"] == 0
    assert everyone["count"] == everyone["distinct_recipients"] == len(set(received))
    assert set(received) <= set(indian_numbers(size))
    # Everyone received exactly once or listed in an unconfirmed batch.
    with catalog.reader(warehouse) as conn:
        rows = conn.execute("select phone_number, status from deliveries where attempt = 0"
                            ).fetchall()
    sent = {phone for phone, status in rows if status == "submitted"}
    unconfirmed = {phone for phone, status in rows if status == "unconfirmed"}
    assert len(rows) == size and sent | unconfirmed == set(indian_numbers(size))
    assert sent <= set(received) <= sent | unconfirmed
    # `cohortflow campaigns --json` adds up and agrees with the sandbox.
    env = {**os.environ, "COHORTFLOW_WAREHOUSE": str(warehouse),
           "COHORTFLOW_CAMPAIGNS": str(folder)}
    listed = subprocess.run(
        [str(Path(sys.executable).with_name("cohortflow")), "campaigns", "--json"], env=env,
        cwd=PROJECT, capture_output=True, text=True, timeout=120, check=True)
    [row] = json.loads(listed.stdout)
    assert row["recipients"] == size
    assert row["sent"] + row["unconfirmed"] + row["waiting"] + row["failed"] == size
    assert row["sent"] == len(sent) and row["unconfirmed"] == len(unconfirmed)
    if plan.deduplicate:
        assert row["unconfirmed"] == 0 and len(received) == size
    return row


def _report(plan: KillPlan, run: KillRun, sandbox: SandboxHandle,
            campaign: dict[str, Any]) -> None:
    counts = _sandbox_get(sandbox, "/_sandbox/stats")["counts"]
    faults = {k: v for k, v in counts.items() if k.startswith("fault_")}
    print(f"\n{plan.kills} kills (delays {min(run.delays):.2f}-{max(run.delays):.2f}s) "
          f"landed {dict(run.points)}; "
          f"{run.accepted_before_final_run}/{plan.recipients} accepted before the final run, "
          f"{counts.get('replays', 0)} replays, faults {faults}, {run.seconds:.1f}s; "
          f"clean runs: {run.final_runs}; campaign: sent {campaign['sent']}, "
          f"unconfirmed {campaign['unconfirmed']}, waiting {campaign['waiting']}, "
          f"failed {campaign['failed']}")


@pytest.fixture
def area(tmp_path: Path) -> Iterator[Path]:
    """A RAM-backed scratch folder when the system has one, else ``tmp_path``."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="cohortflow-kills-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def disk_sandbox(area: Path, request: pytest.FixtureRequest) -> Iterator[SandboxHandle]:
    """A sandbox whose database is a file (not ``:memory:``), set up as ``param`` (a
    :class:`KillPlan`) says: its faults, and whether it de-duplicates."""
    plan: KillPlan = request.param
    with start_sandbox(port=0, db=area / "sandbox.duckdb", faults=plan.faults,
                       keys=SandboxKeys(key=KEY), deduplicate=plan.deduplicate) as handle:
        yield handle


def _kill_test(area: Path, sandbox: SandboxHandle, plan: KillPlan) -> None:
    run = kill_campaign(area, sandbox, plan)
    # Every one of the kills hit a live dispatch process ...
    assert run.exit_codes == [-signal.SIGKILL] * plan.kills
    # ... while the campaign still had recipients to send (so each kill interrupted real work).
    assert run.accepted_before_final_run < plan.recipients
    # Clean runs then finished the campaign: nothing is left pending.
    assert _pending(area / "warehouse") == 0
    counts = _check_nobody_twice_nobody_lost(sandbox, area, plan)
    _report(plan, run, sandbox, counts)


@pytest.mark.parametrize("disk_sandbox", [DEFAULT], indirect=True)
def test_twenty_sigkills_with_provider_faults_send_nobody_twice_and_lose_nobody(
    area: Path, disk_sandbox: SandboxHandle
) -> None:
    _kill_test(area, disk_sandbox, DEFAULT)


@pytest.mark.parametrize("disk_sandbox", [DEDUPLICATED], indirect=True)
def test_twenty_sigkills_against_a_deduplicating_provider_leave_nobody_unconfirmed(
    area: Path, disk_sandbox: SandboxHandle
) -> None:
    _kill_test(area, disk_sandbox, DEDUPLICATED)


@soak_only
@pytest.mark.parametrize("disk_sandbox", [SOAK], indirect=True)
def test_soak_a_hundred_sigkills_with_provider_faults(
    area: Path, disk_sandbox: SandboxHandle
) -> None:
    _kill_test(area, disk_sandbox, SOAK)
