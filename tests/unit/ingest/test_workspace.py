"""The DuckDB workspace of one cohort: closed, with its scratch folder, once processing ends."""

from __future__ import annotations

import time

import duckdb
import pytest

from cohortflow.config import default_campaign
from cohortflow.ingest import CohortRequest, process_cohort
from cohortflow.ingest.workspace import Workspace
from tests.unit.helpers import scratch_folders, write_text


def test_closing_closes_the_connection_and_removes_the_folder(tmp_path, scratch_root):
    source = write_text(tmp_path, "june.csv", "phone\n9876543210\n")
    workspace = Workspace.open(source)
    workspace.conn.execute("create temp table t as select range from range(100000)")
    assert len(scratch_folders(scratch_root)) == 1

    workspace.close()

    assert scratch_folders(scratch_root) == []
    with pytest.raises(duckdb.ConnectionException):
        workspace.conn.execute("select 1")


def test_an_error_while_closing_is_raised(tmp_path, scratch_root, monkeypatch):
    source = write_text(tmp_path, "june.csv", "phone\n9876543210\n")
    workspace = Workspace.open(source)

    def fail() -> None:
        raise OSError("scratch folder busy")

    monkeypatch.setattr(workspace._scratch, "cleanup", fail)

    with pytest.raises(OSError, match="scratch folder busy"):
        workspace.close()


@pytest.mark.parametrize("text", ["phone,name\n9876543210,Asha\n", "phone,name\n"])
def test_process_cohort_returns_once_its_workspace_is_closed(tmp_path, scratch_root, text,
                                                              monkeypatch):
    source = write_text(tmp_path, "june.csv", text)
    real_close = Workspace.close

    def slow_close(self: Workspace) -> None:  # a slow close must still end before the return
        time.sleep(0.3)
        real_close(self)

    monkeypatch.setattr(Workspace, "close", slow_close)

    summary = process_cohort(CohortRequest(source=source, campaign=default_campaign("adhoc"),
                                           region="IN"), tmp_path / "out")

    assert summary.status == ("completed" if text.count("\n") > 1 else "failed")
    assert scratch_folders(scratch_root) == []
