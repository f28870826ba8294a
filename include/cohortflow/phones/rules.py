"""phonenumbers' own metadata, as the rules the SQL fast path decides with.

For a region: the general and per-type national-number patterns and possible lengths, the
national prefix for parsing, and whether a transform rule exists; for a calling code: its
regions and how they are told apart (leading digits). The messages are the library path's
(:mod:`cohortflow.phones.library`), so both paths explain an invalid number the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult
from phonenumbers.phonemetadata import PhoneMetadata

from cohortflow.phones.library import EMPTY, PARSE_ERRORS, POSSIBILITY_ERRORS

NON_GEO = "001"
#: Number types in the order of phonenumbers' ``_number_type_helper`` (mobile is last).
_TYPE_ATTRIBUTES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
                    "pager", "uan", "voicemail", "fixed_line")
_LENGTH_STATES = {
    "local": ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    "short": ValidationResult.TOO_SHORT,
    "long": ValidationResult.TOO_LONG,
    "invalid": ValidationResult.INVALID_LENGTH,
}
#: What ``_ph_len_<k>`` answers for each outcome of ``_test_number_length`` (one character:
#: the macro picks it out of a string of one character per length, see
#: :attr:`RegionRules.length_classes`); the SQL names them as ``length.<state>``.
LENGTH_CODES = {"ok": "o", "local": "l", "short": "s", "long": "g", "invalid": "i"}
#: Lengths 0 to 62 have a character each in ``length_classes``; every longer number the last.
LENGTH_CLASSES = 64



@dataclass(frozen=True)
class RegionRules:
    """One metadata's rules, ready for ``sql/phones/00_rules.sql``."""

    key: str  # macro suffix: the region code, or n<code> for a non-geographic code
    general_pattern: str | None
    lengths: tuple[int, ...]  # general possible lengths, sorted
    local_lengths: tuple[int, ...]
    national_prefix: str | None  # national_prefix_for_parsing
    #: The national prefix's transform rule as an RE2 rewrite (``268\\1``), and the group
    #: whose match means it applies (the pattern's last, which never matches empty text).
    transform_rewrite: str | None
    transform_group: int | None
    undecided_transform: bool  # a transform rule the SQL cannot mirror: such strips are undecided
    types: tuple[tuple[tuple[int, ...], str], ...]  # (possible lengths, pattern) per type

    @property
    def literal_prefix(self) -> bool:
        """The national prefix for parsing is plain digits (``0``): no regular expression
        needed to find it."""
        return bool(self.national_prefix and self.national_prefix.isascii()
                    and self.national_prefix.isdigit())

    @property
    def length_mask(self) -> int:
        """The general possible lengths as a bit mask (bit n: length n is possible)."""
        return length_mask(self.lengths)

    @property
    def length_classes(self) -> str | None:
        """``_test_number_length`` for every length, as :data:`LENGTH_CODES` characters: the
        one at index n for a number of n digits, the last for all of 63 or more. None (the
        SQL leaves such values to the library) when the metadata gives no lengths, or one
        the string cannot hold."""
        if not self.lengths or max(self.lengths + self.local_lengths) >= LENGTH_CLASSES - 1:
            return None
        return "".join(LENGTH_CODES[self._length_state(n)] for n in range(LENGTH_CLASSES))

    def _length_state(self, length: int) -> str:
        """``_test_number_length`` for a number of ``length`` digits, in its order of tests."""
        if length in self.local_lengths:
            return "local"
        if length == self.lengths[0]:
            return "ok"
        if length < self.lengths[0]:
            return "short"
        if length > self.lengths[-1]:
            return "long"
        return "ok" if length in self.lengths[1:] else "invalid"

    @property
    def types_pattern(self) -> str | None:
        """One pattern for all types, over ``chr(65 + length) || number``.

        ``[K](?:p)`` full-matches exactly when the number has length 10 and full-matches
        ``p``; the alternation of all types full-matches when any type does, which is what
        ``_number_type_helper`` returning something other than UNKNOWN means.
        """
        alternatives = []
        for lengths, pattern in self.types:
            usable = [n for n in lengths if 0 <= n <= 40]
            if lengths and not usable:
                continue  # no possible length: the type has no numbers
            marker = "[" + "".join(_length_marker(n) for n in usable) + "]" if usable else "."
            alternatives.append(f"{marker}(?:{pattern})")
        return "|".join(alternatives) or None


