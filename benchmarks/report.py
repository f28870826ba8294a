"""The tables of ``benchmarks/results.md``: each size's figures, the cost model, the step
timings and the targets, built from the measured runs (pure functions, no measuring here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.measure import HostSpeed, Run

#: The entry of summary.json's ``timings`` that counts the distinct phone values cohortflow
#: left to the phonenumbers library (not seconds).
LIBRARY_VALUES = "phones_library_values"
#: The steps ``summary.json`` times (``timings``), in pipeline order.
STEPS = ("read", "blocking_checks", "dnc", "phones", "row_checks", "render", "checks_dedupe",
         "dedupe", "write")
IDENTICAL = "identical"


@dataclass
class SizeResult:
    """Everything measured on one cohort size. A command that did not run is None; an
    ``*_outputs`` verdict is None when its outputs were not compared."""

    rows: int
    fast: Run  # cohortflow, median of the runs
    last_fast: Run  # the run whose summary.json gives the step timings
    host: HostSpeed
    steps: dict[str, float] = field(default_factory=dict)
    slow: Run | None = None  # the naive baseline
    peer: Run | None = None  # the stronger peer
    copy: Run | None = None  # DuckDB copying the CSV to Parquet
    baseline_outputs: str | None = None
    peer_outputs: str | None = None
    distinct_phones: int | None = None

    @property
    def library_values(self) -> int | None:
        """Distinct phone values cohortflow's fast path left to the library."""
        value = self.steps.get(LIBRARY_VALUES)
        return None if value is None else int(value)

    @property
    def library_share(self) -> float | None:
        """:attr:`library_values` as a share of the distinct phone values of the file."""
        if self.library_values is None or not self.distinct_phones:
            return None
        return self.library_values / self.distinct_phones


def fmt_rows(rows: int) -> str:
    """``100k``, ``1M``, ``10M``."""
    return f"{rows // 1_000_000}M" if rows >= 1_000_000 else f"{rows // 1000}k"


def skipped(rows: int, runs: dict[int, Run]) -> str:
    """Why a command did not run on ``rows``: what it would take, scaled from its largest
    run."""
    if not runs:
        return "skipped"
    measured = max(runs)
    scale = rows / measured
    return (f"skipped: about {runs[measured].wall * scale / 60:.0f} min and "
            f"{runs[measured].peak_rss_mib * scale / 1024:.0f} GiB, scaled from "
            f"{fmt_rows(measured)}")


MAIN_HEADER = [
    "| rows | cohortflow wall s | cohortflow CPU s | cohortflow rows/s "
    "| cohortflow peak RSS MiB | baseline wall s | baseline CPU s | baseline rows/s "
    "| baseline peak RSS MiB | baseline/cohortflow (wall, CPU) | outputs "
    "| host: 1-thread job s, 2-thread speedup |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|",
]


def main_line(result: SizeResult, slow_runs: dict[int, Run]) -> str:
    """cohortflow against the naive baseline on one size (``slow_runs``: the baseline's
    runs so far, to scale a skipped one from)."""
    fast, slow, rows = result.fast, result.slow, result.rows
    if slow is not None:
        baseline = (f"{slow.wall:.2f} | {slow.cpu:.2f} | {rows / slow.wall:,.0f} | "
                    f"{slow.peak_rss_mib:,.0f} | {slow.wall / fast.wall:.1f}×, "
                    f"{slow.cpu / fast.cpu:.1f}× | {result.baseline_outputs}")
    else:
        baseline = f"{skipped(rows, slow_runs)} | – | – | – | – | not compared (baseline skipped)"
    return (f"| {fmt_rows(rows)} | {fast.wall:.2f} | {fast.cpu:.2f} | {rows / fast.wall:,.0f} | "
            f"{fast.peak_rss_mib:,.0f} | {baseline} "
            f"| {result.host.one_thread:.2f}, {result.host.parallel_speedup:.2f}× |")


PEER_HEADER = [
    "| rows | peer wall s | peer CPU s | peer peak RSS MiB | peer/cohortflow (wall, CPU) "
    "| outputs | DuckDB copy wall s | DuckDB copy CPU s | cohortflow/copy (wall) "
    "| phone values to the library (share of distinct) | cohortflow's DuckDB temp files |",
    "|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---|",
]


def percent(share: float) -> str:
    """A share as a percentage with two significant digits below 1% (``0.00031%``: the
    library's share is often that small), one decimal above."""
    if share == 0:
        return "0%"
    return f"{share * 100:.2g}%" if share < 0.01 else f"{share:.1%}"


def library_cell(result: SizeResult) -> str:
    """``1,234 of 900,000 (0.14%)``; ``–`` when not known."""
    if result.library_values is None:
        return "–"
    if result.library_share is None:
        return f"{result.library_values:,}"
    return (f"{result.library_values:,} of {result.distinct_phones:,} "
            f"({percent(result.library_share)})")


def temp_cell(run: Run) -> str:
    """``none``, or the most MiB of DuckDB temp files seen at once; ``–``: not watched, or
    cohortflow's scratch folder was never seen."""
    if run.temp_bytes is None:
        return "–"
    return "none" if run.temp_bytes == 0 else f"{run.temp_bytes / 1024**2:,.0f} MiB"


