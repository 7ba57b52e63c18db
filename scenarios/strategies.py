"""Hypothesis strategies that build valid scenarios and fault schedules.

For use in anyone's tests: `scenarios()` gives whole scenarios (small by default, so a run
takes a second or two), `faults(nodes, duration_ms)` a schedule for a cluster. Everything
drawn passes the loader's validation, so a generated scenario written with `to_toml` reads
back equal. Hypothesis shrinks them like any other value: fewer faults, shorter runs.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from scenarios.model import (
    CLOCK_MODES,
    DISK_EFFECTS,
    FAULT_KINDS,
    MAX_STROBE_FLIPS,
    PARTITION_SHAPES,
    TARGET_WORDS,
    TRANSFER_TARGETS,
    ClusterSpec,
    FaultSpec,
    NetworkSpec,
    PhasesSpec,
    Scenario,
    WorkloadSpec,
)


def targets(nodes: int) -> st.SearchStrategy[str | tuple[int, ...]]:
    ids = list(range(1, nodes + 1))
    listed = st.lists(st.sampled_from(ids), min_size=1, max_size=nodes, unique=True).map(
        lambda chosen: tuple(sorted(chosen))
    )
    return st.one_of(st.sampled_from(TARGET_WORDS), listed)


@st.composite
def fault(draw: st.DrawFn, nodes: int, duration_ms: int) -> FaultSpec:
    """A fault that sets only the fields its kind acts on, as the loader requires."""
    kind = draw(st.sampled_from((*FAULT_KINDS, "transfer")))
    start_ms = draw(st.integers(0, max(0, duration_ms - 1)))
    base = FaultSpec(kind=kind, start_ms=start_ms, duration_ms=draw(st.integers(0, duration_ms)))
    if kind == "partition":
        shape = draw(st.sampled_from(PARTITION_SHAPES))
        target = draw(st.one_of(st.sampled_from(("random", "leader")), st.integers(1, nodes).map(lambda n: (n,))))
        return replace(
            base, shape=shape, one_way=draw(st.booleans()), target=target if shape == "isolate-node" else "random"
        )
    if kind == "transfer":
        target = draw(st.one_of(st.sampled_from(TRANSFER_TARGETS), st.integers(1, nodes).map(lambda n: (n,))))
        return replace(base, target=target)
    if kind == "link":
        return replace(
            base, loss=draw(st.sampled_from((0.0, 0.1, 0.5))), duplicate=draw(st.sampled_from((0.0, 0.1, 0.5)))
        )
    base = replace(base, target=draw(targets(nodes)))
    if kind == "clock":
        mode = draw(st.sampled_from(CLOCK_MODES))
        if mode == "set":
            drift_ppm = draw(st.integers(-900_000, 1_000_000))
            return replace(base, drift_ppm=drift_ppm, offset_ms=draw(st.integers(-5000, 5000)))
        delta_ms = draw(st.integers(-5000, 5000).filter(bool))
        if mode == "bump":
            return replace(base, mode=mode, delta_ms=delta_ms)
        period_ms = draw(st.integers(max(1, -(-base.duration_ms // MAX_STROBE_FLIPS)), 2000))
        return replace(base, mode=mode, delta_ms=delta_ms, strobe_period_ms=period_ms)
    if kind == "disk":
        effect = draw(st.sampled_from(DISK_EFFECTS))
        if effect != "slow":
            return replace(base, effect=effect)
        return replace(base, slow_factor=draw(st.integers(1, 100)))
    if kind == "delay":
        return replace(base, delay_ms=draw(st.integers(1, 5000)), share=draw(st.sampled_from((0.1, 0.5, 1.0))))
    return base


def faults(nodes: int, duration_ms: int, max_faults: int = 6) -> st.SearchStrategy[tuple[FaultSpec, ...]]:
    return st.lists(fault(nodes, duration_ms), max_size=max_faults).map(
        lambda listed: tuple(sorted(listed, key=lambda f: (f.start_ms, f.kind)))
    )


@st.composite
def scenarios(draw: st.DrawFn, max_duration_ms: int = 6000, max_nodes: int = 5) -> Scenario:
    nodes = draw(st.integers(1, max_nodes))
    duration_ms = draw(st.integers(1000, max_duration_ms))
    election_ticks = draw(st.integers(5, 20))
    return Scenario(
        name="generated",
        description="drawn by scenarios.strategies",
        seed=draw(st.integers(0, 2**32)),
        duration_ms=duration_ms,
        cluster=ClusterSpec(
            nodes=nodes,
            tick_ms=draw(st.sampled_from((20, 50, 100))),
            election_ticks=election_ticks,
            heartbeat_ticks=draw(st.integers(1, max(1, election_ticks // 5))),
            pre_vote=draw(st.booleans()),
            check_quorum=draw(st.booleans()),
            max_entries_per_message=draw(st.sampled_from((1, 8, 64))),
        ),
        network=NetworkSpec(
            latency_us=draw(st.integers(100, 2000)),
            jitter_us=draw(st.integers(0, 2000)),
            loss=draw(st.sampled_from((0.0, 0.01))),
            duplicate=draw(st.sampled_from((0.0, 0.01))),
        ),
        workload=WorkloadSpec(
            clients=draw(st.integers(1, 4)), keys=draw(st.integers(1, 3)), rate=draw(st.sampled_from((20, 50, 100)))
        ),
        faults=draw(faults(nodes, duration_ms)),
        phases=PhasesSpec(quiet_ms=draw(st.integers(3000, 6000))),
    )
