"""Cohortflow's HTML pages (the cohort report and the Airflow UI's Cohorts page): one Jinja
environment with autoescaping always on, so file content can never become markup."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from cohortflow.sqlfiles import template_cache

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@cache
def page_environment() -> jinja2.Environment:
    """The Jinja2 environment of cohortflow's HTML pages (autoescape always on)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=template_cache("pages"),
    )
