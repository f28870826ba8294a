"""Sandboxed Jinja2 for personalised messages and provider layouts.

Templates come from campaign configs written by analysts, so they are rendered in Jinja's
immutable sandbox with ``StrictUndefined``: a template cannot reach Python internals, and a
missing value is an error rather than a silent blank. Everything a template can get wrong is
found by :func:`check_template` before any row is read; what still fails at render time (data a
filter cannot handle) rejects that row only, through :func:`render_rows`.

Context values are the cohort's columns as text. ``None`` (an empty cell) renders as ``""``,
never as ``"None"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.environment import Template
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from cohortflow.errors import ConfigError
from cohortflow.phones.library import mask_phone

#: What an empty cell renders as.
EMPTY_VALUE = ""
#: Value given to every available variable in the trial render of :func:`check_template`.
PLACEHOLDER = "x"
_MAX_DETAIL = 200
_DIGIT_RUN = re.compile(r"\+?\d[\d\s().-]{3,}\d")
_UNSUPPORTED_TAGS: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
}

SimplePart = tuple[Literal["text", "var"], str]
Context = Mapping[str, str | None]


@cache
def environment() -> ImmutableSandboxedEnvironment:
    """The one Jinja environment: immutable sandbox, StrictUndefined, no autoescape."""
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )


def _text_context(context: Context) -> dict[str, str]:
    return {name: EMPTY_VALUE if value is None else value for name, value in context.items()}


def _unsafe_attributes(ast: nodes.Template) -> list[str]:
    """Attribute names starting with ``_`` the template reads (``x.__class__``, ``x['_a']``)."""
    names = [node.attr for node in ast.find_all(nodes.Getattr) if node.attr.startswith("_")]
    for item in ast.find_all(nodes.Getitem):
        key = item.arg
        if isinstance(key, nodes.Const) and str(key.value).startswith("_"):
            names.append(str(key.value))
    return names


@dataclass(frozen=True)
class MessageTemplate:
    """A compiled message template; build it with :meth:`compile`."""

    source: str
    field: str
    ast: nodes.Template
    template: Template
    variables: frozenset[str]

    @classmethod
    def compile(cls, source: str, *, field: str) -> MessageTemplate:
        """Parse and compile ``source``; a syntax error is a :class:`ConfigError`.

        The message names ``field``, the line and what is wrong, e.g.
        ``"message: line 1: unexpected end of template, expected 'end of print statement'."``.
        ``extends``/``include``/``import`` are refused: templates are self-contained.
        """
        env = environment()
        try:
            ast = env.parse(source)
            for node_type, tag in _UNSUPPORTED_TAGS.items():
                found = ast.find(node_type)
                if found is not None:
                    raise ConfigError(
                        f"{field}: line {found.lineno}: '{tag}' is not supported in templates"
                    )
            template = env.from_string(ast)
        except TemplateSyntaxError as exc:
            raise ConfigError(
                f"{field}: line {exc.lineno}: template syntax error: {exc.message}"
            ) from exc
        variables = frozenset(meta.find_undeclared_variables(ast))
        return cls(source, field, ast, template, variables)

    def render(self, context: Context) -> str:
        """Render with ``context`` (``None`` values render as ``""``); may raise on bad data."""
        return self.template.render(_text_context(context))

    def simple_parts(self) -> list[SimplePart] | None:
        """The template as literal text and bare variable lookups, or None if it is more.

        ``"Hi {{ name }}!"`` gives ``[("text", "Hi "), ("var", "name"), ("text", "!")]``;
        anything with a filter, tag, expression or constant gives None. Concatenating the text
        and the variables' values (``""`` for None) equals :meth:`render`, so such templates
        can be rendered as SQL string concatenation. Adjacent texts are merged; empty texts
        are left out.
        """
        parts: list[SimplePart] = []
        for statement in self.ast.body:
            if not isinstance(statement, nodes.Output):
                return None
            for node in statement.nodes:
                if isinstance(node, nodes.TemplateData):
                    if not node.data:
                        continue
                    if parts and parts[-1][0] == "text":
                        parts[-1] = ("text", parts[-1][1] + node.data)
                    else:
                        parts.append(("text", node.data))
                elif isinstance(node, nodes.Name) and node.ctx == "load":
                    parts.append(("var", node.name))
                else:
                    return None
        return parts


@dataclass(frozen=True)
class LayoutTemplate:
    """A JSON layout (a provider's request body or CSV row) whose string leaves are templates.

    Build it with :meth:`compile`. Keys are kept as they are; only string values are rendered.
    """

    field: str
    layout: dict[str, Any]
    variables: frozenset[str]
    leaves: tuple[tuple[str, MessageTemplate], ...]

    @classmethod
    def compile(cls, layout: dict[str, Any], *, field: str) -> LayoutTemplate:
        """Compile every string leaf of ``layout``; errors name the leaf (``field.contact.x``)."""
        if not isinstance(layout, dict):
            raise ConfigError(
                f"{field}: a layout must be a JSON object, not {type(layout).__name__}"
            )
        try:
            json.dumps(layout)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{field}: layout is not JSON: {exc}") from exc
        leaves: list[tuple[str, MessageTemplate]] = []
        compiled = _compile_node(layout, field, "", leaves)
        variables = frozenset().union(*(leaf.variables for _, leaf in leaves))
        return cls(field, compiled, variables, tuple(leaves))

    def render(self, context: Context) -> str:
        """Render every string leaf and return compact JSON (``ensure_ascii=False``)."""
        text_context = _text_context(context)
        rendered = _render_node(self.layout, text_context)
        return json.dumps(rendered, ensure_ascii=False, separators=(",", ":"))


def _compile_node(
    value: Any, field: str, path: str, leaves: list[tuple[str, MessageTemplate]]
) -> Any:
    if isinstance(value, str):
        leaf = MessageTemplate.compile(value, field=f"{field}{path}")
        leaves.append((path, leaf))
        return leaf
    if isinstance(value, dict):
        return {
            key: _compile_node(item, field, f"{path}.{key}", leaves) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_compile_node(item, field, f"{path}[{i}]", leaves) for i, item in enumerate(value)]
    return value


def _render_node(value: Any, context: dict[str, str]) -> Any:
    if isinstance(value, MessageTemplate):
        return value.template.render(context)
    if isinstance(value, dict):
        return {key: _render_node(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_node(item, context) for item in value]
    return value


def _leaves(
    template: MessageTemplate | LayoutTemplate, field: str
) -> list[tuple[str, MessageTemplate]]:
    if isinstance(template, MessageTemplate):
        return [(field, template)]
    return [(f"{field}{path}", leaf) for path, leaf in template.leaves]


def check_template(
    template: MessageTemplate | LayoutTemplate, available: Set[str], *, field: str
) -> None:
    """Raise :class:`ConfigError` if ``template`` cannot work with the ``available`` variables.

    Checks, before any row is read: every variable it names is available (the message names
    each missing one and lists the available ones); it reads no private attribute
    (``{{ x.__class__ }}``); and a trial render with ``"x"`` for every available variable does
    not hit the sandbox. A trial render failing for any other reason (a filter that needs a
    number, say) is a data problem and is left to :func:`render_rows`.
    """
    missing = sorted(template.variables - set(available))
    if missing:
        listed = ", ".join(sorted(available)) or "none"
        raise ConfigError(
            f"{field}: unknown variable {', '.join(repr(name) for name in missing)}; "
            f"available: {listed}"
        )
    trial = dict.fromkeys(available, PLACEHOLDER)
    for where, leaf in _leaves(template, field):
        unsafe = _unsafe_attributes(leaf.ast)
        if unsafe:
            names = ", ".join(repr(name) for name in sorted(set(unsafe)))
            raise ConfigError(f"{where}: template tries to access unsafe attribute {names}")
        try:
            leaf.template.render(trial)
        except SecurityError as exc:
            raise ConfigError(f"{where}: template tries to access unsafe attribute: {exc}") from exc
        except Exception:
            pass  # a data-dependent failure: render_rows reports it per row


def error_detail(exc: Exception) -> str:
    message = _DIGIT_RUN.sub(lambda match: mask_phone(match.group()), str(exc))
    detail = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return detail[:_MAX_DETAIL]


def render_rows(
    template: MessageTemplate | LayoutTemplate,
    columns: Mapping[str, list[str | None]],
    *,
    row_count: int | None = None,
) -> tuple[list[str | None], list[str | None]]:
    """Render ``template`` once per row of ``columns`` (column name → values, all one length).

    Returns ``(rendered, errors)``, both one entry per row: a row that renders gives its text
    and a None error; a row whose render raises (any exception, e.g. a missing variable or a
    filter on bad data) gives None and a short detail in which digit runs are masked, so no
    phone number leaks. None values render as ``""``. ``row_count`` is needed only when
    ``columns`` is empty.
    """
    lengths = {len(values) for values in columns.values()}
    if row_count is not None:
        lengths.add(row_count)
    if len(lengths) > 1:
        raise ValueError("render_rows: columns (and row_count) must all have the same length")
    count = lengths.pop() if lengths else 0
    used = {name: values for name, values in columns.items() if name in template.variables}
    rendered: list[str | None] = []
    errors: list[str | None] = []
    for row in range(count):
        context = {name: values[row] for name, values in used.items()}
        try:
            rendered.append(template.render(context))
            errors.append(None)
        except Exception as exc:
            rendered.append(None)
            errors.append(error_detail(exc))
    return rendered, errors
