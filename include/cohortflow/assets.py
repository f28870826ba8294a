"""The Airflow assets the DAGs share: defined once, here, and imported by each DAG file."""

from __future__ import annotations

from airflow.sdk import Asset

#: Updated whenever cohorts are published; ``campaign_dispatch`` runs on it.
RECIPIENTS = Asset(name="cohortflow_recipients", uri="cohortflow://recipients")
