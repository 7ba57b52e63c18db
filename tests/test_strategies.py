"""Generated scenarios: always valid, and every one of them runs deterministically and safely."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.verdict import Verdict
from raftsim import api
from scenarios import loader
from scenarios.model import MAX_NODES, FaultSpec, Scenario, problems
from scenarios.resolve import resolve
from scenarios.strategies import scenarios
from sim.world import run_scenario


@given(scenarios())
def test_generated_scenarios_pass_validation_and_round_trip(scenario: Scenario) -> None:
    assert loader.parse(loader.to_toml(scenario), "generated.toml") == scenario


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_duration_ms=3000))
def test_generated_runs_are_safe_and_repeatable(scenario: Scenario) -> None:
    """No planted bug: whatever the faults, the safety checkers must pass, and the same
    scenario must give the same trace twice."""
    outcome = api.run(scenario, None, budget_s=30)
    checkers = outcome.verdict.checkers
    assert checkers["raft-safety"].verdict is Verdict.VALID, checkers["raft-safety"].found[:3]
    assert checkers["linearizability"].verdict is Verdict.VALID
    assert run_scenario(scenario).digest == outcome.result.digest


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.integers(0, 2**63 - 1), st.sampled_from(loader.builtin_names()), st.integers(0, MAX_NODES), st.booleans())
def test_no_resolved_scenario_names_a_node_that_does_not_exist(seed: int, name: str, named: int, swarm: bool) -> None:
    """Whatever the seed, swarm draw and random schedule: every fault aims at nodes of the
    resolved cluster and starts before the heal (resolve also asserts it)."""
    scenario = loader.with_seed(loader.load(name), seed)
    if named:
        aimed = FaultSpec("crash", 0, 10, target=(named,))
        cluster = (
            scenario.cluster
            if scenario.swarm or swarm
            else dataclasses.replace(scenario.cluster, nodes=max(named, scenario.cluster.nodes))
        )
        scenario = dataclasses.replace(scenario, faults=(*scenario.faults, aimed), cluster=cluster)
    if swarm:
        scenario = dataclasses.replace(scenario, swarm=True)
    resolved = resolve(scenario)
    assert not resolved.swarm and resolved.nemesis.mode == "schedule"
    assert problems(resolved) == []
    for fault in resolved.faults:
        if isinstance(fault.target, tuple):
            assert set(fault.target) <= set(resolved.node_ids), (fault, resolved.cluster.nodes)
        assert fault.start_ms < resolved.duration_ms
    assert resolve(scenario) == resolved
