"""Every setting cohortflow reads from the environment: one pydantic-settings object.

Each field is the environment variable ``COHORTFLOW_<FIELD>`` (upper case); provider
credentials are the one family of variables whose names depend on the config
(``COHORTFLOW_PROVIDER_<CONN_ID or KIND>_KEY`` and ``..._APP_ID``), read through
:func:`provider_secret`. Nothing else in the library reads ``os.environ``.

:func:`get_settings` reads the environment on every call (a fraction of a millisecond), so a
changed variable takes effect in the next task or command. A value cohortflow cannot use is a
:class:`~cohortflow.errors.SettingsError` naming the variable.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cohortflow.errors import SettingsError

#: The project folder (``include/cohortflow/settings.py`` → two levels up from ``include``).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "COHORTFLOW_"
#: Prefix of the provider credential variables (see :func:`provider_secret`).
PROVIDER_ENV_PREFIX = "COHORTFLOW_PROVIDER_"

#: What a whole-number setting must be, for its error message.
_WHOLE_NUMBERS = {
    "chunk_rows": ("a number of rows", 1),
    "duckdb_on_disk_bytes": ("a number of bytes", 0),
    "max_workbook_bytes": ("a number of bytes", 1),
}


class Settings(BaseSettings):
    """Locations, limits and tuning, from ``COHORTFLOW_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    landing: str = Field(
        default=str(PROJECT_ROOT / "landing"),
        description="Folder or URL (`s3://bucket/prefix`) where cohort files are dropped, "
        "one subfolder per campaign.",
    )
    landing_conn_id: str | None = Field(
        default=None,
        description="Airflow connection (type `aws`) for an object-store landing location.",
    )
    warehouse: str = Field(
        default=str(PROJECT_ROOT / "warehouse"),
        description="Folder holding cohort artefacts, ledgers and the DuckDB catalog.",
    )
    warehouse_mirror: str | None = Field(
        default=None,
        description="Object-store URL the warehouse is copied to after each publish "
        "(cohort folders and a consistent copy of the catalog).",
    )
    warehouse_mirror_conn_id: str | None = Field(
        default=None, description="Airflow connection for the warehouse mirror."
    )
    campaigns: str = Field(
        default=str(PROJECT_ROOT / "include" / "campaigns"),
        description="Folder of campaign configs, one `<campaign_id>.yaml` each.",
    )
    sql_dir: str = Field(
        default=str(PROJECT_ROOT / "sql"),
        description="Folder of the SQL the pipeline runs, the formatting macros and "
        "`cohorts/` (nightly SQL cohorts).",
    )
    settle_seconds: float = Field(
        default=2.0,
        ge=0,
        description="A file without a `.ready`/`_SUCCESS` marker is taken only when its size "
        "and modification time are unchanged across two looks this many seconds apart.",
    )
    max_workbook_bytes: int = Field(
        default=1536 * 1024 * 1024,
        description="Refuse Excel/ODS workbooks that expand beyond this many bytes (a workbook "
        "is decoded whole: about 2 bytes of memory per expanded byte).",
    )
    chunk_rows: int = Field(
        default=1_000_000,
        description="Rows per chunk: each chunk is read, checked, deduplicated and written "
        "before the next, so memory stays flat and time linear in the file's size.",
    )
    duckdb_memory_limit: str | None = Field(
        default=None,
        description="DuckDB's memory limit while processing a cohort (default 768MB); beyond "
        "it DuckDB spills to a scratch folder.",
    )
    duckdb_on_disk_bytes: int = Field(
        default=256 * 1024 * 1024,
        description="Files larger than this many bytes are processed in a scratch DuckDB "
        "file rather than in memory.",
    )
    cache_dir: str = Field(
        default_factory=lambda: _user_cache("cohortflow"),
        description="Folder where compiled SQL and page templates are kept between runs, "
        "each checked against its source; empty: compiled in every run.",
    )
    fast_paths: bool = Field(
        default=True,
        description="`0` checks every phone with `phonenumbers` and renders every message "
        "with Jinja instead of the SQL fast paths (same results, slower; for diagnosis).",
    )
    worker_name: str | None = Field(
        default=None,
        description="The host name Airflow records for task instances run by this worker "
        "(`make stack` runs two workers on one machine); default: the machine's name.",
    )
    sandbox_key: str = Field(
        default="sandbox-key",
        description="The key `cohortflow sandbox` expects from every provider request.",
    )
    sandbox_app_id: str = Field(
        default="sandbox-app",
        description="The CometChat App ID `cohortflow sandbox` expects.",
    )

    @field_validator("chunk_rows", "duckdb_on_disk_bytes", "max_workbook_bytes", mode="before")
    @classmethod
    def _whole_number(cls, value: Any, info: Any) -> Any:
        """Accept ``1_500_000`` as Python does; anything else but digits is an error."""
        if isinstance(value, str):
            what, minimum = _WHOLE_NUMBERS[info.field_name]
            digits = value.strip().replace("_", "")
            if not digits.isdecimal() or int(digits) < minimum:
                raise ValueError(f"is not {what}")
            return int(digits)
        return value


def _user_cache(name: str) -> str:
    """``$XDG_CACHE_HOME/<name>``, else ``~/.cache/<name>`` (the XDG base directory rule);
    empty when the user has no home folder."""
    if os.environ.get("XDG_CACHE_HOME"):
        return str(Path(os.environ["XDG_CACHE_HOME"]) / name)
    try:
        return str(Path.home() / ".cache" / name)
    except RuntimeError:  # no HOME and no password entry
        return ""


def provider_env_name(name: str) -> str:
    """``COHORTFLOW_PROVIDER_<NAME>`` for a connection id or provider kind (upper case, every
    character other than a letter or digit turned into ``_``), without the ``_KEY`` suffix."""
    return PROVIDER_ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def provider_secret(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of the provider credential variable ``name`` (``COHORTFLOW_PROVIDER_<X>_KEY``
    or ``..._APP_ID``), or None when unset or empty. ``environ`` replaces the environment."""
    if not name.startswith(PROVIDER_ENV_PREFIX):
        raise ValueError(f"{name!r} is not a provider credential variable")
    return (os.environ if environ is None else environ).get(name) or None


def env_name(field: str) -> str:
    """The environment variable of a :class:`Settings` field."""
    return ENV_PREFIX + field.upper()


def get_settings() -> Settings:
    """The settings, read from the environment now; a bad value raises :class:`SettingsError`
    naming the variable, its value and what it must be."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        name = env_name(field)
        value = os.environ.get(name, "")
        message = item["msg"].removeprefix("Value error, ")
        if field in _WHOLE_NUMBERS:
            what, minimum = _WHOLE_NUMBERS[field]
            default = Settings.model_fields[field].default
            problems.append(
                f"{name}={value!r} is not {what}; set it to a whole number of at least "
                f"{minimum} (the default is {default:,}), or unset it"
            )
        else:
            problems.append(f"{name}={value!r}: {message}; fix or unset it")
    return "\n".join(problems)


def worker_hostname() -> str:
    """The host name for Airflow's ``[core] hostname_callable``: ``COHORTFLOW_WORKER_NAME``
    when set (several workers on one machine), else the machine's fully qualified name."""
    return get_settings().worker_name or socket.getfqdn()
