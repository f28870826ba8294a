"""The cohort's output fields: checked against the file and the campaign, then rendered.

An output field is one mapped value (identifier, variable or override): a positional column of
the raw table or a fixed value, optionally formatted. Messages and layouts are rendered from the
fields in SQL when the template is simple (:mod:`cohortflow.render.sql_templates`), else by
Jinja row by row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from cohortflow.config import CampaignConfig, Mapping
from cohortflow.errors import CohortError
from cohortflow.ingest.raw import RawCohort
from cohortflow.masking import mask_phones_in, masked_list
from cohortflow.render.jinja import LayoutTemplate, MessageTemplate, check_template, render_rows
from cohortflow.render.sql_templates import message_expression
from cohortflow.settings import get_settings


@dataclass(frozen=True)
class OutputField:
    """One output column: where it comes from in ``raw_rows`` and how it is checked."""

    index: int
    name: str
    source_sql: str  # positional column (c3) or a bound parameter ($value_2)
    format: str | None
    required: bool
    column: str | None = None  # the positional column it is read from, if any

    @property
    def stored(self) -> bool:
        """Whether its value is kept per row in ``final_all`` (formatted or fixed); otherwise
        the outputs read the file's cell again (``column``)."""
        return self.format is not None or self.column is None

    @property
    def output_sql(self) -> str:
        """Its value when the outputs are written (04_recipients.sql)."""
        return f"value_{self.index}" if self.stored else str(self.column)


def output_fields(raw: RawCohort, mapping: Mapping, campaign: CampaignConfig) -> list[OutputField]:
    """Blocking checks of the mapping against the headers and the campaign's variables (for
    a campaign of users, :func:`check_user_fields` too)."""
    if campaign.keyed_by_user:
        check_user_fields(mapping, campaign)
    elif mapping.phone_number is None:
        raise CohortError(
            "the mapping names no phone_number column; add one (the campaign's recipients are "
            "called or messaged by phone)", code="missing_column")
    named = [("phone_number", mapping.phone_number)] if mapping.phone_number else []
    missing = [
        (name, m.column_name)
        for name, m in [*named, *mapping.output_fields().items()]
        if m.column_name is not None and m.column_name not in raw.headers
    ]
    if missing:
        described = ", ".join(f"{mask_phones_in(col)!r} (for {name})" for name, col in missing)
        raise CohortError(
            f"mapped column(s) {described} not found among the headers; headers are: "
            f"{masked_list(raw.headers)}. Fix the mapping's column_name or the file's header.",
            code="missing_column",
        )
    if campaign.variables:
        undeclared = sorted(set(mapping.app_variables) - set(campaign.variables))
        if undeclared:
            raise CohortError(
                f"app_variables {', '.join(undeclared)} are not declared by campaign "
                f"{campaign.campaign_id!r} (declared: {', '.join(campaign.variables)}); "
                "remove them from the mapping or declare them in the campaign config",
                code="undeclared_variable",
            )
        unmapped = sorted(
            name
            for name, spec in campaign.variables.items()
            if spec.required and name not in mapping.app_variables
        )
        if unmapped:
            raise CohortError(
                f"required variable(s) {', '.join(unmapped)} of campaign "
                f"{campaign.campaign_id!r} are not mapped; add them to app_variables",
                code="unmapped_variable",
            )
    check_output_names(list(mapping.output_fields()))
    fields = []
    for index, (name, source) in enumerate(mapping.output_fields().items(), start=1):
        column = raw.column_for(source.column_name) if source.column_name is not None else None
        source_sql = column or f"$value_{index}::varchar"
        required = source.required or (campaign.keyed_by_user and name == USER_KEY)
        fields.append(OutputField(index, name, source_sql, source.format, required, column))
    return fields


#: The field a campaign of users is keyed and de-duplicated by.
USER_KEY = "user_identifier"
_COLUMN_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class DedupeKey:
    """What makes two rows the same recipient: the number (``phone_key``, its E.164 digits as
    an integer) or, for a campaign of users, the user identifier's value (``user_key``)."""

    column: str
    sql_type: str
    value_sql: str  # its expression over 02_row_checks.sql's fields
    reason: str  # the rejection code of a repeat, and what it repeats


def dedupe_key(campaign: CampaignConfig, fields: list[OutputField]) -> DedupeKey:
    """The key of the campaign's recipients (see :class:`DedupeKey`)."""
    if not campaign.keyed_by_user:
        return DedupeKey("phone_key", "bigint", "substr(phone_lookup.e164, 2)::bigint",
                         "duplicate_phone: same number as row")
    user = next(f for f in fields if f.name == USER_KEY)
    return DedupeKey("user_key", "varchar", f"fields.value_{user.index}",
                     "duplicate_user: same user_identifier as row")


