"""Configuration files: every problem is a ConfigError naming the file and the field.

Mapping files follow Sarvam's transformation config (plus ``required``, ``format`` and
``value``); campaign files are YAML. When no mapping exists one is inferred from the headers.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from cohortflow.config import (
    ALLOWED_OVERRIDES,
    default_campaign,
    find_campaign,
    infer_mapping,
    load_campaign,
    load_mapping,
)
from cohortflow.errors import CohortError, ConfigError
from tests.unit.helpers import write_text


def campaign_error(tmp_path: Path, yaml_text: str, name: str = "loans.yaml") -> str:
    path = write_text(tmp_path, name, yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_campaign(path)
    return caught.value.message


def mapping_error(tmp_path: Path, data: object) -> str:
    path = write_text(tmp_path, "m.mapping.json", json.dumps(data))
    with pytest.raises(ConfigError) as caught:
        load_mapping(path)
    return caught.value.message


# --------------------------------------------------------------------------- campaign


def test_minimal_campaign_takes_its_id_and_name_from_the_file_name(tmp_path):
    campaign = load_campaign(write_text(tmp_path, "loans.yaml", ""))

    assert campaign.campaign_id == "loans"
    assert campaign.name == "loans"
    assert campaign.default_region == "IN"


def test_campaign_example_in_the_repository_loads():
    campaign = load_campaign(Path(__file__).parents[3] / "include" / "campaigns" / "loans.yaml")

    assert campaign.variables["customer_name"].required is True
    assert campaign.dnc is not None and campaign.dnc.is_absolute()


def test_bad_timezone_names_file_and_field(tmp_path):
    message = campaign_error(tmp_path, "allowed_schedule:\n  timezone: Asia/Kolkatta\n")

    assert message == (
        f"{tmp_path / 'loans.yaml'}: allowed_schedule.timezone: unknown timezone 'Asia/Kolkatta'"
    )


def test_name_longer_than_50_characters_names_the_field(tmp_path):
    message = campaign_error(tmp_path, f"name: {'x' * 51}\n")

    assert message.startswith(f"{tmp_path / 'loans.yaml'}: name: at most 50 characters")


def test_name_with_forbidden_characters_is_rejected(tmp_path):
    message = campaign_error(tmp_path, "name: 'Loans: June!'\n")

    assert ": name: " in message


def test_schedule_at_and_delay_together_are_rejected(tmp_path):
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    message = campaign_error(tmp_path, f"schedule_at: '{soon}'\ndelay: PT15M\n")

    assert "give either 'schedule_at' or 'delay', not both" in message
    assert message.startswith(str(tmp_path / "loans.yaml"))


def test_schedule_at_without_timezone_offset_is_rejected(tmp_path):
    message = campaign_error(tmp_path, "schedule_at: '2030-01-01T10:00:00'\n")

    assert ": schedule_at: give a timezone offset" in message


def test_a_yaml_status_edit_after_activation_wins(tmp_path):
    """Editing the YAML's status to paused is a newer decision than the ledger's activation."""
    from cohortflow.config import load_campaign
    from cohortflow.dispatch import read_state
    from cohortflow.dispatch.campaign_state import ensure_activation

    path = tmp_path / "loans.yaml"
    path.write_text("status: active\n", encoding="utf-8")
    ensure_activation(load_campaign(path), tmp_path, dt.datetime.now(dt.UTC))
    assert read_state(load_campaign(path), tmp_path).status == "active"
    path.write_text("status: paused\n", encoding="utf-8")
    assert read_state(load_campaign(path), tmp_path).status == "paused"


def test_delay_must_be_an_iso_duration(tmp_path):
    message = campaign_error(tmp_path, "delay: 15 minutes\n")

    assert ": delay: expected an ISO-8601 duration" in message


def test_unknown_provider_kind_names_the_field(tmp_path):
    message = campaign_error(
        tmp_path, "provider:\n  kind: carrier_pigeon\n  base_url: https://example.org\n"
    )

    assert message.startswith(f"{tmp_path / 'loans.yaml'}: provider: ")
    assert "carrier_pigeon" in message
    assert "sarvam" in message


def test_provider_missing_a_required_setting_names_it(tmp_path):
    message = campaign_error(
        tmp_path,
        "provider:\n  kind: sarvam\n  base_url: https://example.org\n  org_id: o\n"
        "  workspace_id: w\n",
    )

    assert ": provider.sarvam.campaign_id: Field required" in message


def test_unknown_setting_is_rejected_by_name(tmp_path):
    message = campaign_error(tmp_path, "batchsize: 10\n")

    assert ": batchsize: Extra inputs are not permitted" in message


def test_unknown_default_region_is_rejected(tmp_path):
    message = campaign_error(tmp_path, "default_region: XX\n")

    assert ": default_region: unknown phone region 'XX'" in message


def test_default_region_is_upper_cased(tmp_path):
    campaign = load_campaign(write_text(tmp_path, "loans.yaml", "default_region: gb\n"))

    assert campaign.default_region == "GB"


def test_bad_allowed_time_and_day_are_each_reported(tmp_path):
    message = campaign_error(
        tmp_path,
        "allowed_schedule:\n  allowed_start_time: '9am'\n  allowed_days: [Funday]\n",
    )

    lines = message.splitlines()
    assert any(": allowed_schedule.allowed_start_time: expected HH:MM" in line for line in lines)
    assert any(": allowed_schedule.allowed_days: unknown day 'Funday'" in line for line in lines)


def test_layout_without_contact_code_is_rejected(tmp_path):
    message = campaign_error(tmp_path, "layout:\n  text: 'Hi {{ name }}'\n")

    assert ": layout: a layout needs contact.contactCode" in message


def test_variables_may_be_a_list_of_names(tmp_path):
    campaign = load_campaign(write_text(tmp_path, "c.yaml", "variables: [name, amount]\n"))

    assert set(campaign.variables) == {"name", "amount"}
    assert not campaign.variables["name"].required


def test_relative_dnc_path_is_resolved_beside_the_campaign_file(tmp_path):
    campaign = load_campaign(write_text(tmp_path, "c.yaml", "dnc: lists/dnc.csv\n"))

    assert campaign.dnc == (tmp_path / "lists" / "dnc.csv").resolve()


def test_invalid_yaml_names_the_file(tmp_path):
    message = campaign_error(tmp_path, "name: [unclosed\n")

    assert message.startswith(f"{tmp_path / 'loans.yaml'}: not valid YAML")


def test_campaign_that_is_not_a_mapping_is_rejected(tmp_path):
    message = campaign_error(tmp_path, "- a\n- b\n")

    assert "a campaign config must be a mapping of settings" in message


def test_missing_campaign_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_campaign(tmp_path / "nope.yaml")


def test_find_campaign_falls_back_to_defaults(tmp_path):
    campaign = find_campaign(tmp_path, "reminders")

    assert campaign == default_campaign("reminders")
    assert campaign.variables == {}


def test_campaign_mapping_is_validated_with_the_campaign(tmp_path):
    message = campaign_error(tmp_path, "mapping:\n  phone_number: {value: '123'}\n")

    assert ": mapping.phone_number: " in message
    assert "must come from a column" in message


# --------------------------------------------------------------------------- mapping


def test_sarvam_transformation_config_loads(tmp_path):
    path = write_text(tmp_path, "m.mapping.json", json.dumps({
        "phone_number": {"column_name": "mobile"},
        "user_identifier": {"column_name": "customer_id", "required": True},
        "app_variables": {"customer_name": {"column_name": "name", "format": "title_case"},
                          "channel": {"value": "voice"}},
        "app_overrides": {"initial_language_name": {"column_name": "language"}},
    }))

    mapping = load_mapping(path)

    assert mapping.referenced_columns() == ["mobile", "customer_id", "name", "language"]
    assert list(mapping.output_fields()) == [
        "user_identifier", "customer_name", "channel", "initial_language_name",
    ]


def test_override_key_not_allowed_names_file_field_and_allowed_keys(tmp_path):
    message = mapping_error(tmp_path, {
        "phone_number": {"column_name": "mobile"},
        "app_overrides": {"initial_voice": {"column_name": "voice"}},
    })

    assert message.startswith(f"{tmp_path / 'm.mapping.json'}: app_overrides: ")
    assert "'initial_voice'" in message
    for key in ALLOWED_OVERRIDES:
        assert key in message


@pytest.mark.parametrize("key", ALLOWED_OVERRIDES)
def test_each_allowed_override_key_is_accepted(tmp_path, key):
    path = write_text(tmp_path, "m.json", json.dumps({
        "phone_number": {"column_name": "mobile"},
        "app_overrides": {key: {"column_name": "x"}},
    }))

    assert key in load_mapping(path).app_overrides


def test_field_with_both_column_and_value_is_rejected(tmp_path):
    message = mapping_error(tmp_path, {
        "phone_number": {"column_name": "mobile"},
        "app_variables": {"channel": {"column_name": "c", "value": "voice"}},
    })

    assert ": app_variables.channel: give exactly one of 'column_name' or 'value'" in message


def test_field_with_neither_column_nor_value_is_rejected(tmp_path):
    message = mapping_error(tmp_path, {
        "phone_number": {"column_name": "mobile"},
        "user_identifier": {"required": True},
    })

    assert ": user_identifier: give exactly one of 'column_name' or 'value'" in message


def test_phone_number_from_a_fixed_value_is_rejected(tmp_path):
    message = mapping_error(tmp_path, {"phone_number": {"value": "+919876543210"}})

    assert ": phone_number: the phone number must come from a column" in message


def test_a_mapping_without_phone_loads_for_campaigns_of_users(tmp_path):
    """Only a campaign of users (CometChat) may leave the phone out; ingest refuses it for
    the others (tests/unit/ingest/test_users.py)."""
    path = write_text(tmp_path, "m.mapping.json",
                      json.dumps({"user_identifier": {"column_name": "user_id"}}))
    mapping = load_mapping(path)
    assert mapping.phone_number is None and mapping.referenced_columns() == ["user_id"]


def test_format_that_is_not_a_macro_name_is_rejected(tmp_path):
    message = mapping_error(tmp_path, {
        "phone_number": {"column_name": "mobile"},
        "app_variables": {"name": {"column_name": "n", "format": "upper); drop table x"}},
    })

    assert ": app_variables.name: 'format' must be a macro name" in message


def test_unknown_key_in_a_field_is_rejected(tmp_path):
    message = mapping_error(tmp_path, {"phone_number": {"column_name": "m", "colum": "x"}})

    assert ": phone_number.colum: Extra inputs are not permitted" in message


def test_mapping_that_is_not_an_object_is_rejected(tmp_path):
    message = mapping_error(tmp_path, ["phone_number"])

    assert message == f"{tmp_path / 'm.mapping.json'}: a mapping must be a JSON object"


def test_invalid_json_mapping_names_the_file(tmp_path):
    path = write_text(tmp_path, "m.json", '{"phone_number": ')

    with pytest.raises(ConfigError, match=r"m\.json: not valid JSON"):
        load_mapping(path)


# --------------------------------------------------------------------------- inference


def test_inferred_mapping_finds_phone_identifier_and_variables():
    mapping = infer_mapping(["customer_id", "mobile", "name", "amount"])

    assert mapping.inferred
    assert mapping.phone_number.column_name == "mobile"
    assert mapping.user_identifier is not None
    assert mapping.user_identifier.column_name == "customer_id"
    assert list(mapping.app_variables) == ["name", "amount"]


@pytest.mark.parametrize(
    "phone", ["phone_number", "phoneNumber", "phone", "mobile", "msisdn", "contactCode"]
)
def test_each_known_phone_header_is_recognised(phone):
    assert infer_mapping(["name", phone]).phone_number.column_name == phone


def test_phone_header_priority_follows_the_documented_order():
    mapping = infer_mapping(["mobile", "phone", "msisdn"])

    assert mapping.phone_number.column_name == "phone"
    assert set(mapping.app_variables) == {"mobile", "msisdn"}


def test_phone_header_is_recognised_ignoring_case():
    assert infer_mapping(["Mobile", "Name"]).phone_number.column_name == "Mobile"


def test_user_id_is_an_identifier_too():
    mapping = infer_mapping(["phone", "user_id"])

    assert mapping.user_identifier is not None
    assert mapping.user_identifier.column_name == "user_id"
    assert mapping.app_variables == {}


def test_headers_named_like_overrides_become_overrides():
    mapping = infer_mapping(["phone", "initial_language_name", "name"])

    assert list(mapping.app_overrides) == ["initial_language_name"]
    assert list(mapping.app_variables) == ["name"]


def test_inferred_mapping_keeps_only_declared_variables():
    mapping = infer_mapping(["phone", "name", "notes"], declared={"name"})

    assert list(mapping.app_variables) == ["name"]


def test_inference_without_a_phone_header_is_a_missing_column_error():
    with pytest.raises(CohortError) as caught:
        infer_mapping(["tel", "name"])

    assert caught.value.code == "missing_column"
    assert "headers are: tel, name" in caught.value.message


@pytest.mark.parametrize("name", ["region", "phone_number", "row_number", "message", "payload"])
def test_variable_named_like_a_recipient_column_is_rejected(tmp_path, name):
    message = mapping_error(tmp_path, {
        "phone_number": {"column_name": "mobile"},
        "app_variables": {name: {"column_name": "x"}},
    })

    assert f": app_variables: '{name}' is a recipient column cohortflow sets itself" in message


def test_inferred_mapping_leaves_headers_named_like_recipient_columns_unmapped():
    mapping = infer_mapping(["phone", "region", "row_number", "message", "name"])

    assert list(mapping.app_variables) == ["name"]


def test_mapping_repeating_a_variable_name_is_an_error_naming_it(tmp_path):
    path = write_text(tmp_path, "m.mapping.json", '{"phone_number": {"column_name": "mobile"}, '
                      '"app_variables": {"name": {"column_name": "first"}, '
                      '"name": {"column_name": "last"}}}')

    with pytest.raises(ConfigError, match=r"m\.mapping\.json: the key 'name' is given twice"):
        load_mapping(path)
