"""The characters the fast path reads as phonenumbers does (cohortflow.phones.spelling)."""

from __future__ import annotations

import re
import sys

import phonenumbers
from phonenumbers import phonenumberutil

from cohortflow.phones import spelling


def test_every_digit_the_library_reads_is_translated_to_its_ascii_digit() -> None:
    every = "".join(map(chr, range(0x80, sys.maxunicode + 1)))
    digits = "".join(char for char in re.findall(r"\d", every)
                     if phonenumbers.normalize_digits_only(char))
    source, target = spelling.translation(digits + "x²①")

    assert len(source) == len(digits) > 600  # every script; not '²' or '①' (no \d for re)
    assert target == phonenumbers.normalize_digits_only(digits)


def test_the_separators_are_library_punctuation_and_no_word_characters() -> None:
    punctuation = re.compile("[" + phonenumberutil._VALID_PUNCTUATION + "]")
    for char in spelling.SEPARATORS:
        assert punctuation.fullmatch(char) and not re.fullmatch(r"\w", char), hex(ord(char))
    source, target = spelling.translation(spelling.SEPARATORS + spelling.FULL_WIDTH_PLUS)
    assert sorted(source) == sorted(spelling.SEPARATORS + spelling.FULL_WIDTH_PLUS)
    assert set(target) == {" ", "-", "+"}
    assert all(target[source.index(char)] == " " for char in source if char.isspace())
