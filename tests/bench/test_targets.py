"""The benchmark's report says which targets of the performance issues a run met."""

from __future__ import annotations

from benchmarks.measure import HostSpeed, Run
from benchmarks.report import (
    SizeResult,
    cost_model,
    earlier_targets,
    skipped,
    step_lines,
    targets,
)

PARSE = {"cohort_ingest.py": 0.01}
HOST = HostSpeed(0.2, 0.1)
MIB = 1024**2


def _size(rows: int, fast: Run, *, slow: Run | None = None, peer: Run | None = None,
          copy: Run | None = None, library: int = 0, distinct: int = 1_000,
          outputs: str = "identical") -> SizeResult:
    return SizeResult(rows, fast, fast, HOST, steps={"phones_library_values": float(library)},
                      slow=slow, peer=peer, copy=copy,
                      baseline_outputs=outputs if slow else None,
                      peer_outputs=outputs if peer else None, distinct_phones=distinct)


def _verdicts(results: dict[int, SizeResult]) -> dict[str, bool | None]:
    return {t.what: t.met for t in targets(results)}


def test_a_run_within_every_target_meets_them_all() -> None:
    results = {
        1_000_000: _size(1_000_000, Run(3.0, 700, 5.0, 0), slow=Run(60.0, 1500, 60.0),
                         peer=Run(16.0, 900, 30.0), copy=Run(0.7, 300, 1.0), library=900,
                         distinct=950_000),
        10_000_000: _size(10_000_000, Run(30.0, 1000, 50.0, 0), peer=Run(160.0, 6000, 300.0),
                          copy=Run(7.0, 400, 10.0), library=9_000, distinct=9_500_000),
    }
    verdicts = _verdicts(results)
    assert all(verdicts.values()), verdicts
    assert all(t.met for t in earlier_targets(results, PARSE, 9000))


def test_each_missed_target_is_reported() -> None:
    results = {
        1_000_000: _size(1_000_000, Run(7.6, 1100, 9.0, 0), slow=Run(60.0, 1500, 60.0),
                         peer=Run(20.0, 900, 30.0), copy=Run(0.73, 300, 1.0),
                         library=20_000, distinct=950_000, outputs="recipients: 3 rows differ"),
        10_000_000: _size(10_000_000, Run(80.0, 1400, 100.0, 1024 * MIB)),
    }
    assert [what for what, met in _verdicts(results).items() if met is False] == [
        "1M rows: cohortflow <= 5x DuckDB's CSV-to-Parquet copy (wall)",
        "1M rows: < 1% of distinct phone values decided by the library",
        "10M rows peak RSS <= 1 GiB",
        "10M rows: no DuckDB temp files written",
        "cost linear in rows: 10M wall <= 10.5 x 1M wall",
        "1M rows: cohortflow >= 5x faster than the stronger peer (wall)",
        "outputs identical to the baseline's and the peer's",
    ]
    measured = {t.what: t.measured for t in targets(results)}
    assert measured["10M rows: no DuckDB temp files written"] == "1,024 MiB"
    assert measured["1M rows: < 1% of distinct phone values decided by the library"] == "2.1%"
    assert measured["outputs identical to the baseline's and the peer's"] == (
        "0 of 2 comparisons identical")
    assert [t.what for t in earlier_targets(results, PARSE, 4000) if t.met is False] == [
        "1M rows end to end <= 5 s wall",
        "1M rows >= 15x faster than the naive baseline (wall)",
        "1M rows peak RSS <= 1 GiB",
        "dispatch overhead >= 5,000 recipients/s",
    ]


def test_sizes_left_out_are_not_measured_rather_than_met() -> None:
    verdicts = _verdicts({1_000_000: _size(1_000_000, Run(4.0, 800, 6.0, 0),
                                           copy=Run(1.0, 300, 1.0))})
    assert verdicts["1M rows: cohortflow <= 5x DuckDB's CSV-to-Parquet copy (wall)"] is True
    assert verdicts["1M rows: cohortflow >= 5x faster than the stronger peer (wall)"] is None
    assert verdicts["cost linear in rows: 10M wall <= 10.5 x 1M wall"] is None
    assert verdicts["10M rows: no DuckDB temp files written"] is None
    assert verdicts["outputs identical to the baseline's and the peer's"] is None


def test_a_10m_run_whose_scratch_folder_was_not_seen_is_not_measured() -> None:
    unseen = {10_000_000: _size(10_000_000, Run(30.0, 900, 50.0, None))}
    found = {t.what: t for t in targets(unseen)}["10M rows: no DuckDB temp files written"]
    assert (found.measured, found.met) == ("scratch folder not seen", None)


def test_the_cost_model_splits_a_fixed_cost_from_the_cost_per_row() -> None:
    model = cost_model({100_000: Run(1.3, 480, 1.6), 1_000_000: Run(3.1, 800, 5.0)})
    assert model is not None
    assert round(model.fixed_seconds, 3) == 1.1
    assert round(model.seconds_per_million, 3) == 2.0
    assert round(model.wall(10_000_000), 3) == 21.1


def test_no_cost_model_without_both_sizes() -> None:
    assert cost_model({1_000_000: Run(3.1, 800, 5.0)}) is None


def test_the_step_table_shows_each_step_and_the_rest_of_the_wall_time() -> None:
    # the wall time of the run the steps were timed in (its last), not the median's; the
    # library count is not a step
    lines = step_lines({1_000_000: {"read": 0.25, "phones": 0.95, "write": 0.8,
                                    "phones_library_values": 900.0}},
                       {1_000_000: Run(3.0, 800, 5.0)})
    assert lines[0] == "| rows | read | phones | write | rest of the wall time |"
    assert lines[2] == "| 1M | 0.25 | 0.95 | 0.80 | 1.00 |"


def test_a_skipped_command_says_what_it_would_have_taken() -> None:
    assert skipped(10_000_000, {100_000: Run(4.4, 490, 4.5),
                                1_000_000: Run(36.0, 1536, 36.1)}) == (
        "skipped: about 6 min and 15 GiB, scaled from 1M")
    assert skipped(10_000_000, {}) == "skipped"
