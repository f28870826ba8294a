"""``make bench``: cohortflow against the straightforward baseline on synthetic cohorts.

For 100k, 1M and 10M rows (``--sizes`` to change), generates the cohort (seeded, see
``benchmarks/generate.py``) in a temporary folder, runs ``cohortflow process`` and the baseline
(``benchmarks/baseline.py``) each as a subprocess (wall time and the child's own peak RSS from
``wait4``), median of 3 runs taken in turns (1 at 10M), checks both give identical recipients
(row, E.164, region, message) and rejections (row, reasons, and the rejected.csv cells),
measures the import (parse) time of each DAG file in a fresh interpreter, prints the table and
writes it to ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from benchmarks.generate import write_cohort

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "benchmarks" / "results.md"
#: The baseline's time and memory grow with the rows (1M: 36 to 137 s in different sessions,
#: 1.5 GiB): at 10M it would need about 15 GiB and, on a slow day, more than the benchmark's
#: 15 minutes on its own, so it runs up to this size only.
BASELINE_MAX_ROWS = 1_000_000


@dataclass
class Run:
    wall: float
    peak_rss_mib: float
    cpu: float  # user + system seconds of the child (insensitive to other load)


def child_env() -> dict[str, str]:
    """The environment of measured runs: bytecode may be cached, as in any deployment (with
    PYTHONDONTWRITEBYTECODE every run would recompile pandas, pandera, ... for seconds)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def warm_up() -> None:
    """Compile and cache the bytecode of what both commands import (not measured)."""
    subprocess.run([sys.executable, "-c", "import cohortflow.cli.ingest, "
                    "cohortflow.ingest.process, benchmarks.baseline"],
                   env=child_env(), cwd=PROJECT, check=True)


def run_child(command: list[str]) -> Run:
    """Run ``command``; its wall time and its own peak RSS (``wait4``'s ru_maxrss)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=child_env(), cwd=PROJECT)
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({child.returncode}): {errors.decode()}")
    return Run(wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


#: The ``cohortflow`` command measured: ``COHORTFLOW_BENCH_CLI`` (``make bench`` points it at an
#: environment with the product's dependencies only, as deployed), else the one beside Python.
CLI = os.environ.get("COHORTFLOW_BENCH_CLI") or str(Path(sys.executable).with_name("cohortflow"))


def cohortflow_command(source: Path, campaign: Path, out: Path) -> list[str]:
    return [CLI, "process", str(source), "--campaign", str(campaign), "--out", str(out)]


def baseline_command(source: Path, campaign: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "benchmarks.baseline", str(source), str(campaign), str(out)]


def median_runs(commands: list[list[str]], repeats: int) -> tuple[list[Run], list[Run]]:
    """Run each command ``repeats`` times, taking turns (a, b, a, b, ...), so that a change in
    the shared host's speed during the runs affects every command alike. Returns the median of
    each command, and its last run (the one whose outputs are left in place)."""
    runs: list[list[Run]] = [[] for _ in commands]
    for _ in range(repeats):
        for command, done in zip(commands, runs, strict=True):
            done.append(run_child(command))
    medians = [Run(statistics.median(r.wall for r in done),
                   statistics.median(r.peak_rss_mib for r in done),
                   statistics.median(r.cpu for r in done)) for done in runs]
    return medians, [done[-1] for done in runs]


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


def compare_outputs(fast: Path, slow: Path) -> str:
    """'identical', or what differs between cohortflow's and the baseline's outputs."""
    conn = duckdb.connect()
    conn.execute("set memory_limit = '2GB'")
    recipients = (
        "select row_number::bigint, phone_number, region, coalesce(message, '') from {}")
    fast_recipients = recipients.format(f"read_parquet('{fast / 'recipients.parquet'}')")
    slow_recipients = recipients.format(
        f"read_csv('{slow / 'recipients.csv'}', all_varchar = true)")
    rejections = "select row_number::bigint, rejected_reason from {}"
    fast_rejections = rejections.format(f"read_parquet('{fast / 'rejections.parquet'}')")
    slow_rejections = rejections.format(
        f"read_csv('{slow / 'rejections.csv'}', all_varchar = true)")
    rejected = "select * from read_csv('{}', all_varchar = true, header = true)"
    checks = {
        "recipients": _differences(conn, fast_recipients, slow_recipients),
        "rejections": _differences(conn, fast_rejections, slow_rejections),
        "rejected.csv": _differences(conn, rejected.format(fast / "rejected.csv"),
                                     rejected.format(slow / "rejected.csv")),
    }
    differing = {name: count for name, count in checks.items() if count}
    return "identical" if not differing else ", ".join(
        f"{name}: {count} rows differ" for name, count in differing.items())


def dag_parse_times() -> dict[str, float]:
    """Seconds to import each DAG file, in a fresh interpreter after Airflow's SDK is imported
    and one trivial DAG and Asset built (so the time is what the DAG processor pays per file,
    once Airflow and its providers manager are loaded, as in
    ``airflow dags report``), with a throw-away AIRFLOW_HOME."""
    times = {}
    with tempfile.TemporaryDirectory(prefix="cohortflow-bench-airflow-") as home:
        env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
               "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags")}
        for dag_file in sorted((PROJECT / "dags").glob("*.py")):
            code = (
                "import time, runpy\n"
                "from airflow.sdk import Asset, Param, dag, task\n"
                "import pendulum\n"
                # warm-up: what every DAG file pays once per DAG processor, not per file
                "@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1))\n"
                "def _warm_up():\n"
                "    @task\n"
                "    def step() -> None: ...\n"
                "    step()\n"
                "_warm_up()\n"
                "Asset(name='warm_up', uri='warmup://asset')\n"  # loads the providers manager
                "started = time.perf_counter()\n"
                f"runpy.run_path({str(dag_file)!r})\n"
                "print(time.perf_counter() - started)\n"
            )
            result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                    text=True, env=env, cwd=PROJECT, check=False)
            lines = result.stdout.strip().splitlines()
            times[dag_file.name] = float(lines[-1]) if result.returncode == 0 and lines else -1.0
    return times


@dataclass(frozen=True)
class Target:
    """One of the issue's targets, with the figure this run measured."""

    what: str
    measured: str
    met: bool | None  # None: not measured in this run (a size was left out or failed)


