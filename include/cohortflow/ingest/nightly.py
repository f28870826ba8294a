"""Nightly SQL cohorts: ``sql/cohorts/<name>.sql`` becomes one cohort per night.

An analyst writes one DuckDB ``select`` per file, templated with Jinja: ``{{ ds }}`` (the
night's date in the campaign's timezone, ``YYYY-MM-DD``), ``{{ ds_nodash }}``, ``{{ campaign }}``
(the campaign config, e.g. ``{{ campaign.default_region }}``), ``{{ project }}`` and
``{{ warehouse }}`` (folders, for ``read_csv('{{ project }}/...')``), and the filter
``sql_string`` (``{{ campaign.name | sql_string }}`` → a quoted SQL literal). The analysts'
catalog is attached read-only as ``catalog`` (``select ... from catalog.recipients``; a
snapshot taken under the catalog lock). The header names the campaign, else the file's name
is the campaign id::

    -- campaign: loans
    -- schedule: 0 2 * * *        (optional; cron in the campaign's timezone)
    -- description: EMIs due in the next three days

The result is written to a CSV and goes through :func:`cohortflow.ingest.process_cohort`,
exactly like a dropped file (mapping, checks, DNC, dedupe, contracts), into a cohort whose id
is fixed by (campaign, name, date): running or backfilling a date again replaces that date's
cohort. Once dispatch has planned batches for a cohort it is kept as it is, so a re-run never
changes what row numbers mean to the outbox (which de-duplicates by cohort and row).

DAG files call :func:`find_sql_cohorts` and :func:`campaign_timezone` at parse time, so this
module's top level imports nothing heavy. The tasks themselves are in
:mod:`cohortflow.ingest.tasks`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cohortflow.errors import CohortError, ConfigError
from cohortflow.settings import PROJECT_ROOT, get_settings
from cohortflow.warehouse.paths import ledger_dir, safe_component

if TYPE_CHECKING:
    import duckdb

    from cohortflow.config import CampaignConfig

log = logging.getLogger(__name__)

#: Every night at 02:00 in the campaign's timezone, unless the file's header says otherwise.
DEFAULT_SCHEDULE = "0 2 * * *"
_HEADER = re.compile(r"^--\s*(campaign|schedule|description)\s*:\s*(.*?)\s*$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9_]{1,60}$")


@dataclass(frozen=True)
class SqlCohort:
    """One ``sql/cohorts/<name>.sql`` file and what its header says."""

    name: str
    path: Path
    campaign_id: str
    schedule: str = DEFAULT_SCHEDULE
    description: str = ""

    @property
    def dag_id(self) -> str:
        """The Airflow DAG that runs it."""
        return f"nightly_{self.name}"


def sql_cohorts_dir() -> Path:
    """The folder of SQL cohorts: ``cohorts/`` in ``COHORTFLOW_SQL_DIR``."""
    return Path(get_settings().sql_dir) / "cohorts"


def campaigns_dir() -> Path:
    """The folder of campaign configs (``COHORTFLOW_CAMPAIGNS``)."""
    return Path(get_settings().campaigns)


def read_header(path: Path) -> dict[str, str]:
    """The ``-- key: value`` lines of the comment block at the top of a SQL file."""
    header: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            stripped = line.strip()
            if not stripped:
                continue
            if not stripped.startswith("--"):
                break
            match = _HEADER.match(stripped)
            if match:
                header.setdefault(match.group(1).lower(), match.group(2))
    return header


def find_sql_cohorts(folder: Path | None = None) -> list[SqlCohort]:
    """Every ``<name>.sql`` in the folder (names of letters, digits and ``_``), by name."""
    folder = folder or sql_cohorts_dir()
    if not folder.is_dir():
        return []
    cohorts = []
    for path in sorted(folder.glob("*.sql")):
        if not _NAME.match(path.stem):
            log.warning("%s: skipped; name it with letters, digits and _ only", path)
            continue
        header = read_header(path)
        cohorts.append(
            SqlCohort(
                name=path.stem,
                path=path,
                campaign_id=header.get("campaign") or path.stem,
                schedule=header.get("schedule") or DEFAULT_SCHEDULE,
                description=header.get("description", ""),
            )
        )
    return cohorts


def campaign_timezone(campaign_id: str, folder: Path | None = None) -> str:
    """``allowed_schedule.timezone`` of the campaign's YAML (``Asia/Kolkata`` by default).

    A plain YAML read, cheap enough for DAG parsing; the full config is validated when the
    cohort runs.
    """
    folder = folder or campaigns_dir()
    for suffix in (".yaml", ".yml"):
        path = folder / f"{campaign_id}{suffix}"
        if path.is_file():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            schedule = data.get("allowed_schedule") if isinstance(data, dict) else None
            zone = schedule.get("timezone") if isinstance(schedule, dict) else None
            return str(zone or "Asia/Kolkata")
    log.warning("campaign %r has no config in %s; using UTC", campaign_id, folder)
    return "UTC"


def nightly_cohort_id(campaign_id: str, name: str, ds: str) -> str:
    """The cohort id of one night: the same (campaign, query, date) is always the same cohort."""
    return hashlib.sha256(f"nightly:{campaign_id}:{name}:{ds}".encode()).hexdigest()[:16]


def local_date(logical_date: Any, timezone: str) -> str:
    """The night's date: ``logical_date`` (an ISO string or datetime) in ``timezone``."""
    import pendulum

    if isinstance(logical_date, str):
        parsed = pendulum.parse(logical_date)
        if not isinstance(parsed, pendulum.DateTime):
            raise ValueError(f"not a date and time: {logical_date!r}")
        logical_date = parsed
    return str(pendulum.instance(logical_date).in_timezone(timezone).date().isoformat())