def length_mask(lengths: Iterable[int]) -> int:
    """Bit n set for each length n (lengths of 63 digits or more cannot occur in a mask: the
    SQL tests ``least(length, 63)``, whose bit is never set)."""
    return sum(1 << n for n in set(lengths) if 0 <= n < 63)


def _length_marker(length: int) -> str:
    """The character the SQL puts before a number of ``length`` digits: ``chr(65 + length)``."""
    return chr(65 + length)


def metadata_key(region: str, country_code: int) -> str:
    """Macro suffix of a region's metadata (``IN``; ``n800`` for the non-geographic +800)."""
    return f"n{country_code}" if region == NON_GEO else region


def region_metadata(region: str, country_code: int) -> Any:
    return PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)


def _pattern(desc: Any) -> str | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return str(desc.national_number_pattern)


@cache
def region_rules(region: str, country_code: int) -> RegionRules:
    """The rules of ``region`` (``001`` with the code for non-geographic entities)."""
    metadata = region_metadata(region, country_code)
    general = metadata.general_desc
    types: list[tuple[tuple[int, ...], str]] = []
    descs = [getattr(metadata, name) for name in _TYPE_ATTRIBUTES]
    if not metadata.same_mobile_and_fixed_line_pattern:
        descs.append(metadata.mobile)
    for desc in descs:
        pattern = _pattern(desc)
        if pattern is not None:
            types.append((tuple(desc.possible_length or ()), pattern))
    return RegionRules(
        key=metadata_key(region, country_code),
        general_pattern=_pattern(general),
        lengths=tuple(sorted(general.possible_length or ())),
        local_lengths=tuple(general.possible_length_local_only or ()),
        national_prefix=metadata.national_prefix_for_parsing or None,
        **_transform(metadata.national_prefix_for_parsing or None,
                     metadata.national_prefix_transform_rule or None),
        types=tuple(types),
    )


#: A transform rule the SQL mirrors: digits and references to groups 1 to 9, the same in
#: Python's ``re.sub`` and RE2's rewrite.
_REWRITE = re.compile(r"(?:[0-9]|\\[1-9])*")


def _transform(prefix: str | None, rule: str | None) -> dict[str, Any]:
    """How ``_maybe_strip_national_prefix_carrier_code`` transforms: it applies when the
    prefix's last group matched, which the SQL tells from a non-empty match of that group, so
    only a group that cannot match empty text is mirrored (and a rewrite of digits and group
    references); any other rule leaves such numbers to the library."""
    if not prefix or not rule:
        return {"transform_rewrite": None, "transform_group": None, "undecided_transform": False}
    group = re.compile(prefix).groups
    if group and _REWRITE.fullmatch(rule) and _group_min_width(prefix, group) > 0:
        return {"transform_rewrite": rule, "transform_group": group,
                "undecided_transform": False}
    return {"transform_rewrite": None, "transform_group": None, "undecided_transform": True}


def _group_min_width(pattern: str, group: int) -> int:
    """The fewest characters group ``group`` of ``pattern`` matches when it matches (0 when
    unknown), from the ``re`` module's own parser."""
    import re._parser as re_parser  # the parser of the re module phonenumbers matches with

    def find(node: Any) -> int | None:
        if isinstance(node, re_parser.SubPattern):
            for op, argument in node:
                if op is re_parser.SUBPATTERN and argument[0] == group:
                    return int(argument[3].getwidth()[0])
                found = find(argument)
                if found is not None:
                    return found
        elif isinstance(node, tuple | list):
            for item in node:
                found = find(item)
                if found is not None:
                    return found
        return None

    try:
        return find(re_parser.parse(pattern)) or 0
    except Exception:
        return 0


