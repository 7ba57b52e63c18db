"""The `transfer` fault: the world asks the leader to hand leadership to a follower.

The target is resolved as the fault starts (a random follower, the running follower with
the shortest log, or a named node); with no leader nothing happens and the trace says so;
the campaign the leader asked for is no disruption; swarm draws the kind from a die of its
own; and every mistake in a file is one located line.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from checkers.verdict import Verdict
from raftsim import api
from scenarios import loader, swarm
from scenarios.loader import ScenarioError
from scenarios.model import FAULT_KINDS, NemesisSpec
from scenarios.resolve import resolve
from sim.world import run_scenario

BASE = """\
name = "transfer"
duration_ms = 6000

[cluster]
nodes = 3

[phases]
quiet_ms = 3000
"""


def _run(faults: str, seed: int = 1) -> tuple[list[dict[str, Any]], Any]:
    scenario = loader.with_seed(loader.parse(BASE + faults, "transfer.toml"), seed)
    result = run_scenario(scenario)
    events = [json.loads(line) for line in result.trace_text.splitlines()]
    return events, result


def _faults(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for event in events if event["ev"] == "fault" and event["kind"] == "transfer"]


def _leaders(events: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """(time, node, term) of each node taking the leader's role."""
    return [(e["t"], e["node"], e["term"]) for e in events if e["ev"] == "role" and e["role"] == "leader"]


def test_a_transfer_hands_leadership_to_the_named_follower() -> None:
    events, _ = _run('[[faults]]\nkind = "transfer"\ntarget = [2]\nstart_ms = 2000\nduration_ms = 500\n')
    (line,) = _faults(events)
    first_leader, first_term = _leaders(events)[0][1:]
    assert first_leader != 2, "pick a seed whose first leader is another node"
    assert (line["leader"], line["term"], line["to"], line["nodes"]) == (first_leader, first_term, 2, [first_leader, 2])
    later = [(node, term) for t, node, term in _leaders(events) if t >= 2_000_000]
    # One round trip later the target leads the next term; nobody else campaigned.
    assert later[0] == (2, first_term + 1)
    heal = [e for e in events if e["ev"] == "heal" and e["id"] == line["id"]]
    assert heal and heal[0]["t"] == 2_500_000 and heal[0]["kind"] == "transfer"


def test_a_lagging_target_is_the_node_just_back_from_a_partition_and_is_caught_up_first() -> None:
    faults = (
        '[[faults]]\nkind = "partition"\ntarget = [3]\nstart_ms = 1500\nduration_ms = 2000\n'
        '[[faults]]\nkind = "transfer"\ntarget = "lagging"\nstart_ms = 3500\nduration_ms = 0\n'
    )
    events, result = _run(faults)
    (line,) = _faults(events)
    assert line["to"] == 3 and line["leader"] != 3
    leaders = [(node, term) for t, node, term in _leaders(events) if t >= 3_500_000]
    assert leaders[0] == (3, line["term"] + 1)
    assert result.invariants is not None and result.invariants.violation is None


def test_without_a_leader_the_transfer_does_nothing_and_says_so() -> None:
    faults = (
        '[[faults]]\nkind = "crash"\ntarget = "all"\nstart_ms = 2000\nduration_ms = 1000\n'
        '[[faults]]\nkind = "transfer"\nstart_ms = 2500\nduration_ms = 0\n'
    )
    events, _ = _run(faults)
    (line,) = _faults(events)
    assert line["leader"] is None and line["to"] is None and line["nodes"] == []


def test_a_cluster_handing_over_again_and_again_passes_every_checker() -> None:
    # Three seconds apart: each leader has led longer than the disruption checker's stable
    # window (two election timeouts at most) when it is asked to hand over.
    faults = "".join(
        f'[[faults]]\nkind = "transfer"\ntarget = "{target}"\nstart_ms = {start}\nduration_ms = 0\n'
        for start, target in ((3000, "random"), (6000, "lagging"), (9000, "random"))
    )
    text = BASE.replace("duration_ms = 6000", "duration_ms = 10000") + faults
    run = api.run(loader.with_seed(loader.parse(text, "transfer.toml"), 3), None, budget_s=60)
    assert run.verdict.verdict is Verdict.VALID, run.verdict.checkers
    events = [json.loads(line) for line in run.result.trace_text.splitlines()]
    # With PreVote and CheckQuorum on, each handover begins a term over a healthy leader,
    # which the disruption checker excuses only because the leader was asked to step aside.
    assert len([leader for leader in _leaders(events) if leader[0] >= 3_000_000]) == 3


