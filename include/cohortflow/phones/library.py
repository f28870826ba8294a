"""Phone numbers: validation to E.164, region, time zones, and masking for logs.

Phone numbers are personal data. Nothing in this module puts a number into an error detail,
and anything that logs or reports a number must pass it through :func:`mask_phone` first.

The rule for a valid number is exactly the one in the design:
``phonenumbers.is_valid_number(phonenumbers.parse(value, default_region))``, with the raw cell
value given to the parser (it handles surrounding spaces, full-width digits, formatting
characters, ``00``/``+`` international prefixes and extensions itself), and an E.164 form of
at most 15 digits (:data:`E164_MAX_DIGITS`).

Validation works on DISTINCT values only: a cohort's column is dictionary-encoded, the distinct
strings go through a :data:`DistinctNormalizer` and the results are taken back to every row.
Duplicates therefore cost nothing, and a faster normalizer (a cache, a process pool, a
vectorised fast path for common shapes) can be plugged in without touching the callers, as long
as it returns the same results as :func:`normalize_distinct`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult
from phonenumbers import timezone as phone_timezone

from cohortflow.errors import ConfigError

if TYPE_CHECKING:  # pyarrow is imported where it is used: most importers only mask numbers
    import pyarrow as pa

EMPTY = "empty"
UNKNOWN_TIMEZONE = "Etc/Unknown"
MASK_CHAR = "•"
#: A value must have at least this many digits before its last four are shown unmasked.
MIN_DIGITS_TO_REVEAL = 8
#: E.164 numbers have at most 15 digits (ITU-T E.164). phonenumbers also accepts a few longer
#: numbers as valid (German fixed lines with 15-digit national numbers, Japanese and Indonesian
#: toll-free numbers with 17): they have no E.164 form a provider takes, so they are rejected.
E164_MAX_DIGITS = 15
E164_TOO_LONG = f"longer than the {E164_MAX_DIGITS} digits E.164 allows"

PARSE_ERRORS: dict[int, str] = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid or missing country code",
    NumberParseException.NOT_A_NUMBER: "could not be parsed (not a phone number)",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}

POSSIBILITY_ERRORS: dict[int, str] = {
    ValidationResult.INVALID_COUNTRY_CODE: "invalid country code",
    ValidationResult.TOO_SHORT: "too short for region {region}",
    ValidationResult.TOO_LONG: "too long for region {region}",
    ValidationResult.INVALID_LENGTH: "invalid length for region {region}",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: (
        "not a valid number for region {region} (local number, area code missing?)"
    ),
}


@dataclass(slots=True)
class PhoneColumns:
    """Results for a list of values, column by column, each list as long as the input."""

    e164: list[str | None] = field(default_factory=list)
    region: list[str | None] = field(default_factory=list)
    error: list[str | None] = field(default_factory=list)

    def append(self, e164: str | None, region: str | None, error: str | None) -> None:
        """Add the result of one value."""
        self.e164.append(e164)
        self.region.append(region)
        self.error.append(error)


#: Maps distinct, non-null strings and a default region to one result per string.
DistinctNormalizer = Callable[[Sequence[str], str], PhoneColumns]


def check_region(default_region: str) -> str:
    """Return ``default_region`` if phonenumbers knows it, else raise :class:`ConfigError`."""
    if default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"default_region: unknown region {default_region!r} "
            "(expected an ISO 3166-1 alpha-2 code in capitals, e.g. 'IN')"
        )
    return default_region


def too_long_for_e164(e164: str) -> bool:
    """True when ``e164`` (``+`` and digits, as phonenumbers formats it) has more digits than
    E.164 allows."""
    return len(e164) - 1 > E164_MAX_DIGITS


def invalid_detail(number: phonenumbers.PhoneNumber) -> str:
    """Why a parsed number is not valid; names the number's region, never its digits."""
    region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    reason = phonenumbers.is_possible_number_with_reason(number)
    template = POSSIBILITY_ERRORS.get(reason, "not a valid number for region {region}")
    return template.format(region=region)


