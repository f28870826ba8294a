"""Fixtures shared by the unit tests."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def scratch_root(tmp_path, monkeypatch) -> Path:
    """Where workspaces put their scratch folders (tempfile's default folder, redirected);
    ``tests.unit.helpers.scratch_folders`` lists what is left there."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root
