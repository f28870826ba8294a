"""The stronger peer: ``python -m benchmarks.peer FILE CAMPAIGN OUT``.

What a skilled engineer would write instead of cohortflow, for one campaign's CSV: polars reads
the file with every column as text; ``phonenumbers`` decides each DISTINCT phone value once,
in a pool of two spawned processes (chunks of values; ``benchmarks/peer_phones.py``); the
checks, the first-occurrence dedupe and the outputs are polars expressions; the message
template is compiled once (one Jinja ``Environment(...).from_string``) and, when it is only
text and variables, rendered as a vectorised string concatenation, else per valid row. The
outputs are checked against cohortflow's contracts (polars expressions) and written as
cohortflow writes them: ``recipients.parquet``, ``rejections.parquet`` (row_number,
rejected_reason, reason_code, record) and ``rejected.csv`` (original columns + reasons,
spreadsheet-safe).

Like the naive baseline (``benchmarks/baseline.py``) it reuses cohortflow's configuration
(campaign, its mapping or the inferred one), phone error texts and error detail, never its
pipeline. DNC lists, formatting macros, layouts and campaigns of users are
not supported (the benchmark has none).
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from jinja2 import StrictUndefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from benchmarks import peer_phones
from cohortflow.config import CampaignConfig, FieldMapping, infer_mapping, load_campaign
from cohortflow.render import FORMULA_TRIGGERS
from cohortflow.render import csv_safe as csv_safe_text
from cohortflow.render.jinja import error_detail

WORKERS = 2
#: Distinct values per task: large enough that pickling is a small part, small enough that
#: both workers stay busy to the end.
CHUNK_VALUES = 20_000
#: Chunks submitted and not yet collected: enough to keep both workers busy.
IN_FLIGHT = 4 * WORKERS
TWO_NUMBERS = ("invalid_phone: the cell holds two phone numbers (the parser read the second as "
               "an extension); put each number on a row of its own")
#: A value that is empty or only whitespace, as Python's ``str.isspace`` counts it.
BLANK = r"^[\s\x{1C}-\x{1F}\p{Z}]*$"
_FORMULA = "^[" + "".join(FORMULA_TRIGGERS).replace("-", r"\-") + "]"
REASON_COLUMN = "rejected_reason"
#: The decided phone columns joined to the rows (named apart from any header of the file).
RAW, E164, REGION, ERROR = "phone:raw", "phone:e164", "phone:region", "phone:error"
EXTENSION, SECOND = "phone:extension", "phone:second_number"
DECIDED = {E164: pl.String, REGION: pl.String, ERROR: pl.String, EXTENSION: pl.String,
           SECOND: pl.Boolean}


def decide_phones(pool: ProcessPoolExecutor, phones: pl.Series, region: str) -> pl.DataFrame:
    """One row per distinct non-null value of ``phones``: the value (:data:`RAW`) and what
    the pool decided (:data:`DECIDED`).

    The distinct values go to the workers in chunks of :data:`CHUNK_VALUES`, at most
    :data:`IN_FLIGHT` at a time, and each chunk's results become a frame as soon as they are
    back: only a few chunks are ever Python strings at once (all 10M values as Python
    objects would take gigabytes)."""
    distinct = phones.drop_nulls().unique()
    pending: deque[tuple[pl.Series, Future[peer_phones.Decided]]] = deque()
    frames: list[pl.DataFrame] = []

    def collect() -> None:
        values, future = pending.popleft()
        columns: tuple[list[Any], ...] = future.result()
        frames.append(pl.DataFrame([values.alias(RAW), *(
            pl.Series(name, column, dtype) for (name, dtype), column
            in zip(DECIDED.items(), columns, strict=True))]))

    for start in range(0, distinct.len(), CHUNK_VALUES):
        values = distinct.slice(start, CHUNK_VALUES)
        pending.append((values, pool.submit(peer_phones.decide, values.to_list(), region)))
        if len(pending) > IN_FLIGHT:
            collect()
    while pending:
        collect()
    return pl.concat(frames) if frames else pl.DataFrame(
        schema={RAW: pl.String, **DECIDED})


def simple_parts(ast: nodes.Template) -> list[tuple[bool, str]] | None:
    """The template as (is_variable, text or name) parts when it is only literal text and
    bare variables, else None (it is rendered by Jinja, row by row)."""
    parts: list[tuple[bool, str]] = []
    for statement in ast.body:
        if not isinstance(statement, nodes.Output):
            return None
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append((False, node.data))
            elif isinstance(node, nodes.Name) and node.ctx == "load":
                parts.append((True, node.name))
            else:
                return None
    return parts


def field_expr(name: str, spec: FieldMapping, columns: dict[str, str]) -> pl.Expr:
    """An output field: its column (by trimmed header), or its fixed value."""
    if spec.column_name is not None:
        return pl.col(columns[spec.column_name]).alias(name)
    return pl.lit(spec.value, pl.String).alias(name)


def render(rows: pl.DataFrame, source: str, variables: dict[str, str]) -> pl.DataFrame:
    """``rows`` with ``message`` and ``render_error`` for the rows without ``reasons``
    (``variables``: template name -> column): one vectorised concatenation when the template
    is simple, else Jinja row by row."""
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    ast = env.parse(source)
    template = env.from_string(ast)  # compiled once
    parts = simple_parts(ast)
    passing = pl.col("reasons").is_null()
    if parts is not None and all(part in variables for is_var, part in parts if is_var):
        pieces = [pl.col(variables[part]).fill_null("") if is_var else pl.lit(part)
                  for is_var, part in parts]
        message = pl.concat_str(pieces) if pieces else pl.lit("")
        return rows.with_columns(pl.when(passing).then(message).alias("message"),
                                 pl.lit(None, pl.String).alias("render_error"))
    messages: list[str | None] = []
    errors: list[str | None] = []
    names = list(variables)
    for reasons, *values in rows.select("reasons", *variables.values()).iter_rows():
        message, error = None, None
        if reasons is None:
            try:
                message = template.render({name: "" if value is None else value
                                           for name, value in zip(names, values, strict=True)})
            except Exception as exc:  # bad data for a filter: rejects this row only
                error = f"render_error: template: {error_detail(exc)}"
        messages.append(message)
        errors.append(error)
    return rows.with_columns(pl.Series("message", messages, pl.String),
                             pl.Series("render_error", errors, pl.String))


def reason_column(headers: list[str]) -> str:
    """``rejected_reason``, with ``_`` in front until no header has that name."""
    taken = {header.strip().casefold() for header in headers}
    name = REASON_COLUMN
    while name.casefold() in taken:
        name = "_" + name
    return name


def csv_safe(expr: pl.Expr) -> pl.Expr:
    """Cells that a spreadsheet would read as a formula, with a quote in front."""
    return pl.when(expr.str.contains(_FORMULA)).then(pl.lit("'") + expr).otherwise(expr)


@dataclass(frozen=True)
class Rule:
    """One column of an output contract: the checks cohortflow's contracts make
    (``cohortflow.ingest.contracts``, whose import would bring pandera and pandas: 0.6 s of
    start-up the peer does without)."""

    dtype: type[pl.DataType]
    minimum: int | None = None
    pattern: str | None = None
    unique: bool = False


E164_PATTERN = r"^\+[1-9]\d{6,14}$"
REGION_PATTERN = r"^[A-Z]{2}$|^001$"
REASON_PATTERN = (
    r"^(invalid_phone|missing_required:[^:]+|format_error:[^:]+|render_error|do_not_contact"
    r"|duplicate_phone|duplicate_user|malformed_row): "
)
CONTRACTS: dict[str, dict[str, Rule]] = {
    "Recipients": {"row_number": Rule(pl.Int64, minimum=1, unique=True),
                   "phone_number": Rule(pl.String, pattern=E164_PATTERN, unique=True),
                   "region": Rule(pl.String, pattern=REGION_PATTERN)},
    "Rejections": {"row_number": Rule(pl.Int64, minimum=1, unique=True),
                   "rejected_reason": Rule(pl.String, pattern=REASON_PATTERN),
                   "reason_code": Rule(pl.String)},
}


def check_contract(frame: pl.DataFrame, name: str) -> None:
    """Raise ValueError naming every rule of contract ``name`` that ``frame`` breaks (no
    nulls, the type, the minimum, the whole value matching the pattern, no repeats)."""
    broken = []
    for column, rule in CONTRACTS[name].items():
        values = frame.get_column(column)
        if values.dtype != rule.dtype or values.null_count():
            broken.append(f"{column}: {values.dtype}, {values.null_count()} null(s)")
            continue
        checks = {"minimum": rule.minimum is not None and bool((values < rule.minimum).any()),
                  "pattern": rule.pattern is not None
                  and not values.str.contains(rule.pattern).all(),
                  "unique": rule.unique and values.n_unique() != values.len()}
        broken += [f"{column}: {check}" for check, failed in checks.items() if failed]
    if broken:
        raise ValueError(f"{name} breaks its contract: {'; '.join(broken)}")


def read_text_csv(source: Path) -> pl.DataFrame:
    """Every column as text, an empty cell (quoted or not) as null, ``row_number`` from 1."""
    frame = pl.read_csv(source, infer_schema=False)
    return frame.with_columns(pl.all().replace("", None)).with_row_index(
        "row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int64))


def checked_rows(frame: pl.DataFrame, campaign: CampaignConfig,
                 pool: ProcessPoolExecutor) -> tuple[pl.DataFrame, list[str], bool]:
    """Every row with its ``rejected_reason`` (null for a recipient) and output columns;
    the output field names, and whether the template renders a message."""
    headers = [h for h in frame.columns if h != "row_number"]
    columns = {header.strip(): header for header in headers}
    mapping = campaign.mapping or infer_mapping(list(columns), set(campaign.variables) or None)
    if mapping.phone_number is None or mapping.phone_number.column_name is None:
        raise SystemExit("the peer needs a phone column")
    specs = mapping.output_fields()
    if (campaign.dnc or campaign.layout or campaign.keyed_by_user
            or any(spec.format for spec in specs.values())):
        raise SystemExit("the peer supports no DNC list, formatting macro, layout or campaign "
                         "of users")
    phone = columns[mapping.phone_number.column_name]
    region = campaign.default_region.upper()
    decided = decide_phones(pool, frame.get_column(phone), region)
    rows = frame.join(decided, left_on=phone, right_on=RAW, how="left",
                      maintain_order="left").with_columns(
        [field_expr(name, spec, columns).alias(f"field:{name}") for name, spec in specs.items()])
    phone_reason = (pl.when(pl.col(E164).is_null())
                    .then(pl.lit("invalid_phone: ") + pl.col(ERROR).fill_null(
                        "phone number is empty"))
                    .when(pl.col(SECOND)).then(pl.lit(TWO_NUMBERS)))
    required = [pl.when(pl.col(f"field:{name}").fill_null("").str.contains(BLANK))
                .then(pl.lit(f"missing_required:{name}: required value is empty"))
                for name, spec in specs.items() if spec.required]
    reasons = pl.concat_str([phone_reason, *required], separator="; ", ignore_nulls=True)
    rows = rows.with_columns(pl.when(reasons != "").then(reasons).alias("reasons"))
    has_message = bool(campaign.template)
    if has_message:
        variables = {**{name: f"field:{name}" for name in specs},
                     "phone_number": E164, "region": REGION}
        rows = render(rows, str(campaign.template), variables).with_columns(
            pl.coalesce("reasons", "render_error").alias("reasons"))
    # the first row that passes keeps the number; numbers are grouped as integers (E.164's
    # digits), cheaper to hash than the text
    key = pl.col(E164).str.slice(1).cast(pl.Int64)
    kept = pl.col("row_number").filter(pl.col("reasons").is_null()).min().over(key)
    rows = rows.with_columns(pl.when(pl.col("reasons").is_null() & (kept < pl.col("row_number")))
                             .then(pl.format("duplicate_phone: same number as row {}, which is "
                                             "kept", kept))
                             .otherwise(pl.col("reasons")).alias("rejected_reason"))
    return rows, list(specs), has_message


def write_outputs(rows: pl.DataFrame, headers: list[str], fields: list[str],
                  has_message: bool, out: Path) -> dict[str, int]:
    """Check the outputs against the contracts, write them into ``out``; the counts."""
    valid = rows.filter(pl.col("rejected_reason").is_null())
    extension = (["phone_extension"] if valid.get_column(EXTENSION).is_not_null().any()
                 else [])
    recipients = valid.select(
        "row_number", pl.col(E164).alias("phone_number"), pl.col(REGION).alias("region"),
        *(pl.col(EXTENSION).alias(name) for name in extension),
        *(pl.col(f"field:{name}").alias(name) for name in fields),
        *(["message"] if has_message else []))
    rejected = rows.filter(pl.col("rejected_reason").is_not_null())
    rejections = rejected.select(
        "row_number", "rejected_reason",
        pl.col("rejected_reason").str.split_exact(": ", 1).struct.field("field_0")
        .alias("reason_code"),
        pl.struct(headers).struct.json_encode().alias("record"))
    check_contract(recipients, "Recipients")
    check_contract(rejections, "Rejections")
    out.mkdir(parents=True, exist_ok=True)
    recipients.write_parquet(out / "recipients.parquet", compression="zstd",
                             compression_level=1)
    rejections.write_parquet(out / "rejections.parquet", compression="zstd",
                             compression_level=1)
    reason = reason_column(headers)
    with (out / "rejected.csv").open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow(
            [*(csv_safe_text(h) for h in headers), reason])
        rejected.select(*(csv_safe(pl.col(h)).alias(h) for h in headers),
                        csv_safe(pl.col("rejected_reason")).alias(reason)).write_csv(
            handle, include_header=False)
    return {"total": rows.height, "valid": recipients.height, "rejected": rejected.height}


def process(source: Path, campaign_path: Path, out: Path) -> dict[str, int]:
    """Validate ``source`` for the campaign at ``campaign_path``, write the outputs into
    ``out``; returns the counts."""
    context = multiprocessing.get_context("spawn")  # polars' threads do not survive fork
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        campaign = load_campaign(campaign_path)
        for _ in range(WORKERS):  # the workers start (imports, metadata) while the file is read
            pool.submit(peer_phones.warm_up, campaign.default_region.upper())
        frame = read_text_csv(source)
        headers = [h for h in frame.columns if h != "row_number"]
        rows, fields, has_message = checked_rows(frame, campaign, pool)
    return write_outputs(rows, headers, fields, has_message, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("campaign", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    print(process(args.file, args.campaign, args.out))


if __name__ == "__main__":
    main()
