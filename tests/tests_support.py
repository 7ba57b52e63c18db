"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from scenarios import loader
from scenarios.model import Scenario


def shortened(name: str, duration_ms: int = 8000, quiet_ms: int = 4000) -> Scenario:
    """A built-in scenario cut short; faults past the new end are dropped."""
    scenario = loader.load(name)
    return dataclasses.replace(
        scenario,
        duration_ms=duration_ms,
        faults=tuple(f for f in scenario.faults if f.start_ms < duration_ms),
        phases=dataclasses.replace(scenario.phases, quiet_ms=quiet_ms),
    )


def shortened_file(folder: Path, name: str, duration_ms: int = 8000, quiet_ms: int = 4000) -> Path:
    path = folder / f"short-{name}.toml"
    scenario = dataclasses.replace(shortened(name, duration_ms, quiet_ms), name=f"short-{name}")
    path.write_text(loader.to_toml(scenario), encoding="utf-8")
    return path
