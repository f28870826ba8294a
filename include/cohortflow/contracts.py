"""Output contracts: pandera models of what a cohort publishes.

Recipients and rejections are validated against these before anything is written where other
parts (dispatch, analysts) can see it. A contract failure is a bug in cohortflow, not in the
user's file, so it raises rather than rejecting rows.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pandas as pd


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
    import pandera.pandas as pa
    from pandera.typing import Series

    with suppress(ImportError):  # (another layout of pandera imports hypothesis as it likes)
        import pandera.strategies.base_strategies  # noqa: F401

E164_PATTERN = r"^\+[1-9]\d{6,14}$"
REASON_PATTERN = (
    r"^(invalid_phone|missing_required:[^:]+|format_error:[^:]+|render_error|do_not_contact"
    r"|duplicate_phone|malformed_row): "
)


class Recipients(pa.DataFrameModel):
    """``recipients.parquet``: one row per valid, unique recipient (variables are extra columns)."""

    row_number: Series[int] = pa.Field(ge=1, unique=True)
    phone_number: Series[str] = pa.Field(str_matches=E164_PATTERN, unique=True)
    region: Series[str] = pa.Field(str_matches=r"^[A-Z]{2}$|^001$")

    class Config:
        strict = False
        coerce = False


class Rejections(pa.DataFrameModel):
    """``rejections``: one row per rejected data row, with stable reason codes first."""

    row_number: Series[int] = pa.Field(ge=1, unique=True)
    rejected_reason: Series[str] = pa.Field(str_matches=REASON_PATTERN)
    reason_code: Series[str] = pa.Field(nullable=False)

    class Config:
        strict = False
        coerce = False


def warm_up() -> None:
    """Validate empty frames once, so that pandera loads its pandas backends and built-in
    checks (about half a second of imports) now, in a background thread, instead of during
    the first real validation."""
    Recipients.validate(pd.DataFrame({
        "row_number": pd.Series([], dtype="int64"),
        "phone_number": pd.Series([], dtype="str"),
        "region": pd.Series([], dtype="str"),
    }), lazy=True)
    Rejections.validate(pd.DataFrame({
        "row_number": pd.Series([], dtype="int64"),
        "rejected_reason": pd.Series([], dtype="str"),
        "reason_code": pd.Series([], dtype="str"),
    }), lazy=True)


def validate_recipients(frame: pd.DataFrame) -> None:
    """Raise ``pandera.errors.SchemaErrors`` when ``frame`` breaks the recipients contract."""
    Recipients.validate(frame, lazy=True)


def validate_rejections(frame: pd.DataFrame) -> None:
    """Raise ``pandera.errors.SchemaErrors`` when ``frame`` breaks the rejections contract."""
    Rejections.validate(frame, lazy=True)