def regions_for_code(country_code: int) -> list[str]:
    return list(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()))


def code_context(country_code: int) -> dict[str, Any]:
    regions = regions_for_code(country_code)
    main = regions[0]
    options = []
    for region in regions:
        metadata = region_metadata(region, country_code)
        if metadata is None:
            continue
        options.append({
            "region": region,
            "key": metadata_key(region, country_code),
            "leading_digits": metadata.leading_digits if len(regions) > 1 else None,
        })
    return {"cc": country_code, "main_key": metadata_key(main, country_code),
            "main_region": main, "options": options}


#: What phonenumbers' leading-digit patterns are written with (digits and digit classes): the
#: query in sql/phones/01_regions_present.sql relies on it. A region whose pattern holds
#: anything else gets its rules whenever its code does.
DIGIT_PATTERN_CHARACTERS = frozenset("0123456789()[]-:?|")


def longest_match(pattern: str) -> int:
    """The most digits a leading-digit pattern (of :data:`DIGIT_PATTERN_CHARACTERS` only:
    digits, classes ``[...]``, groups ``(...)`` or ``(?:...)``, ``?`` and ``|``) can match;
    ValueError for any other pattern."""

    def sequence(at: int) -> tuple[int, int]:  # the widest alternative, up to ')' or the end
        widest = width = 0
        while at < len(pattern) and pattern[at] != ")":
            character = pattern[at]
            if character.isdigit():
                width, at = width + 1, at + 1
            elif character == "[":
                width, at = width + 1, pattern.index("]", at) + 1
            elif character == "(":
                inner, at = sequence(at + (3 if pattern.startswith("(?:", at) else 1))
                if at >= len(pattern):
                    raise ValueError(f"unclosed group in {pattern!r}")
                width, at = width + inner, at + 1
            elif character == "?":  # the item before may be absent: at most its width
                at += 1
            elif character == "|":
                widest, width, at = max(widest, width), 0, at + 1
            else:
                raise ValueError(f"unexpected {character!r} in {pattern!r}")
        return max(widest, width), at

    width, end = sequence(0)
    if end != len(pattern):
        raise ValueError(f"unbalanced ')' in {pattern!r}")
    return width



def prefix_digits(patterns: list[str]) -> int | None:
    """How many leading digits decide every one of ``patterns`` (None: all of them, for a
    pattern whose width this cannot tell)."""
    try:
        return max(1, *(longest_match(pattern) for pattern in patterns))
    except ValueError:
        return None


def may_match_empty(pattern: str | None) -> bool:
    return bool(pattern) and re.match(str(pattern), "") is not None


def parse_errors() -> dict[str, str]:
    messages = PARSE_ERRORS
    return {
        "empty": EMPTY,
        "not_a_number": messages[NumberParseException.NOT_A_NUMBER],
        "too_short_after_idd": messages[NumberParseException.TOO_SHORT_AFTER_IDD],
        "invalid_country_code": messages[NumberParseException.INVALID_COUNTRY_CODE],
        "too_short": messages[NumberParseException.TOO_SHORT_NSN],
        "too_long": messages[NumberParseException.TOO_LONG],
    }


def length_details() -> dict[str, str]:
    default = "not a valid number for region {region}"
    details = {LENGTH_CODES[state]: POSSIBILITY_ERRORS.get(result, default)
               for state, result in _LENGTH_STATES.items()}
    details[LENGTH_CODES["ok"]] = default
    return details


def country_codes_pattern() -> str:
    """Every known calling code as one alternation, shortest first (``1|7|20|...``), so a
    leftmost-first match takes 1, 2 then 3 digits as ``_extract_country_code`` does."""
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE,
                   key=lambda code: (len(str(code)), code))
    return "|".join(str(code) for code in codes)

