"""How ``make bench`` measures: commands run as subprocesses, taking turns (wall time, the
command's own CPU and peak RSS from ``wait4``, through ``benchmarks/launch.py``); the DuckDB
temp files a run writes; the host's speed; and the comparison of two commands' outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

PROJECT = Path(__file__).resolve().parents[1]
#: The ``cohortflow`` command measured: ``COHORTFLOW_BENCH_CLI`` (``make bench`` points it at an
#: environment with the product's dependencies only, as deployed), else the one beside Python.
CLI = os.environ.get("COHORTFLOW_BENCH_CLI") or str(Path(sys.executable).with_name("cohortflow"))


@dataclass
class Run:
    """One command's figures: wall seconds, peak RSS of its largest process (a pool worker's
    memory is not added to its parent's: ``wait4`` reports the maximum), CPU seconds (user +
    system of the command and the children it waited for: insensitive to other load), and,
    for a watched run, the most bytes of DuckDB temp files seen at once (None: not watched)."""

    wall: float
    peak_rss_mib: float
    cpu: float
    temp_bytes: int | None = None


@dataclass(frozen=True)
class Command:
    """A command to measure; ``watch_temp``: run it with a fresh ``TMPDIR`` and look for the
    DuckDB temp files it writes there (see :class:`TempWatch`)."""

    argv: list[str]
    watch_temp: bool = False


def cohortflow_command(source: Path, campaign: Path, out: Path) -> Command:
    """``cohortflow process``, watched for DuckDB temp files."""
    return Command([CLI, "process", str(source), "--campaign", str(campaign), "--out", str(out)],
                   watch_temp=True)


def baseline_command(source: Path, campaign: Path, out: Path) -> Command:
    """The naive pandas/phonenumbers/Jinja baseline (``benchmarks/baseline.py``)."""
    return Command([sys.executable, "-m", "benchmarks.baseline", str(source), str(campaign),
                    str(out)])


def peer_command(source: Path, campaign: Path, out: Path) -> Command:
    """The stronger peer: polars, a phonenumbers pool, compiled Jinja (``benchmarks/peer.py``)."""
    return Command([sys.executable, "-m", "benchmarks.peer", str(source), str(campaign),
                    str(out)])


def copy_command(source: Path, target: Path) -> Command:
    """DuckDB copying the CSV to Parquet, every column as text (``benchmarks/duckdb_copy.py``)."""
    return Command([sys.executable, "-m", "benchmarks.duckdb_copy", str(source), str(target)])


def child_env() -> dict[str, str]:
    """The environment of measured runs: bytecode may be cached, as in any deployment (with
    PYTHONDONTWRITEBYTECODE every run would recompile pandas, pandera, ... for seconds)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def is_duckdb_temp_file(path: Path, root: Path) -> bool:
    """A file DuckDB writes when it spills: under a ``spill`` folder (cohortflow's
    ``temp_directory``) or named ``duckdb_temp*`` (DuckDB's own names), below ``root``."""
    parts = path.relative_to(root).parts
    return "spill" in parts[:-1] or path.name.startswith("duckdb_temp")


def temp_bytes(root: Path) -> int:
    """Bytes of the DuckDB temp files under ``root`` now (files may vanish while counted)."""
    total = 0
    for path in root.rglob("*"):
        try:
            if is_duckdb_temp_file(path, root) and path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


