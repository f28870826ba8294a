"""A full run leaks neither the provider key nor full phone numbers.

The run: the example loans file is ingested (discover, process with its mapping, publish to the
catalog) in this process with every logger at DEBUG, and a dispatch with a wrong key is tried
here too (its exception and traceback kept); then, as separate processes with DEBUG logging
and the key in ``COHORTFLOW_PROVIDER_SANDBOX_PROVIDER_KEY``: a dispatch with a wrong key
(refused, exit 2), a dispatch with the right key (``--json``), ``outcomes``, a dispatch of the
retries they scheduled, ``plan``, ``cohorts`` and ``campaigns``.

Everything that comes out is collected: each process's stdout and stderr, every log record
(with its traceback), exception texts, and every file of the run (warehouse, archive,
campaigns; the catalog also as a text dump of every table).

* Neither key (the right one, and the wrong one an operator typed) appears anywhere, not even
  in data artefacts or binary files.
* No full phone number of the file (E.164, its digits, or the national number as typed)
  appears in any log line, exception, command output or operational file: summaries, reports
  and every ledger (outbox, results, outcomes, campaign state, processed files), which refer
  to recipients by row number. Data artefacts are where phones belong and are exempt from
  this check only: ``recipients.parquet``, ``rejections.parquet``, ``rejected.csv`` (rows as
  given, formula-neutralised), the archived landing file and the catalog's tables (the archived
  file's ``.summary.json`` and ``.mapping.json`` beside it are checked like the rest).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import phonenumbers
import pyarrow.parquet as pq
import pytest
import yaml

from cohortflow.sandbox import SandboxHandle, SandboxKeys, start_sandbox

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT / "include" / "examples" / "landing" / "loans"
SECRET = "sk-live-4f9c2e71d8a3b605"
WRONG_SECRET = "sk-typo-0b7e93a1c4d2f886"
ENV_KEY = "COHORTFLOW_PROVIDER_SANDBOX_PROVIDER_KEY"
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
#: Inside the campaign's window (Asia/Kolkata, 09:00-20:00, Monday to Saturday).
NOW = dt.datetime(2026, 3, 2, 10, 30, tzinfo=IST)
#: Runs a CLI command with every logger at DEBUG on stderr, as an operator debugging would.
DEBUG_CLI = (
    "import logging, sys; "
    "logging.basicConfig(level=logging.DEBUG, format='%(levelname)s %(name)s %(message)s'); "
    "from cohortflow.cli import main; main(sys.argv[1:], prog_name='cohortflow')"
)
#: Files that hold recipients' data by design (phones allowed, secrets never).
DATA_ARTEFACTS = ("recipients.parquet", "rejections.parquet", "rejected.csv")


@dataclass
class Outputs:
    """Every text a run produced, by where it came from."""

    texts: dict[str, str] = field(default_factory=dict)  # source -> text (phones forbidden)
    data: dict[str, str] = field(default_factory=dict)  # data artefacts (phones allowed)
    raw: dict[str, bytes] = field(default_factory=dict)  # every file's bytes

    def add(self, source: str, text: str) -> None:
        self.texts[source] = self.texts.get(source, "") + text


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with start_sandbox(port=0, keys=SandboxKeys(key=SECRET)) as handle:
        yield handle


@pytest.fixture
def area(tmp_path: Path, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Landing (the example file and mapping), campaigns (loans at the sandbox), warehouse."""
    shutil.copytree(EXAMPLE, tmp_path / "landing" / "loans")
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    config = yaml.safe_load((PROJECT / "include" / "campaigns" / "loans.yaml").read_text())
    config["provider"]["base_url"] = sandbox.url
    config["dnc"] = str(PROJECT / "include" / "examples" / "dnc" / "loans_dnc.csv")
    (campaigns / "loans.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    for name, folder in (("LANDING", "landing"), ("WAREHOUSE", "warehouse"),
                         ("CAMPAIGNS", "campaigns")):
        monkeypatch.setenv(f"COHORTFLOW_{name}", str(tmp_path / folder))
    monkeypatch.setenv("COHORTFLOW_SETTLE_SECONDS", "0")
    monkeypatch.setenv(ENV_KEY, SECRET)
    yield tmp_path


def _cli(outputs: Outputs, area: Path, *arguments: str, key: str = SECRET) -> int:
    env = {**os.environ, ENV_KEY: key}
    result = subprocess.run([sys.executable, "-c", DEBUG_CLI, *arguments], env=env,
                            cwd=PROJECT, capture_output=True, text=True, timeout=300)
    label = " ".join(arguments[:1]) + (" (wrong key)" if key != SECRET else "")
    outputs.add(f"{label}: stdout", result.stdout)
    outputs.add(f"{label}: stderr", result.stderr)
    return result.returncode


def _ingest(outputs: Outputs) -> None:
    from cohortflow.ingest.tasks import find_new_files, process_file, publish

    results = publish([process_file(item) for item in find_new_files()])
    assert [r["status"] for r in results] == ["completed"]
    outputs.add("ingest: results", json.dumps(results, default=str))


