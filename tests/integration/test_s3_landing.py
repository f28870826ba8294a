"""The landing area in an S3 bucket (moto's server on loopback) through ObjectStoragePath.

The bucket is reached through an Airflow connection of type ``aws`` defined in the
environment (``AIRFLOW_CONN_COHORTFLOW_S3``) whose extra names the endpoint, as in production.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cohortflow.settings import get_settings

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLES = PROJECT / "include" / "examples" / "landing"
BUCKET = "cohortflow-landing"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, for this module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty bucket holding the example landing files, and settings pointing at it."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    for path in sorted(EXAMPLES.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), BUCKET, f"landing/{path.relative_to(EXAMPLES)}")
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_COHORTFLOW_S3", json.dumps(connection))
    monkeypatch.setenv("COHORTFLOW_LANDING", f"s3://{BUCKET}/landing")
    monkeypatch.setenv("COHORTFLOW_LANDING_CONN_ID", "cohortflow_s3")
    monkeypatch.setenv("COHORTFLOW_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("COHORTFLOW_CAMPAIGNS", str(PROJECT / "include" / "campaigns"))
    yield client
    objects = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for item in objects:
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _keys(client: Any) -> set[str]:
    return {item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_discovery_lists_and_hashes_files_in_the_bucket(bucket: Any) -> None:
    from cohortflow.ingest.identity import file_sha256
    from cohortflow.ingest.tasks import find_new_files

    items = {item["name"]: item for item in find_new_files()}
    assert set(items) == {"june_cohort.csv", "december_reminders.xlsx", "december_offers.csv"}
    june = items["june_cohort.csv"]
    assert june["uri"].startswith("s3://") and june["uri"].endswith("landing/loans/june_cohort.csv")
    assert june["sha256"] == file_sha256(EXAMPLES / "loans" / "june_cohort.csv")
    assert june["mapping_uri"] is not None and june["mapping_uri"].endswith(".mapping.json")
    assert items["december_reminders.xlsx"]["campaign_id"] == "reminders"


def test_files_in_the_bucket_become_cohorts_and_move_to_archive(bucket: Any) -> None:
    import duckdb

    from cohortflow.ingest.tasks import find_new_files, process_file, publish

    results = [process_file(item) for item in find_new_files()]
    assert {r["status"] for r in results} == {"completed"}
    published = publish(results)
    keys = _keys(bucket)
    assert not any(key.startswith("landing/") and "." in key.rsplit("/", 1)[-1] for key in keys)
    archived = {key for key in keys if key.startswith("archive/")}
    assert any(key.endswith("__june_cohort.csv") for key in archived)
    assert any(key.endswith("__june_cohort.csv.mapping.json") for key in archived)
    assert any(key.endswith("__december_reminders.xlsx.summary.json") for key in archived)
    assert all(r["moved_to"].startswith("s3://") for r in published)
    warehouse = Path(get_settings().warehouse)
    with duckdb.connect(str(warehouse / "cohortflow.duckdb"), read_only=True) as conn:
        cohorts = dict(conn.execute("select name, source_type from cohorts").fetchall())
    assert cohorts == {
        "june_cohort.csv": "object_storage",
        "december_reminders.xlsx": "object_storage",
        "december_offers.csv": "object_storage",
    }


def test_a_bad_file_in_the_bucket_moves_to_failed(bucket: Any) -> None:
    from cohortflow.ingest.tasks import find_new_files, process_file, publish

    bucket.put_object(Bucket=BUCKET, Key="landing/loans/garbage.csv", Body=b"\x00\x01binary\x00")
    results = [process_file(item) for item in find_new_files(file="garbage.csv")]
    assert [r["status"] for r in results] == ["failed"]
    publish(results)
    assert any(key.startswith("failed/loans/") for key in _keys(bucket))
    assert "landing/loans/june_cohort.csv" in _keys(bucket)


def test_a_redropped_file_is_a_duplicate_and_leaves_the_landing_area(bucket: Any) -> None:
    from cohortflow.ingest.tasks import find_new_files, process_file, publish

    publish([process_file(item) for item in find_new_files(campaign_id="loans")])
    bucket.upload_file(
        str(EXAMPLES / "loans" / "june_cohort.csv"), BUCKET, "landing/loans/june_again.csv"
    )
    again = find_new_files(campaign_id="loans")
    assert [(i["name"], bool(i["duplicate_of"])) for i in again] == [("june_again.csv", True)]
    publish([process_file(item) for item in again])
    assert "landing/loans/june_again.csv" not in _keys(bucket)


def test_the_warehouse_mirror_holds_the_cohorts_and_a_readable_catalog(
    bucket: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import duckdb

    from cohortflow.ingest.tasks import find_new_files, process_file, publish

    monkeypatch.setenv("COHORTFLOW_WAREHOUSE_MIRROR", f"s3://{BUCKET}/warehouse")
    monkeypatch.setenv("COHORTFLOW_WAREHOUSE_MIRROR_CONN_ID", "cohortflow_s3")
    results = publish([process_file(item) for item in find_new_files()])
    mirrored = {key for key in _keys(bucket) if key.startswith("warehouse/")}
    for result in results:
        folder = (
            f"warehouse/cohorts/campaign_id={result['campaign_id']}/cohort_id={result['cohort_id']}"
        )
        assert {f"{folder}/summary.json", f"{folder}/recipients.parquet"} <= mirrored
    download = tmp_path / "analyst.duckdb"
    bucket.download_file(BUCKET, "warehouse/cohortflow.duckdb", str(download))
    with duckdb.connect(str(download), read_only=True) as conn:
        count = conn.execute("select count(*) from cohorts").fetchone()
    assert count == (3,)  # loans, reminders, offers


@pytest.mark.airflow
def test_cohort_ingest_dag_reads_the_bucket(bucket: Any, airflow_db: Path) -> None:
    """The DAG itself (dag.test) on the bucket: the connection comes from the environment."""
    import duckdb
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(PROJECT / "dags" / "cohort_ingest.py")).dags["cohort_ingest"]
    assert str(dag.test().state) == "success"
    warehouse = Path(get_settings().warehouse)
    with duckdb.connect(str(warehouse / "cohortflow.duckdb"), read_only=True) as conn:
        count = conn.execute("select count(*) from cohorts where status = 'completed'").fetchone()
    assert count == (3,)  # loans, reminders, offers
    assert not [key for key in _keys(bucket) if key.startswith("landing/")]