def peer_line(result: SizeResult, peer_runs: dict[int, Run]) -> str:
    """cohortflow against the stronger peer and DuckDB's copy on one size."""
    fast, peer, copy = result.fast, result.peer, result.copy
    if peer is not None:
        peer_cells = (f"{peer.wall:.2f} | {peer.cpu:.2f} | {peer.peak_rss_mib:,.0f} | "
                      f"{peer.wall / fast.wall:.1f}×, {peer.cpu / fast.cpu:.1f}× | "
                      f"{result.peer_outputs}")
    else:
        peer_cells = (f"{skipped(result.rows, peer_runs)} | – | – | – "
                      "| not compared (peer skipped)")
    copy_cells = (f"{copy.wall:.2f} | {copy.cpu:.2f} | {fast.wall / copy.wall:.1f}×"
                  if copy is not None else "– | – | –")
    return (f"| {fmt_rows(result.rows)} | {peer_cells} | {copy_cells} | {library_cell(result)} "
            f"| {temp_cell(fast)} |")


def failed_line(rows: int, error: str, columns: int) -> str:
    """A size whose runs failed: the error in the first cell after the rows."""
    return f"| {fmt_rows(rows)} | failed: {error} |" + " |" * (columns - 2)


@dataclass(frozen=True)
class Target:
    """One of the issue's targets, with the figure this run measured."""

    what: str
    measured: str
    met: bool | None  # None: not measured in this run (a size was left out or failed)


def _ratio_target(what: str, ratio: float | None, met: bool | None) -> Target:
    return Target(what, f"{ratio:.1f}x" if ratio is not None else "not run", met)


def targets(results: dict[int, SizeResult]) -> list[Target]:
    """Issue 26's targets against this run's figures (``met`` None where not measured)."""
    million, ten = results.get(1_000_000), results.get(10_000_000)
    copy = million.fast.wall / million.copy.wall if million and million.copy else None
    share = million.library_share if million else None
    peer = million.peer.wall / million.fast.wall if million and million.peer else None
    linear = ten.fast.wall / million.fast.wall if million and ten else None
    temp = ten.fast.temp_bytes if ten else None
    verdicts = [verdict for result in results.values()
                for verdict in (result.baseline_outputs, result.peer_outputs)
                if verdict is not None]
    differing = [verdict for verdict in verdicts if verdict != IDENTICAL]
    return [
        _ratio_target("1M rows: cohortflow <= 5x DuckDB's CSV-to-Parquet copy (wall)", copy,
                      copy <= 5 if copy is not None else None),
        Target("1M rows: < 1% of distinct phone values decided by the library",
               percent(share) if share is not None else "not run",
               share < 0.01 if share is not None else None),
        Target("10M rows peak RSS <= 1 GiB",
               f"{ten.fast.peak_rss_mib:,.0f} MiB" if ten else "not run",
               ten.fast.peak_rss_mib <= 1024 if ten else None),
        Target("10M rows: no DuckDB temp files written",
               temp_cell(ten.fast) if temp is not None
               else "scratch folder not seen" if ten else "not run",
               temp == 0 if temp is not None else None),
        _ratio_target("cost linear in rows: 10M wall <= 10.5 x 1M wall", linear,
                      linear <= 10.5 if linear is not None else None),
        _ratio_target("1M rows: cohortflow >= 5x faster than the stronger peer (wall)", peer,
                      peer >= 5 if peer is not None else None),
        Target("outputs identical to the baseline's and the peer's",
               (f"{len(verdicts) - len(differing)} of {len(verdicts)} comparisons identical"
                if verdicts else "not compared"),
               not differing if verdicts else None),
    ]


def earlier_targets(results: dict[int, SizeResult], parse_times: dict[str, float],
                    dispatch_rate: float) -> list[Target]:
    """Targets of earlier performance issues that issue 26 does not replace."""
    million = results.get(1_000_000)
    ratio = (million.slow.wall / million.fast.wall if million and million.slow else None)
    parse = max(parse_times.values()) if parse_times else None
    parse_ok = parse is not None and min(parse_times.values()) >= 0 and parse <= 0.5
    return [
        Target("1M rows end to end <= 5 s wall",
               f"{million.fast.wall:.2f} s" if million else "not run",
               million.fast.wall <= 5 if million else None),
        _ratio_target("1M rows >= 15x faster than the naive baseline (wall)", ratio,
                      ratio >= 15 if ratio is not None else None),
        Target("1M rows peak RSS <= 1 GiB",
               f"{million.fast.peak_rss_mib:,.0f} MiB" if million else "not run",
               million.fast.peak_rss_mib <= 1024 if million else None),
        Target("each DAG file parses in <= 0.5 s",
               f"{parse:.3f} s at most" if parse is not None else "not run",
               parse_ok if parse is not None else None),
        Target("dispatch overhead >= 5,000 recipients/s", f"{dispatch_rate:,.0f}/s",
               dispatch_rate >= 5000),
    ]


def target_lines(found: list[Target]) -> list[str]:
    """A Markdown table of ``found``."""
    verdict = {True: "met", False: "**missed**", None: "not measured"}
    return ["| target | this run | |", "|---|---:|---|"] + [
        f"| {t.what} | {t.measured} | {verdict[t.met]} |" for t in found]


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


def cost_lines(fast: dict[int, Run]) -> list[str]:
    """The cost model as a sentence (nothing without the 100k and 1M runs)."""
    model = cost_model(fast)
    if model is None:
        return []
    return [f"A straight line through the 100k and 1M medians: {model.fixed_seconds:.2f} s that "
            f"every run pays, plus {model.seconds_per_million:.2f} s per million rows.", ""]


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
        lines.append(f"| {fmt_rows(rows)} | {cells} | {rest:.2f} |")
    return lines
