"""The Cohorts page of the Airflow UI: a small FastAPI app the plugin mounts on the api-server.

``plugins/cohortflow_ui.py`` mounts :func:`create_app` at ``/cohortflow`` and adds a "Cohorts"
entry to the Airflow navigation that shows ``/cohortflow/`` in the UI's frame. The page reads
the catalog (``warehouse/cohortflow.duckdb``) through a read-only connection opened per request,
so it never holds the catalog against the 1-slot writer, and shows:

* every cohort with its status, counts, top rejection reasons and links to its ``report.html``
  and ``rejected.csv``;
* every campaign with its status and recipients sent / unconfirmed / waiting / failed, from
  the dispatch tables ``batches`` and ``deliveries`` when they exist (every recipient counts
  as waiting before the first dispatch), and every unconfirmed batch an operator must
  resolve (the ``campaign_control`` DAG or ``cohortflow batch resolve``).

Downloads are served only from the cohort folders of the warehouse, by allow-listed file name,
after checking the ids and the resolved path (no traversal, no symlink escape). Every page is
server-rendered with Jinja2 autoescaping; no phone number is shown (``report.html`` masks them).
When Airflow serves the app, every route except the icon needs an Airflow login.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from cohortflow.errors import CohortflowError
from cohortflow.render import page_environment
from cohortflow.settings import get_settings
from cohortflow.sqlfiles import render_sql
from cohortflow.warehouse import REJECTED_FILE, REPORT_FILE, catalog, catalog_path, cohort_dir

if TYPE_CHECKING:
    from fastapi import FastAPI

#: Files of a cohort folder the app serves, with their media types.
DOWNLOADS: dict[str, str] = {
    REPORT_FILE: "text/html; charset=utf-8",
    REJECTED_FILE: "text/csv; charset=utf-8",
}
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
TOP_REASONS = 3
ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor"'
    ' stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
    '<circle cx="9" cy="7" r="4"/><path d="M3 21v-2a4 4 0 0 1 4-4h4a4 4 0 0 1 4 4v2"/>'
    '<path d="M16 3.13a4 4 0 0 1 0 7.75"/><path d="M21 21v-2a4 4 0 0 0-3-3.85"/></svg>'
)


@dataclass(frozen=True)
class CohortRow:
    """One cohort as the page lists it."""

    cohort_id: str
    campaign_id: str
    name: str
    status: str
    total_records: int
    valid_records: int
    rejected_records: int
    top_reasons: list[tuple[str, int]]
    error: str | None
    created_at: str | None
    has_report: bool
    has_rejected: bool


@dataclass
class CampaignRow:
    """One campaign: its status and where its recipients stand in dispatch."""

    campaign_id: str
    status: str = "unknown"
    cohorts: int = 0
    recipients: int = 0
    sent: int = 0
    unconfirmed: int = 0
    waiting: int = 0
    failed: int = 0
    cancelled: int = 0
    rejected: int = 0  # refused by the provider by name
    confirmed: int = 0  # reported by the provider as valid or imported
    provider_rejected: int = 0  # reported by the provider as refused (by count)
    unreported: int = 0  # taken in, no report (yet) from the provider
    batches: int | None = None
    pending_batches: int | None = None
    provider_note: str | None = None  # settings the provider does not hold, an unknown send


@dataclass(frozen=True)
class UnconfirmedBatch:
    """A batch the provider may have: an operator checks with the provider and resolves it."""

    campaign_id: str
    batch_id: str
    recipients: int
    error: str | None
    created_at: str | None


@dataclass
class Overview:
    """Everything the Cohorts page shows."""

    cohorts: list[CohortRow] = field(default_factory=list)
    campaigns: list[CampaignRow] = field(default_factory=list)
    unconfirmed: list[UnconfirmedBatch] = field(default_factory=list)
    dispatch_tables: bool = False
    notice: str | None = None
    generated_at: str = ""


def load_overview(warehouse: Path, campaigns_dir: Path, sql_dir: Path) -> Overview:
    """Read the catalog (read-only) and the campaign states into an :class:`Overview`."""
    overview = Overview(generated_at=_now())
    try:
        conn = catalog.reader(warehouse)
    except CohortflowError:
        overview.notice = (
            f"No catalog yet at {catalog_path(warehouse)}: drop a file into the landing area "
            "and let cohort_ingest publish it (or trigger cohort_ingest with a file)."
        )
        overview.campaigns = _campaign_rows(warehouse, campaigns_dir, [], {}, {})
        return overview
    except duckdb.Error as exc:  # a writer holds the file lock, or the file is damaged
        overview.notice = f"The catalog is busy or unreadable right now ({exc}); refresh shortly."
        return overview
    try:
        conn.execute("set TimeZone = 'UTC'")
        tables = _tables(conn)
        if "cohorts" not in tables:
            overview.notice = "The catalog has no cohorts table yet."
            return overview
        overview.cohorts = _cohort_rows(conn, warehouse, sql_dir)
        counts = {}
        if "recipients" in tables:
            overview.dispatch_tables = "deliveries" in tables
            counts = _rows_by_campaign(
                conn,
                render_sql(
                    sql_dir, "ui/02_campaign_counts.sql", has_deliveries=overview.dispatch_tables,
                    has_batches="batches" in tables,
                ),
            )
        batches = (
            _rows_by_campaign(conn, render_sql(sql_dir, "ui/03_campaign_batches.sql"))
            if "batches" in tables
            else {}
        )
        if "batches" in tables:
            overview.unconfirmed = [
                UnconfirmedBatch(str(campaign_id), str(batch_id), int(recipients), error,
                                 _timestamp(created_at))
                for campaign_id, batch_id, recipients, error, created_at in conn.execute(
                    render_sql(sql_dir, "ui/04_unconfirmed_batches.sql")).fetchall()
            ]
    except duckdb.Error as exc:
        overview.notice = f"The catalog could not be read ({exc})."
        return overview
    finally:
        conn.close()
    overview.campaigns = _campaign_rows(warehouse, campaigns_dir, overview.cohorts, counts, batches)
    return overview


def _tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute(
        "select table_name from information_schema.tables where table_schema = 'main'"
    ).fetchall()
    return {str(name) for (name,) in rows}


def _rows_by_campaign(conn: duckdb.DuckDBPyConnection, sql: str) -> dict[str, dict[str, Any]]:
    cursor = conn.execute(sql)
    names = [column[0] for column in cursor.description or []]
    return {str(row[0]): dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def _cohort_rows(
    conn: duckdb.DuckDBPyConnection, warehouse: Path, sql_dir: Path
) -> list[CohortRow]:
    cursor = conn.execute(render_sql(sql_dir, "ui/01_cohorts.sql"))
    names = [column[0] for column in cursor.description or []]
    cohorts = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        folder = cohort_dir(warehouse, row["campaign_id"], row["cohort_id"])
        cohorts.append(
            CohortRow(
                cohort_id=row["cohort_id"],
                campaign_id=row["campaign_id"],
                name=row["name"] or row["cohort_id"],
                status=row["status"],
                total_records=int(row["total_records"]),
                valid_records=int(row["valid_records"]),
                rejected_records=int(row["rejected_records"]),
                top_reasons=top_reasons(row["rejected_reasons"]),
                error=row["error"],
                created_at=_timestamp(row["created_at"]),
                has_report=(folder / REPORT_FILE).is_file(),
                has_rejected=(folder / REJECTED_FILE).is_file(),
            )
        )
    return cohorts


def top_reasons(reasons_json: str | None, limit: int = TOP_REASONS) -> list[tuple[str, int]]:
    """The ``limit`` most frequent rejection reasons from the catalog's JSON column."""
    if not reasons_json:
        return []
    try:
        reasons = json.loads(reasons_json)
    except ValueError:
        return []
    if not isinstance(reasons, dict):
        return []
    counted = [(str(k), int(v)) for k, v in reasons.items() if isinstance(v, int | float)]
    return sorted(counted, key=lambda item: (-item[1], item[0]))[:limit]


