"""Resolving a scenario: drawing its random parts from the seed into explicit values.

The resolved scenario is what a run folder records, so replaying it regenerates nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from scenarios import swarm
from scenarios.model import (
    ALL_FAULT_KINDS,
    CLOCK_MODES,
    DRAWN_TRIGGERS,
    MAX_FAULTS,
    MAX_STROBE_FLIPS,
    PARTITION_SHAPES,
    TRANSFER_TARGETS,
    FaultSpec,
    Scenario,
)
from scenarios.model import problems as problems_of
from scenarios.rng import stream


def resolve(scenario: Scenario) -> Scenario:
    """The scenario with its random fault mix drawn into an explicit schedule, so the file
    written with the run replays without regenerating anything."""
    if scenario.swarm:
        scenario = swarm.draw(scenario)
    if scenario.nemesis.mode == "random":
        scenario = _draw_schedule(scenario)
    _assert_consistent(scenario)
    return scenario


def _draw_schedule(scenario: Scenario) -> Scenario:
    rng = stream(scenario.seed, "schedule")
    nemesis = scenario.nemesis
    faults: list[FaultSpec] = list(scenario.faults)
    kinds = sorted(nemesis.kinds, key=ALL_FAULT_KINDS.index)
    at_ms = int(rng.expovariate(1.0 / nemesis.interval_ms))
    while at_ms < scenario.duration_ms and nemesis.kinds:
        # A burst: several faults starting within a short window of one drawn moment. The
        # plain case (one fault per moment) draws nothing more, as before bursts existed.
        starts = [at_ms]
        if nemesis.burst_faults[1] > 1:
            count = rng.randint(*nemesis.burst_faults)
            starts = sorted(at_ms + rng.randint(0, nemesis.burst_window_ms) for _ in range(count))
        for start_ms in starts:
            if start_ms >= scenario.duration_ms or len(faults) >= MAX_FAULTS:
                break
            kind = rng.choice(kinds)
            length_ms = rng.randint(*nemesis.fault_duration_ms)
            fault = _random_fault(rng, kind, start_ms, length_ms, nemesis.disk_effects)
            # Only a nemesis that times faults by the protocol draws more dice, so every
            # other schedule stays as it was drawn before triggers existed.
            if nemesis.triggered and rng.random() < nemesis.triggered:
                fault = _triggered(rng, fault)
            faults.append(fault)
        at_ms += max(1, int(rng.expovariate(1.0 / nemesis.interval_ms)))
    return dataclasses.replace(
        scenario,
        nemesis=dataclasses.replace(nemesis, mode="schedule"),
        faults=tuple(faults),
    )


def _assert_consistent(resolved: Scenario) -> None:
    """A resolved scenario is what the simulator runs and the run folder records: nothing
    left to draw, and every fault aimed at nodes that exist and starting before the heal."""
    assert not resolved.swarm, "resolved scenarios draw nothing more"
    assert resolved.nemesis.mode == "schedule", "resolved scenarios draw nothing more"
    problems = [p for p in problems_of(resolved) if p.key in ("target", "start_ms")]
    assert not problems, f"resolved scenario {resolved.name!r} seed {resolved.seed}: {problems[0]}"
    assert len(resolved.faults) <= MAX_FAULTS, f"{len(resolved.faults)} faults after resolving"


def _triggered(rng: Any, fault: FaultSpec) -> FaultSpec:
    """`fault` started by the protocol: as a node campaigns or as one wins. A crash or pause
    then takes a wider target, up to every node (the voters as their votes land)."""
    after = rng.choice(DRAWN_TRIGGERS)
    if fault.kind not in ("crash", "pause"):
        return dataclasses.replace(fault, after=after)
    target = rng.choice(("leader", "random", "minority", "majority", "all"))
    return dataclasses.replace(fault, after=after, target=target)


STROBE_PERIODS_MS = (50, 200, 1000)
"""A strobe's drawn flip periods: faster than, about, and slower than an election timeout."""


def _random_clock_fault(rng: Any, start_ms: int, duration_ms: int) -> FaultSpec:
    """A clock set (drift and offset), bumped or strobed. The first three draws are those
    of the clock faults drawn before bumps and strobes existed, and only a clock fault
    draws more, so schedules without one are drawn as they were."""
    target = rng.choice(("random", "leader", "minority"))
    drift_ppm = rng.randint(-500, 500) * 1000
    offset_ms = rng.randint(-5000, 5000)
    mode = rng.choice(CLOCK_MODES)
    if mode == "set":
        return FaultSpec("clock", start_ms, duration_ms, target=target, drift_ppm=drift_ppm, offset_ms=offset_ms)
    delta_ms = offset_ms or 1000  # a jump of 0 would change nothing
    if mode == "bump":
        return FaultSpec("clock", start_ms, duration_ms, target=target, mode=mode, delta_ms=delta_ms)
    period_ms = max(rng.choice(STROBE_PERIODS_MS), -(-duration_ms // MAX_STROBE_FLIPS))
    return FaultSpec(
        "clock", start_ms, duration_ms, target=target, mode=mode, delta_ms=delta_ms, strobe_period_ms=period_ms
    )


def _random_fault(
    rng: Any, kind: str, start_ms: int, duration_ms: int, disk_effects: tuple[str, ...] = ("slow",)
) -> FaultSpec:
    if kind == "partition":
        return FaultSpec(kind, start_ms, duration_ms, shape=rng.choice(PARTITION_SHAPES), one_way=rng.random() < 0.2)
    if kind in ("crash", "pause"):
        target = rng.choice(("random", "leader", "minority"))
        return FaultSpec(kind, start_ms, duration_ms, target=target)
    if kind == "clock":
        return _random_clock_fault(rng, start_ms, duration_ms)
    if kind == "disk":
        target, slow_factor = rng.choice(("random", "leader", "majority")), rng.choice((5, 20, 100))
        # The effect's die is cast only when there is a choice, after the draws of the
        # slow disks drawn before other effects existed, so their schedules stay as drawn.
        effect = rng.choice(disk_effects) if disk_effects != ("slow",) else "slow"
        if effect != "slow":
            return FaultSpec(kind, start_ms, duration_ms, target=target, effect=effect)
        return FaultSpec(kind, start_ms, duration_ms, target=target, slow_factor=slow_factor)
    if kind == "delay":
        return FaultSpec(
            kind,
            start_ms,
            duration_ms,
            target=rng.choice(("random", "leader", "minority", "all")),
            delay_ms=rng.choice((500, 2000, 5000)),
            share=rng.choice((0.1, 0.5, 1.0)),
        )
    if kind == "member":
        return FaultSpec(kind, start_ms, duration_ms, target=rng.choice(("random", "leader")))
    if kind == "transfer":
        return FaultSpec(kind, start_ms, duration_ms, target=rng.choice(TRANSFER_TARGETS))
    assert kind == "link", kind
    return FaultSpec(
        kind, start_ms, duration_ms, loss=round(rng.uniform(0.05, 0.4), 3), duplicate=round(rng.uniform(0.0, 0.2), 3)
    )