def _refused_here(outputs: Outputs, area: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dispatch with a wrong key in this process: keep its exception text and traceback."""
    from cohortflow.config import load_campaign
    from cohortflow.dispatch import run_dispatch
    from cohortflow.errors import ProviderError

    monkeypatch.setenv(ENV_KEY, WRONG_SECRET)
    campaign = load_campaign(area / "campaigns" / "loans.yaml")
    with pytest.raises(ProviderError) as refused:
        run_dispatch(campaign, area / "warehouse", NOW)
    monkeypatch.setenv(ENV_KEY, SECRET)
    outputs.add("exception (wrong key)", f"{refused.value}\n{refused.value!r}\n"
                + "".join(traceback.format_exception(refused.value)))


def _collect_files(outputs: Outputs, area: Path) -> None:
    for path in sorted(p for p in area.rglob("*") if p.is_file()):
        relative = path.relative_to(area)
        data = path.read_bytes()
        outputs.raw[str(relative)] = data
        if path.suffix in (".duckdb", ".wal", ".parquet") or path.name.startswith("."):
            continue  # binary (checked as bytes) or a lock file; the catalog is dumped below
        text = data.decode("utf-8", errors="replace")
        archived_input = relative.parts[0] == "archive" and path.suffix != ".json"
        is_data = path.name in DATA_ARTEFACTS or archived_input
        (outputs.data if is_data else outputs.texts)[str(relative)] = text
    for table, text in _catalog_dump(area / "warehouse").items():
        outputs.data[f"catalog table {table}"] = text


def _catalog_dump(warehouse: Path) -> dict[str, str]:
    with duckdb.connect(str(warehouse / "cohortflow.duckdb"), read_only=True) as conn:
        tables = [row[0] for row in conn.execute("show tables").fetchall()]
        return {table: "\n".join(map(str, conn.execute(f'select * from "{table}"').fetchall()))
                for table in tables}


def _phone_forms(warehouse: Path) -> set[str]:
    """Every valid number of the input file: E.164, its digits, the national number."""
    numbers = {str(p) for p in pq.read_table(
        next(warehouse.rglob("recipients.parquet")), columns=["phone_number"]
    ).column("phone_number").to_pylist()}
    source = (EXAMPLE / "june_cohort.csv").read_text(encoding="utf-8")
    for match in phonenumbers.PhoneNumberMatcher(source, "IN"):
        numbers.add(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164))
    forms = set()
    for number in numbers:
        forms |= {number, number.lstrip("+"), number.removeprefix("+91")}
    return forms


def _after_the_retries_are_due() -> dt.datetime:
    """Noon in the window two days on: the sandbox dates call outcomes by the wall clock."""
    day = dt.datetime.now(IST).replace(hour=12, minute=0, second=0, microsecond=0)
    day += dt.timedelta(days=2)
    return day + dt.timedelta(days=1) if day.weekday() == 6 else day  # Sundays are closed


def test_a_full_run_leaks_no_secret_and_no_full_phone_number(
    area: Path, sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    outputs = Outputs()
    warehouse = area / "warehouse"
    campaign = ["--campaign", str(area / "campaigns" / "loans.yaml"), "--warehouse",
                str(warehouse)]
    now = ["--now", NOW.isoformat()]
    later = ["--now", _after_the_retries_are_due().isoformat()]

    _ingest(outputs)
    _refused_here(outputs, area, monkeypatch)
    assert _cli(outputs, area, "dispatch", *campaign, *now, key=WRONG_SECRET) == 2
    assert _cli(outputs, area, "dispatch", *campaign, *now, "--json") == 0
    assert _cli(outputs, area, "outcomes", *campaign, *later) == 0
    assert _cli(outputs, area, "dispatch", *campaign, *later) == 0
    assert _cli(outputs, area, "plan", *campaign, *later) == 0
    assert _cli(outputs, area, "cohorts", "--warehouse", str(warehouse)) == 0
    assert _cli(outputs, area, "campaigns", "--warehouse", str(warehouse)) == 0

    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    outputs.add("logs of this process", "\n".join(formatter.format(r) for r in caplog.records))
    _collect_files(outputs, area)

    # The run did what it should: refused twice, then sent and retried; artefacts all there.
    stats = sandbox.state.counts
    assert stats["status_401"] == 2 and stats["status_200"] >= 3
    assert sum("HTTP 401" in t for t in outputs.texts.values()) >= 2
    files = " ".join([*outputs.texts, *outputs.data])
    for name in ("report.html", "summary.json", "rejected.csv", "ledgers/outbox",
                 "ledgers/results", "ledgers/outcomes", "archive", "catalog table deliveries"):
        assert name in files, f"the run left no {name}"
    # Neither key anywhere, not even in data artefacts or binary files.
    everything = {**outputs.texts, **outputs.data}
    for secret in (SECRET, WRONG_SECRET):
        assert [s for s, t in everything.items() if secret in t] == []
        assert [p for p, b in outputs.raw.items() if secret.encode() in b] == []
    # No full phone number outside the data artefacts (which do hold them).
    phones = _phone_forms(warehouse)
    cohort_id = next(warehouse.rglob("summary.json")).parent.name.split("=")[1]
    assert len(phones) == 3 * 8
    holding = {Path(s).name for s, t in outputs.data.items() if any(p in t for p in phones)}
    assert {"rejected.csv", f"{cohort_id}__june_cohort.csv"} <= holding  # the check can see
    leaks = {source: sorted(p for p in phones if p in text)
             for source, text in outputs.texts.items()}
    assert {source: found for source, found in leaks.items() if found} == {}
