"""The mapping: Sarvam's transformation config, with cohortflow's extensions.

It says which column holds the phone number, the user identifier, each variable and each
override (``required``, ``format`` and fixed ``value`` are cohortflow's additions), and can be
inferred from a file's headers when none is given. A campaign whose recipients are users
(CometChat) is keyed by ``user_identifier``: its mapping may leave the phone out.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from cohortflow.config.base import StrictModel
from cohortflow.errors import CohortError
from cohortflow.masking import masked_list

#: The only keys Sarvam accepts under ``app_overrides``.
ALLOWED_OVERRIDES = ("initial_bot_message", "initial_state_name", "initial_language_name")

#: Header names recognised as the phone column when a mapping is inferred, in priority order.
PHONE_HEADERS = ("phone_number", "phoneNumber", "phone", "mobile", "msisdn", "contactCode")
#: Header names recognised as the user identifier when a mapping is inferred.
IDENTIFIER_HEADERS = ("user_id", "customer_id", "user_identifier", "userId", "uid")
#: Columns every recipient already has; a variable or override of that name would clash.
RESERVED_FIELDS = ("row_number", "phone_number", "region", "user_identifier", "message", "payload")



class FieldMapping(StrictModel):
    """Where one output field comes from: a column, or a fixed value; optionally formatted."""

    column_name: str | None = None
    value: str | None = None
    required: bool = False
    format: str | None = Field(
        default=None, description="Name of a formatting macro in sql/macros (e.g. title_case)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> FieldMapping:
        if (self.column_name is None) == (self.value is None):
            raise ValueError("give exactly one of 'column_name' or 'value'")
        if self.column_name is not None and not self.column_name.strip():
            raise ValueError("'column_name' is empty")
        if self.format is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.format):
            raise ValueError(f"'format' must be a macro name, got {self.format!r}")
        return self


class Mapping(StrictModel):
    """Sarvam's transformation config, with cohortflow's extensions (required, format, value)."""

    phone_number: FieldMapping | None = None  # required unless recipients are users
    user_identifier: FieldMapping | None = None
    app_variables: dict[str, FieldMapping] = Field(default_factory=dict)
    app_overrides: dict[str, FieldMapping] = Field(default_factory=dict)
    inferred: bool = Field(default=False, exclude=True)

    @field_validator("phone_number")
    @classmethod
    def _phone_from_column(cls, value: FieldMapping | None) -> FieldMapping | None:
        if value is not None and value.column_name is None:
            raise ValueError("the phone number must come from a column ('column_name')")
        return value

    @field_validator("app_variables")
    @classmethod
    def _unreserved_variables(cls, value: dict[str, FieldMapping]) -> dict[str, FieldMapping]:
        reserved = [name for name in value if name in RESERVED_FIELDS]
        if reserved:
            raise ValueError(
                f"{', '.join(map(repr, reserved))} is a recipient column cohortflow sets itself "
                f"({', '.join(RESERVED_FIELDS)}); give the variable another name"
            )
        return value

    @field_validator("app_overrides")
    @classmethod
    def _known_overrides(cls, value: dict[str, FieldMapping]) -> dict[str, FieldMapping]:
        unknown = sorted(set(value) - set(ALLOWED_OVERRIDES))
        if unknown:
            raise ValueError(
                f"unknown key(s) {', '.join(map(repr, unknown))}; "
                f"allowed keys are {', '.join(ALLOWED_OVERRIDES)}"
            )
        return value

    def output_fields(self) -> dict[str, FieldMapping]:
        """Every mapped output field except the phone: identifier, variables, overrides."""
        fields: dict[str, FieldMapping] = {}
        if self.user_identifier is not None:
            fields["user_identifier"] = self.user_identifier
        fields.update(self.app_variables)
        fields.update(self.app_overrides)
        return fields

    def referenced_columns(self) -> list[str]:
        """Columns the mapping reads, in mapping order, without repeats."""
        columns = [self.phone_number.column_name] if self.phone_number else []
        columns += [f.column_name for f in self.output_fields().values() if f.column_name]
        return list(dict.fromkeys(c for c in columns if c))

    def to_json(self) -> dict[str, Any]:
        """The mapping as Sarvam's JSON (with extensions), as recorded in summaries."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


def infer_mapping(
    headers: list[str], declared: set[str] | None = None, *, keyed_by_user: bool = False
) -> Mapping:
    """Infer a mapping from headers: known phone and identifier names, the rest as variables.

    Headers named like an allowed override become overrides. Headers named like a column
    cohortflow sets itself (:data:`RESERVED_FIELDS`, e.g. ``region``) are not mapped; they stay
    in the rejected rows' original columns. When the campaign declares
    variables, only headers that are declared variables are mapped (others are ignored), so an
    inferred mapping never trips the "undeclared variable" rule.

    ``keyed_by_user`` (recipients are users, CometChat): the identifier is required and the
    phone is not mapped; only declared variables are (none when none are declared), and no
    Sarvam overrides.
    """
    identifier = _first_header(headers, IDENTIFIER_HEADERS)
    if keyed_by_user:
        if identifier is None:
            raise CohortError(
                "no mapping was given and no user identifier column could be recognised; "
                f"expected one of {', '.join(IDENTIFIER_HEADERS)}; headers are: "
                f"{masked_list(headers)}. The campaign's recipients are users: add a "
                "<name>.mapping.json with user_identifier, or a mapping to the campaign config.",
                code="missing_column",
            )
        variables = {h: FieldMapping(column_name=h) for h in headers
                     if h != identifier and h in (declared or set())}
        return Mapping(user_identifier=FieldMapping(column_name=identifier, required=True),
                       app_variables=variables, inferred=True)
    phone = _first_header(headers, PHONE_HEADERS)
    if phone is None:
        raise CohortError(
            "no mapping was given and no phone column could be recognised; expected one of "
            f"{', '.join(PHONE_HEADERS)}; headers are: {masked_list(headers)}. "
            "Add a <name>.mapping.json beside the file or a mapping to the campaign config.",
            code="missing_column",
        )
    rest = [h for h in headers if h not in (phone, identifier)]
    overrides = {h: FieldMapping(column_name=h) for h in rest if h in ALLOWED_OVERRIDES}
    variables = {
        h: FieldMapping(column_name=h)
        for h in rest
        if h not in overrides and h not in RESERVED_FIELDS
        and (declared is None or h in declared)
    }
    return Mapping(
        phone_number=FieldMapping(column_name=phone),
        user_identifier=FieldMapping(column_name=identifier) if identifier else None,
        app_variables=variables,
        app_overrides=overrides,
        inferred=True,
    )


def _first_header(headers: list[str], names: tuple[str, ...]) -> str | None:
    """The header spelled like the first of ``names`` found, exactly, else ignoring case and
    surrounding spaces."""
    found = next((h for name in names for h in headers if h == name), None)
    if found is None:
        lowered = {h.strip().lower(): h for h in headers}
        found = next((lowered[n.lower()] for n in names if n.lower() in lowered), None)
    return found