def targets(fast: dict[int, Run], slow: dict[int, Run], parse_times: dict[str, float],
            dispatch_rate: float) -> list[Target]:
    """The issue's targets against this run's figures (``met`` None where a size was not run)."""
    million, ten_million = fast.get(1_000_000), fast.get(10_000_000)
    baseline = slow.get(1_000_000)
    ratio = baseline.wall / million.wall if million and baseline else None
    linear = ten_million.wall / million.wall if million and ten_million else None
    parse = max(parse_times.values()) if parse_times else None
    parse_ok = parse is not None and min(parse_times.values()) >= 0 and parse <= 0.5
    return [
        Target("1M rows end to end <= 5 s wall",
               f"{million.wall:.2f} s" if million else "not run",
               million.wall <= 5 if million else None),
        Target("1M rows >= 15x faster than the baseline (wall)",
               f"{ratio:.1f}x" if ratio is not None else "not run",
               ratio >= 15 if ratio is not None else None),
        Target("1M rows peak RSS <= 1 GiB",
               f"{million.peak_rss_mib:,.0f} MiB" if million else "not run",
               million.peak_rss_mib <= 1024 if million else None),
        Target("10M rows complete, peak RSS <= 2 GiB",
               f"{ten_million.peak_rss_mib:,.0f} MiB" if ten_million else "not run",
               ten_million.peak_rss_mib <= 2048 if ten_million else None),
        Target("cost linear in rows: 10M wall <= 11 x 1M wall",
               f"{linear:.1f}x" if linear is not None else "not run",
               linear <= 11 if linear is not None else None),
        Target("each DAG file parses in <= 0.5 s",
               f"{parse:.3f} s at most" if parse is not None else "not run",
               parse_ok if parse is not None else None),
        Target("dispatch overhead >= 5,000 recipients/s", f"{dispatch_rate:,.0f}/s",
               dispatch_rate >= 5000),
    ]


@dataclass(frozen=True)
class CostModel:
    """A straight line through two sizes' wall times: what every run pays, and what each
    million rows adds."""

    fixed_seconds: float
    seconds_per_million: float

    def wall(self, rows: int) -> float:
        """The wall time the line predicts for ``rows``."""
        return self.fixed_seconds + self.seconds_per_million * rows / 1_000_000


