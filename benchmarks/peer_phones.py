"""The stronger peer's phone step: ``phonenumbers`` over a chunk of distinct values, in a worker.

A module of its own so that a spawned pool worker (``benchmarks/peer.py``) imports only
``phonenumbers`` and cohortflow's phone rule texts (the same constants the naive baseline
uses), not polars, Jinja or pydantic. Each value is decided as the baseline's
``validate_phone`` decides it, plus what cohortflow reads beside the number: an extension, and
whether that extension is itself a valid number (two numbers in one cell).
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from cohortflow.phones import (
    E164_TOO_LONG,
    EMPTY,
    PARSE_ERRORS,
    invalid_detail,
    too_long_for_e164,
)

#: One list per output column, each as long as the chunk: e164, region, error, extension and
#: second_number (columns pickle back to the parent faster than one tuple per value).
Decided = tuple[list[str | None], list[str | None], list[str | None], list[str | None],
                list[bool]]


def warm_up(region: str) -> None:
    """Load the library and the default region's metadata (run once per worker, while the
    parent reads the file)."""
    example = phonenumbers.example_number(region)
    decide([phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)] if example
           else [], region)


def decide(values: list[str], region: str) -> Decided:
    """E.164, region, error, extension and "second number" of each value (``region`` is the
    campaign's default region)."""
    e164s: list[str | None] = []
    regions: list[str | None] = []
    errors: list[str | None] = []
    extensions: list[str | None] = []
    seconds: list[bool] = []
    parse = phonenumbers.parse
    region_for_number = phonenumbers.region_code_for_number
    valid_for_region = phonenumbers.is_valid_number_for_region
    format_number = phonenumbers.format_number
    e164_format = PhoneNumberFormat.E164
    for value in values:
        e164 = number_region = error = extension = None
        second = False
        if not value.strip():
            error = EMPTY
        else:
            try:
                number = parse(value, region)
            except NumberParseException as exc:
                error = PARSE_ERRORS.get(exc.error_type, "could not be parsed")
            else:
                number_region = region_for_number(number)
                if number_region is not None and valid_for_region(number, number_region):
                    e164 = format_number(number, e164_format)
                    if too_long_for_e164(e164):
                        e164 = number_region = None
                        error = E164_TOO_LONG
                    elif number.extension:
                        extension = number.extension
                        second = _is_number(extension, region)
                else:
                    number_region = None
                    error = invalid_detail(number)
        e164s.append(e164)
        regions.append(number_region)
        errors.append(error)
        extensions.append(extension)
        seconds.append(second)
    return e164s, regions, errors, extensions, seconds


def _is_number(text: str, region: str) -> bool:
    """Whether an extension the parser set aside is a valid number of its own."""
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(text, region)))
    except NumberParseException:
        return False
