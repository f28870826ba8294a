"""Small helpers for the ingest specification tests: write a cohort file, run it, read outputs.

Fixtures stay literal and beside each test; these helpers only remove the plumbing.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from cohortflow.config import CampaignConfig, Mapping, parse_mapping
from cohortflow.ingest import CohortRequest, process_cohort
from cohortflow.warehouse.summary import CohortSummary

#: The mapping most tests use: phone, a required identifier and one variable.
BASIC_MAPPING: dict[str, Any] = {
    "phone_number": {"column_name": "phone"},
    "user_identifier": {"column_name": "customer_id", "required": True},
    "app_variables": {"name": {"column_name": "name"}},
}


def python_process(code: str, *, env: dict[str, str] | None = None
                   ) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter of this environment (what a new process imports and
    sets up, which a test in this one cannot see); its output is captured as text."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False, env=env)


def scratch_folders(root: Path) -> list[str]:
    """The workspace scratch folders left in ``root`` (see the ``scratch_root`` fixture)."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith("cohortflow-"))


def write_text(folder: Path, name: str, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` byte-for-byte (no newline translation) and return the path."""
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def make_campaign(**settings: Any) -> CampaignConfig:
    """A campaign ``test`` with the given settings (region IN unless told)."""
    settings.setdefault("campaign_id", "test")
    settings.setdefault("name", "Test campaign")
    return CampaignConfig.model_validate(settings)


def make_mapping(data: dict[str, Any] | None = None) -> Mapping:
    """A validated mapping; :data:`BASIC_MAPPING` by default."""
    return parse_mapping(data if data is not None else BASIC_MAPPING, source="test.mapping.json")


@dataclass
class Outcome:
    """What one run of the pipeline left in its output folder."""

    summary: CohortSummary
    out_dir: Path

    @property
    def summary_json(self) -> dict[str, Any]:
        """``summary.json`` as written."""
        data: dict[str, Any] = json.loads((self.out_dir / "summary.json").read_text("utf-8"))
        return data

    @property
    def recipients(self) -> list[dict[str, Any]]:
        """``recipients.parquet`` rows as dicts, in file order."""
        rows: list[dict[str, Any]] = pq.read_table(self.out_dir / "recipients.parquet").to_pylist()
        return rows

    @property
    def recipient_columns(self) -> list[str]:
        """Column names of ``recipients.parquet``."""
        return list(pq.read_schema(self.out_dir / "recipients.parquet").names)

    @property
    def rejected_header(self) -> list[str]:
        """The header row of ``rejected.csv``."""
        with (self.out_dir / "rejected.csv").open(encoding="utf-8", newline="") as handle:
            return next(csv.reader(handle))

    @property
    def rejected(self) -> list[dict[str, str]]:
        """``rejected.csv`` rows as dicts (keys are the written headers)."""
        with (self.out_dir / "rejected.csv").open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))

    def reason_of(self, row_number: int) -> str:
        """The ``rejected_reason`` of a rejected data row (from ``rejections.parquet``)."""
        table = pq.read_table(self.out_dir / "rejections.parquet").to_pylist()
        reasons = [r["rejected_reason"] for r in table if r["row_number"] == row_number]
        assert reasons, f"row {row_number} was not rejected"
        return str(reasons[0])

    @property
    def rejected_row_numbers(self) -> list[int]:
        """Row numbers of the rejected rows, in file order."""
        table = pq.read_table(self.out_dir / "rejections.parquet").to_pylist()
        return [int(r["row_number"]) for r in table]

    @property
    def published(self) -> bool:
        """Whether recipients or rejected rows were written."""
        return (self.out_dir / "recipients.parquet").exists() or (
            self.out_dir / "rejected.csv"
        ).exists()


def run(
    source: Path,
    *,
    mapping: Mapping | dict[str, Any] | None = None,
    campaign: CampaignConfig | None = None,
    region: str | None = None,
    dnc: Path | None = None,
    infer: bool = False,
) -> Outcome:
    """Process ``source`` into ``<source folder>/out``; :data:`BASIC_MAPPING` unless ``infer``."""
    if isinstance(mapping, dict):
        mapping = make_mapping(mapping)
    if mapping is None and not infer:
        mapping = make_mapping()
    out_dir = source.parent / "out"
    request = CohortRequest(
        source=source,
        campaign=campaign or make_campaign(),
        mapping=mapping,
        region=region,
        dnc=dnc,
    )
    return Outcome(process_cohort(request, out_dir), out_dir)


def artefacts(out_dir: Path) -> dict[str, object]:
    """Everything a processed cohort published but what varies between runs (timings, the
    source path, timestamps): to compare two runs' outputs."""
    summary = json.loads((out_dir / "summary.json").read_text("utf-8"))
    for varying in ("timings", "source", "created_at", "updated_at"):
        summary.pop(varying)
    return {
        "summary": summary,
        "recipients": pq.read_table(out_dir / "recipients.parquet").to_pylist(),
        "rejections": pq.read_table(out_dir / "rejections.parquet").to_pylist(),
        "rejected.csv": (out_dir / "rejected.csv").read_bytes(),
    }


def assert_failed(outcome: Outcome, code: str, *fragments: str) -> None:
    """The cohort failed with ``code``, published nothing, and the error names each fragment."""
    summary = outcome.summary_json
    assert summary["status"] == "failed", summary
    assert summary["error_code"] == code, summary["error"]
    for fragment in fragments:
        assert fragment in summary["error"], f"{fragment!r} not in {summary['error']!r}"
    assert not outcome.published
    assert summary["valid_records"] == 0
    assert "Traceback" not in summary["error"]


Cell = str | int | float | None


def write_xlsx(folder: Path, name: str, rows: list[list[Cell]], *, sheets: int = 1) -> Path:
    """An .xlsx whose first sheet holds ``rows`` (numbers stay numeric cells)."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    for extra in range(1, sheets):
        workbook.create_sheet(f"Other{extra}").append(["phone"])
    path = folder / name
    workbook.save(path)
    return path


def write_xls(folder: Path, name: str, rows: list[list[Cell]]) -> Path:
    """A legacy .xls (BIFF8) written with xlwt."""
    import xlwt

    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Sheet1")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    path = folder / name
    workbook.save(str(path))
    return path


def write_ods(folder: Path, name: str, rows: list[list[Cell]]) -> Path:
    """An OpenDocument spreadsheet written with odfpy; numbers are float cells."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    table = Table(name="Sheet1")
    for row in rows:
        table_row = TableRow()
        for value in row:
            if isinstance(value, int | float):
                cell = TableCell(valuetype="float", value=value)
                cell.addElement(P(text=str(value)))
            elif value is None:
                cell = TableCell()
            else:
                cell = TableCell(valuetype="string")
                cell.addElement(P(text=value))
            table_row.addElement(cell)
        table.addElement(table_row)
    document.spreadsheet.addElement(table)
    path = folder / name
    document.save(str(path))
    return path
