"""A cohort's human-readable report (``report.html``) beside its other artefacts.

One self-contained HTML file (no external JS, CSS or fonts: it must open on machines without
internet access): counts, an inline SVG bar chart of rejection reasons, the first rejected rows
with the phone column masked, the mapping used and where it came from, timings, and the error
of a failed cohort. Rendered by Jinja2 with autoescaping on, so file content can never become
markup.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cohortflow.masking import looks_like_phone, mask_phones_in
from cohortflow.phones.library import mask_phone
from cohortflow.render.csvsafe import FORMULA_TRIGGERS, csv_safe
from cohortflow.render.pages import page_environment
from cohortflow.warehouse.paths import REJECTED_FILE, REPORT_FILE
from cohortflow.warehouse.summary import CohortSummary

SAMPLE_ROWS = 20
#: Longer cells are cut in the sample so one odd row cannot bloat the report.
MAX_CELL_CHARS = 200
_BAR_MAX_WIDTH = 420


@dataclass(frozen=True)
class RejectedSample:
    """The first rows of ``rejected.csv``, ready to show (phone column masked)."""

    headers: list[str]
    rows: list[list[str]]
    phone_column: str | None
    note: str | None = None


@dataclass(frozen=True)
class Bar:
    """One bar of the rejection-reasons chart."""

    label: str
    count: int
    width: int
    y: int


def write_report(out_dir: Path, summary: CohortSummary) -> Path:
    """Write ``report.html`` for the cohort in ``out_dir`` (atomically) and return its path."""
    html = render_report(summary, out_dir / REJECTED_FILE)
    path = out_dir / REPORT_FILE
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path


#: The one entry of ``timings`` that is a count, not seconds: distinct phone values the SQL
#: fast path left to phonenumbers.
LIBRARY_VALUES = "phones_library_values"


def render_report(summary: CohortSummary, rejected_csv: Path | None = None) -> str:
    """The report's HTML for ``summary``; rejected rows are sampled from ``rejected_csv``."""
    sample = (
        rejected_sample(rejected_csv, phone_column(summary))
        if rejected_csv is not None and summary.rejected_records
        else None
    )
    bars = reason_bars(summary.rejected_reasons)
    seconds = {step: value for step, value in summary.timings.items() if step != LIBRARY_VALUES}
    return (
        page_environment()
        .get_template("report.html.j2")
        .render(
            summary=summary,
            bars=bars,
            chart_height=max(len(bars), 1) * 28 + 8,
            sample=sample,
            mapping_rows=mapping_rows(summary.mapping),
            timings=seconds,
            total_seconds=round(sum(seconds.values()), 3),
            library_values=summary.timings.get(LIBRARY_VALUES),
        )
    )


def phone_column(summary: CohortSummary) -> str | None:
    """The file column holding phone numbers, from the mapping used (None if unknown)."""
    mapping = summary.mapping or {}
    phone = mapping.get("phone_number")
    if isinstance(phone, dict) and isinstance(phone.get("column_name"), str):
        return str(phone["column_name"])
    return None


def reason_bars(reasons: dict[str, int]) -> list[Bar]:
    """Bars for the chart, largest first, widths scaled to the largest count."""
    ordered = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    largest = max((count for _, count in ordered), default=0)
    return [
        Bar(
            label=label,
            count=count,
            width=max(2, round(_BAR_MAX_WIDTH * count / largest)) if largest else 0,
            y=4 + index * 28,
        )
        for index, (label, count) in enumerate(ordered)
    ]


def mapping_rows(mapping: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """The mapping as (output field, source, options) rows for a table."""
    if not mapping:
        return []
    rows: list[tuple[str, str, str]] = []
    for group, entries in _mapping_groups(mapping):
        for name, spec in entries.items():
            if not isinstance(spec, dict):
                continue
            source = (
                f"column {spec['column_name']}"
                if spec.get("column_name") is not None
                else f"fixed value {spec.get('value')!r}"
            )
            options = [f"format {spec['format']}"] if spec.get("format") else []
            if spec.get("required"):
                options.append("required")
            rows.append((f"{group}{name}", source, ", ".join(options)))
    return rows


def _mapping_groups(mapping: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    top = {k: v for k, v in mapping.items() if k not in ("app_variables", "app_overrides")}
    return [
        ("", top),
        ("app_variables.", mapping.get("app_variables") or {}),
        ("app_overrides.", mapping.get("app_overrides") or {}),
    ]


def rejected_sample(
    path: Path, phone: str | None, *, limit: int = SAMPLE_ROWS
) -> RejectedSample | None:
    """The first ``limit`` rows of ``rejected.csv`` with the ``phone`` column masked, and every
    other column where one of those rows holds a value written like a phone number.

    When the phone column cannot be found among the headers, no rows are shown at all: a
    sample that might hold full phone numbers is worse than no sample.
    """
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        headers = next(reader, None)
        if headers is None:
            return None
        index = _phone_index(headers, phone)
        if index is None:
            return RejectedSample(
                headers=[],
                rows=[],
                phone_column=phone,
                note="the phone column is unknown, so no rows are shown (download rejected.csv)",
            )
        raw_rows: list[list[str]] = []
        for row in reader:
            if len(raw_rows) >= limit:
                break
            raw_rows.append([_unquote(cell) for cell in row])
    # every column holding a value written like a phone number is masked like the phone column
    # (a second phone column, a phone pushed into another column); the reasons column keeps
    # its text with such values masked inside it (surplus fields are quoted there)
    masked = {index} | {i for row in raw_rows for i, cell in enumerate(row)
                        if looks_like_phone(cell)}
    reasons = len(headers) - 1
    rows = [[mask_phone(cell) if i in masked and i != reasons
             else _cut(mask_phones_in(cell)) if i == reasons else _cut(cell_of(row_cells, i))
             for i, cell in enumerate(row_cells)]
            for row_cells in raw_rows]
    return RejectedSample(headers=headers, rows=rows, phone_column=phone)


def cell_of(cells: list[str], index: int) -> str:
    """A cell as rejected.csv has it (with its spreadsheet-safety quote)."""
    return csv_safe(cells[index]) or ""


def _phone_index(headers: list[str], phone: str | None) -> int | None:
    if phone is None:
        return None
    for index, header in enumerate(headers):
        if _unquote(header).strip() == phone:
            return index
    return None


def _unquote(cell: str) -> str:
    """Undo the spreadsheet-safety quote of ``rejected.csv`` (``'=x`` → ``=x``)."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_TRIGGERS):
        return cell[1:]
    return cell


def _cut(cell: str) -> str:
    return cell if len(cell) <= MAX_CELL_CHARS else cell[: MAX_CELL_CHARS - 1] + "…"
