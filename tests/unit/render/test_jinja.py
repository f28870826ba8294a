"""Sandboxed message and layout templates."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cohortflow.errors import ConfigError
from cohortflow.render.jinja import (
    LayoutTemplate,
    MessageTemplate,
    check_template,
    render_rows,
)


def compile_message(source: str) -> MessageTemplate:
    return MessageTemplate.compile(source, field="message")


# --- compile --------------------------------------------------------------------------------


def test_variables_are_the_names_the_template_reads() -> None:
    template = compile_message("Hi {{ name }}, {% if due %}pay {{ amount }}{% endif %}")
    assert template.variables == {"name", "due", "amount"}


def test_loop_variables_are_not_template_variables() -> None:
    template = compile_message("{% for part in name.split() %}{{ part }}{% endfor %}")
    assert template.variables == {"name"}


def test_syntax_error_names_field_line_and_problem() -> None:
    with pytest.raises(ConfigError) as raised:
        MessageTemplate.compile("Hello\n{{ name ", field="app_variables.greeting")
    message = str(raised.value)
    assert message.startswith("app_variables.greeting: line 2: template syntax error:")
    assert "end of print statement" in message


def test_unknown_filter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"line 1: .*No filter named 'shout'"):
        compile_message("{{ name | shout }}")


@pytest.mark.parametrize(
    "source", ['{% include "other" %}', '{% extends "base" %}', '{% import "m" as m %}']
)
def test_templates_cannot_load_other_templates(source: str) -> None:
    with pytest.raises(ConfigError, match="not supported"):
        compile_message(source)


# --- render ---------------------------------------------------------------------------------


def test_render_substitutes_values() -> None:
    assert compile_message("Hi {{ name }}!").render({"name": "Asha"}) == "Hi Asha!"


def test_none_renders_as_empty_string() -> None:
    assert compile_message("[{{ name }}]").render({"name": None}) == "[]"


def test_values_are_not_escaped() -> None:
    assert compile_message("{{ name }}").render({"name": "<Tom & Jerry>"}) == "<Tom & Jerry>"


def test_trailing_newline_is_dropped() -> None:
    assert compile_message("Hi {{ name }}\n").render({"name": "Asha"}) == "Hi Asha"


def test_missing_variable_fails_the_render() -> None:
    with pytest.raises(Exception, match="'name' is undefined"):
        compile_message("Hi {{ name }}").render({})


def test_filters_work() -> None:
    template = compile_message("{{ name | title }} owes {{ amount | float | round(1) }}")
    assert template.render({"name": "asha rao", "amount": "12.34"}) == "Asha Rao owes 12.3"


# --- check_template -------------------------------------------------------------------------


def test_template_using_available_variables_passes() -> None:
    check_template(compile_message("Hi {{ name }}"), {"name", "phone"}, field="message")


def test_unknown_variable_is_named_with_the_available_ones() -> None:
    with pytest.raises(ConfigError) as raised:
        check_template(compile_message("Hi {{ nmae }} {{ x }}"), {"name", "x"}, field="message")
    assert str(raised.value) == "message: unknown variable 'nmae'; available: name, x"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ name.__class__ }}",
        "{{ name['__class__'] }}",
        "{{ name._private }}",
        "{{ '{0.__class__}'.format(name) }}",
        "{{ name.__init__.__globals__ }}",
    ],
)
def test_sandbox_escape_is_a_config_error(source: str) -> None:
    with pytest.raises(ConfigError, match="unsafe attribute"):
        check_template(compile_message(source), {"name"}, field="message")


def test_sandbox_blocks_unsafe_access_at_render_time_too() -> None:
    rendered, errors = render_rows(
        compile_message("{{ '{0.__class__}'.format(name) }}"), {"name": ["Asha"]}
    )
    assert rendered == [None]
    assert errors[0] is not None
    assert errors[0].startswith("SecurityError")


def test_data_dependent_failure_does_not_block_the_check() -> None:
    template = compile_message("{{ 100 / (amount | int) }}")
    check_template(template, {"amount"}, field="message")


def test_check_names_the_layout_leaf_with_an_unsafe_attribute() -> None:
    layout = LayoutTemplate.compile(
        {"contact": {"contactCode": "{{ phone.__class__ }}"}}, field="layout"
    )
    with pytest.raises(ConfigError, match=r"^layout\.contact\.contactCode: .*unsafe attribute"):
        check_template(layout, {"phone"}, field="layout")


def test_check_names_unknown_layout_variables() -> None:
    layout = LayoutTemplate.compile({"customFields": {"age": "{{ edad }}"}}, field="layout")
    with pytest.raises(ConfigError, match="unknown variable 'edad'; available: phone"):
        check_template(layout, {"phone"}, field="layout")


# --- render_rows ----------------------------------------------------------------------------


def test_render_rows_renders_each_row() -> None:
    rendered, errors = render_rows(
        compile_message("Hi {{ name }}"), {"name": ["Asha", None], "phone": ["1", "2"]}
    )
    assert rendered == ["Hi Asha", "Hi "]
    assert errors == [None, None]


def test_render_rows_strict_undefined_fails_each_row() -> None:
    rendered, errors = render_rows(compile_message("Hi {{ name }}"), {"phone": ["1", "2"]})
    assert rendered == [None, None]
    assert errors == ["UndefinedError: 'name' is undefined"] * 2


def test_render_rows_failure_rejects_only_that_row() -> None:
    template = compile_message("{{ 100 // (amount | int) }}")
    rendered, errors = render_rows(template, {"amount": ["4", "0", "x"]})
    assert rendered == ["25", None, None]
    assert errors[0] is None
    assert errors[1] == "ZeroDivisionError: integer division or modulo by zero"


def test_render_rows_error_details_mask_phone_numbers() -> None:
    template = compile_message("{{ {'a': 1}[phone] }}")
    _, errors = render_rows(template, {"phone": ["+919876543210"]})
    assert errors[0] is not None
    assert "9876543210" not in errors[0]
    assert "3210" in errors[0]


def test_render_rows_without_columns_needs_a_row_count() -> None:
    rendered, _ = render_rows(compile_message("Hello"), {}, row_count=2)
    assert rendered == ["Hello", "Hello"]


def test_render_rows_refuses_columns_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        render_rows(compile_message("{{ a }}{{ b }}"), {"a": ["1"], "b": []})


# --- layouts --------------------------------------------------------------------------------

CSV_CAMPAIGN_LAYOUT = {
    "contact": {"contactCode": "{{contactCode}}", "channelType": "cloud_api"},
    "customFields": {"name": "{{ nombre }}", "ticketId": "#{{ticket_id}}", "discount": "10%"},
}


def test_layout_variables_are_all_leaves_variables() -> None:
    layout = LayoutTemplate.compile(CSV_CAMPAIGN_LAYOUT, field="layout")
    assert layout.variables == {"contactCode", "nombre", "ticket_id"}


def test_layout_renders_every_string_leaf_as_compact_json() -> None:
    layout = LayoutTemplate.compile(CSV_CAMPAIGN_LAYOUT, field="layout")
    rendered = layout.render({"contactCode": "34666777888", "nombre": "José", "ticket_id": "5123"})
    assert rendered == (
        '{"contact":{"contactCode":"34666777888","channelType":"cloud_api"},'
        '"customFields":{"name":"José","ticketId":"#5123","discount":"10%"}}'
    )


def test_layout_keeps_non_string_leaves() -> None:
    layout = LayoutTemplate.compile(
        {"retries": 3, "urgent": True, "note": None, "tags": ["{{ tag }}", 1.5]}, field="layout"
    )
    assert json.loads(layout.render({"tag": "vip"})) == {
        "retries": 3,
        "urgent": True,
        "note": None,
        "tags": ["vip", 1.5],
    }


def test_layout_values_are_json_escaped() -> None:
    layout = LayoutTemplate.compile({"name": "{{ name }}"}, field="layout")
    assert json.loads(layout.render({"name": 'say "hi"\n'})) == {"name": 'say "hi"\n'}


def test_layout_syntax_error_names_the_leaf() -> None:
    with pytest.raises(ConfigError, match=r"^layout\.customFields\.name: line 1: "):
        LayoutTemplate.compile({"customFields": {"name": "{{ nombre "}}, field="layout")


def test_layout_must_be_an_object() -> None:
    with pytest.raises(ConfigError, match="JSON object"):
        LayoutTemplate.compile(["{{ x }}"], field="layout")


def test_render_rows_renders_layouts() -> None:
    layout = LayoutTemplate.compile({"code": "{{ phone }}"}, field="layout")
    rendered, errors = render_rows(layout, {"phone": ["+15550100", None]})
    assert rendered == ['{"code":"+15550100"}', '{"code":""}']
    assert errors == [None, None]


# --- simple_parts ---------------------------------------------------------------------------


def test_simple_parts_of_text_and_variables() -> None:
    assert compile_message("Hi {{ name }}, pay {{amount}}.").simple_parts() == [
        ("text", "Hi "),
        ("var", "name"),
        ("text", ", pay "),
        ("var", "amount"),
        ("text", "."),
    ]


def test_simple_parts_of_plain_text() -> None:
    assert compile_message("Hello").simple_parts() == [("text", "Hello")]


def test_simple_parts_of_empty_template() -> None:
    assert compile_message("").simple_parts() == []


def test_simple_parts_apply_whitespace_control() -> None:
    assert compile_message("a  {{- name -}}  b").simple_parts() == [
        ("text", "a"),
        ("var", "name"),
        ("text", "b"),
    ]


@pytest.mark.parametrize(
    "source",
    [
        "{{ name | upper }}",
        "{% if name %}x{% endif %}",
        "{{ name.first }}",
        "{{ 'literal' }}",
        "{{ a ~ b }}",
        "{% set x = 1 %}{{ x }}",
    ],
)
def test_simple_parts_is_none_for_anything_more(source: str) -> None:
    assert compile_message(source).simple_parts() is None


_KEYWORDS = {"and", "or", "not", "in", "is", "if", "else", "true", "false", "none"}
_names = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda name: name not in _KEYWORDS
)
# Literal text may hold anything except "{", which could open a tag.
_texts = st.text(st.characters(blacklist_characters="{", codec="utf-8"), max_size=12)
_variables = st.tuples(_names, st.sampled_from(["{{ %s }}", "{{%s}}", "{{- %s }}", "{{ %s -}}"]))
_pieces = st.lists(st.one_of(_texts, _variables), max_size=8)


def _source(pieces: list[str | tuple[str, str]]) -> str:
    return "".join(p if isinstance(p, str) else p[1] % p[0] for p in pieces)


@given(pieces=_pieces, values=st.lists(st.one_of(st.none(), st.text(max_size=8)), min_size=1))
def test_simple_parts_concatenation_equals_jinja_render(
    pieces: list[str | tuple[str, str]], values: list[str | None]
) -> None:
    template = compile_message(_source(pieces))
    parts = template.simple_parts()
    assert parts is not None
    names = sorted(template.variables)
    context = {name: values[i % len(values)] for i, name in enumerate(names)}
    concatenated = "".join(
        value if kind == "text" else (context[value] or "") for kind, value in parts
    )
    assert concatenated == template.render(context)
