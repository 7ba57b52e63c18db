"""Shared fixtures: short scenario files, so end-to-end tests stay quick; a CPU clock for budgets."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import settings
from tests_support import shortened_file

# Property tests judge results, never speed: a machine busy with other work (CI runs the
# suite on every core at once) must not fail an example for taking long.
settings.register_profile("raftsim", deadline=None)
settings.load_profile("raftsim")


@pytest.fixture
def short_mixed_file(tmp_path: Path) -> Path:
    return shortened_file(tmp_path, "mixed")


@pytest.fixture
def cpu_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Budgets and the test's own stopwatch read this process's CPU time instead of the wall.

    What a budget test holds is that the checker looks at the clock often enough to stop
    within 10% of its budget, whatever phase the work is in. On a shared machine the wall
    clock also counts the time other processes ran, which says nothing about that; CPU time
    counts only the work done between two looks, so the bound holds however loaded the
    machine is.
    """
    monkeypatch.setattr(time, "monotonic", time.process_time)
