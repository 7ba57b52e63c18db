"""Reads outside the log: ReadIndex, lease-based reads and serializable reads.

The Raft-level tests drive three pure nodes by hand over a perfect network the test owns,
so they can cut a node off, count messages and tick one node's clock alone. The run-level
tests show what each read mode does under faults: stale reads are flagged exactly where a
read mode promises nothing (serializable reads, a lease whose clock ran slow beyond the
drift bound), and nowhere else.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from checkers.history import Event, without_serializable_reads
from checkers.revisions import check_revisions
from checkers.verdict import Verdict
from raftcore.bugs import LEASE_READ_WITHOUT_CHECK_QUORUM, READ_INDEX_BEFORE_APPLY, READ_INDEX_WITHOUT_HEARTBEAT
from raftcore.raft import RaftNode
from raftcore.read_only import lease_ticks
from raftcore.server import KVServer, Request
from raftcore.types import Config, Message, MessageType, PersistedState, ReadState, Ready, Role
from raftsim import api
from scenarios import loader

HEARTBEAT = MessageType.HEARTBEAT
READ_INDEX = MessageType.READ_INDEX


class Trio:
    """Three nodes; messages wait in `wire` until delivered, and a cut node neither sends
    nor receives."""

    def __init__(self, **options: object) -> None:
        self.nodes = {
            n: RaftNode(Config(node_id=n, peers=(1, 2, 3), **options), PersistedState(), random.Random(n))  # type: ignore[arg-type]
            for n in (1, 2, 3)
        }
        self.wire: list[Message] = []
        self.cut: set[int] = set()
        self.read_states: dict[int, list[ReadState]] = {n: [] for n in self.nodes}
        self.sent: list[Message] = []

    def pump(self) -> None:
        """Drain every Ready and deliver every message until the cluster is quiet."""
        for _ in range(10_000):
            busy = False
            for node_id, raft in self.nodes.items():
                if raft.has_ready():
                    busy = True
                    ready = raft.ready()
                    self.read_states[node_id].extend(ready.read_states)
                    if node_id not in self.cut:
                        self.wire.extend(ready.messages)
                        self.sent.extend(ready.messages)
                    raft.advance(ready)
            if self.wire:
                busy = True
                message, self.wire = self.wire[0], self.wire[1:]
                if message.to not in self.cut:
                    self.nodes[message.to].step(message)
            if not busy:
                return
        raise AssertionError("the cluster never went quiet")

    def elect(self, leader: int) -> RaftNode:
        for raft in self.nodes.values():
            # Under leases a node that just started waits an election timeout before it
            # votes; these have been up for long.
            raft._forgot_leader = False
        self.nodes[leader].campaign()
        self.pump()
        assert self.nodes[leader].role is Role.LEADER
        # The new leader's empty entry commits once a heartbeat tells the followers.
        self.tick(leader)
        return self.nodes[leader]

    def tick(self, *node_ids: int, times: int = 1) -> None:
        for _ in range(times):
            for node_id in node_ids:
                self.nodes[node_id].tick()
            self.pump()


def test_a_read_index_is_the_commit_index_confirmed_by_a_heartbeat_round() -> None:
    trio = Trio()
    leader = trio.elect(1)
    committed = leader.commit_index
    last_before = leader.last_index
    trio.sent.clear()
    assert leader.read_index("r1")
    trio.pump()
    assert trio.read_states[1] == [ReadState(committed, "r1")]
    assert leader.last_index == last_before, "a read appends nothing to the log"
    heartbeats = [message for message in trio.sent if message.type is HEARTBEAT]
    assert {message.to for message in heartbeats} == {2, 3}, "one round to every follower"
    assert len({message.context for message in heartbeats}) == 1


def test_reads_that_arrive_together_share_one_round() -> None:
    trio = Trio()
    leader = trio.elect(1)
    trio.sent.clear()
    assert leader.read_index("a")
    assert leader.read_index("b")
    trio.pump()
    assert [state.context for state in trio.read_states[1]] == ["a", "b"]
    assert sum(message.type is HEARTBEAT for message in trio.sent) == 2


def test_a_cut_off_leader_confirms_no_read_and_a_bug_confirms_it_anyway() -> None:
    for bugs, confirmed in ((frozenset(), False), (frozenset({READ_INDEX_WITHOUT_HEARTBEAT}), True)):
        trio = Trio(bugs=bugs)
        leader = trio.elect(1)
        trio.cut = {2, 3}
        assert leader.read_index("r1")
        trio.tick(1, times=3)
        assert bool(trio.read_states[1]) is confirmed, bugs


def test_a_follower_asks_the_leader_and_reads_at_the_index_it_is_given() -> None:
    trio = Trio()
    leader = trio.elect(1)
    follower = trio.nodes[2]
    assert follower.read_index("f1")
    trio.pump()
    assert any(message.type is READ_INDEX and message.to == 1 for message in trio.sent)
    assert trio.read_states[2] == [ReadState(leader.commit_index, "f1")]


def test_a_node_that_knows_no_leader_refuses_a_read_at_once() -> None:
    trio = Trio()
    assert not trio.nodes[2].read_index("r1")


def test_a_new_leader_confirms_reads_only_after_committing_an_entry_of_its_term() -> None:
    trio = Trio()
    leader = trio.nodes[1]
    leader.campaign()
    # The vote requests go out, the votes come back, but nothing commits yet: read at once.
    for _ in range(6):
        if leader.role is Role.LEADER:
            break
        trio.pump()
    assert leader.role is Role.LEADER
    if leader.log.term(leader.commit_index) != leader.term:
        assert leader.read_index("early")
        assert not trio.read_states[1]
    trio.tick(1, times=2)
    assert leader.log.term(leader.commit_index) == leader.term


def test_the_lease_spares_the_round_while_it_holds_and_only_then() -> None:
    trio = Trio(read_only="lease")
    leader = trio.elect(1)
    trio.sent.clear()
    assert leader.read_index("in-lease")
    trio.pump()
    assert trio.read_states[1], "confirmed by the lease"
    assert not [message for message in trio.sent if message.type is HEARTBEAT], "no round under the lease"
    trio.cut = {2, 3}
    trio.tick(1, times=lease_ticks(10, 0) + 1)
    trio.read_states[1].clear()
    assert leader.read_index("after-lease")
    trio.pump()
    assert leader.role is Role.LEADER
    assert not trio.read_states[1], "the lease ran out; a cut-off leader confirms nothing"


def test_under_the_bug_a_cut_off_leader_reads_under_its_lease_until_it_steps_down() -> None:
    trio = Trio(read_only="lease", bugs=frozenset({LEASE_READ_WITHOUT_CHECK_QUORUM}))
    leader = trio.elect(1)
    trio.cut = {2, 3}
    trio.tick(1, times=lease_ticks(10, 0) + 1)
    assert leader.role is Role.LEADER
    assert leader.read_index("stale")
    trio.pump()
    assert trio.read_states[1], "the planted bug reads under a lease that ran out"


def test_without_check_quorum_a_lease_is_never_used() -> None:
    trio = Trio(read_only="lease", check_quorum=False)
    leader = trio.elect(1)
    trio.cut = {2, 3}
    assert leader.read_index("r1")
    trio.pump()
    assert not trio.read_states[1]


def test_voters_refuse_a_rival_while_the_lease_they_granted_runs() -> None:
    """The lease's premise: a follower that heard from the leader grants no (pre-)vote for an
    election timeout, and under leases neither does one that restarted and forgot it."""
    trio = Trio(read_only="lease")
    trio.elect(1)
    trio.cut = {1}
    trio.nodes[3].campaign()
    trio.pump()
    assert trio.nodes[3].role is not Role.LEADER
    restarted = RaftNode(Config(node_id=2, peers=(1, 2, 3), read_only="lease"), PersistedState(), random.Random(9))
    trio.nodes[2] = restarted
    trio.nodes[3].campaign()
    trio.pump()
    assert trio.nodes[3].role is not Role.LEADER, "a restarted voter waits an election timeout"


@pytest.mark.parametrize(("drift", "expected"), [(0, 9), (50_000, 8), (200_000, 6), (999_999, 0)])
def test_the_lease_is_cut_for_the_drift_bound(drift: int, expected: int) -> None:
    assert lease_ticks(10, drift) == expected


def test_a_bad_read_option_is_refused() -> None:
    with pytest.raises(ValueError, match="read_only"):
        Config(node_id=1, peers=(1,), read_only="eventually")


# ---- the server ----


def test_a_server_serves_a_confirmed_read_once_applied_and_the_bug_serves_it_before() -> None:
    for bugs, served_early in (frozenset(), False), (frozenset({READ_INDEX_BEFORE_APPLY}), True):
        server = KVServer(Config(node_id=2, peers=(1, 2, 3), bugs=bugs), PersistedState(), random.Random(2))
        server.node.step(Message(HEARTBEAT, 1, 2, 1))
        assert server.submit(Request("r1", "c1", "get", "k")) is None, "asked the leader for an index"
        (context,) = [message.context for message in server.node.ready().messages if message.type is READ_INDEX]
        assert isinstance(context, str)
        confirmed = Ready(None, None, (), (), (), read_states=(ReadState(5, context),))
        served = server.serve_reads(confirmed)
        assert bool(served) is served_early, "index 5 is not applied here yet"


def test_a_serializable_read_is_answered_at_once_from_local_state() -> None:
    server = KVServer(Config(node_id=2, peers=(1, 2, 3)), PersistedState(), random.Random(2))
    answer = server.submit(Request("r1", "c1", "get", "k", serializable=True))
    assert answer is not None
    assert answer.succeeded and answer.value is None


def test_a_linearizable_read_at_a_node_without_leader_fails_definitely() -> None:
    server = KVServer(Config(node_id=2, peers=(1, 2, 3)), PersistedState(), random.Random(2))
    answer = server.submit(Request("r1", "c1", "get", "k"))
    assert answer is not None
    assert answer.error == "not-leader"


# ---- runs ----


def _verdict(name: str, seed: int, **workload_options: float) -> tuple[Verdict, set[str]]:
    scenario = dataclasses.replace(loader.load(name), seed=seed)
    if workload_options:
        options = tuple(sorted({**dict(scenario.workload.options), **workload_options}.items()))
        scenario = dataclasses.replace(scenario, workload=dataclasses.replace(scenario.workload, options=options))
    verdict = api.run(scenario, None, budget_s=60).verdict
    return verdict.verdict, set(verdict.failing())


def test_lease_reads_within_the_drift_bound_are_linearizable() -> None:
    for seed in (1, 2):
        assert _verdict("lease-reads", seed) == (Verdict.VALID, set())


def test_a_leader_clock_slow_beyond_the_bound_makes_lease_reads_stale_and_they_are_flagged() -> None:
    verdict, failing = _verdict("lease-reads-skew", 1)
    assert verdict is Verdict.INVALID
    assert "linearizability" in failing


def test_the_same_skew_is_harmless_to_reads_confirmed_by_a_round() -> None:
    scenario = loader.load("lease-reads-skew")
    safe = dataclasses.replace(scenario, seed=1, cluster=dataclasses.replace(scenario.cluster, read_only="safe"))
    assert api.run(safe, None, budget_s=60).verdict.verdict is Verdict.VALID


def test_serializable_reads_under_pauses_are_flagged_as_not_linearizable() -> None:
    flagged = [_verdict("pause", seed, serializable=0.5)[0] is Verdict.INVALID for seed in (1, 2, 3)]
    assert any(flagged), "a paused member's serializable reads lag its peers' writes"


def test_the_same_serializable_reads_judged_as_etcd_promises_them_pass() -> None:
    for seed in (1, 2, 3):
        scenario = dataclasses.replace(loader.load("pause"), seed=seed)
        workload = dataclasses.replace(scenario.workload, options=(("serializable", 0.5),))
        checks = dataclasses.replace(scenario.checks, serializable_reads="revision")
        judged = dataclasses.replace(scenario, workload=workload, checks=checks)
        verdict = api.run(judged, None, budget_s=60).verdict
        assert verdict.verdict is Verdict.VALID, (seed, verdict.failing())


def _event(index: int, process: int, kind: str, f: str, value: object, **extra: object) -> Event:
    return Event(index, index * 10, process, kind, f, "k", value, **extra)  # type: ignore[arg-type]


def test_a_stale_serializable_read_is_left_out_of_linearizability_but_held_to_its_revision() -> None:
    history = [
        _event(0, 0, "invoke", "write", 1),
        _event(1, 0, "ok", "write", 1, revision=2, node=1),
        _event(2, 0, "invoke", "write", 2),
        _event(3, 0, "ok", "write", 2, revision=3, node=1),
        # Stale but true to its revision: the store as of revision 2 held 1.
        _event(4, 1, "invoke", "read", None, serializable=True),
        _event(5, 1, "ok", "read", 1, revision=2, node=3),
    ]
    assert [event.index for event in without_serializable_reads(history)] == [0, 1, 2, 3]
    assert check_revisions(history, stale_serializable=True).verdict is Verdict.VALID
    assert check_revisions(history).verdict is Verdict.INVALID, "asked for linearizability, it is stale"
    # A serializable read that claims revision 3 yet shows the value of revision 2 is wrong
    # under either judgement.
    lying = [*history[:5], _event(5, 1, "ok", "read", 1, revision=3, node=3)]
    assert check_revisions(lying, stale_serializable=True).verdict is Verdict.INVALID


def test_etcd_serializable_ranges_are_flagged_or_judged_by_revision_as_the_scenario_asks(tmp_path: Path) -> None:
    text = (
        'name = "etcd-serializable"\nduration_ms = 12000\n[workload]\nkind = "etcd"\nserializable = 0.5\n'
        '[[faults]]\nkind = "pause"\ntarget = "random"\nstart_ms = 3000\nduration_ms = 3000\n'
        '[[faults]]\nkind = "pause"\ntarget = "random"\nstart_ms = 7000\nduration_ms = 3000\n'
    )
    path = tmp_path / "etcd-serializable.toml"
    path.write_text(text)
    scenario = dataclasses.replace(loader.load(str(path)), seed=1)
    flagged = api.run(scenario, None, budget_s=60).verdict
    assert flagged.verdict is Verdict.INVALID
    assert "linearizability" in flagged.failing()
    checks = dataclasses.replace(scenario.checks, serializable_reads="revision")
    by_revision = dataclasses.replace(scenario, checks=checks)
    assert api.run(by_revision, None, budget_s=60).verdict.verdict is Verdict.VALID


def test_the_timeline_marks_a_serializable_read() -> None:
    from reports.timeline import _bar_from_pair

    invoke = _event(0, 1, "invoke", "read", None, serializable=True)
    bar = _bar_from_pair(0, invoke, _event(1, 1, "ok", "read", 5, revision=2, node=3))
    assert bar.label.endswith("[serializable]")
    assert ("served", "from the member's own state, without a read index") in bar.record
    plain = _bar_from_pair(0, _event(0, 1, "invoke", "read", None), _event(1, 1, "ok", "read", 5, revision=2, node=3))
    assert "serializable" not in plain.label
