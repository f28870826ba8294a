"""``cohortflow process | validate | ingest``: the ingest pipeline from the command line."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from cohortflow.errors import CohortflowError

EXIT_FAILED = 2


def _load_inputs(file: Path, mapping: Path | None, campaign: Path | None) -> tuple[Any, Any]:
    from cohortflow.config import default_campaign, load_campaign, load_mapping

    campaign_config = load_campaign(campaign) if campaign else default_campaign("adhoc")
    mapping_model = None
    if mapping is not None:
        mapping_model = load_mapping(mapping)
    else:
        beside = file.with_name(file.name.rsplit(".", 1)[0] + ".mapping.json")
        if beside.is_file():
            mapping_model = load_mapping(beside)
    return campaign_config, mapping_model


def _run_process(
    file: Path,
    mapping: Path | None,
    campaign: Path | None,
    region: str | None,
    dnc: Path | None,
    out: Path,
) -> Any:
    from cohortflow.ingest import CohortRequest, process_cohort

    campaign_config, mapping_model = _load_inputs(file, mapping, campaign)
    request = CohortRequest(
        source=file,
        campaign=campaign_config,
        mapping=mapping_model,
        mapping_source=str(mapping) if mapping else None,
        region=region,
        dnc=dnc,
        source_uri=str(file),
    )
    return process_cohort(request, out)


_FILE = click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
_MAPPING = click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Mapping JSON (Sarvam transformation config). Default: "
    "<file>.mapping.json beside the file, the campaign's, or inferred.",
)
_CAMPAIGN = click.option(
    "--campaign",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Campaign YAML (variables, template, layout, DNC, region).",
)
_REGION = click.option("--region", help="Default phone region (ISO code); overrides the campaign.")
_DNC = click.option(
    "--dnc",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Do-not-contact CSV; overrides the campaign's list.",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")


def _print_summary(summary: Any, out: Path | None, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2, ensure_ascii=False))
        return
    click.echo(f"cohort {summary.cohort_id}  {summary.name}  status={summary.status}")
    click.echo(
        f"  total={summary.total_records}  valid={summary.valid_records}  "
        f"rejected={summary.rejected_records}"
    )
    for code, count in summary.rejected_reasons.items():
        click.echo(f"    {code}: {count}")
    if summary.mapping_inferred:
        click.echo(f"  mapping inferred from headers: {json.dumps(summary.mapping)}")
    if out is not None and summary.status == "completed":
        click.echo(
            f"  outputs: {out / 'summary.json'}, {out / 'recipients.parquet'}, "
            f"{out / 'rejected.csv'}"
        )


@click.command()
@_FILE
@_MAPPING
@_CAMPAIGN
@_REGION
@_DNC
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for summary.json, recipients.parquet and rejected.csv.",
)
@_JSON
def process(
    file: Path,
    mapping: Path | None,
    campaign: Path | None,
    region: str | None,
    dnc: Path | None,
    out: Path,
    as_json: bool,
) -> None:
    """Validate FILE and write summary.json, recipients.parquet and rejected.csv into --out.

    Exits 0 when the cohort completed (rejected rows included), 2 when it failed (the error
    is printed on stderr).

    \b
    Examples:
      cohortflow process landing/loans/june.csv --out out/june
      cohortflow process june.xlsx --mapping june.mapping.json \\
          --campaign include/campaigns/loans.yaml --dnc dnc.csv --out out/june
    """
    from cohortflow.cli.progress import spinner

    try:
        with spinner(f"processing {file.name}"):
            summary = _run_process(file, mapping, campaign, region, dnc, out)
    except CohortflowError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_FAILED)
    _print_summary(summary, out, as_json)
    if summary.status != "completed":
        click.echo(f"error: {summary.error}", err=True)
        sys.exit(EXIT_FAILED)


@click.command()
@click.argument("file", required=False,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_MAPPING
@_CAMPAIGN
@_REGION
@_DNC
@click.option("--rows", default=5, show_default=True, help="How many rejected rows to show.")
@_JSON
def validate(
    file: Path | None,
    mapping: Path | None,
    campaign: Path | None,
    region: str | None,
    dnc: Path | None,
    rows: int,
    as_json: bool,
) -> None:
    """Preview FILE as a cohort without writing anything (counts, first rejections, messages),
    and with --campaign, check what its provider would refuse (credentials, ids, required
    fields, column names) without sending anything.

    \b
    Examples:
      cohortflow validate landing/loans/june.csv --campaign include/campaigns/loans.yaml
      cohortflow validate --campaign include/campaigns/loans.yaml
    """
    if file is None and campaign is None:
        raise click.UsageError("give a FILE to preview, a --campaign to check, or both")
    preview: dict[str, Any] = {}
    summary = None
    if file is not None:
        summary, preview = _preview(file, mapping, campaign, region, dnc, rows)
    problems = _provider_problems(campaign, preview.get("variables", [])) if campaign else []
    if as_json:
        preview.pop("variables", None)
        click.echo(json.dumps({**preview, "provider_problems": problems}, indent=2,
                              ensure_ascii=False))
    else:
        if summary is not None:
            _print_summary(summary, None, False)
            for row in preview["rejected"]:
                click.echo(f"  rejected: {row.get('rejected_reason')}")
            for message in preview["messages"]:
                click.echo(f"  message: {message}")
        if campaign is not None and not problems:
            click.echo(f"{campaign}: the provider settings pass every check made before sending")
    if summary is not None and summary.status != "completed":
        click.echo(f"error: {summary.error}", err=True)
        sys.exit(EXIT_FAILED)
    if problems:
        click.echo("error: " + "\n".join(problems), err=True)
        sys.exit(EXIT_FAILED)


def _preview(file: Path, mapping: Path | None, campaign: Path | None, region: str | None,
             dnc: Path | None, rows: int) -> tuple[Any, dict[str, Any]]:
    """Process ``file`` in a scratch folder: its summary, first rejections and messages, and
    the variable columns its recipients would carry."""
    import csv

    import pyarrow.parquet as pq

    from cohortflow.cli.progress import spinner
    from cohortflow.warehouse import FIXED_RECIPIENT_COLUMNS

    with tempfile.TemporaryDirectory(prefix="cohortflow-validate-") as scratch:
        out = Path(scratch)
        try:
            with spinner(f"validating {file.name}"):
                summary = _run_process(file, mapping, campaign, region, dnc, out)
        except CohortflowError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(EXIT_FAILED)
        preview: dict[str, Any] = {"summary": summary.to_json(), "rejected": [], "messages": [],
                                   "variables": []}
        if summary.status == "completed":
            with (out / "rejected.csv").open(encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                preview["rejected"] = [row for _, row in zip(range(rows), reader, strict=False)]
            table = pq.read_table(out / "recipients.parquet")
            if "message" in table.column_names:
                preview["messages"] = table.column("message").to_pylist()[:3]
            preview["variables"] = [n for n in table.column_names
                                    if n not in FIXED_RECIPIENT_COLUMNS]
    return summary, preview


def _provider_problems(campaign: Path, variables: list[str]) -> list[str]:
    """What the campaign's provider would refuse, one ``<file>: <field>: <message>`` each."""
    from cohortflow.config import load_campaign
    from cohortflow.providers import campaign_problems

    try:
        config = load_campaign(campaign)
    except CohortflowError as exc:
        return [exc.message]
    if config.provider is None:
        return []
    return [f"{config.source}: {p.field}: {p.message}"
            for p in campaign_problems(config, variables)]


