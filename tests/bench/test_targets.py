"""The benchmark's report says which targets of the performance issue a run met."""

from __future__ import annotations

import benchmarks.run as bench
from benchmarks.run import Run, cost_model, skipped_baseline, step_lines, targets

PARSE = {"cohort_ingest.py": 0.01}


def _verdicts(
    fast: dict[int, Run], slow: dict[int, Run], rate: float = 9000
) -> dict[str, bool | None]:
    return {t.what: t.met for t in targets(fast, slow, PARSE, rate)}


def test_a_run_within_every_target_meets_them_all() -> None:
    verdicts = _verdicts({1_000_000: Run(4.0, 800, 6.0), 10_000_000: Run(40.0, 1500, 60.0)},
                         {1_000_000: Run(80.0, 1500, 80.0)})
    assert all(verdicts.values()), verdicts


def test_each_missed_target_is_reported() -> None:
    verdicts = _verdicts({1_000_000: Run(5.5, 1100, 8.0), 10_000_000: Run(70.0, 2100, 100.0)},
                         {1_000_000: Run(60.0, 1500, 60.0)}, rate=4000)
    assert [what for what, met in verdicts.items() if met is False] == [
        "1M rows end to end <= 5 s wall",
        "1M rows >= 15x faster than the baseline (wall)",
        "1M rows peak RSS <= 1 GiB",
        "10M rows complete, peak RSS <= 2 GiB",
        "cost linear in rows: 10M wall <= 11 x 1M wall",
        "dispatch overhead >= 5,000 recipients/s",
    ]


def test_sizes_left_out_are_not_measured_rather_than_met() -> None:
    verdicts = _verdicts({1_000_000: Run(4.0, 800, 6.0)}, {})
    assert verdicts["1M rows end to end <= 5 s wall"] is True
    assert verdicts["1M rows >= 15x faster than the baseline (wall)"] is None
    assert verdicts["cost linear in rows: 10M wall <= 11 x 1M wall"] is None


def test_the_cost_model_splits_a_fixed_cost_from_the_cost_per_row() -> None:
    model = cost_model({100_000: Run(1.3, 480, 1.6), 1_000_000: Run(3.1, 800, 5.0)})
    assert model is not None
    assert round(model.fixed_seconds, 3) == 1.1
    assert round(model.seconds_per_million, 3) == 2.0
    assert round(model.wall(10_000_000), 3) == 21.1


def test_no_cost_model_without_both_sizes() -> None:
    assert cost_model({1_000_000: Run(3.1, 800, 5.0)}) is None


def test_the_step_table_shows_each_step_and_the_rest_of_the_wall_time() -> None:
    # the wall time of the run the steps were timed in (its last), not the median's
    lines = step_lines({1_000_000: {"read": 0.25, "phones": 0.95, "write": 0.8}},
                       {1_000_000: Run(3.0, 800, 5.0)})
    assert lines[0] == "| rows | read | phones | write | rest of the wall time |"
    assert lines[2] == "| 1M | 0.25 | 0.95 | 0.80 | 1.00 |"


def test_a_skipped_baseline_says_what_it_would_have_taken() -> None:
    assert skipped_baseline(10_000_000, {100_000: Run(4.4, 490, 4.5),
                                         1_000_000: Run(36.0, 1536, 36.1)}) == (
        "skipped: about 6 min and 15 GiB, scaled from 1M")
    assert skipped_baseline(10_000_000, {}) == "skipped"


def test_runs_take_turns_and_give_each_command_its_median_and_its_last_run(monkeypatch) -> None:
    walls = iter([3.0, 40.0, 5.0, 50.0, 6.0, 30.0])  # a, b, a, b, a, b
    order: list[str] = []

    def run_child(command: list[str]) -> Run:
        order.append(command[0])
        return Run(next(walls), 100, 1.0)

    monkeypatch.setattr(bench, "run_child", run_child)
    medians, last = bench.median_runs([["a"], ["b"]], 3)

    assert order == ["a", "b", "a", "b", "a", "b"]
    assert [run.wall for run in medians] == [5.0, 40.0]
    assert [run.wall for run in last] == [6.0, 30.0]
