"""What ``phonenumbers.parse`` ignores in a spelling, in terms the SQL fast path can test.

For a value that holds no letter, no extension mark (``#``, ``~``, ``x``, ``;``, ``,``) and
no ``+`` after its first digit, ``parse`` uses only two facts: whether the number starts with
``+`` and its digits (``_extract_possible_number`` drops what comes before the first ``+`` or
digit and the non-word characters after the last digit, ``_normalize`` keeps only the digits,
of any script). ``sql/phones/01_parse.sql`` decides the values of that shape:

- :func:`translation` maps every non-ASCII character the shape admits to ASCII: each digit
  that is ``\\d`` for ``re`` and that ``normalize_digits_only`` reads (Arabic-Indic,
  Devanagari, full-width, ...) to its ASCII digit, ``＋`` to ``+``, and the library's
  non-ASCII punctuation to a space (when ``str.isspace``) or a dash. A value still holding a
  non-ASCII character after it is of another shape.
- :data:`SHAPE` is the shape over the translated, ASCII text: a prefix of anything but
  digits, ``+`` and ``;`` (``;phone-context=``), then ``+`` signs, then digits and the
  separators ``- . / ( ) [ ]`` and space, ending with a digit, then a tail of ASCII
  characters that are neither word characters nor ``#``, ``+`` or ``;``.
- :data:`BLANK`: a value of no digit and no ``+`` is ``empty`` when all of it is white space
  for ``str.strip`` (what :func:`cohortflow.phones.library.normalize_distinct` tests), and
  otherwise not a number.
- :data:`NO_EXTENSION`: a value in which ``parse`` can find no extension (nor a second number
  that it would read as one).
"""

from __future__ import annotations

import re

import phonenumbers

#: The library's non-ASCII punctuation (``_VALID_PUNCTUATION``) that separates digits and is
#: no word character: what ``parse`` drops wherever it stands. Not the tildes (extension
#: marks) nor U+30FC (a letter for ``re``).
SEPARATORS = ("\u00a0\u00ad\u200b\u2060\u3000\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
              "\uff0d\uff0e\uff0f\uff08\uff09\uff3b\uff3d")
FULL_WIDTH_PLUS = "\uff0b"

_PREFIX = r"[\x{00}-\x{2A}\x{2C}-\x{2F}\x{3A}\x{3C}-\x{7F}]*"
_BODY = r"\+*[\-./()\[\] 0-9]*[0-9]"
_TAIL = (r"[\x{00}-\x{22}\x{24}-\x{2A}\x{2C}-\x{2F}\x{3A}\x{3C}-\x{40}\x{5B}-\x{5E}\x{60}"
         r"\x{7B}-\x{7F}]*")
#: An RE2 pattern, full-matched against the translated text.
SHAPE = _PREFIX + _BODY + _TAIL
#: What ``str.strip`` removes among ASCII characters (``str.isspace``).
BLANK = r"[\t\n\x{0B}\x{0C}\r\x{1C}-\x{1F} ]*"
#: An RE2 pattern, full-matched against the value as written: ``parse`` drops what comes before
#: the first digit or ``+`` (a ``tel:`` or ``Mobile:`` in front; a ``;`` there could start an
#: RFC 3966 phone-context, so it must not be there); after that, digits (of any script),
#: spaces and the separators ``+ ( ) [ ] . - /`` (ASCII or full-width) leave no room for an
#: extension: every mark of one (``x``, ``ext``, ``#``, ``;``, ``,``, ``~`` ...) is outside
#: that set.
NO_EXTENSION = r"[^\p{Nd}+＋;]*[\p{Nd}\s\p{Z}+＋()（）\[\]［］.．\-‐‑‒–—―−－/／]*"


def is_digit(char: str) -> bool:
    """True for a character that ``re`` takes for ``\\d`` (a possible start of a number for
    ``_extract_possible_number``) and that ``normalize_digits_only`` reads as a digit."""
    return re.fullmatch(r"\d", char) is not None and bool(phonenumbers.normalize_digits_only(char))


def translation(present: str) -> tuple[str, str]:
    """``(from, to)`` for SQL ``translate``, for the non-ASCII characters of ``present`` (those
    of the values): each digit to its ASCII digit, ``＋`` to ``+``, a separator to a space or
    a dash (see the module's docstring); a character of another kind is left out (it stays,
    and its value is of another shape)."""
    table = {}
    for char in sorted(set(present)):
        if char.isascii():
            continue
        if is_digit(char):
            table[char] = phonenumbers.normalize_digits_only(char)
        elif char == FULL_WIDTH_PLUS:
            table[char] = "+"
        elif char in SEPARATORS:
            table[char] = " " if char.isspace() else "-"
    return "".join(table), "".join(table.values())
