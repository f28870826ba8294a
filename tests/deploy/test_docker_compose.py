"""docker-compose.yml, the Dockerfile and .env.example, checked by parsing them.

No Docker engine runs where these tests run, so the images are never built here: the file's
structure is what can be checked (services, settings, volumes, health checks, start order),
plus `docker compose config` when a compose client is installed (it needs no engine).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PROJECT / "docker-compose.yml").read_text("utf-8"))
    return data


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (PROJECT / ".env.example").read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def test_every_service_of_the_topology_is_there(compose: dict[str, Any]) -> None:
    expected = {
        *AIRFLOW_SERVICES,
        "airflow-init",
        "postgres",
        "redis",
        "minio",
        "minio-init",
        "sandbox",
    }
    assert expected <= set(compose["services"])


def test_airflow_services_run_the_project_image_built_from_the_official_one(
    compose: dict[str, Any],
) -> None:
    dockerfile = (PROJECT / "Dockerfile").read_text("utf-8")
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}", dockerfile, re.MULTILINE)
    assert "-e /opt/cohortflow" in dockerfile
    for name in (*AIRFLOW_SERVICES, "airflow-init", "sandbox"):
        service = compose["services"][name]
        assert service["build"]["context"] == "."
        assert service["image"].startswith("cohortflow-airflow:")


def test_airflow_is_configured_for_celery_postgres_redis_and_the_minio_bucket(
    compose: dict[str, Any],
) -> None:
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        env = compose["services"][name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
        assert env["COHORTFLOW_LANDING"].startswith("s3://")
        assert env["COHORTFLOW_LANDING_CONN_ID"] == "cohortflow_s3"
        assert "http://minio:9000" in env["AIRFLOW_CONN_COHORTFLOW_S3"]
        assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "false"


def test_long_running_services_have_health_checks(compose: dict[str, Any]) -> None:
    for name in (*AIRFLOW_SERVICES, "postgres", "redis", "minio", "sandbox"):
        assert compose["services"][name].get("healthcheck", {}).get("test"), name


def test_airflow_starts_after_its_database_broker_buckets_and_init(
    compose: dict[str, Any],
) -> None:
    for name in AIRFLOW_SERVICES:
        depends = compose["services"][name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["minio-init"]["condition"] == "service_completed_successfully"
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
    init = compose["services"]["minio-init"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "mc mb --ignore-existing" in init["command"][0]


def test_workers_scale_out(compose: dict[str, Any]) -> None:
    worker = compose["services"]["airflow-worker"]
    assert worker["command"] == "celery worker"
    assert "container_name" not in worker
    assert "ports" not in worker


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, source


def test_every_setting_the_compose_file_reads_is_in_env_example(compose: dict[str, Any]) -> None:
    text = (PROJECT / "docker-compose.yml").read_text("utf-8")
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    assert used <= set(_env_example()), used - set(_env_example())
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", text))
    assert all(_env_example()[name] for name in required)


def test_env_file_is_ignored_by_git_and_docker() -> None:
    assert ".env" in (PROJECT / ".gitignore").read_text("utf-8").split()
    assert ".env" in (PROJECT / ".dockerignore").read_text("utf-8").split()


def test_compose_client_accepts_the_file() -> None:
    """`docker compose config` (or docker-compose v1) when a client is installed."""
    commands = []
    if shutil.which("docker"):
        commands.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        commands.append(["docker-compose"])
    for command in commands:
        result = subprocess.run(
            [*command, "-f", "docker-compose.yml", "--env-file", ".env.example", "config", "-q"],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode == 0:
            return
        if "unknown" in result.stderr or "not a docker command" in result.stderr:
            continue  # `docker` without the compose plugin
        pytest.fail(result.stderr)
    pytest.skip("no docker compose client installed; the file was checked by parsing only")
