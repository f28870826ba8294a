"""Seeded synthetic cohorts for the benchmark: ``python -m benchmarks.generate ROWS DIR``.

Each cohort is a CSV ``cohort_<rows>.csv`` with the columns ``phone,customer_id,name,amount``
and, beside it, ``bench.yaml`` (the campaign: default region IN, a short message template).
Phones are written the ways people write them: about 60% are numbers of the home region IN,
mostly in the five common ways (``+91 98765 43210``, ``098765 43210``, ``9876543210``,
``91-9876543210``, ``(+91) 98765-43210``) and otherwise with ``00``, ``(0)``, ``tel:``, dots,
slashes or square brackets; the rest are numbers of 25 other regions in their own formats,
with their calling code (international format, ``+cc`` and the national format, ``(+cc)``,
``00cc``, ``+cc (0)``, RFC 3966); 2% of all are in digits of another script (full-width,
Devanagari, Arabic-Indic, Bengali). About 5% are invalid (too short, too long, unknown
country code, text, two numbers in a cell) and about 5% repeat an earlier number written
another way; every other number is distinct, at any size. Rows are written in
chunks, so 10M rows need little memory; a cohort of :data:`SPLIT_ROWS` rows or more is written
in :data:`SEGMENTS` parts at once, one process each (see :func:`write_cohort`).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

DEFAULT_REGION = "IN"
REGIONS = (
    "IN", "US", "GB", "DE", "FR", "BR", "AE", "SG", "AU", "CA", "IT", "ES", "NL", "JP", "CN",
    "MX", "ZA", "NG", "KE", "ID", "PH", "PK", "BD", "SA", "CH", "SE",
)
#: Share of rows per region: mostly the campaign's own region, as in real cohorts.
HOME_SHARE = 0.6
INVALID_SHARE = 0.05
DUPLICATE_SHARE = 0.05
CHUNK_ROWS = 50_000
HEADER = "phone,customer_id,name,amount\n"
CAMPAIGN_YAML = """\
name: Benchmark balance reminder
default_region: IN
variables:
  name: {required: true}
  amount: {}
template: "Hi {{ name }}, your balance is {{ amount }}"
"""
FIRST_NAMES = (
    "Asha", "Ravi", "Meena", "Élodie", "Jürgen", "Zoë", "Søren", "Łukasz", "Chloé", "José",
    "अनीता", "राहुल", "மீனா", "ప్రియ", "美咲", "王伟", "Дмитрий", "Ayşe", "Nguyễn", "O'Brien",
    "Ana \"Nita\"", "Renée", "محمد", "Καλλιόπη",
)
LAST_NAMES = ("Verma", "Kumar", "Iyer", "Müller", "García", "Smith", "Dubois", "Rossi",
              "Tanaka", "Okafor", "Silva, Jr.", "Nakamura", "Kowalski", "Singh", "Öztürk")
#: Digits of other scripts that phonenumbers reads (full-width, Devanagari, Arabic-Indic,
#: Bengali): a few numbers of every region are written with them.
_SCRIPTS = tuple(str.maketrans("0123456789+", digits + plus) for digits, plus in (
    ("０１２３４５６７８９", "＋"), ("०१२३४५६७८९", "+"), ("٠١٢٣٤٥٦٧٨٩", "+"),
    ("০১২৩৪৫৬৭৮৯", "+"),
))
SCRIPT_SHARE = 0.02


@dataclass(frozen=True)
class Seed:
    """A region's numbers: calling code, an example mobile NSN, the national prefix ('' for
    none), and the example's national and international formats with ``#`` for each digit of
    the NSN (None where the format does not end with the NSN's digits)."""

    cc: int
    nsn: str
    prefix: str
    national: str | None
    international: str | None


def _template(formatted: str, nsn: str) -> str | None:
    """``formatted`` with the digits of ``nsn`` (its last digits) replaced by ``#``."""
    positions = [i for i, char in enumerate(formatted) if char.isdigit()]
    digits = "".join(formatted[i] for i in positions)
    if not digits.endswith(nsn):
        return None
    chars = list(formatted)
    for i in positions[len(positions) - len(nsn):]:
        chars[i] = "#"
    return "".join(chars)


def _seeds() -> dict[str, Seed]:
    seeds = {}
    for region in REGIONS:
        example = (phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
                   or phonenumbers.example_number(region))
        assert example is not None and example.country_code is not None, region
        nsn = phonenumbers.national_significant_number(example)
        seeds[region] = Seed(
            example.country_code, nsn, phonenumbers.ndd_prefix_for_region(region, True) or "",
            _template(phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL), nsn),
            _template(phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL), nsn),
        )
    return seeds