def normalize_distinct(values: Sequence[str], default_region: str) -> PhoneColumns:
    """Validate each string with phonenumbers; the reference :data:`DistinctNormalizer`.

    ``region`` is the region the number belongs to (``"001"`` for non-geographic numbers such
    as ``+800``); ``error`` is ``"empty"`` for blank strings and a short detail without the
    number for anything invalid.
    """
    check_region(default_region)
    results = PhoneColumns()
    parse = phonenumbers.parse
    region_for_number = phonenumbers.region_code_for_number
    valid_for_region = phonenumbers.is_valid_number_for_region
    format_number = phonenumbers.format_number
    e164_format = PhoneNumberFormat.E164
    for value in values:
        if not value.strip():
            results.append(None, None, EMPTY)
            continue
        try:
            number = parse(value, default_region)
        except NumberParseException as exc:
            results.append(None, None, PARSE_ERRORS.get(exc.error_type, "could not be parsed"))
            continue
        # Same as phonenumbers.is_valid_number, which is exactly these two calls.
        region = region_for_number(number)
        if region is not None and valid_for_region(number, region):
            e164 = format_number(number, e164_format)
            if too_long_for_e164(e164):
                results.append(None, None, E164_TOO_LONG)
            else:
                results.append(e164, region, None)
        else:
            results.append(None, None, invalid_detail(number))
    return results


def _as_string_array(values: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> pa.Array:
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    if not isinstance(values, pa.Array):
        values = pa.array(list(values), type=pa.string())
    if values.type != pa.string():
        values = values.cast(pa.string())
    return values


def normalize_phones(
    values: pa.Array | pa.ChunkedArray | Sequence[str | None],
    default_region: str,
    *,
    normalizer: DistinctNormalizer = normalize_distinct,
) -> pa.Table:
    """Validate a column of phone numbers; one output row per input row, in the same order.

    Returns a table with string columns ``e164`` (null when invalid), ``region`` (ISO region of
    the number, null when invalid) and ``error`` (null when valid, else a short detail such as
    ``"empty"`` or ``"not a valid number for region IN"``; never the number itself).
    Each distinct value is validated once, by ``normalizer``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    check_region(default_region)
    column = _as_string_array(values)
    encoded = pc.dictionary_encode(column)
    distinct: list[str] = encoded.dictionary.to_pylist()
    results = normalizer(distinct, default_region)
    if not len(results.e164) == len(results.region) == len(results.error) == len(distinct):
        raise ValueError("the phone normalizer must return one result per distinct value")
    indices = encoded.indices
    errors = pa.array(results.error, pa.string()).take(indices)
    if column.null_count:
        errors = pc.if_else(pc.is_null(indices), EMPTY, errors)
    return pa.table(
        {
            "e164": pa.array(results.e164, pa.string()).take(indices),
            "region": pa.array(results.region, pa.string()).take(indices),
            "error": errors,
        }
    )


def mask_phone(value: str | None) -> str:
    """Mask a phone number for logs and messages: only the last 4 digits stay readable.

    A leading ``+`` is kept and each other digit becomes ``•``; formatting characters are
    dropped (``"+91 98765 43210"`` → ``"+••••••••3210"``). Values with fewer than
    :data:`MIN_DIGITS_TO_REVEAL` digits (short codes, garbage) are masked fully, one ``•`` per
    character; ``None`` and blank values give ``""`` (there is nothing to hide).
    """
    if value is None:
        return ""
    text = value.strip()
    plus = "+" if text.startswith(("+", "＋")) else ""
    rest = text[1:] if plus else text
    digits = [char for char in rest if char.isdigit()]
    if len(digits) < MIN_DIGITS_TO_REVEAL:
        return plus + MASK_CHAR * len(rest)
    return plus + MASK_CHAR * (len(digits) - 4) + "".join(digits[-4:])


def phone_timezones(e164: str) -> tuple[str, ...]:
    """IANA time zones of a number (``"Asia/Kolkata"``, ...); empty when unknown or unparsable.

    Comes from ``phonenumbers.timezone.time_zones_for_number`` with ``Etc/Unknown`` removed.
    A country spanning several zones gives several, unless the number's prefix narrows it.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return ()
    zones = phone_timezone.time_zones_for_number(number)
    return tuple(zone for zone in zones if zone != UNKNOWN_TIMEZONE)
