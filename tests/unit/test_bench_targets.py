"""The benchmark's report says which targets of the performance issue a run met."""

from __future__ import annotations

from benchmarks.run import Run, targets

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