def _fill(template: str, nsn: str) -> str:
    parts = template.split("#")
    return "".join(part + digit for part, digit in zip(parts, nsn, strict=False)) + parts[-1]


def _home_spelling(rng: random.Random, seed: Seed, nsn: str) -> str:
    """The home region's number as people write it: two in three rows one of the five common
    ways, the others the rest of what the library reads (``00``, ``(0)``, ``tel:``, dots,
    slashes, square brackets, a bracketed code without ``+``, surrounding spaces)."""
    cc, prefix = seed.cc, seed.prefix
    head, tail = nsn[:len(nsn) // 2], nsn[len(nsn) // 2:]
    style = rng.randrange(15)
    if style < 2:
        return f"+{cc} {head} {tail}"
    if style < 4:
        return _fill(seed.national, nsn) if seed.national else f"{prefix}{head} {tail}"
    if style < 6:
        return nsn
    if style < 8:
        return f"{cc}-{nsn}"
    if style < 10:
        return f"(+{cc}) {head}-{tail}"
    return rng.choice((
        f"+{cc}{nsn}", f"00{cc} {head} {tail}", f"+{cc}.{head}.{tail}",
        f"+{cc} ({prefix}) {head} {tail}", f"tel:+{cc}-{head}-{tail}", f"{head}/{tail}",
        f"[+{cc}] {nsn}", f" {prefix}{nsn} ", f"({cc}) {head} {tail}", f"+{cc}-{head}-{tail}",
    ))


def _foreign_spelling(rng: random.Random, seed: Seed, nsn: str) -> str:
    """A foreign number in its own region's conventions, always with its calling code (the
    campaign's default region would read it as a home number otherwise)."""
    cc, prefix = seed.cc, seed.prefix
    international = _fill(seed.international, nsn) if seed.international else f"+{cc} {nsn}"
    rest = international.removeprefix(f"+{cc}").strip()
    national = _fill(seed.national, nsn) if seed.national else f"{prefix}{nsn}"
    style = rng.randrange(9)
    if style < 3:
        return international
    if style == 3:
        return f"+{cc}{nsn}"
    if style == 4:
        return f"+{cc} {national}"
    if style == 5:
        return f"+{cc} ({prefix}) {rest}" if prefix else f"(+{cc}) {rest}"
    if style == 6:
        return f"00{cc} {rest}"
    if style == 7:
        return f"(+{cc}) {rest}"
    return "tel:+" + re.sub(r"[^0-9]+", "-", international[1:])


def _spell(rng: random.Random, region: str, seed: Seed, nsn: str) -> str:
    """One way people write this number; a few are in digits of another script."""
    if region == DEFAULT_REGION:
        text = _home_spelling(rng, seed, nsn)
    else:
        text = _foreign_spelling(rng, seed, nsn)
    if rng.random() < SCRIPT_SHARE:
        return text.translate(rng.choice(_SCRIPTS))
    return text


def _invalid(rng: random.Random) -> str:
    kind = rng.randrange(8)
    digits = "".join(rng.choices("0123456789", k=14))
    if kind == 0:
        return digits[: rng.randrange(3, 7)]
    if kind == 1:
        return "+91" + digits + "12"
    if kind == 2:
        return "+999 " + digits[:9]
    if kind == 3:
        return rng.choice(("n/a", "unknown", "call me", "-", "", "#REF!", "phone: tbd"))
    if kind == 4:
        return "+1 555 " + digits[:3]
    if kind == 5:
        return f"(+91) {digits[:5]}-{digits[5:9]}"  # nine digits: too short for IN
    if kind == 6:
        return f"9{digits[:9]} / 9{digits[4:13]}"  # two numbers in one cell
    return "9" + digits[:8]


#: Free trailing digits of generated numbers: 7 for the home region (up to 10M distinct
#: numbers, all valid for IN), 6 elsewhere (1M distinct, all valid in every region above).
HOME_FREE_DIGITS = 7
OTHER_FREE_DIGITS = 6
_STRIDE = 7_654_321  # coprime with 10: i -> i * stride mod 10^k visits every suffix once


def _unique_nsn(region: str, example: str, draw: int, offset: int) -> str:
    """The ``draw``-th number of ``region``: the example's leading digits and a scrambled,
    never repeated suffix. Numbers repeat only where a row is drawn as a duplicate, so the
    duplicate share stays about DUPLICATE_SHARE at every size."""
    keep = max(2, len(example) - _free_digits(region))
    width = len(example) - keep
    suffix = (draw * _STRIDE + offset) % 10**width
    return f"{example[:keep]}{suffix:0{width}d}"


def _amount(rng: random.Random) -> str:
    value = rng.randrange(0, 10_000_000) / 100
    style = rng.randrange(4)
    if style == 0:
        return f"{value:.2f}"
    if style == 1:
        return f"₹{value:,.2f}"
    if style == 2:
        return f"{value:,.0f}"
    return ""


def _free_digits(region: str) -> int:
    return HOME_FREE_DIGITS if region == DEFAULT_REGION else OTHER_FREE_DIGITS


def rows(count: int, seed: int = 42, *, segment: int = 0, segments: int = 1,
         first: int = 1) -> Callable[[], list[str]]:
    """A function returning the next chunk of CSV lines each time it is called, for the rows
    ``first`` to ``count`` (customer ids ``C<row>``).

    Part ``segment`` of ``segments`` draws its rows from a random stream of its own and its
    numbers from its own share of every region's numbers, so that no number repeats across
    parts; a single part (the default) is the original, unsplit stream."""
    base = random.Random(seed)
    offsets = {region: base.randrange(10**HOME_FREE_DIGITS) for region in REGIONS}
    rng = base if segments == 1 else random.Random(f"{seed}/{segment}/{segments}")
    seeds = _seeds()
    others = [r for r in REGIONS if r != DEFAULT_REGION]
    recent: list[tuple[str, str]] = []
    shares = {region: 10**_free_digits(region) // segments for region in REGIONS}
    draws = {region: segment * shares[region] for region in REGIONS}
    state = {"next": first}

    def chunk() -> list[str]:
        lines = []
        start = state["next"]
        for row in range(start, min(count, start + CHUNK_ROWS - 1) + 1):
            draw = rng.random()
            if draw < INVALID_SHARE:
                phone = _invalid(rng)
            elif draw < INVALID_SHARE + DUPLICATE_SHARE and recent:
                region, nsn = rng.choice(recent)
                phone = _spell(rng, region, seeds[region], nsn)
            else:
                region = DEFAULT_REGION if rng.random() < HOME_SHARE else rng.choice(others)
                nsn = _unique_nsn(region, seeds[region].nsn, draws[region], offsets[region])
                draws[region] += 1
                if draws[region] > (segment + 1) * shares[region]:
                    raise ValueError(f"more than {shares[region]:,} numbers of {region} in one "
                                     "part: use fewer parts or more free digits")
                phone = _spell(rng, region, seeds[region], nsn)
                if len(recent) < 1000:
                    recent.append((region, nsn))
                else:
                    recent[rng.randrange(1000)] = (region, nsn)
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            lines.append(f"{_csv(phone)},C{row:08d},{_csv(name)},{_csv(_amount(rng))}\n")
        state["next"] = start + len(lines)
        return lines

    return chunk


def _csv(value: str) -> str:
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


#: Generating is one Python loop per row: the 10M cohort took 145 s on a slow host, a fifth of
#: `make bench`. From this size on, a cohort is written in SEGMENTS parts at once, one process
#: (and core) each, then joined: the same shares of regions, invalid values and duplicates, but
#: other rows than one stream would give (smaller cohorts are the single stream, as before).
SPLIT_ROWS = 1_000_000
SEGMENTS = 2


def write_cohort(folder: Path, count: int, seed: int = 42) -> Path:
    """Write ``cohort_<count>.csv`` (and ``bench.yaml``) into ``folder``; return the CSV path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench.yaml").write_text(CAMPAIGN_YAML, encoding="utf-8")
    path = folder / f"cohort_{count}.csv"
    if path.exists() and path.stat().st_size > 0:
        return path
    tmp = path.with_suffix(".tmp")
    segments = SEGMENTS if count >= SPLIT_ROWS else 1
    bounds = [count * k // segments for k in range(segments + 1)]
    parts = [path.with_suffix(f".part{k}") for k in range(segments)]
    jobs = [(part, seed, k, segments, bounds[k] + 1, bounds[k + 1])
            for k, part in enumerate(parts)]
    try:
        if segments == 1:
            _write_part(*jobs[0])
        else:
            with ProcessPoolExecutor(segments) as pool:
                list(pool.map(_write_part, *zip(*jobs, strict=True)))
        with tmp.open("wb") as handle:
            handle.write(HEADER.encode())
            for part in parts:
                with part.open("rb") as lines:
                    shutil.copyfileobj(lines, handle, 1 << 20)
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    tmp.replace(path)
    return path


def _write_part(part: Path, seed: int, segment: int, segments: int, first: int,
                last: int) -> None:
    """Rows ``first`` to ``last`` of part ``segment``, without the header, into ``part``."""
    next_chunk = rows(last, seed, segment=segment, segments=segments, first=first)
    written = 0
    with part.open("w", encoding="utf-8", newline="") as handle:
        while written < last - first + 1:
            lines = next_chunk()
            handle.writelines(lines)
            written += len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(write_cohort(args.folder, args.rows, args.seed))


if __name__ == "__main__":
    main()