@click.command()
@click.option("--campaign-id", help="Only this campaign's landing folder.")
@click.option("--file", "only", help="Only this file (name or path).")
@_JSON
def ingest(campaign_id: str | None, only: str | None, as_json: bool) -> None:
    """Run the landing pipeline once without Airflow: discover, process, publish.

    Locations come from COHORTFLOW_LANDING, COHORTFLOW_WAREHOUSE and COHORTFLOW_CAMPAIGNS.

    \b
    Example:
      COHORTFLOW_LANDING=landing cohortflow ingest --campaign-id loans
    """
    from cohortflow.cli.progress import bar
    from cohortflow.ingest import find_new_files, process_file, publish

    items = find_new_files(campaign_id=campaign_id, file=only)
    processed = []
    with bar("processing landing files", total=len(items)) as advance:
        for done, item in enumerate(items, start=1):
            processed.append(process_file(item))
            advance(done, len(items))
    results = publish(processed)
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
        return
    click.echo(report_table(results))


def report_table(results: list[dict[str, Any]]) -> str:
    """A plain table per cohort: file, status, total, valid, rejected, and output paths."""
    if not results:
        return "no new files in the landing area"
    header = f"{'file':<40} {'status':<10} {'total':>7} {'valid':>7} {'rejected':>8}"
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r['campaign_id'] + '/' + r['name']:<40.40} {r['status']:<10} "
            f"{r.get('total_records', 0):>7} {r.get('valid_records', 0):>7} "
            f"{r.get('rejected_records', 0):>8}"
        )
    lines.append("")
    for r in results:
        if r["status"] == "duplicate":
            lines.append(f"{r['name']}: duplicate of {r['duplicate_of']}")
        elif r["status"] == "failed":
            lines.append(f"{r['name']}: FAILED: {r.get('error')}")
        else:
            lines.append(
                f"{r['name']}: {r['cohort_dir']}/{{recipients.parquet,rejected.csv,summary.json}}"
            )
    return "\n".join(lines)


@click.command()
@click.option(
    "--warehouse",
    type=click.Path(file_okay=False, path_type=Path),
    help="Warehouse folder (default: COHORTFLOW_WAREHOUSE).",
)
@click.option("--campaign-id", help="Only this campaign's cohorts.")
@_JSON
def cohorts(warehouse: Path | None, campaign_id: str | None, as_json: bool) -> None:
    """List the cohorts in the catalog: file, status, counts and where the outputs are.

    \b
    Example:
      cohortflow cohorts --warehouse warehouse --campaign-id loans
    """
    from cohortflow.settings import get_settings
    from cohortflow.warehouse import catalog

    folder = warehouse or Path(get_settings().warehouse)
    try:
        conn = catalog.reader(folder)
    except CohortflowError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_FAILED)
    with conn:
        rows = conn.execute(
            "select campaign_id, name, status, total_records, valid_records, rejected_records, "
            "error, artefacts, cohort_id from cohorts "
            "where $campaign is null or campaign_id = $campaign order by created_at, name",
            {"campaign": campaign_id},
        ).fetchall()
    keys = (
        "campaign_id",
        "name",
        "status",
        "total_records",
        "valid_records",
        "rejected_records",
        "error",
        "cohort_dir",
        "cohort_id",
    )
    results = [dict(zip(keys, row, strict=True)) for row in rows]
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        click.echo(report_table(results))
