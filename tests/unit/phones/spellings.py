"""Phone numbers as people write them, for the differential test of the SQL fast path.

Valid numbers of the regions in :data:`REGIONS` (every type the region has, the example's
leading digits kept or not), each written in one of the common spellings of
:data:`COMMON` (E.164, spaces, dashes, dots, slashes, a bracketed calling code with or without
``+``, ``00``/``011``, the region's national and international formats, ``+cc (0)``,
``tel:``, other digit scripts and separators); and invalid variants of them (too short, too
long, another leading digit) in the same spellings, plus odd ones (:data:`ODD`: letters,
extensions, two numbers in a cell, a ``+`` or a tab inside the number).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

REGIONS = (
    "IN", "US", "CA", "GB", "DE", "FR", "BR", "AE", "SG", "AU", "IT", "ES", "NL", "JP", "CN",
    "MX", "ZA", "NG", "KE", "ID", "PH", "PK", "BD", "SA", "CH", "SE", "AR", "RU", "KZ", "GG",
    "JM", "PR", "HK", "KR", "TR", "AG", "IM", "MG", "GA", "SM",
)
TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE,
         PhoneNumberType.PREMIUM_RATE, PhoneNumberType.VOIP, PhoneNumberType.UAN,
         PhoneNumberType.SHARED_COST, PhoneNumberType.PERSONAL_NUMBER)
#: Digits of other scripts that phonenumbers reads: full-width, Arabic-Indic, Extended
#: Arabic-Indic, Devanagari, Bengali, Thai, Mathematical Bold (outside the BMP).
SCRIPTS = ("０", "٠", "۰", "०", "০", "๐", "\U0001d7ce")
#: Separators the library drops besides the ASCII ones: no-break space, en dash, minus,
#: ideographic space, full-width hyphen, stop and solidus, soft hyphen, zero-width space.
SEPARATORS = ("\u00a0", "\u2013", "\u2212", "\u3000", "\uff0d", "\uff0e", "\uff0f", "\u00ad",
              "\u200b")


@dataclass(frozen=True)
class Number:
    """A number to spell: its calling code, national significant number, national prefix
    ('' for none) and, for a valid number, the library's own formats of it."""

    cc: int
    nsn: str
    prefix: str
    national: str | None = None
    international: str | None = None
    rfc3966: str | None = None


def _groups(rng: random.Random, digits: str) -> list[str]:
    """``digits`` cut into 1 to 4 groups."""
    cuts = sorted(rng.sample(range(1, len(digits)), min(rng.randrange(4), len(digits) - 1)))
    return [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)], strict=True)]


def _joined(rng: random.Random, digits: str) -> str:
    return rng.choice((" ", "-", ".", "/", " - ")).join(_groups(rng, digits))


Spelling = Callable[[random.Random, Number], str | None]

#: The common spellings: each gives a string, or None where it does not apply to the number.
COMMON: dict[str, Spelling] = {
    "e164": lambda rng, n: f"+{n.cc}{n.nsn}",
    "international": lambda rng, n: f"+{n.cc} {_joined(rng, n.nsn)}",
    "dashes": lambda rng, n: f"+{n.cc}-{_joined(rng, n.nsn).replace(' ', '-')}",
    "bracketed code": lambda rng, n: f"({n.cc}) {_joined(rng, n.nsn)}",
    "bracketed plus": lambda rng, n: f"(+{n.cc}) {_joined(rng, n.nsn)}",
    "square brackets": lambda rng, n: f"[+{n.cc}] {n.nsn}",
    "plus bracket": lambda rng, n: f"+({n.cc}) {_joined(rng, n.nsn)}",
    "00": lambda rng, n: f"00{n.cc} {_joined(rng, n.nsn)}",
    "011": lambda rng, n: f"011 {n.cc} {n.nsn}",
    "code and national": lambda rng, n: f"{n.cc} {_joined(rng, n.nsn)}",
    "national digits": lambda rng, n: f"{n.prefix}{n.nsn}",
    "national grouped": lambda rng, n: f"{n.prefix}{_joined(rng, n.nsn)}",
    "national format": lambda rng, n: n.national,
    "international format": lambda rng, n: n.international,
    "national prefix in brackets": lambda rng, n: (
        f"+{n.cc} ({n.prefix}) {_joined(rng, n.nsn)}" if n.prefix else None),
    "code and national format": lambda rng, n: (
        f"+{n.cc} {n.national}" if n.national else None),
    "tel": lambda rng, n: n.rfc3966,
    "tel by hand": lambda rng, n: f"tel:+{n.cc}-{_joined(rng, n.nsn).replace(' ', '-')}",
    "label": lambda rng, n: rng.choice(("Tel: ", "Mobile - ", "ph.", "(")) + f"+{n.cc} {n.nsn}",
    "padded": lambda rng, n: f"  +{n.cc} {_joined(rng, n.nsn)}.\t",
}


