"""Test-wide set-up: Airflow points at a throw-away home with a SQLite metadata database (and
cohortflow keeps its compiled templates there).

The environment is set before anything imports Airflow, so no test touches a real Airflow home.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="cohortflow-test-airflow-"))

os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PROJECT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
# compiled templates are kept in the throw-away home too, not in the user's cache
os.environ["COHORTFLOW_CACHE_DIR"] = str(_AIRFLOW_HOME / "cohortflow-cache")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the throw-away Airflow home when the run ends (its SQLite database, logs)."""
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database with the project's pools."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True)
    for pool in ("warehouse_writer",):
        subprocess.run(
            [airflow, "pools", "set", pool, "1", "cohortflow"], check=True, capture_output=True
        )
    return _AIRFLOW_HOME


@pytest.fixture(params=["one pass", "streamed"])
def both_csv_readings(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once for each way a CSV is read: loaded whole by one pass (a file of up to
    ``ONE_PASS_BYTES``, as every test file is) and counted, then streamed (a larger file)."""
    if request.param == "streamed":
        monkeypatch.setattr("cohortflow.ingest.csv_files.ONE_PASS_BYTES", -1)
    return str(request.param)
