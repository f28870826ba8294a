"""Phone numbers: E.164 validation, masking and time zones."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pytest

from cohortflow.errors import ConfigError
from cohortflow.phones.library import (
    PhoneColumns,
    mask_phone,
    normalize_distinct,
    normalize_phones,
    phone_timezones,
)

INDIAN_MOBILE = "+919876543210"


def rows(values: Sequence[str | None], region: str = "IN") -> list[dict[str, str | None]]:
    return normalize_phones(list(values), region).to_pylist()


def test_valid_national_number_becomes_e164_with_region() -> None:
    assert rows(["9876543210"]) == [{"e164": INDIAN_MOBILE, "region": "IN", "error": None}]


def test_surrounding_and_inner_spaces_are_accepted() -> None:
    assert rows(["  98765 43210 "])[0]["e164"] == INDIAN_MOBILE


def test_full_width_digits_are_accepted() -> None:
    assert rows(["９８７６５４３２１０"])[0]["e164"] == INDIAN_MOBILE


def test_formatting_characters_are_accepted() -> None:
    assert rows(["(987) 654-3210"])[0]["e164"] == INDIAN_MOBILE
    assert rows(["987.654.3210"])[0]["e164"] == INDIAN_MOBILE


def test_no_break_spaces_are_accepted() -> None:
    assert rows(["\u00a098765\u00a043210"])[0]["e164"] == INDIAN_MOBILE


def test_international_number_keeps_its_own_region() -> None:
    assert rows(["+44 20 7946 0958"]) == [{"e164": "+442079460958", "region": "GB", "error": None}]


def test_double_zero_prefix_is_international() -> None:
    assert rows(["0091 98765 43210"])[0]["e164"] == INDIAN_MOBILE


def test_same_digits_depend_on_default_region() -> None:
    assert rows(["6502530000"], region="US")[0]["e164"] == "+16502530000"
    assert rows(["6502530000"], region="GB")[0]["e164"] is None


@pytest.mark.parametrize("value", [None, "", "   ", "\t"])
def test_null_and_blank_values_are_empty(value: str | None) -> None:
    assert rows([value]) == [{"e164": None, "region": None, "error": "empty"}]


def test_text_is_not_a_phone_number() -> None:
    assert rows(["n/a"]) == [
        {"e164": None, "region": None, "error": "could not be parsed (not a phone number)"}
    ]


def test_short_number_is_too_short() -> None:
    assert rows(["98765"])[0]["error"] == "too short for region IN"


def test_long_number_is_too_long() -> None:
    assert rows(["98765432101234"])[0]["error"] == "too long for region IN"


@pytest.mark.parametrize("value", ["+49 30 1234567890123", "+81 0037 1234567890123"])
def test_valid_number_longer_than_e164_is_rejected(value: str) -> None:
    # phonenumbers calls these valid (17 and 19 digits), but E.164 stops at 15
    assert rows([value]) == [
        {"e164": None, "region": None, "error": "longer than the 15 digits E.164 allows"}
    ]


def test_valid_number_of_15_digits_is_kept() -> None:
    assert rows(["+49 30 12345678901"])[0]["e164"] == "+493012345678901"


def test_right_length_but_invalid_prefix_is_not_valid_for_region() -> None:
    assert rows(["0123456789"])[0]["error"] == "not a valid number for region IN"


def test_invalid_foreign_number_names_its_region() -> None:
    assert rows(["+44 20"])[0]["error"] == "too short for region GB"


def test_excel_scientific_notation_is_rejected() -> None:
    assert rows(["9.87654321E+09"])[0]["e164"] is None


def test_error_details_never_contain_the_digits() -> None:
    values = ["98765", "98765432101234", "0123456789", "+44 20 7946", "+999 123456"]
    for result in rows(values):
        assert result["error"] is not None
        assert not any(char.isdigit() for char in result["error"])


def test_output_keeps_input_order_and_length() -> None:
    values = ["abc", "9876543210", None, "+44 20 7946 0958"]
    assert [r["e164"] for r in rows(values)] == [None, INDIAN_MOBILE, None, "+442079460958"]


def test_duplicates_are_validated_once_and_repeated_per_row() -> None:
    seen: list[str] = []

    def counting(values: Sequence[str], region: str) -> PhoneColumns:
        seen.extend(values)
        return normalize_distinct(values, region)

    table = normalize_phones(
        ["9876543210", None, "9876543210", "abc", "abc", None], "IN", normalizer=counting
    )
    assert sorted(seen) == ["9876543210", "abc"]
    assert table["e164"].to_pylist() == [INDIAN_MOBILE, None, INDIAN_MOBILE, None, None, None]
    not_a_number = "could not be parsed (not a phone number)"
    assert table["error"].to_pylist()[1::2] == ["empty", not_a_number, "empty"]


def test_accepts_arrow_arrays_of_any_string_type() -> None:
    chunked = pa.chunked_array([["9876543210"], [None, "abc"]], type=pa.large_string())
    assert normalize_phones(chunked, "IN")["e164"].to_pylist() == [INDIAN_MOBILE, None, None]


def test_output_columns_are_strings() -> None:
    table = normalize_phones([], "IN")
    assert table.schema == pa.schema(
        [("e164", pa.string()), ("region", pa.string()), ("error", pa.string())]
    )


def test_unknown_default_region_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'XX'"):
        normalize_phones(["9876543210"], "XX")


def test_mask_keeps_plus_and_last_four_digits() -> None:
    assert mask_phone(INDIAN_MOBILE) == "+••••••••3210"


def test_mask_drops_formatting_characters() -> None:
    assert mask_phone("+91 98765-43210") == "+••••••••3210"


def test_mask_without_plus() -> None:
    assert mask_phone("9876543210") == "••••••3210"


def test_mask_hides_short_values_fully() -> None:
    assert mask_phone("12345") == "•••••"
    assert mask_phone("+1234") == "+••••"


def test_mask_hides_text_fully() -> None:
    assert mask_phone("call me") == "•••••••"


def test_mask_of_none_is_empty() -> None:
    assert mask_phone(None) == ""


def test_timezones_of_indian_number() -> None:
    assert phone_timezones(INDIAN_MOBILE) in {("Asia/Calcutta",), ("Asia/Kolkata",)}


def test_timezones_narrowed_by_area_code() -> None:
    assert phone_timezones("+16502530000") == ("America/Los_Angeles",)


def test_timezones_unknown_are_empty() -> None:
    assert phone_timezones("+80012345678") == ()


def test_timezones_of_garbage_are_empty() -> None:
    assert phone_timezones("not a number") == ()