def _campaign_rows(
    warehouse: Path,
    campaigns_dir: Path,
    cohorts: list[CohortRow],
    counts: dict[str, dict[str, Any]],
    batches: dict[str, dict[str, Any]],
) -> list[CampaignRow]:
    ids = {c.campaign_id for c in cohorts} | set(counts) | set(batches)
    if campaigns_dir.is_dir():
        ids |= {p.stem for p in campaigns_dir.glob("*.y*ml") if p.suffix in (".yaml", ".yml")}
    rows = []
    for campaign_id in sorted(ids):
        row = CampaignRow(
            campaign_id=campaign_id, status=campaign_status(campaign_id, warehouse, campaigns_dir),
            provider_note=provider_note(campaign_id, warehouse, campaigns_dir),
        )
        row.cohorts = sum(1 for c in cohorts if c.campaign_id == campaign_id)
        for key in ("recipients", "sent", "unconfirmed", "waiting", "failed", "cancelled",
                    "rejected", "confirmed", "provider_rejected", "unreported"):
            setattr(row, key, int(counts.get(campaign_id, {}).get(key, 0)))
        if campaign_id in batches:
            row.batches = int(batches[campaign_id]["batches"])
            row.pending_batches = int(batches[campaign_id]["pending_batches"])
        rows.append(row)
    return rows


