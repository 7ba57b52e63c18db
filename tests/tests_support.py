"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

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


def swarm_corner_takers(
    monkeypatch: Any,
    chance: str,
    seeds: Iterable[int],
    takes: Callable[[Scenario], bool],
    undone: Callable[[Scenario, Scenario], Scenario],
) -> list[Scenario]:
    """Swarm draws a corner (snapshots, lying disks, member faults) from a stream of its
    own, at the chance `scenarios.swarm.<chance>`: every seed is drawn with it as it is and
    at 0. A seed that does not take the corner (`takes`) must draw exactly the same both
    ways; one that does must differ only in what `undone(with_it, without_it)` puts back.
    Returns the draws that took it, for the caller's own checks."""
    from scenarios import swarm

    base = loader.load("swarm")
    chosen = list(seeds)
    drawn = [swarm.draw(loader.with_seed(base, seed)) for seed in chosen]
    monkeypatch.setattr(swarm, chance, 0.0)
    takers = []
    for seed, now in zip(chosen, drawn, strict=True):
        before = swarm.draw(loader.with_seed(base, seed))
        if takes(now):
            takers.append(now)
            assert undone(now, before) == before, seed
        else:
            assert now == before, seed
    return takers
