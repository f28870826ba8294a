"""Per-region rules taken from phonenumbers' metadata (cohortflow.phones.rules)."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import ValidationResult, phonenumberutil

from cohortflow.phones.rules import LENGTH_CLASSES, LENGTH_CODES, region_metadata, region_rules

#: The state of each of _test_number_length's answers, as LENGTH_CODES names them.
STATES = {
    ValidationResult.IS_POSSIBLE: "ok",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "local",
    ValidationResult.TOO_SHORT: "short",
    ValidationResult.TOO_LONG: "long",
    ValidationResult.INVALID_LENGTH: "invalid",
}
EVERY_METADATA = sorted(
    (region, code) for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
    for region in regions)


@pytest.mark.parametrize(("region", "code"), EVERY_METADATA)
def test_the_length_classes_answer_as_the_library_tests_a_number_s_length(
        region: str, code: int) -> None:
    classes = region_rules(region, code).length_classes
    assert classes is not None and len(classes) == LENGTH_CLASSES
    metadata = region_metadata(region, code)
    for length in range(LENGTH_CLASSES + 20):  # the last character stands for every longer one
        expected = STATES[phonenumberutil._test_number_length("5" * length, metadata)]
        assert classes[min(length, LENGTH_CLASSES - 1)] == LENGTH_CODES[expected], \
            f"{region} (+{code}), {length} digits"


def test_the_codes_are_one_distinct_character_each() -> None:
    assert sorted(LENGTH_CODES) == sorted(STATES.values())
    assert all(len(code) == 1 for code in LENGTH_CODES.values())
    assert len(set(LENGTH_CODES.values())) == len(LENGTH_CODES)
