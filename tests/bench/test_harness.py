"""The benchmark's harness: commands take turns, cohortflow's runs are watched for DuckDB temp
files, and each size's lines show the baseline, the peer, DuckDB's copy and the library count."""

from __future__ import annotations

import sys
from pathlib import Path

import benchmarks.measure as measure
import pytest
from benchmarks.measure import Command, HostSpeed, Run, TempWatch, is_duckdb_temp_file
from benchmarks.report import (
    MAIN_HEADER,
    PEER_HEADER,
    SizeResult,
    failed_line,
    main_line,
    peer_line,
    percent,
)

HOST = HostSpeed(0.2, 0.1)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_runs_take_turns_and_give_each_command_its_median_and_its_last_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walls = iter([3.0, 40.0, 5.0, 50.0, 6.0, 30.0])  # a, b, a, b, a, b
    temps = iter([0, None, 4096, None, 0, None])
    order: list[str] = []

    def run_child(command: Command) -> Run:
        order.append(command.argv[0])
        return Run(next(walls), 100, 1.0, next(temps))

    monkeypatch.setattr(measure, "run_child", run_child)
    medians, last = measure.median_runs([Command(["a"], watch_temp=True), Command(["b"])], 3)

    assert order == ["a", "b", "a", "b", "a", "b"]
    assert [run.wall for run in medians] == [5.0, 40.0]
    assert [run.temp_bytes for run in medians] == [4096, None]  # the most any run wrote
    assert [run.wall for run in last] == [6.0, 30.0]


def test_duckdb_temp_files_are_those_under_a_spill_folder_or_named_by_duckdb(
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "cohortflow-abc"
    assert is_duckdb_temp_file(scratch / "spill" / "duckdb_temp_storage_S32K-0.tmp", tmp_path)
    assert is_duckdb_temp_file(scratch / "spill" / "anything", tmp_path)
    assert is_duckdb_temp_file(tmp_path / "duckdb_temp_block-4611686018427388032.block",
                               tmp_path)
    assert not is_duckdb_temp_file(scratch / "work.duckdb", tmp_path)
    assert not is_duckdb_temp_file(tmp_path / "spill", tmp_path)  # the folder itself


def test_the_watch_keeps_the_most_temp_bytes_seen_at_once(tmp_path: Path) -> None:
    spill = tmp_path / "cohortflow-abc" / "spill"
    with TempWatch(tmp_path) as watch:
        spill.mkdir(parents=True)
        (spill / "duckdb_temp_storage-0.tmp").write_bytes(b"x" * 5000)
        (tmp_path / "cohortflow-abc" / "work.duckdb").write_bytes(b"x" * 9000)
    assert watch.measured == 5000


def test_a_command_that_fails_says_why() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        measure.run_child(Command([sys.executable, "-c", "import sys; sys.exit('boom')"]))


def test_a_watched_run_reports_no_temp_files_only_when_its_scratch_folder_was_seen() -> None:
    scratch = ("import tempfile, time\n"
               "with tempfile.TemporaryDirectory(prefix='cohortflow-'):\n"
               "    time.sleep(0.3)\n")
    assert measure.run_child(Command([sys.executable, "-c", scratch], watch_temp=True)
                             ).temp_bytes == 0
    # nothing made under TMPDIR: the watch tells nothing rather than "none"
    assert measure.run_child(Command([sys.executable, "-c", "pass"], watch_temp=True)
                             ).temp_bytes is None
    assert measure.run_child(Command([sys.executable, "-c", scratch])).temp_bytes is None


def _result(**changes: object) -> SizeResult:
    result = SizeResult(
        1_000_000, Run(3.0, 700, 5.0, 0), Run(3.1, 700, 5.0, 0), HOST,
        steps={"phones": 1.0, "phones_library_values": 4_500.0},
        slow=Run(60.0, 1500, 60.0), peer=Run(18.0, 950, 29.0), copy=Run(0.75, 300, 1.2),
        baseline_outputs="identical", peer_outputs="identical", distinct_phones=900_000)
    for name, value in changes.items():
        setattr(result, name, value)
    return result


def test_the_main_line_compares_cohortflow_with_the_naive_baseline() -> None:
    cells = _cells(main_line(_result(), {}))
    assert len(cells) == len(_cells(MAIN_HEADER[0]))
    assert cells[:5] == ["1M", "3.00", "5.00", "333,333", "700"]
    assert cells[9:] == ["20.0×, 12.0×", "identical", "0.20, 2.00×"]
    skipped = _cells(main_line(_result(slow=None, baseline_outputs=None),
                               {100_000: Run(5.0, 400, 5.0)}))
    assert skipped[5] == "skipped: about 1 min and 4 GiB, scaled from 100k"
    assert skipped[10] == "not compared (baseline skipped)"


def test_the_peer_line_shows_the_peer_the_copy_and_the_library_count() -> None:
    cells = _cells(peer_line(_result(), {}))
    header = _cells(PEER_HEADER[0])
    assert len(cells) == len(header)
    assert dict(zip(header, cells, strict=True)) == {
        "rows": "1M",
        "peer wall s": "18.00",
        "peer CPU s": "29.00",
        "peer peak RSS MiB": "950",
        "peer/cohortflow (wall, CPU)": "6.0×, 5.8×",
        "outputs": "identical",
        "DuckDB copy wall s": "0.75",
        "DuckDB copy CPU s": "1.20",
        "cohortflow/copy (wall)": "4.0×",
        "phone values to the library (share of distinct)": "4,500 of 900,000 (0.5%)",
        "cohortflow's DuckDB temp files": "none",
    }


def test_the_peer_line_of_a_size_without_the_peer_or_a_summary_count() -> None:
    spilled = Run(30.0, 1400, 50.0, 1_073_741_824)
    cells = _cells(peer_line(_result(rows=10_000_000, fast=spilled, peer=None,
                                     peer_outputs=None, steps={}),
                             {1_000_000: Run(18.0, 950, 29.0)}))
    assert cells[1] == "skipped: about 3 min and 9 GiB, scaled from 1M"
    assert cells[5] == "not compared (peer skipped)"
    assert cells[9:] == ["–", "1,024 MiB"]


def test_a_failed_size_keeps_the_tables_shape() -> None:
    for header, width in ((MAIN_HEADER, 12), (PEER_HEADER, 11)):
        assert len(_cells(failed_line(10_000_000, "out of memory", width))) == len(
            _cells(header[0]))


def test_a_commands_peak_rss_is_its_own_not_the_harness_s() -> None:
    # Linux counts the starting process's high-water mark in a child's peak RSS; the launcher
    # keeps the harness's (here 256 MiB more) out of the figure
    ballast = bytearray(256 * 1024**2)
    ballast[::4096] = b"x" * len(ballast[::4096])
    run = measure.run_child(Command([sys.executable, "-c", "pass"]))
    assert run.peak_rss_mib < 128
    assert len(ballast) == 256 * 1024**2


def test_shares_keep_two_significant_digits_below_one_percent() -> None:
    assert [percent(share) for share in (0, 3 / 980_596, 0.005, 0.3349)] == [
        "0%", "0.00031%", "0.5%", "33.5%"]
