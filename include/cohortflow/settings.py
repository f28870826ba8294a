"""Where cohortflow reads and writes: one settings object, read from the environment once.

Every location may be a local path or an fsspec URL (``s3://bucket/prefix``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The project folder (``include/cohortflow/settings.py`` → two levels up from ``include``).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Locations and limits, from ``COHORTFLOW_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="COHORTFLOW_", extra="ignore")

    landing: str = Field(
        default=str(PROJECT_ROOT / "landing"),
        description="Folder or URL where cohort files are dropped, one subfolder per campaign.",
    )
    warehouse: str = Field(
        default=str(PROJECT_ROOT / "warehouse"),
        description="Folder holding cohort artefacts, ledgers and the DuckDB catalog.",
    )
    campaigns: str = Field(
        default=str(PROJECT_ROOT / "include" / "campaigns"),
        description="Folder of campaign configs, one <campaign_id>.yaml each.",
    )
    sql_dir: str = Field(
        default=str(PROJECT_ROOT / "sql"),
        description="Folder of the SQL the pipeline runs (and analysts' formatting macros).",
    )
    landing_conn_id: str | None = Field(
        default=None, description="Airflow connection for an object-store landing location."
    )
    warehouse_mirror: str | None = Field(
        default=None,
        description="Object-store URL (s3://bucket/prefix) the warehouse is copied to after "
        "each publish, for analysts; the warehouse itself stays a local or shared folder.",
    )
    warehouse_mirror_conn_id: str | None = Field(
        default=None, description="Airflow connection for the warehouse mirror."
    )
    settle_seconds: float = Field(
        default=2.0,
        ge=0,
        description="A file without a .ready/_SUCCESS marker is taken only when its size and "
        "modification time are unchanged across two looks this many seconds apart.",
    )
    max_workbook_bytes: int = Field(
        default=200 * 1024 * 1024,
        description="Refuse Excel workbooks whose uncompressed size exceeds this many bytes.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment on first use."""
    return Settings()
