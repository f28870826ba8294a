"""Output contracts: pandera schemas of what a cohort publishes.

Recipients and rejections are validated against these before anything is written where other
parts (dispatch, analysts) can see it. A contract failure is a bug in cohortflow, not in the
user's file, so it raises rather than rejecting rows.

Each contract is written once, as column rules (:data:`RECIPIENTS`, :data:`REJECTIONS`), and
built for either of pandera's backends: :func:`arrow_schema` checks the Arrow batches of the
Parquet files the pipeline writes (``pandera.pyarrow``, no pandas: cohortflow.streaming), and
:func:`pandas_schema` checks pandas frames (the benchmark's baseline, and anyone holding one).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas


@contextmanager
def _optional_imports_skipped(*names: str) -> Iterator[None]:
    """Make ``import name`` fail with ImportError inside the block, for each of ``names`` that
    no one has imported yet (``None`` in ``sys.modules`` is how Python marks a module that must
    not be imported); an already imported one is left alone and stays usable."""
    skipped = [name for name in names if name not in sys.modules]
    for name in skipped:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in skipped:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


# pandera imports hypothesis, when it is installed (a development dependency here), for its
# data-synthesis strategies, which the contracts never use: 0.13 s of CPU in every
# `cohortflow process`, competing with DuckDB for the cores. Without it, pandera defines
# placeholders and validates the same way. It decides once, when its first validation loads
# the strategies module, so that module is loaded here.
with _optional_imports_skipped("hypothesis"):
    import pandera.pyarrow as pa_schema

    with suppress(ImportError):  # (another layout of pandera imports hypothesis as it likes)
        import pandera.strategies.base_strategies

E164_PATTERN = r"^\+[1-9]\d{6,14}$"
REGION_PATTERN = r"^[A-Z]{2}$|^001$"
REASON_PATTERN = (
    r"^(invalid_phone|missing_required:[^:]+|format_error:[^:]+|render_error|do_not_contact"
    r"|duplicate_phone|malformed_row): "
)


@dataclass(frozen=True)
class ColumnRule:
    """One column of a contract: its type, its checks and whether its values are unique.
    Other columns may be present (variables are extra columns of the recipients)."""

    kind: Literal["integer", "text"]
    minimum: int | None = None
    pattern: str | None = None  # the whole value must match (pandera's str_matches)
    unique: bool = False


#: ``recipients.parquet``: one row per valid, unique recipient.
RECIPIENTS: Mapping[str, ColumnRule] = {
    "row_number": ColumnRule("integer", minimum=1, unique=True),
    "phone_number": ColumnRule("text", pattern=E164_PATTERN, unique=True),
    "region": ColumnRule("text", pattern=REGION_PATTERN),
}
#: ``rejections``: one row per rejected data row, with stable reason codes first.
REJECTIONS: Mapping[str, ColumnRule] = {
    "row_number": ColumnRule("integer", minimum=1, unique=True),
    "rejected_reason": ColumnRule("text", pattern=REASON_PATTERN),
    "reason_code": ColumnRule("text"),
}
CONTRACTS: Mapping[str, Mapping[str, ColumnRule]] = {
    "Recipients": RECIPIENTS,
    "Rejections": REJECTIONS,
}


def _checks(check: Any, rule: ColumnRule) -> list[Any]:
    """The rule's checks as pandera ``Check`` objects (``check`` is the backend's class)."""
    checks = []
    if rule.minimum is not None:
        checks.append(check.ge(rule.minimum))
    if rule.pattern is not None:
        checks.append(check.str_matches(rule.pattern))
    return checks


def _arrow_type(rule: ColumnRule) -> Any:
    import pyarrow as pa

    return pa.int64() if rule.kind == "integer" else pa.string()


@cache
def arrow_schema(name: str) -> pa_schema.DataFrameSchema:
    """Contract ``name`` (a key of :data:`CONTRACTS`) for Arrow tables."""
    return pa_schema.DataFrameSchema(
        {column: pa_schema.Column(_arrow_type(rule), _checks(pa_schema.Check, rule),
                                  unique=rule.unique)
         for column, rule in CONTRACTS[name].items()},
        name=name, strict=False, coerce=False,
    )


@cache
def pandas_schema(name: str) -> pandera.pandas.DataFrameSchema:
    """Contract ``name`` (a key of :data:`CONTRACTS`) for pandas frames (imports pandas)."""
    import pandera.pandas as pd_schema

    types = {"integer": "int64", "text": str}
    return pd_schema.DataFrameSchema(
        {column: pd_schema.Column(types[rule.kind], _checks(pd_schema.Check, rule),
                                  unique=rule.unique)
         for column, rule in CONTRACTS[name].items()},
        name=name, strict=False, coerce=False,
    )


def warm_up() -> None:
    """Validate empty tables once, so that pandera loads its backends and built-in checks now,
    in a background thread, instead of during the first real validation."""
    import pyarrow as pa

    for name, rules in CONTRACTS.items():
        empty = pa.schema([(column, _arrow_type(rule)) for column, rule in rules.items()])
        arrow_schema(name).validate(empty.empty_table(), lazy=True)


def validate_recipients(frame: pd.DataFrame) -> None:
    """Raise ``pandera.errors.SchemaErrors`` when ``frame`` breaks the recipients contract."""
    pandas_schema("Recipients").validate(frame, lazy=True)


def validate_rejections(frame: pd.DataFrame) -> None:
    """Raise ``pandera.errors.SchemaErrors`` when ``frame`` breaks the rejections contract."""
    pandas_schema("Rejections").validate(frame, lazy=True)