class TempWatch:
    """Looks at a folder every :data:`INTERVAL` seconds while a command runs and keeps the most
    bytes of DuckDB temp files seen at once, and whether anything was made there at all.

    cohortflow's scratch folder (``tempfile``, so under ``TMPDIR``) holds DuckDB's spill
    folder and is removed when the cohort is done, so it can only be seen during the run: a
    spill shorter than the interval could be missed (spilling a chunk's tables takes far
    longer). A run in which the folder stayed empty throughout tells nothing (its scratch
    folder is elsewhere, or too short-lived to see): :attr:`measured` is then None."""

    INTERVAL = 0.05

    def __init__(self, root: Path) -> None:
        self.root = root
        self.peak = 0
        self.seen = False  # something was made under root while the command ran
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="bench-temp-watch", daemon=True)

    def _look(self) -> None:
        self.seen = self.seen or any(self.root.iterdir())
        self.peak = max(self.peak, temp_bytes(self.root))

    def _watch(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            self._look()

    @property
    def measured(self) -> int | None:
        """The most bytes of DuckDB temp files seen at once; None if nothing was seen."""
        return self.peak if self.seen else None

    def __enter__(self) -> TempWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._look()  # whatever was left behind


def run_child(command: Command) -> Run:
    """Run ``command`` (through ``benchmarks/launch.py``, so that its peak RSS is its own, not
    this process's); its wall time, CPU, peak RSS and, when watched, the DuckDB temp files it
    wrote (None: not watched, or its scratch folder was not seen)."""
    with tempfile.TemporaryDirectory(prefix="cohortflow-bench-tmp-") as scratch:
        env = child_env()
        watched = Path(scratch) / "tmp"
        watched.mkdir()
        if command.watch_temp:
            env["TMPDIR"] = str(watched)
        report = Path(scratch) / "launch.json"
        watch = TempWatch(watched)
        with watch if command.watch_temp else contextlib.nullcontext():
            child = subprocess.run([sys.executable, "-m", "benchmarks.launch", str(report),
                                    *command.argv], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env=env, cwd=PROJECT, check=False)
        figures = json.loads(report.read_text()) if report.exists() else {}
    if child.returncode != 0 or not figures:
        raise RuntimeError(f"{' '.join(command.argv)} failed ({child.returncode}): "
                           f"{child.stderr.decode()}")
    return Run(figures["wall"], figures["maxrss_kib"] / 1024, figures["cpu"],
               watch.measured if command.watch_temp else None)


def median_runs(commands: list[Command], repeats: int) -> tuple[list[Run], list[Run]]:
    """Run each command ``repeats`` times, taking turns (a, b, a, b, ...), so that a change in
    the shared host's speed during the runs affects every command alike. Returns the median of
    each command (temp files: the most any run wrote), and its last run (the one whose
    outputs are left in place)."""
    runs: list[list[Run]] = [[] for _ in commands]
    for _ in range(repeats):
        for command, done in zip(commands, runs, strict=True):
            done.append(run_child(command))
    medians = [Run(statistics.median(r.wall for r in done),
                   statistics.median(r.peak_rss_mib for r in done),
                   statistics.median(r.cpu for r in done),
                   _most_temp(done)) for done in runs]
    return medians, [done[-1] for done in runs]


def _most_temp(runs: list[Run]) -> int | None:
    watched = [run.temp_bytes for run in runs if run.temp_bytes is not None]
    return max(watched) if watched else None


@dataclass(frozen=True)
class HostSpeed:
    """How fast the shared host is right now, for the same fixed DuckDB job every time."""

    one_thread: float  # seconds on one thread: the speed of a core
    two_threads: float  # seconds on two threads

    @property
    def parallel_speedup(self) -> float:
        """1.0: the second core gave nothing (the host was busy); 2.0: two full cores."""
        return self.one_thread / self.two_threads

    def merged(self, other: HostSpeed) -> HostSpeed:
        """The mean of two measurements (before and after a size's runs)."""
        return HostSpeed((self.one_thread + other.one_thread) / 2,
                         (self.two_threads + other.two_threads) / 2)


#: Rows of the host probe's table (400 MB; one scan takes about 0.13 s on one thread here).
HOST_PROBE_ROWS = 50_000_000


def host_speed() -> HostSpeed:
    """Time a fixed CPU-bound DuckDB job on one thread, then on two: hashing every row of a
    table (a scan DuckDB splits between its threads). A core's speed on this shared VM
    drifts between sessions; the second figure shows whether the second core is there.

    The table is built first: ``range()`` itself runs on one thread whatever the setting, so
    a job over it would show no speedup on any host."""
    conn = duckdb.connect()
    conn.execute(f"create table probe as select i from range({HOST_PROBE_ROWS}) t(i)")
    seconds = []
    for threads in (1, 2):
        conn.execute(f"set threads = {threads}")
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            conn.execute("select sum(hash(i)) from probe").fetchall()
            runs.append(time.perf_counter() - started)
        seconds.append(statistics.median(runs))
    conn.close()
    return HostSpeed(*seconds)


def _differences(conn: duckdb.DuckDBPyConnection, left: str, right: str) -> int:
    return int(conn.execute(
        f"select (select count(*) from ({left} except all {right}))"
        f" + (select count(*) from ({right} except all {left}))").fetchall()[0][0])


def _table(folder: Path, name: str) -> str:
    """``name``'s rows in ``folder``: its Parquet file (cohortflow, the peer) or its CSV file
    with every column as text (the baseline)."""
    parquet = folder / f"{name}.parquet"
    if parquet.exists():
        return f"read_parquet('{parquet}')"
    return f"read_csv('{folder / f'{name}.csv'}', all_varchar = true)"


def compare_outputs(fast: Path, other: Path) -> str:
    """'identical', or what differs between cohortflow's outputs and another command's:
    recipients (row, E.164, region, message), rejections (row, reasons) and the rejected.csv
    cells."""
    conn = duckdb.connect()
    conn.execute("set enable_progress_bar = false")
    conn.execute("set memory_limit = '2GB'")
    recipients = "select row_number::bigint, phone_number, region, coalesce(message, '') from {}"
    rejections = "select row_number::bigint, rejected_reason from {}"
    rejected = "select * from read_csv('{}', all_varchar = true, header = true)"
    checks = {
        "recipients": _differences(conn, recipients.format(_table(fast, "recipients")),
                                   recipients.format(_table(other, "recipients"))),
        "rejections": _differences(conn, rejections.format(_table(fast, "rejections")),
                                   rejections.format(_table(other, "rejections"))),
        "rejected.csv": _differences(conn, rejected.format(fast / "rejected.csv"),
                                     rejected.format(other / "rejected.csv")),
    }
    differing = {name: count for name, count in checks.items() if count}
    return "identical" if not differing else ", ".join(
        f"{name}: {count} rows differ" for name, count in differing.items())


def distinct_values(source: Path, column: str) -> int:
    """How many distinct non-empty values ``column`` of the CSV ``source`` holds."""
    conn = duckdb.connect()
    conn.execute("set enable_progress_bar = false")
    return int(conn.execute(
        "select count(distinct \"" + column.replace('"', '""') + "\") "
        "from read_csv($path, all_varchar = true)", {"path": str(source)}).fetchall()[0][0])