def check_user_fields(mapping: Mapping, campaign: CampaignConfig) -> None:
    """Blocking checks for a campaign whose recipients are users (CometChat): an identifier is
    mapped, no Sarvam overrides, and every variable is one the campaign declares (its
    template's ``variableSchema``) with a name CometChat takes as a CSV column."""
    if mapping.user_identifier is None:
        raise CohortError(
            f"campaign {campaign.campaign_id!r} sends to users (CometChat), so its cohorts are "
            "keyed by user_identifier: map it to the user id column (e.g. user_id)",
            code="missing_column")
    if mapping.app_overrides:
        raise CohortError(
            f"app_overrides {', '.join(mapping.app_overrides)} are Sarvam settings, not template "
            f"variables of campaign {campaign.campaign_id!r} (CometChat); remove them from the "
            "mapping", code="undeclared_variable")
    undeclared = [name for name in mapping.app_variables if name not in campaign.variables]
    if undeclared:
        declared = ", ".join(campaign.variables) or "none"
        raise CohortError(
            f"column(s) {', '.join(map(repr, undeclared))} are not variables of campaign "
            f"{campaign.campaign_id!r}'s template (its variableSchema, the campaign's "
            f"`variables`: {declared}); rename the columns in the mapping or declare them",
            code="undeclared_variable")
    bad = [name for name in mapping.app_variables if not _COLUMN_NAME.match(name)]
    if bad:
        raise CohortError(
            f"variable name(s) {', '.join(map(repr, bad))} cannot be CometChat CSV columns "
            "(letters, digits, '_' and '-' only); rename them in the mapping and the campaign",
            code="undeclared_variable")


#: The columns recipients.parquet has besides the mapping's fields.
RECIPIENT_COLUMNS = ("row_number", "phone_number", "region", "phone_extension", "message",
                     "payload")


def check_output_names(names: list[str]) -> None:
    """Blocking: two output columns whose names differ only in case (``name`` and ``Name``)
    cannot both be columns of recipients.parquet (DuckDB would rename one ``Name_1``)."""
    by_key: dict[str, list[str]] = {}
    for name in [*RECIPIENT_COLUMNS, *names]:
        by_key.setdefault(name.casefold(), []).append(name)
    clashes = [spelled for spelled in by_key.values() if len(spelled) > 1]
    if clashes:
        described = "; ".join(" and ".join(map(repr, spelled)) for spelled in clashes)
        raise CohortError(
            f"output fields {described} differ only in case, so they cannot be columns of "
            "recipients.parquet side by side; rename one in the mapping (or the header, for an "
            "inferred mapping)",
            code="name_collision",
        )


def field_params(mapping: Mapping, fields: list[OutputField]) -> dict[str, Any]:
    """The bound parameters (``$value_<n>``) of the fields that are fixed values."""
    sources = list(mapping.output_fields().values())
    return {
        f"value_{f.index}": sources[f.index - 1].value
        for f in fields
        if sources[f.index - 1].value is not None
    }


def compile_templates(
    campaign: CampaignConfig, fields: list[OutputField]
) -> tuple[MessageTemplate | None, LayoutTemplate | None]:
    """The campaign's template and layout, compiled in Jinja's sandbox; a template that names
    a variable the fields do not provide, or reaches Python internals, is a ConfigError."""
    available = {f.name for f in fields} | {"phone_number", "region"}
    message = layout = None
    if campaign.template is not None:
        message = MessageTemplate.compile(campaign.template, field="template")
        check_template(message, available, field="template")
    if campaign.layout is not None:
        layout = LayoutTemplate.compile(campaign.layout, field="layout")
        check_template(layout, available, field="layout")
    return message, layout


def message_sql(
    fields: list[OutputField],
    message: MessageTemplate | None,
    layout: LayoutTemplate | None,
) -> str | None:
    """The SQL expression rendering the message in 03_outcomes.sql, or None when Jinja must
    render (a layout, a template that is not simple, or fast paths off). Without any template
    the message is NULL."""
    if not get_settings().fast_paths or layout is not None:
        return None
    if message is None:
        return "null::varchar"
    return message_expression(message, {
        "phone_number": "phone_number", "region": "region",
        **{f.name: f"value_{f.index}" for f in fields}})


def render_with_jinja(
    conn: duckdb.DuckDBPyConnection,
    fields: list[OutputField],
    message: MessageTemplate | None,
    layout: LayoutTemplate | None,
) -> None:
    """Render the message and layout with Jinja for the rows of ``checked`` that passed every
    check so far, into the Arrow table ``rendered``."""
    empty = pa.table(
        {
            "row_number": pa.array([], pa.int64()),
            "message": pa.array([], pa.string()),
            "payload": pa.array([], pa.string()),
            "render_error": pa.array([], pa.string()),
        }
    )
    if message is None and layout is None:
        conn.register("rendered", empty)
        return
    value_columns = ", ".join(f"value_{f.index}" for f in fields)
    candidates = conn.sql(
        "select row_number, e164, region"
        + (f", {value_columns}" if value_columns else "")
        + " from checked where reasons is null order by row_number"
    ).to_arrow_table()
    context_columns: dict[str, list[str | None]] = {
        "phone_number": candidates.column("e164").to_pylist(),
        "region": candidates.column("region").to_pylist(),
    }
    for f in fields:
        context_columns[f.name] = candidates.column(f"value_{f.index}").to_pylist()
    rows = candidates.num_rows
    messages: list[str | None] = [None] * rows
    payloads: list[str | None] = [None] * rows
    errors: list[str | None] = [None] * rows
    if message is not None:
        messages, message_errors = render_rows(message, context_columns)
        errors = [e and f"template: {e}" for e in message_errors]
    if layout is not None:
        payloads, layout_errors = render_rows(layout, context_columns)
        errors = [a or (b and f"layout: {b}") for a, b in zip(errors, layout_errors, strict=True)]
    conn.register(
        "rendered",
        pa.table(
            {
                "row_number": candidates.column("row_number"),
                "message": pa.array(messages, pa.string()),
                "payload": pa.array(payloads, pa.string()),
                "render_error": pa.array(errors, pa.string()),
            }
        ),
    )
