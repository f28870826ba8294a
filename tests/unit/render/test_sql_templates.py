"""Simple templates rendered as SQL give exactly what Jinja renders (property-based)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cohortflow.errors import ConfigError
from cohortflow.render import jinja as templating
from cohortflow.render.sql_templates import message_expression

VARIABLES = ("name", "amount", "phone_number")
TEXT = st.text(
    # Text read from YAML or a cohort file is valid UTF-8: no lone surrogates (category Cs);
    # a template holding one falls back to Jinja (test below).
    alphabet=st.sampled_from(list("ab Z0'\"\\{}%#|-_:,.\n\t\r$é€₹😀名€;"))
    | st.characters(blacklist_categories=("Cs",)),
    max_size=12,
)
VALUE = st.none() | st.text(st.characters(blacklist_categories=("Cs",)), max_size=15)


@pytest.fixture(scope="module")
def conn() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _template(pieces: list[tuple[str, str]]) -> str:
    return "".join(text if kind == "text" else "{{ " + text + " }}" for kind, text in pieces)


PIECES = st.lists(
    st.tuples(st.just("text"), TEXT) | st.tuples(st.just("var"), st.sampled_from(VARIABLES)),
    max_size=6,
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=PIECES, rows=st.lists(st.tuples(VALUE, VALUE, VALUE), min_size=1, max_size=5))
def test_sql_render_equals_jinja_render(
    conn: duckdb.DuckDBPyConnection, pieces: list[tuple[str, str]],
    rows: list[tuple[str | None, str | None, str | None]],
) -> None:
    source = _template(pieces)
    try:
        template = templating.MessageTemplate.compile(source, field="template")
    except ConfigError:
        assume(False)
        return
    assume(template.simple_parts() is not None)
    columns = {name: [row[i] for row in rows] for i, name in enumerate(VARIABLES)}
    expected, errors = templating.render_rows(template, columns)
    assert errors == [None] * len(rows)
    expression = message_expression(template, {name: f'"{name}"' for name in VARIABLES})
    assert expression is not None
    conn.register("context", pa.table({n: pa.array(v, pa.string()) for n, v in columns.items()}))
    got = [value for (value,) in conn.execute(
        f"select {expression} from context").fetchall()]
    conn.unregister("context")
    assert got == expected


@pytest.mark.parametrize("source", [
    "Hi {{ name | upper }}", "{% if name %}x{% endif %}", "{{ 'a' }}", "{{ name ~ amount }}",
    "{{ name.x }}",
])
def test_templates_that_are_not_simple_stay_on_jinja(source: str) -> None:
    template = templating.MessageTemplate.compile(source, field="template")
    assert message_expression(template, {"name": "name", "amount": "amount"}) is None


def test_variable_without_column_stays_on_jinja() -> None:
    template = templating.MessageTemplate.compile("Hi {{ other }}", field="template")
    assert message_expression(template, {"name": "name"}) is None


def test_template_text_that_is_not_utf8_falls_back_to_jinja() -> None:
    template = templating.MessageTemplate.compile("Hi \ud800 {{ name }}", field="template")
    assert message_expression(template, {"name": "value_1"}) is None
