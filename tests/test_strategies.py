"""Generated scenarios: always valid, and every one of them runs deterministically and safely."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from raftsim import api
from scenarios import loader
from scenarios.model import Scenario
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
    checkers = outcome.verdict["checkers"]
    assert checkers["raft-safety"]["valid"] is True, checkers["raft-safety"]["anomalies"][:3]
    assert checkers["linearizability"]["valid"] is True
    assert run_scenario(scenario).digest == outcome.result.digest
