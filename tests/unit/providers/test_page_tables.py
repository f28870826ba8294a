"""Every provider test module keeps its page table: a non-empty ``PAGE_FIELDS`` that names only
tests the module defines, mentions every field of its page, and lists every test it holds.

The page terms below are copied from the pages in ``shared/providers/`` (tests never read
them); a module that drops an entry from its table, or a test from an entry, fails here.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.providers import page_table_gaps
from tests.unit.providers import (
    test_cometchat,
    test_http_json,
    test_messaging_csv,
    test_nexus,
    test_sarvam,
    test_sarvam_settings,
)


def keys_of(value: Any) -> Iterator[str]:
    """Every object key in a JSON value, at any depth."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from keys_of(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from keys_of(inner)


#: Per module: the words of its page that its table's entries must mention.
PAGE_TERMS: dict[types.ModuleType, tuple[str, ...]] = {
    test_sarvam: (
        "POST", "X-API-Key", "org_id", "workspace_id", "campaign_id", "cohorts/upload",
        "multipart/form-data", "name", "max 50", "cohort_file", "cohort_transformation_file",
        "phone_number", "E.164", "user_identifier", "required", "app_variables",
        "declared variables", "app_overrides", "initial_bot_message", "initial_state_name",
        "initial_language_name", "column_name", "at least one data row", "non-empty",
        "formatting functions", "cohort_id", "processing", "completed", "failed",
        "total_records", "valid_records", "rejected_records",
    ),
    test_sarvam_settings: (
        "PATCH", "X-API-Key", "org_id", "workspace_id", "campaign_id", "max 50", "max 150",
        "agent|workflow", "ISO 8601", "paused or scheduled",
        *dict.fromkeys(keys_of(test_sarvam_settings.PAGE_UPDATE_BODY)),
    ),
    test_cometchat: (
        "create a campaign", "approved template", "POST /api/campaigns/upload", "appId",
        "apiKey", "file", "campaignId", "column headers", "user_id", "variableSchema",
        "letters, numbers, underscores, hyphens", "100,000", "per upload", "per CSV-upload "
        "campaign", "UTF-8", "comma", "count", "send the campaign", "scheduledAt",
        "ERR_BAD_REQUEST 400", "ERR_NOT_FOUND 404", "ERR_OPERATION_FAILED 500",
    ),
    test_messaging_csv: (
        "Application's ID", "Campaign's ID", "integer", "credentials header", "layout",
        "JSON", "contact.contactCode", "contact.channelType", "customFields", "fixed values",
        "{{variable}}", "sendType", "messageContent", "file", "CSV", "scheduleAt", "3 months",
        "delay", "ISO 8601 duration", "not together", "slicingCondition", "fragmentedSlots",
        "immediateConsecutiveSlots", "deferredConsecutiveSlots", "response",
    ),
    test_nexus: (
        "POST /api/call/upload", "multipart/form-data", "Authorization: Bearer", "file",
        "header row", "phoneNumber", "mandatory", "UTF-8", "no valid rows", "ObjectId",
        *re.findall(r"--form '(\w+)=", test_nexus.PAGE_CURL),
        "outbound|mixed", "type", "retry", "delay", "success", "_id", "totalCalls",
        "deduplicated", "400", "404", "422", "500", "batch-details/{batchId}",
    ),
    test_http_json: (
        "POST {base_url}{path}", "/batches", "application/json", "campaign_id", "cohort_id",
        "batch_number", "idempotency_key", "phone_number", "user_identifier", "variables",
        "message", "payload", "caller_id", "auth_header", "auth_scheme", "Bearer",
        "bare key", "accepted", "batch_id", "deduplicates", "without recipients",
    ),
}
MODULES = sorted(PAGE_TERMS, key=lambda module: module.__name__)


def table_of(module: types.ModuleType) -> dict[str, tuple[str, ...]]:
    """The module's ``PAGE_FIELDS``, checked to be a non-empty table of test names."""
    table = getattr(module, "PAGE_FIELDS", None)
    assert isinstance(table, dict) and table, f"{module.__name__} has no PAGE_FIELDS"
    assert all(isinstance(k, str) and isinstance(v, tuple) for k, v in table.items())
    return table


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rpartition(".")[2])
def test_each_module_names_only_its_own_tests(module: types.ModuleType) -> None:
    assert page_table_gaps(table_of(module), vars(module)) == []
    assert isinstance(getattr(module, "test_every_page_field_has_a_test", None),
                      types.FunctionType), f"{module.__name__} does not check its own table"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rpartition(".")[2])
def test_each_table_mentions_every_page_term(module: types.ModuleType) -> None:
    entries = " | ".join(table_of(module))
    missing = [term for term in PAGE_TERMS[module] if term not in entries]
    assert missing == [], f"{module.__name__}: no PAGE_FIELDS entry mentions {missing}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rpartition(".")[2])
def test_each_test_of_a_module_is_in_its_table(module: types.ModuleType) -> None:
    listed = {name for names in table_of(module).values() for name in names}
    tests = {name for name, value in vars(module).items()
             if name.startswith("test_") and isinstance(value, types.FunctionType)}
    assert tests - listed == {"test_every_page_field_has_a_test"}


def test_the_check_finds_a_missing_test_and_an_empty_entry() -> None:
    def test_real() -> None: ...

    namespace = {"test_real": test_real, "helper": len}
    table = {"a": ("test_real",), "b": (), "c": ("test_gone",), "d": ("helper",)}
    assert page_table_gaps(table, namespace) == [
        "'b': no test named",
        "'c': test_gone is not a test function of the module",
        "'d': helper is not a test function of the module",
    ]
    assert page_table_gaps({}, namespace) == ["the table is empty"]