def test_swarm_draws_transfer_from_its_own_die_and_the_other_seeds_draw_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = loader.load("swarm")
    now = {seed: swarm.draw(loader.with_seed(base, seed)) for seed in range(40)}
    taking = [seed for seed, drawn in now.items() if "transfer" in drawn.nemesis.kinds]
    assert 5 < len(taking) < 35
    assert any(fault.kind == "transfer" for fault in resolve(loader.with_seed(base, taking[0])).faults)
    monkeypatch.setattr(swarm, "LATER_FAULT_KINDS", {})
    for seed, drawn in now.items():
        before = swarm.draw(loader.with_seed(base, seed))
        if seed in taking:
            kinds = tuple(kind for kind in drawn.nemesis.kinds if kind != "transfer")
            drawn = dataclasses.replace(drawn, nemesis=dataclasses.replace(drawn.nemesis, kinds=kinds))
        assert before == drawn, seed


def test_a_random_nemesis_draws_transfers_only_when_named() -> None:
    assert "transfer" not in NemesisSpec().kinds and NemesisSpec().kinds == FAULT_KINDS
    named = BASE + '[nemesis]\nmode = "random"\nkinds = ["transfer"]\ninterval_ms = 500\n'
    faults = resolve(loader.with_seed(loader.parse(named, "t.toml"), 2)).faults
    assert faults and {fault.kind for fault in faults} == {"transfer"}
    assert {fault.target for fault in faults} <= {"random", "lagging"}


FAULT = '[[faults]]\nkind = "{kind}"\nstart_ms = 1000\nduration_ms = 0\n'


@pytest.mark.parametrize(
    ("extra", "kind", "expected"),
    [
        (
            'target = "leader"\n',
            "transfer",
            'transfer.toml:13: faults[0].target: a transfer hands leadership to one node: give "random", "lagging"',
        ),
        ('target = "all"\n', "transfer", "transfer.toml:13: faults[0].target: a transfer hands leadership to one node"),
        (
            "target = [1, 2]\n",
            "transfer",
            "transfer.toml:13: faults[0].target: a transfer hands leadership to one node",
        ),
        (
            'target = "lagging"\n',
            "crash",
            'transfer.toml:13: faults[0].target: "lagging" names the target of a transfer fault only',
        ),
        (
            "loss = 0.5\n",
            "transfer",
            "transfer.toml:13: faults[0].loss: has no effect on a transfer fault (it uses target)",
        ),
        ("target = [4]\n", "transfer", "transfer.toml:13: faults[0].target: node 4 does not exist"),
        ('target = "somebody"\n', "transfer", "transfer.toml:13: faults[0].target: 'somebody' is not one of"),
    ],
)
def test_mistakes_in_a_transfer_fault_are_one_located_line(extra: str, kind: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        loader.parse(BASE + FAULT.format(kind=kind) + extra, "transfer.toml")
    message = str(caught.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_a_transfer_fault_reads_back_as_written() -> None:
    for target in ('"random"', '"lagging"', "[2]"):
        scenario = loader.parse(BASE + FAULT.format(kind="transfer") + f"target = {target}\n", "t.toml")
        assert loader.parse(loader.to_toml(scenario), "again.toml") == scenario


def test_the_disruption_checker_excuses_only_the_leader_asked_in_its_term() -> None:
    from checkers.disruption import DisruptionSettings, check_disruption

    def role(t_s: float, node: int, name: str, term: int, leader: int = 0) -> dict[str, Any]:
        return {"t": int(t_s * 1e6), "ev": "role", "node": node, "role": name, "term": term, "leader": leader}

    def transfer(leader: int, term: int) -> dict[str, Any]:
        return {"t": 4_000_000, "ev": "fault", "id": 0, "kind": "transfer", "leader": leader, "term": term, "to": 3}

    start = {"t": 0, "ev": "start", "scenario": "t", "seed": 1, "nodes": [1, 2, 3], "clients": 1}
    elected = [role(1.0, 1, "candidate", 2), role(1.001, 1, "leader", 2, 1)]
    elected += [role(1.002, node, "follower", 2, 1) for node in (2, 3)]
    settings = DisruptionSettings(2_000_000, 0, 0.0, heartbeats_per_lease=10)
    campaign = role(4.01, 3, "candidate", 3)
    for line, disruptions in ((transfer(1, 2), 0), (transfer(1, 1), 1), (transfer(2, 2), 1), (None, 1)):
        events = [start, *elected, *([line] if line else []), campaign]
        assert check_disruption(events, settings).stats["disruptions"] == disruptions, line
