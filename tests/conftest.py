"""Shared fixtures: short scenario files, so end-to-end tests stay quick."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests_support import shortened_file


@pytest.fixture
def short_mixed_file(tmp_path: Path) -> Path:
    return shortened_file(tmp_path, "mixed")