def _odd(rng: random.Random, n: Number) -> str:
    plain = f"+{n.cc} {n.nsn}"
    return rng.choice((
        f"{plain} ext. {rng.randrange(1, 9999)}", f"{plain} x{rng.randrange(1, 999)}",
        f"{plain};ext={rng.randrange(1, 99)}", f"{plain} #{rng.randrange(1, 99)}",
        f"{plain}, {n.prefix}{n.nsn}", f"{plain}; {n.nsn}", f"{plain}\n{n.nsn}",
        f"{plain} / {n.nsn}", f"{n.nsn} / {n.nsn}", f"{plain} +{n.cc}{n.nsn}",
        f"+{n.cc}\t{n.nsn}", f"{plain[:-3]}ABC", f"{plain[:5]}o{plain[6:]}",
        f"+{n.cc} 1-800-FLOWERS", f"call {plain} now", f"+{n.cc} {n.nsn} ~ 12",
        f"tel:+{n.cc}{n.nsn};phone-context=example.com", f"++{n.cc}{n.nsn}", "+",
        "", " ", "\u3000", "n/a", "-", "#REF!", "(0)", "00", "12", "1 2",
    ))


ODD = "odd"


def _unicode(rng: random.Random, text: str) -> str:
    """``text`` with its digits in another script, or its spaces as other separators."""
    if rng.random() < 0.5:
        zero = ord(rng.choice(SCRIPTS))
        return "".join(chr(zero + int(char)) if char.isascii() and char.isdigit() else char
                       for char in text).replace("+", rng.choice(("+", "＋")))
    separator = rng.choice(SEPARATORS)
    return text.replace(" ", separator).replace("-", separator)


def _mutated(rng: random.Random, nsn: str) -> str:
    """An invalid-looking variant: too short, too long, another digit."""
    digits = list(nsn)
    choice = rng.randrange(4)
    if choice == 0 and len(digits) > 2:
        start = rng.randrange(len(digits))
        del digits[start:start + rng.randrange(1, 3)]
    elif choice == 1:
        digits.insert(rng.randrange(len(digits) + 1), rng.choice("0123456789"))
    elif choice == 2:
        digits[0] = rng.choice("0123456789")
    else:
        digits[rng.randrange(len(digits))] = rng.choice("0123456789")
    return "".join(digits) or "0"


def number_pool(count: int, seed: int) -> list[Number]:
    """``count`` valid numbers (repeats possible) of :data:`REGIONS`, of every type."""
    rng = random.Random(seed)
    examples = [example for region in REGIONS for number_type in TYPES
                if (example := phonenumbers.example_number_for_type(region, number_type))]
    pool: list[Number] = []
    while len(pool) < count:
        example = rng.choice(examples)
        nsn = phonenumbers.national_significant_number(example)
        keep = rng.randrange(1, len(nsn))
        candidate = nsn[:keep] + "".join(rng.choices("0123456789", k=len(nsn) - keep))
        number = phonenumbers.parse(f"+{example.country_code}{candidate}")
        if not phonenumbers.is_valid_number(number) or number.italian_leading_zero:
            continue
        region = phonenumbers.region_code_for_number(number)
        pool.append(Number(
            number.country_code, phonenumbers.national_significant_number(number),
            phonenumbers.ndd_prefix_for_region(region, True) or "",
            phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL),
            phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
            phonenumbers.format_number(number, PhoneNumberFormat.RFC3966),
        ))
    return pool


def spelled_numbers(count: int, seed: int, *, invalid_share: float = 0.2,
                    odd_share: float = 0.03) -> dict[str, str]:
    """``count`` distinct strings, each mapped to the spelling it was made with
    (:data:`ODD` for the odd ones): valid numbers, and ``invalid_share`` of invalid
    variants, in common spellings; ``odd_share`` of odd values. 10% use other digit scripts
    or separators."""
    rng = random.Random(seed)
    pool = number_pool(max(100, count // 3), seed)
    names = list(COMMON)
    values: dict[str, str] = {}
    while len(values) < count:
        number = rng.choice(pool)
        if rng.random() < odd_share:
            values.setdefault(_odd(rng, number), ODD)
            continue
        if rng.random() < invalid_share:  # no formats: the library's need a valid number
            number = Number(number.cc, _mutated(rng, number.nsn), number.prefix)
        name = rng.choice(names)
        text = COMMON[name](rng, number)
        if text is None:
            continue
        if rng.random() < 0.1:
            text = _unicode(rng, text)
        values.setdefault(text, name)
    return values
