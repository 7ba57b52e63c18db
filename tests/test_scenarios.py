"""Scenario files: every built-in loads, round-trips, and every mistake is located."""

from __future__ import annotations

import pytest

from scenarios import loader
from scenarios.loader import ScenarioError
from scenarios.resolve import resolve

GOOD = """\
name = "demo"
duration_ms = 1000

[cluster]
nodes = 3

[[faults]]
kind = "crash"
start_ms = 10
duration_ms = 20
target = [1, 2]
"""


@pytest.mark.parametrize("name", loader.builtin_names())
def test_builtin_scenarios_load_and_round_trip(name: str) -> None:
    scenario = loader.load(name)
    assert scenario.name == name and scenario.description
    resolved = resolve(scenario)
    assert loader.parse(loader.to_toml(resolved), "round-trip") == resolved


def test_required_builtins_exist() -> None:
    expected = {"partition-leader", "partition-halves", "crash-restart", "clock-skew", "pause", "mixed"}
    assert expected <= set(loader.builtin_names())


def test_random_mix_resolves_to_the_same_schedule_for_a_seed() -> None:
    mixed = loader.with_seed(loader.load("mixed"), 7)
    first, second = resolve(mixed), resolve(mixed)
    assert first == second and first.faults and first.nemesis.mode == "schedule"
    assert resolve(loader.with_seed(mixed, 8)).faults != first.faults


@pytest.mark.parametrize(("text", "expected"), [
    (GOOD.replace("nodes = 3", "nodes = 0"), "demo.toml:5: cluster.nodes: 0 is out of range"),
    (GOOD.replace("nodes = 3", "nodes = \"3\""), "demo.toml:5: cluster.nodes: must be an integer"),
    (GOOD.replace("nodes = 3", "nodez = 3"), "demo.toml:5: cluster.nodez: unknown key"),
    (GOOD.replace("target = [1, 2]", "target = [1, 4]"), "demo.toml:11: faults[0].target: node 4 does not exist"),
    (GOOD.replace('kind = "crash"', 'kind = "meteor"'), "demo.toml:8: faults[0].kind: 'meteor' is not one of"),
    (GOOD.replace("start_ms = 10\n", ""), "demo.toml:7: faults[0]: missing field 'start_ms'"),
    (GOOD.replace('name = "demo"', 'name = "demo"\nbugs = ["gremlins"]'), "demo.toml:2: bugs: unknown bug 'gremlins'"),
    (GOOD.replace("[cluster]", "[cluster"), "demo.toml:4: "),
    (GOOD.replace('name = "demo"\n', ""), "demo.toml: name: missing"),
])
def test_mistakes_name_file_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        loader.parse(text, "demo.toml")
    message = str(caught.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_unknown_builtin_lists_the_known_ones() -> None:
    with pytest.raises(ScenarioError, match=r"built-in ones: .*mixed"):
        loader.load("no-such-scenario")
