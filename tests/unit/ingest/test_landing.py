"""Landing discovery: complete files only, hostile names stay inside their folders."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from cohortflow.ingest.landing import LandingFile, archive_file, archive_target, discover
from cohortflow.warehouse.paths import cohort_dir, safe_component

ROWS = "phone,name\n9876543210,Asha\n"


def _drop(root: Path, campaign: str, name: str, text: str = ROWS) -> Path:
    folder = root / campaign
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_file_still_being_written_is_left_for_the_next_run(tmp_path: Path) -> None:
    path = _drop(tmp_path, "loans", "growing.csv")
    stop = threading.Event()

    def keep_writing() -> None:
        with path.open("a", encoding="utf-8") as handle:
            while not stop.is_set():
                handle.write("9876543211,Ravi\n")
                handle.flush()
                time.sleep(0.05)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        assert discover(tmp_path, settle_seconds=0.5) == []
    finally:
        stop.set()
        writer.join()
    assert [f.name for f in discover(tmp_path, settle_seconds=0.3)] == ["growing.csv"]


def test_ready_marker_makes_a_file_complete_without_waiting(tmp_path: Path) -> None:
    _drop(tmp_path, "loans", "june.csv")
    (tmp_path / "loans" / "june.csv.ready").touch()
    started = time.monotonic()
    found = discover(tmp_path, settle_seconds=30)
    assert [f.name for f in found] == ["june.csv"]
    assert time.monotonic() - started < 5


def test_success_marker_covers_the_whole_folder(tmp_path: Path) -> None:
    _drop(tmp_path, "loans", "a.csv")
    _drop(tmp_path, "loans", "b.csv", ROWS + "9876543212,Meena\n")
    (tmp_path / "loans" / "_SUCCESS").touch()
    assert [f.name for f in discover(tmp_path, settle_seconds=30)] == ["a.csv", "b.csv"]


def test_markers_mappings_and_hidden_files_are_not_cohorts(tmp_path: Path) -> None:
    _drop(tmp_path, "loans", "june.csv")
    _drop(tmp_path, "loans", "june.mapping.json", "{}")
    _drop(tmp_path, "loans", ".june.csv.swp")
    _drop(tmp_path, "loans", "~$june.xlsx")
    _drop(tmp_path, "loans", "notes.pdf")
    assert [f.name for f in discover(tmp_path)] == ["june.csv"]


def test_folders_that_are_not_campaign_ids_are_skipped(tmp_path: Path) -> None:
    _drop(tmp_path, "spaces in name", "a.csv")
    _drop(tmp_path, "ok-campaign_1", "b.csv")
    assert [f.campaign_id for f in discover(tmp_path)] == ["ok-campaign_1"]


def test_same_content_under_two_names_has_one_cohort_id(tmp_path: Path) -> None:
    _drop(tmp_path, "loans", "first.csv")
    _drop(tmp_path, "loans", "second copy.csv")
    first, second = discover(tmp_path)
    assert first.cohort_id == second.cohort_id


def test_hostile_names_cannot_leave_their_folders(tmp_path: Path) -> None:
    assert "/" not in safe_component("../../etc/passwd")
    assert safe_component("..") != ".."
    warehouse = tmp_path / "warehouse"
    target = cohort_dir(warehouse, "../../outside", "../x")
    assert warehouse.resolve() in target.resolve().parents
    landing = tmp_path / "landing"
    file = LandingFile(uri=str(landing / "loans" / "x.csv"), campaign_id="../..",
                       name="../../../escape ü.csv", sha256="0" * 64, cohort_id="abc")
    archived = archive_target(landing, file, "processed")
    assert (tmp_path / "archive").resolve() in archived.resolve().parents


def test_unicode_and_spaces_in_names_are_archived_safely(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = _drop(landing, "loans", "juin été 2026 (final).csv")
    (found,) = discover(landing)
    moved = Path(archive_file(landing, found, "processed", {"status": "completed"}))
    assert not path.exists()
    assert moved.exists() and moved.parent == tmp_path / "archive" / "loans"
    assert moved.with_name(moved.name + ".summary.json").exists()


def test_a_campaign_config_error_fails_the_cohort_with_summary_and_report(
    tmp_path: Path,
) -> None:
    from cohortflow.ingest.tasks import find_new_files, process_file
    from cohortflow.settings import Settings

    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    (campaigns / "loans.yaml").write_text("allowed_schedule: {timezone: Asia/Kolkatta}\n")
    _drop(tmp_path / "landing", "loans", "june.csv")
    settings = Settings(landing=str(tmp_path / "landing"), warehouse=str(tmp_path / "warehouse"),
                        campaigns=str(campaigns), settle_seconds=0)
    (item,) = find_new_files(settings)
    result = process_file(item, settings)
    assert result["status"] == "failed"
    assert "allowed_schedule.timezone" in result["error"]
    assert (Path(result["cohort_dir"]) / "report.html").exists()
