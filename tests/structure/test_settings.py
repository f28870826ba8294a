"""Every environment variable cohortflow reads is a field of the one settings object, read
nowhere else, and listed once in the README's settings table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from cohortflow.errors import SettingsError
from cohortflow.settings import PROVIDER_ENV_PREFIX, Settings, env_name, get_settings

PROJECT = Path(__file__).resolve().parents[2]
LIBRARY = PROJECT / "include" / "cohortflow"
#: The provider credential variables, whose names depend on the campaign config.
PROVIDER_VARIABLES = {f"{PROVIDER_ENV_PREFIX}<CONN_ID>_KEY",
                      f"{PROVIDER_ENV_PREFIX}<CONN_ID>_APP_ID"}
SETTINGS_VARIABLES = {env_name(field) for field in Settings.model_fields}


def _readme_table() -> list[str]:
    text = (PROJECT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^\| `(COHORTFLOW_[A-Z0-9_<>]+)` \|", text, flags=re.M)


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = []
    for path in LIBRARY.rglob("*.py"):
        if path.name == "settings.py" and path.parent == LIBRARY:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
                readers.append(f"{path.relative_to(PROJECT)}:{node.lineno}")
    assert not readers, f"environment read outside cohortflow/settings.py: {readers}"


def test_every_variable_the_library_names_is_a_setting() -> None:
    named = {name for path in LIBRARY.rglob("*.py")
             for name in re.findall(r"COHORTFLOW_[A-Z0-9_]+", path.read_text(encoding="utf-8"))}
    unknown = {name for name in named
               if name not in SETTINGS_VARIABLES and not name.startswith(PROVIDER_ENV_PREFIX)
               and name not in ("COHORTFLOW_", "COHORTFLOW_PROVIDER_")}
    assert not unknown, f"variables named in the library but not settings: {sorted(unknown)}"


def test_the_readme_lists_every_setting_once() -> None:
    rows = _readme_table()
    twice = sorted({row for row in rows if rows.count(row) > 1})
    assert not twice, f"listed twice: {twice}"
    assert set(rows) == SETTINGS_VARIABLES | PROVIDER_VARIABLES


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("COHORTFLOW_CHUNK_ROWS", "abc", "COHORTFLOW_CHUNK_ROWS='abc' is not a number of rows"),
    ("COHORTFLOW_SETTLE_SECONDS", "-1", "COHORTFLOW_SETTLE_SECONDS='-1'"),
    ("COHORTFLOW_FAST_PATHS", "perhaps", "COHORTFLOW_FAST_PATHS='perhaps'"),
])
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=re.escape(message)):
        get_settings()


def test_whole_numbers_may_be_written_with_underscores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHORTFLOW_CHUNK_ROWS", "1_000")
    assert get_settings().chunk_rows == 1000
