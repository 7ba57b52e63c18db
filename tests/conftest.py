"""Shared fixtures: short scenario files, so end-to-end tests stay quick."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from scenarios import loader
from scenarios.model import PhasesSpec, Scenario


def shortened(name: str, duration_ms: int = 8000, quiet_ms: int = 4000) -> Scenario:
    """A built-in scenario cut short; faults past the new end are dropped."""
    scenario = loader.load(name)
    return dataclasses.replace(
        scenario,
        duration_ms=duration_ms,
        faults=tuple(f for f in scenario.faults if f.start_ms < duration_ms),
        phases=dataclasses.replace(scenario.phases, quiet_ms=quiet_ms) if scenario.phases else PhasesSpec(),
    )


@pytest.fixture
def short_mixed_file(tmp_path: Path) -> Path:
    path = tmp_path / "short-mixed.toml"
    scenario = dataclasses.replace(shortened("mixed"), name="short-mixed")
    path.write_text(loader.to_toml(scenario), encoding="utf-8")
    return path
