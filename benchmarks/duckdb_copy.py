"""DuckDB copying a CSV to Parquet, every column as text: ``python -m benchmarks.duckdb_copy
CSV PARQUET``.

The floor ``make bench`` measures cohortflow against: reading the same file and writing it
back as Parquet, with DuckDB's defaults (its threads, its CSV sniffer for the dialect, its
Parquet compression) and no work on the values at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb


def copy_csv(source: Path, target: Path) -> None:
    """``COPY (SELECT * FROM read_csv(source, all_varchar = true)) TO target (FORMAT parquet)``."""
    quoted = str(target).replace("'", "''")
    duckdb.connect().execute(
        f"copy (select * from read_csv($source, all_varchar = true)) to '{quoted}' "
        "(format parquet)", {"source": str(source)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args()
    copy_csv(args.source, args.target)


if __name__ == "__main__":
    main()
