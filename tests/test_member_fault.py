"""The `member` fault in the simulator: a member removed through a membership change and
replaced by a new, empty one; and the raft-safety checker counting the voters of the
newest membership applied."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest
import simpy
from tests_support import swarm_corner_takers

from checkers.raft_safety import check_raft_safety
from checkers.trace import iter_trace_lines
from checkers.verdict import Verdict
from raftsim import api
from scenarios import loader
from scenarios.model import FaultSpec, Scenario
from sim.client import Client
from sim.network import Network


def test_a_removed_leader_is_replaced_by_a_new_member() -> None:
    base = loader.load("crash-restart")
    scenario = dataclasses.replace(
        base,
        name="member-once",
        duration_ms=8000,
        faults=(FaultSpec("member", 2000, 3000, target="leader"),),
        seed=3,
    )
    outcome = api.run(scenario, None, budget_s=60)
    assert outcome.verdict.verdict is Verdict.VALID, outcome.verdict.failing()
    events = [json.loads(line) for line in outcome.result.trace_text.splitlines()]
    removed = [event["node"] for event in events if event["ev"] == "member-removed"]
    added = [event["node"] for event in events if event["ev"] == "member-added"]
    assert len(removed) == 1 and removed[0] in scenario.node_ids
    assert added == [max(scenario.node_ids) + 1], "a new id, never a removed one"
    changes = [event["change"] for event in events if event["ev"] == "conf-propose"]
    assert changes == [f"remove {removed[0]}", f"add-learner {added[0]}", f"promote {added[0]}"]
    final = [event for event in events if event["ev"] == "conf-apply"][-1]
    expected = sorted({*scenario.node_ids, added[0]} - {removed[0]})
    assert final["voters"] == expected and final["learners"] == []
    # The new node took part: it applied entries, and a removed one emitted nothing after.
    assert any(event["ev"] == "apply" and event["node"] == added[0] for event in events)
    gone_at = next(i for i, event in enumerate(events) if event["ev"] == "member-removed")
    assert not any(event.get("node") == removed[0] and event["ev"] == "append" for event in events[gone_at:])


def test_a_change_the_leader_loses_is_proposed_again_until_applied() -> None:
    """The leader is cut off as the removal reaches it: it takes the change, but never
    commits it. As `etcdctl member remove` is retried after a timeout, the fault proposes
    the removal again to the next leader; only an applied removal is replaced at the heal,
    so the cluster keeps its size (a lost change once counted as done grew it instead)."""
    base = loader.load("crash-restart")
    scenario = dataclasses.replace(
        base,
        name="member-lost",
        duration_ms=12000,
        faults=(
            FaultSpec("partition", 2000, 2500, shape="isolate-leader"),
            FaultSpec("member", 2000, 6000, target=(3,)),
        ),
        seed=1,
    )
    outcome = api.run(scenario, None, budget_s=60)
    assert outcome.verdict.verdict is Verdict.VALID, outcome.verdict.failing()
    events = [json.loads(line) for line in outcome.result.trace_text.splitlines()]
    proposals = [event for event in events if event["ev"] == "conf-propose" and event["change"] == "remove 3"]
    assert len(proposals) >= 2, "the lost removal was proposed again"
    assert proposals[0]["node"] != proposals[-1]["node"], "to the next leader"
    final = [event for event in events if event["ev"] == "conf-apply"][-1]
    assert 3 not in final["voters"] and len(final["voters"]) == len(scenario.node_ids)
    assert final["learners"] == []


def _trace(lines: list[dict[str, object]]) -> list[str]:
    return [json.dumps({"t": number, **line}) for number, line in enumerate(lines)]


def _durability(extra: list[dict[str, object]]) -> Verdict:
    entry = [1, "aaaaaaaaaaaaaaaa"]
    lines = [
        {"ev": "start", "scenario": "x", "seed": 0, "nodes": [1, 2, 3], "clients": 1},
        {"ev": "append", "node": 1, "index": 1, "entries": [entry]},
        {"ev": "append", "node": 2, "index": 1, "entries": [entry]},
        {"ev": "ack", "node": 1, "client": "c0", "request": "r", "index": 1, "term": 1, "digest": entry[1]},
        *extra,
        {"ev": "end"},
    ]
    return check_raft_safety(iter_trace_lines(_trace(lines))).verdict


def test_durability_counts_the_voters_of_the_newest_membership() -> None:
    # Held by 1 and 2: a majority of the three voters.
    assert _durability([]) is Verdict.VALID
    # Node 2 removed and replaced by 4 and 5, which hold nothing: one of four voters holds it.
    changed = [
        {"ev": "member-removed", "node": 2},
        {"ev": "member-added", "node": 4, "voters": [1, 3]},
        {"ev": "conf-apply", "node": 1, "index": 7, "change": "promote 5", "voters": [1, 3, 4, 5], "learners": []},
    ]
    assert _durability(changed) is Verdict.INVALID
    # An older change applied later (a node catching up) does not bring the old voters back.
    older = {"ev": "conf-apply", "node": 3, "index": 5, "change": "remove 2", "voters": [1, 3], "learners": []}
    assert _durability([*changed, older]) is Verdict.INVALID


def test_swarm_draws_member_faults_from_a_stream_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """About a fifth of the seeds add `member` to their random mix (a share of those
    without slow links), and nothing else of any seed's draw moves: with the chance at 0
    every seed draws exactly what it drew before."""

    def without_member(now: Scenario, before: Scenario) -> Scenario:
        assert not now.links
        assert tuple(kind for kind in now.nemesis.kinds if kind != "member") == before.nemesis.kinds
        return dataclasses.replace(now, nemesis=before.nemesis)

    takers = swarm_corner_takers(
        monkeypatch, "MEMBERSHIP", range(1, 201), lambda now: "member" in now.nemesis.kinds, without_member
    )
    assert 25 <= len(takers) <= 65, len(takers)


def test_a_client_whose_node_left_is_rehomed_among_the_members() -> None:
    env = simpy.Environment()
    network = Network(env, random.Random(0))
    client = Client(env, 2, 4, (1, 2, 3), network, random.Random(0), None, None, None, 1000, 100, 10)  # type: ignore[arg-type]
    assert client.home == 3
    client.set_members((1, 3, 4))
    assert client.home == 3, "its node is still a member: it stays"
    client.set_members((1, 2, 4, 5))
    assert client.home == 4, "its slot picks among the members (slot 2 of 4)"
    assert client._next_node(3) == client.home, "a removed node's successor is the home"
    assert client._next_node(2) == 4


def test_a_fault_after_membership_lands_before_the_commit_leaves_the_leader() -> None:
    """`after = "membership"`: the leader is crashed as its commit index passes the removal,
    so no follower has heard the removal committed when the crash comes, and the crashed
    leader never applied it (its host took no Ready after the commit)."""
    base = loader.load("crash-restart")
    scenario = dataclasses.replace(
        base,
        name="member-commit-crash",
        duration_ms=6000,
        faults=(
            FaultSpec("member", 2000, 3000, target=(2,)),
            FaultSpec("crash", 2000, 1500, target="leader", after="membership"),
        ),
        seed=1,
    )
    events = [json.loads(line) for line in api.run(scenario, None, budget_s=60).result.trace_text.splitlines()]
    proposed = next(event for event in events if event["ev"] == "conf-propose")
    crash = next(event for event in events if event["ev"] == "fault" and event["kind"] == "crash")
    assert crash["after"] == "membership" and crash["nodes"] == [proposed["node"]], (crash, proposed)
    before = events[: events.index(crash)]
    learnt = [e for e in before if e["ev"] == "hard_state" and e["commit"] >= proposed["index"]]
    assert not learnt, "no node wrote down the removal committed before the crash"
    assert not [e for e in before if e["ev"] == "conf-apply"], "and none applied it"
    # The removal still takes effect: the followers hold it, and the next leader commits it.
    assert any(e["ev"] == "conf-apply" and e["change"] == "remove 2" for e in events[events.index(crash) :])