def cost_model(fast: dict[int, Run], small: int = 100_000,
               large: int = 1_000_000) -> CostModel | None:
    """The line through the ``small`` and ``large`` runs of cohortflow; None if either is
    missing."""
    if small not in fast or large not in fast:
        return None
    per_row = (fast[large].wall - fast[small].wall) / (large - small)
    return CostModel(fast[small].wall - per_row * small, per_row * 1_000_000)


#: The steps ``summary.json`` times (``timings``), in pipeline order.
STEPS = ("read", "blocking_checks", "dnc", "phones", "row_checks", "render", "checks_dedupe",
         "dedupe", "write")


def step_lines(steps: dict[int, dict[str, float]], last: dict[int, Run]) -> list[str]:
    """A table of each size's step timings and the rest of the wall time (start-up, imports,
    hashing, the report, minus the part of the read done during the imports), both of the last
    cohortflow run of that size: the median's wall time came from another run."""
    present = [step for step in STEPS if any(step in timings for timings in steps.values())]
    lines = ["| rows | " + " | ".join(present) + " | rest of the wall time |",
             "|---:|" + "---:|" * (len(present) + 1)]
    for rows, timings in steps.items():
        rest = last[rows].wall - sum(timings.get(step, 0.0) for step in present)
        cells = " | ".join(f"{timings.get(step, 0.0):.2f}" for step in present)
        lines.append(f"| {_fmt_rows(rows)} | {cells} | {rest:.2f} |")
    return lines


def _cost_lines(fast: dict[int, Run]) -> list[str]:
    model = cost_model(fast)
    if model is None:
        return []
    return [f"A straight line through the 100k and 1M medians: {model.fixed_seconds:.2f} s that "
            f"every run pays, plus {model.seconds_per_million:.2f} s per million rows.", ""]


def skipped_baseline(rows: int, slow: dict[int, Run]) -> str:
    """Why the baseline did not run on ``rows``: what it would take, scaled from its largest
    run."""
    if not slow:
        return "skipped"
    measured = max(slow)
    scale = rows / measured
    return (f"skipped: about {slow[measured].wall * scale / 60:.0f} min and "
            f"{slow[measured].peak_rss_mib * scale / 1024:.0f} GiB, scaled from "
            f"{_fmt_rows(measured)}")


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[met]


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