def campaign_status(campaign_id: str, warehouse: Path, campaigns_dir: Path) -> str:
    """The campaign's effective status (config plus status ledger); ``unknown`` if unreadable."""
    try:
        from cohortflow.config import find_campaign
        from cohortflow.dispatch import read_state

        return str(read_state(find_campaign(campaigns_dir, campaign_id), warehouse).status)
    except (CohortflowError, ImportError, OSError, ValueError, KeyError):
        return "unknown"


def provider_note(campaign_id: str, warehouse: Path, campaigns_dir: Path) -> str | None:
    """What an operator must know about the campaign at its provider (None: all is well)."""
    try:
        from cohortflow.config import find_campaign
        from cohortflow.dispatch.provider_setup import attention

        return attention(find_campaign(campaigns_dir, campaign_id), warehouse)
    except (CohortflowError, ImportError, OSError, ValueError, KeyError):
        return None


def artefact_path(warehouse: Path, campaign_id: str, cohort_id: str, name: str) -> Path | None:
    """The file ``name`` of a cohort folder, or None unless it is a real, allowed file there.

    Ids must be plain (letters, digits, ``_ . -``, no ``..``), the name must be one of
    :data:`DOWNLOADS`, and the resolved path (symlinks followed) must stay inside
    ``warehouse/cohorts/``.
    """
    if name not in DOWNLOADS:
        return None
    for part in (campaign_id, cohort_id):
        if not _ID.match(part) or part.strip(".") != part:
            return None
    root = (warehouse / "cohorts").resolve()
    path = (cohort_dir(warehouse, campaign_id, cohort_id) / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def render_page(overview: Overview) -> str:
    """The Cohorts page's HTML."""
    return page_environment().get_template("cohorts.html.j2").render(overview=overview)


def _timestamp(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def create_app(
    warehouse: Path | None = None,
    campaigns_dir: Path | None = None,
    sql_dir: Path | None = None,
    *,
    require_login: bool = True,
) -> FastAPI:
    """The FastAPI app of the Cohorts page.

    Locations default to the ``COHORTFLOW_*`` settings, read on each request. With
    ``require_login`` (the default, for the Airflow api-server) every route but the icon uses
    Airflow's own authentication dependency, so the page is as protected as the Airflow UI.
    """
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse, HTMLResponse, Response

    dependencies = []
    if require_login:
        from airflow.api_fastapi.core_api.security import get_user

        dependencies.append(Depends(get_user))

    app = FastAPI(
        title="cohortflow cohorts",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    def locations() -> tuple[Path, Path, Path]:
        settings = get_settings()
        return (
            warehouse or Path(settings.warehouse),
            campaigns_dir or Path(settings.campaigns),
            sql_dir or Path(settings.sql_dir),
        )

    @app.get("/", response_class=HTMLResponse, dependencies=dependencies)
    def cohorts_page() -> HTMLResponse:
        """Every cohort and campaign, from the catalog."""
        overview = load_overview(*locations())
        return HTMLResponse(render_page(overview), headers={"Cache-Control": "no-store"})

    @app.get("/icon.svg")
    def icon() -> Response:
        """The navigation icon."""
        return Response(ICON_SVG, media_type="image/svg+xml")

    @app.get("/cohorts/{campaign_id}/{cohort_id}/{name}", dependencies=dependencies)
    def cohort_file(campaign_id: str, cohort_id: str, name: str) -> FileResponse:
        """``report.html`` or ``rejected.csv`` of one cohort."""
        path = artefact_path(locations()[0], campaign_id, cohort_id, name)
        if path is None:
            raise HTTPException(status_code=404, detail="no such cohort file")
        if name == REJECTED_FILE:
            return FileResponse(
                path,
                media_type=DOWNLOADS[name],
                filename=f"{campaign_id}_{cohort_id}_{REJECTED_FILE}",
                headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
            )
        return FileResponse(
            path,
            media_type=DOWNLOADS[name],
            headers={
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                "img-src data:; frame-ancestors 'self'",
            },
        )

    return app
