"""Values echoed back to people (errors, summaries, reports, logs) never show a phone number.

A file without a header row makes its first data row the headers, and an error that lists the
headers would then show a customer's number; a second phone column is not the mapped one. So
every value that looks like a phone number (at least :data:`MIN_DIGITS` digits written with
phone punctuation only) is masked like the phone column, by
:func:`cohortflow.phones.mask_phone`: only its last four digits stay readable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cohortflow.phones import mask_phone

#: The fewest digits of a value taken for a phone number (the shortest national numbers).
MIN_DIGITS = 7
_PHONE_RUN = re.compile(r"[+＋]?[\d(（][\d\s().\-/（）－]*\d")


def _digits(text: str) -> int:
    return sum(char.isdigit() for char in text)


def looks_like_phone(value: str) -> bool:
    """Whether ``value`` as a whole is written like a phone number."""
    text = value.strip()
    return bool(_PHONE_RUN.fullmatch(text)) and _digits(text) >= MIN_DIGITS


def mask_phones_in(text: str) -> str:
    """``text`` with every run that looks like a phone number masked."""
    return _PHONE_RUN.sub(
        lambda m: mask_phone(m.group()) if _digits(m.group()) >= MIN_DIGITS else m.group(), text)


def masked_list(values: Iterable[str]) -> str:
    """``values`` joined by ``, `` for a message, each one that looks like a phone masked."""
    return ", ".join(mask_phones_in(value) for value in values)
