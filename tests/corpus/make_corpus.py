"""Generate the bad-input corpus: hostile and malformed cohort files, each with its expected
outcome. Run as a script to write the files into a folder for manual poking:

    .venv/bin/python tests/corpus/make_corpus.py /tmp/corpus
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GOOD_ROWS = "phone,name\n9876543210,Asha\n9876543211,Ravi\n"


@dataclass(frozen=True)
class Case:
    """A corpus file and what must happen to it."""

    name: str
    write: Callable[[Path], None]
    status: str  # "completed" | "failed"
    error_code: str | None = None  # for failed cohorts
    reasons: tuple[str, ...] = ()  # reason codes expected among rejected rows
    valid: int | None = None  # expected valid rows, when known


def _text(content: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content.encode(encoding))


def _bytes(content: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content)


def _big_cell(path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("phone,name,notes\n9876543210,Asha,")
        handle.write("x" * (10 * 1024 * 1024))
        handle.write("\n9876543211,Ravi,short\n")


def _wide(path: Path) -> None:
    columns = ["phone"] + [f"col_{i}" for i in range(1, 10_000)]
    with path.open("w", encoding="utf-8") as handle:
        handle.write(",".join(columns) + "\n")
        for phone in ("9876543210", "9876543211", "12"):
            handle.write(",".join([phone] + ["v"] * 9_999) + "\n")


def _zip_bomb(path: Path) -> None:
    """A tiny .xlsx whose sheet expands to 2 GiB (highly compressible zeros)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("xl/worksheets/sheet1.xml")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as handle:
            chunk = b"0" * (1024 * 1024)
            for _ in range(2 * 1024):
                handle.write(chunk)


def _multi_sheet(path: Path) -> None:
    import datetime as dt

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["phone", "name", "amount", "signup", "total"])
    sheet.append([9876543210, "Asha", 10, dt.date(2026, 1, 5), "=C2*2"])
    sheet.append([9876543211, "Ravi", 20, dt.datetime(2026, 1, 6, 9, 30), "=C3*2"])
    sheet.append([9876543212, "Merged", 30, dt.date(2026, 1, 7), None])
    sheet.merge_cells("B4:C4")
    other = book.create_sheet("Other")
    other.append(["phone"])
    other.append(["not read"])
    book.save(path)


def _pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


CASES: tuple[Case, ...] = (
    Case("empty.csv", _bytes(b""), "failed", "no_data"),
    Case("header_only.csv", _text("phone,name\n"), "failed", "no_data"),
    Case("binary_garbage.csv", _bytes(bytes(range(256)) * 64), "failed", "unreadable_file"),
    Case("pdf_renamed.xlsx", _bytes(_pdf()), "failed", "unreadable_file"),
    Case("utf16.csv", _text(GOOD_ROWS, "utf-16"), "failed", "unreadable_file"),
    Case("latin1.csv", _text("phone,name\n9876543210,José Müller\n", "latin-1"), "failed",
         "unreadable_file"),
    Case("bom_crlf.csv", _text("\ufeffphone,name\r\n9876543210,Asha\r\n9876543211,Ravi\r\n"),
         "completed", valid=2),
    Case("mixed_line_endings.csv",
         _text("phone,name\r\n9876543210,Asha\n9876543211,Ravi\r\n9876543212,Meena\n"),
         "completed", valid=3),
    Case("ragged_rows.csv",
         _text("phone,name,city\n9876543210,Asha\n9876543211,Ravi,Pune,extra\n"),
         "completed", reasons=("malformed_row",), valid=1),
    Case("unbalanced_quotes.csv", _text('phone,name\n9876543210,"Asha\n9876543211,Ravi\n'),
         "failed", "unbalanced_quotes"),
    Case("big_cell.csv", _big_cell, "completed", valid=2),
    Case("ten_thousand_columns.csv", _wide, "failed", "too_many_columns"),
    Case("duplicate_headers.csv", _text("phone,name,name\n9876543210,A,B\n"), "failed",
         "bad_header"),
    Case("unicode headers.csv", _text("Téléphone portable,नाम\n9876543210,आशा\n"), "failed",
         "missing_column"),
    Case("nul_bytes.csv", _text("phone,name\n9876543210,As\x00ha\n"), "failed",
         "unreadable_file"),
    Case("zip_bomb.xlsx", _zip_bomb, "failed", "unreadable_file"),
    Case("multi_sheet.xlsx", _multi_sheet, "completed", valid=3),
)


def write_corpus(folder: Path) -> list[tuple[Case, Path]]:
    """Write every case into ``folder``; returns (case, path) pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for case in CASES:
        path = folder / case.name
        case.write(path)
        written.append((case, path))
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for case, path in write_corpus(target):
        print(f"{path}  -> {case.status} {case.error_code or ''}")