def find_sql_cohort(name: str, folder: Path | None = None) -> SqlCohort:
    """The SQL cohort called ``name``; a :class:`ConfigError` naming the folder if missing."""
    folder = folder or sql_cohorts_dir()
    for cohort in find_sql_cohorts(folder):
        if cohort.name == name:
            return cohort
    raise ConfigError(f"{folder}/{name}.sql: no such SQL cohort", code="no_sql_cohort")


# --------------------------------------------------------------------------- running one night


def render_query(cohort: SqlCohort, ds: str, campaign: CampaignConfig, warehouse: Path) -> str:
    """The query with its Jinja placeholders filled (sandboxed; unknown names are errors)."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters["sql_string"] = sql_string
    context = {
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "campaign": {"campaign_id": campaign.campaign_id, **campaign.model_dump(mode="json")},
        "project": str(PROJECT_ROOT),
        "warehouse": str(warehouse),
    }
    try:
        return env.from_string(cohort.path.read_text(encoding="utf-8")).render(context)
    except jinja2.TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f"{cohort.path}:{line}" if line else str(cohort.path)
        raise ConfigError(f"{where}: {exc}", code="sql_template") from exc


def sql_string(value: Any) -> str:
    """A SQL string literal for ``value`` (quotes doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def already_dispatched(warehouse: Path, campaign_id: str, cohort_id: str) -> bool:
    """Whether dispatch has written outbox batches for the cohort."""
    folder = ledger_dir(warehouse, "outbox") / safe_component(campaign_id)
    folder = folder / safe_component(cohort_id)
    return folder.is_dir() and any(folder.iterdir())


def run_query(conn: duckdb.DuckDBPyConnection, query: str, target: Path, cohort: SqlCohort) -> None:
    """Write the query's result as a CSV with a header (every value as text)."""
    import duckdb

    body = query.strip().rstrip(";")
    try:
        conn.execute(f"copy (\n{body}\n) to '{target}' (header, delimiter ',')")
    except duckdb.Error as exc:
        raise CohortError(f"{cohort.path}: the query failed: {exc}", code="sql_error") from exc