def _fmt_rows(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows >= 1_000_000 else f"{rows // 1000}k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--folder", type=Path, default=None,
                        help="Where to generate the cohorts (default: a temporary folder).")
    parser.add_argument("--no-write", action="store_true", help="Do not write results.md.")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    bench_started = time.perf_counter()
    warm_up()
    fast_runs: dict[int, Run] = {}
    last_fast_runs: dict[int, Run] = {}  # the run whose summary.json gives the step times
    slow_runs: dict[int, Run] = {}
    steps: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="cohortflow-bench-") as tmp:
        folder = args.folder or Path(tmp)
        lines = [
            "| rows | cohortflow wall s | cohortflow CPU s | cohortflow rows/s "
            "| cohortflow peak RSS MiB | baseline wall s | baseline CPU s | baseline rows/s "
            "| baseline peak RSS MiB | baseline/cohortflow (wall, CPU) | outputs "
            "| host: 1-thread job s, 2-thread speedup |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|",
        ]
        for rows in sizes:
            started = time.perf_counter()
            source = write_cohort(folder, rows)
            print(f"generated {source.name} in {time.perf_counter() - started:.1f} s",
                  flush=True)
            campaign = folder / "bench.yaml"
            repeats = 1 if rows >= 10_000_000 else 3
            fast_out, slow_out = folder / f"fast_{rows}", folder / f"slow_{rows}"
            host = host_speed()
            commands = [cohortflow_command(source, campaign, fast_out)]
            if rows <= BASELINE_MAX_ROWS:
                commands.append(baseline_command(source, campaign, slow_out))
            try:
                (fast, *slow_run), (last_fast, *_) = median_runs(commands, repeats)
            except RuntimeError as exc:  # record the failure, keep the other sizes
                error = str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else "?"
                lines.append(f"| {_fmt_rows(rows)} | failed: {error} | | | | | | | | | | |")
                print(lines[-1], flush=True)
                continue
            fast_runs[rows] = fast
            last_fast_runs[rows] = last_fast
            steps[rows] = json.loads((fast_out / "summary.json").read_text("utf-8"))["timings"]
            host = host.merged(host_speed())  # before and after
            print(f"cohortflow {rows}: {fast.wall:.2f} s, CPU {fast.cpu:.2f} s, "
                  f"{fast.peak_rss_mib:.0f} MiB, host {host.one_thread:.2f} s, "
                  f"{host.parallel_speedup:.2f}x on 2 threads",
                  flush=True)
            if slow_run:
                slow = slow_runs[rows] = slow_run[0]
                print(f"baseline {rows}: {slow.wall:.2f} s, {slow.peak_rss_mib:.0f} MiB",
                      flush=True)
                verdict = compare_outputs(fast_out, slow_out)
                baseline_cells = (f"{slow.wall:.2f} | {slow.cpu:.2f} | {rows / slow.wall:,.0f} | "
                                  f"{slow.peak_rss_mib:,.0f} | {slow.wall / fast.wall:.1f}×, "
                                  f"{slow.cpu / fast.cpu:.1f}×")
            else:
                verdict = "not compared (baseline skipped)"
                baseline_cells = f"{skipped_baseline(rows, slow_runs)} | – | – | – | –"
            lines.append(f"| {_fmt_rows(rows)} | {fast.wall:.2f} | {fast.cpu:.2f} | "
                         f"{rows / fast.wall:,.0f} | "
                         f"{fast.peak_rss_mib:,.0f} | {baseline_cells} | {verdict} "
                         f"| {host.one_thread:.2f}, {host.parallel_speedup:.2f}× |")
            print(lines[-1], flush=True)
        parse_times = dag_parse_times()
    from benchmarks.dispatch_overhead import measure

    dispatch_seconds, dispatch_rate = measure()
    dag_lines = ["| DAG file | import time s |", "|---|---:|"] + [
        f"| {name} | {seconds:.3f} |" for name, seconds in parse_times.items()]
    target_lines = ["| target | this run | |", "|---|---:|---|"] + [
        f"| {t.what} | {t.measured} | {_verdict(t.met)} |"
        for t in targets(fast_runs, slow_runs, parse_times, dispatch_rate)]
    machine = (f"{os.cpu_count()} cores, {_memory_gib():.1f} GiB memory, "
               f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
               f"DuckDB {duckdb.__version__}")
    load = os.getloadavg()
    report = "\n".join([
        "# cohortflow benchmark",
        "",
        f"Run {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} on {machine}; "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.",
        "",
        "`make bench` (benchmarks/run.py): synthetic cohorts (benchmarks/generate.py), "
        "`cohortflow process` and the pandas/phonenumbers/Jinja baseline "
        "(benchmarks/baseline.py) as subprocesses; wall time and the child's peak RSS are "
        "medians of 3 runs (1 run at 10M), the two commands taking turns so that the host's "
        "changing speed affects both alike; CPU is the child's user + system time, which other "
        "processes do not inflate (a slower host does). 'outputs' compares recipients (row, "
        "E.164, region, message), rejections (row, reasons) and the rejected.csv cells. "
        "'host' times one fixed CPU-bound DuckDB job (hashing a 50M-row table) on one thread "
        "and on two, just before and after the runs of that size (mean): the speed of a core, "
        "and what the second core added (2.0× is two full cores; 1.0×, none). A core's speed "
        "on this shared VM drifts between sessions: compare runs with similar host figures.",
        "",
        *lines,
        "",
        *_cost_lines(fast_runs),
        "Where cohortflow's time went, in seconds, in the last run of each size: the steps "
        "`summary.json` times and the rest of that run's wall time (interpreter start-up, "
        "imports, hashing the file, the report):",
        "",
        *step_lines(steps, last_fast_runs),
        "",
        "DAG files, import time in a fresh interpreter after importing the SDK and building a "
        "trivial DAG and Asset (what `airflow dags report` calls parse time):",
        "",
        *dag_lines,
        "",
        "Dispatch overhead (benchmarks/dispatch_overhead.py): 50,000 recipients planned and "
        "submitted to the local sandbox in batches of 1,000 with no rate limit: "
        f"{dispatch_seconds:.2f} s = {dispatch_rate:,.0f} recipients/s (target >= 5,000).",
        "",
        "Targets of the performance issue, against this run:",
        "",
        *target_lines,
        "",
        f"The whole benchmark (generating the cohorts included) took "
        f"{(time.perf_counter() - bench_started) / 60:.1f} min.",
        "",
    ])
    print(report)
    if not args.no_write:
        RESULTS.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
