"""``make bench``: cohortflow against a naive baseline, a stronger peer and DuckDB's own copy.

For 100k, 1M and 10M rows (``--sizes`` to change), generates the cohort (seeded, see
``benchmarks/generate.py``) in a temporary folder and runs, each as a subprocess (wall time,
CPU and the child's own peak RSS from ``wait4``, see ``benchmarks/measure.py``), median of 3
runs taken in turns (1 at 10M): ``cohortflow process``; the naive pandas/phonenumbers/Jinja
baseline (``benchmarks/baseline.py``, up to 1M rows); the stronger peer, polars with a
phonenumbers pool over distinct values and a compiled Jinja template (``benchmarks/peer.py``);
and DuckDB copying the same CSV to Parquet with every column as text
(``benchmarks/duckdb_copy.py``), the floor cohortflow is measured against. Checks that the
baseline and the peer give cohortflow's recipients (row, E.164, region, message) and
rejections (row, reasons, and the rejected.csv cells), watches cohortflow's runs for DuckDB
temp files, counts the distinct phone values cohortflow left to the library
(``summary.json``), measures the import (parse) time of each DAG file in a fresh interpreter,
prints the tables (``benchmarks/report.py``) and writes them to ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks import report
from benchmarks.generate import HEADER, write_cohort
from benchmarks.measure import (
    Command,
    Run,
    baseline_command,
    child_env,
    cohortflow_command,
    compare_outputs,
    copy_command,
    distinct_values,
    host_speed,
    median_runs,
    peer_command,
)
from benchmarks.report import SizeResult

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "benchmarks" / "results.md"
#: The baseline's time and memory grow with the rows (1M: 36 to 137 s in different sessions,
#: 1.5 GiB): at 10M it would need about 15 GiB and, on a slow day, more than the benchmark's
#: 15 minutes on its own, so it runs up to this size only.
BASELINE_MAX_ROWS = 1_000_000
#: The peer runs at every size by default: at 10M it took 184 to 255 s (about 265 s of CPU) and
#: 6.5 GiB in its main process (plus about 230 MiB per pool worker) on this 2-core VM, and it
#: is the only check of cohortflow's 10M outputs. ``--peer-max-rows`` lowers it when the
#: benchmark must be shorter.
PEER_MAX_ROWS = 10_000_000
PHONE_COLUMN = HEADER.split(",")[0]


def warm_up() -> None:
    """Compile and cache the bytecode of what the commands import (not measured)."""
    subprocess.run([sys.executable, "-c", "import cohortflow.cli.ingest, "
                    "cohortflow.ingest.process, benchmarks.baseline, benchmarks.peer, "
                    "benchmarks.peer_phones, benchmarks.duckdb_copy, benchmarks.launch"],
                   env=child_env(), cwd=PROJECT, check=True)


def measure_size(folder: Path, rows: int, peer_max_rows: int = PEER_MAX_ROWS) -> SizeResult:
    """Generate the cohort of ``rows`` rows, run every command on it in turns, compare the
    outputs; raises RuntimeError when a command fails."""
    started = time.perf_counter()
    source = write_cohort(folder, rows)
    print(f"generated {source.name} in {time.perf_counter() - started:.1f} s", flush=True)
    campaign = folder / "bench.yaml"
    repeats = 1 if rows >= 10_000_000 else 3
    fast_out, slow_out, peer_out = (folder / f"{name}_{rows}" for name in ("fast", "slow", "peer"))
    host = host_speed()
    commands: dict[str, Command] = {"fast": cohortflow_command(source, campaign, fast_out)}
    if rows <= BASELINE_MAX_ROWS:
        commands["slow"] = baseline_command(source, campaign, slow_out)
    if rows <= peer_max_rows:
        commands["peer"] = peer_command(source, campaign, peer_out)
    commands["copy"] = copy_command(source, folder / f"copy_{rows}.parquet")
    medians, last = median_runs(list(commands.values()), repeats)
    runs = dict(zip(commands, medians, strict=True))
    result = SizeResult(
        rows, runs["fast"], last[0], host.merged(host_speed()),  # before and after
        steps=json.loads((fast_out / "summary.json").read_text("utf-8"))["timings"],
        slow=runs.get("slow"), peer=runs.get("peer"), copy=runs["copy"],
        distinct_phones=distinct_values(source, PHONE_COLUMN))
    if result.slow is not None:
        result.baseline_outputs = compare_outputs(fast_out, slow_out)
    if result.peer is not None:
        result.peer_outputs = compare_outputs(fast_out, peer_out)
    for name, run in runs.items():
        print(f"{name} {rows}: {run.wall:.2f} s, CPU {run.cpu:.2f} s, "
              f"{run.peak_rss_mib:.0f} MiB", flush=True)
    return result


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


def _failure(exc: RuntimeError) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1][:160] if text else "?"


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--folder", type=Path, default=None,
                        help="Where to generate the cohorts (default: a temporary folder).")
    parser.add_argument("--no-write", action="store_true", help="Do not write results.md.")
    parser.add_argument("--peer-max-rows", type=int, default=PEER_MAX_ROWS,
                        help="Run the stronger peer up to this size only.")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    bench_started = time.perf_counter()
    warm_up()
    results: dict[int, SizeResult] = {}
    lines, peer_lines = list(report.MAIN_HEADER), list(report.PEER_HEADER)
    with tempfile.TemporaryDirectory(prefix="cohortflow-bench-") as tmp:
        folder = args.folder or Path(tmp)
        for rows in sizes:
            try:
                result = measure_size(folder, rows, args.peer_max_rows)
            except RuntimeError as exc:  # record the failure, keep the other sizes
                lines.append(report.failed_line(rows, _failure(exc), 12))
                peer_lines.append(report.failed_line(rows, _failure(exc), 11))
                print(lines[-1], flush=True)
                continue
            results[rows] = result
            lines.append(report.main_line(result, _runs(results, "slow")))
            peer_lines.append(report.peer_line(result, _runs(results, "peer")))
            print(lines[-1], peer_lines[-1], sep="\n", flush=True)
        parse_times = dag_parse_times()
    from benchmarks.dispatch_overhead import measure

    dispatch_seconds, dispatch_rate = measure()
    text = results_text(results, lines, peer_lines, parse_times, dispatch_seconds,
                        dispatch_rate, minutes=(time.perf_counter() - bench_started) / 60)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")


def _runs(results: dict[int, SizeResult], name: str) -> dict[int, Run]:
    """The ``name`` runs ("slow", "peer") of the sizes measured so far."""
    found = {rows: getattr(result, name) for rows, result in results.items()}
    return {rows: run for rows, run in found.items() if run is not None}


def results_text(results: dict[int, SizeResult], lines: list[str], peer_lines: list[str],
                 parse_times: dict[str, float], dispatch_seconds: float, dispatch_rate: float,
                 *, minutes: float) -> str:
    """The whole of results.md."""
    machine = (f"{os.cpu_count()} cores, {_memory_gib():.1f} GiB memory, "
               f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
               f"DuckDB {duckdb.__version__}")
    load = os.getloadavg()
    dag_lines = ["| DAG file | import time s |", "|---|---:|"] + [
        f"| {name} | {seconds:.3f} |" for name, seconds in parse_times.items()]
    return "\n".join([
        "# cohortflow benchmark",
        "",
        f"Run {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} on {machine}; "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.",
        "",
        "`make bench` (benchmarks/run.py): synthetic cohorts (benchmarks/generate.py), "
        "`cohortflow process`, the naive pandas/phonenumbers/Jinja baseline "
        "(benchmarks/baseline.py), the stronger peer (benchmarks/peer.py: polars, phonenumbers "
        "over distinct values in a 2-process pool, one compiled Jinja template) and DuckDB "
        "copying the CSV to Parquet with every column as text (benchmarks/duckdb_copy.py), all "
        "as subprocesses; wall time and the child's peak RSS are medians of 3 runs (1 run at "
        "10M), the commands taking turns so that the host's changing speed affects them alike; "
        "CPU is the child's user + system time (with the pool workers it waited for), which "
        "other processes do not inflate (a slower host does); peak RSS is that of the largest "
        "process (the peer's workers are not added to its main process). 'outputs' compares "
        "recipients (row, E.164, region, message), rejections (row, reasons) and the "
        "rejected.csv cells with cohortflow's. 'host' times one fixed CPU-bound DuckDB job "
        "(hashing a 50M-row table) on one thread and on two, just before and after the runs "
        "of that size (mean): the speed of a core, and what the second core added (2.0× is "
        "two full cores; 1.0×, none). A core's speed on this shared VM drifts between "
        "sessions: compare runs with similar host figures.",
        "",
        *lines,
        "",
        "The stronger peer and DuckDB's copy of the same CSV, in the same turns; the phone "
        "values cohortflow left to the library (`phones_library_values` in summary.json) "
        "against the distinct values of the phone column; DuckDB temp files: the most seen at "
        "once in cohortflow's scratch folder (its TMPDIR, looked at every 50 ms) over its runs:",
        "",
        *peer_lines,
        "",
        *report.cost_lines({rows: result.fast for rows, result in results.items()}),
        "Where cohortflow's time went, in seconds, in the last run of each size: the steps "
        "`summary.json` times and the rest of that run's wall time (interpreter start-up, "
        "imports, hashing the file, the report):",
        "",
        *report.step_lines({rows: result.steps for rows, result in results.items()},
                           {rows: result.last_fast for rows, result in results.items()}),
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
        "Targets of the performance issue (26), against this run:",
        "",
        *report.target_lines(report.targets(results)),
        "",
        "Targets of earlier performance issues, still measured:",
        "",
        *report.target_lines(report.earlier_targets(results, parse_times, dispatch_rate)),
        "",
        f"The whole benchmark (generating the cohorts included) took {minutes:.1f} min.",
        "",
    ])


if __name__ == "__main__":
    main()
