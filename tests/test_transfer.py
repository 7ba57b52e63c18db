"""Leadership transfer in raftcore (`RaftNode.transfer_leadership`), after etcd-io/raft:
the leader catches the target up, sends it TIMEOUT_NOW, and the target wins a campaign that
voters grant even within a leader's lease; proposals are refused meanwhile, and the transfer
is given up after an election timeout or a newer request."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from mvcc_support import ask, settle

from raftcore.bugs import TRANSFER_SKIPS_LOG_CHECK
from raftcore.raft import RaftNode
from raftcore.server import KVServer, Request, Response
from raftcore.types import (
    LOCAL_MESSAGE_TYPES,
    NO_NODE,
    TRANSFER_CAMPAIGN,
    Config,
    Entry,
    HardState,
    Membership,
    Message,
    MessageType,
    PersistedState,
    Ready,
    Role,
)
from reports.html import MESSAGE_COLOURS

TIMEOUT_NOW = MessageType.TIMEOUT_NOW
TRANSFER_LEADER = MessageType.TRANSFER_LEADER


@dataclass
class Cluster:
    """Hosts for a few nodes: persist, send (unless cut), apply, in that order; messages
    are delivered in send order."""

    nodes: dict[int, RaftNode]
    queue: list[Message] = field(default_factory=list)
    cut: set[int] = field(default_factory=set)
    sent: list[Message] = field(default_factory=list)
    hard_states: dict[int, HardState] = field(default_factory=dict)
    logs: dict[int, list[Entry]] = field(default_factory=dict)

    @classmethod
    def of(cls, count: int = 3, membership: Membership | None = None, **options: object) -> Cluster:
        ids = tuple(range(1, count + 1))
        nodes = {}
        for node_id in ids:
            peers = () if membership else ids
            config = Config(node_id=node_id, peers=peers, membership=membership, **options)  # type: ignore[arg-type]
            nodes[node_id] = RaftNode(config, PersistedState(), random.Random(node_id))
        return cls(nodes)

    def handle(self, node_id: int) -> Ready:
        node = self.nodes[node_id]
        ready = node.ready()
        if ready.hard_state is not None:
            self.hard_states[node_id] = ready.hard_state
        if ready.entries:
            log = self.logs.setdefault(node_id, [])
            del log[ready.entries[0].index - 1 :]
            log.extend(ready.entries)
        self.sent.extend(ready.messages)
        self.queue.extend(m for m in ready.messages if not {m.sender, m.to} & self.cut)
        node.advance(ready)
        return ready

    def restart(self, node_id: int) -> None:
        old = self.nodes[node_id]
        state = PersistedState(self.hard_states.get(node_id, HardState()), tuple(self.logs.get(node_id, ())))
        self.nodes[node_id] = RaftNode(old.config, state, random.Random(node_id + 100))
        self.queue = [m for m in self.queue if m.to != node_id]

    def stabilize(self) -> None:
        for _ in range(200):
            busy = False
            for node_id, node in self.nodes.items():
                if node.has_ready():
                    self.handle(node_id)
                    busy = True
            queue, self.queue = self.queue, []
            for message in queue:
                busy = True
                self.nodes[message.to].step(message)
            if not busy:
                return
        raise AssertionError("no fixed point")

    def tick(self, node_id: int, count: int = 1) -> None:
        for _ in range(count):
            self.nodes[node_id].tick()
            self.stabilize()

    def leader(self) -> int:
        leaders = [i for i, node in self.nodes.items() if node.role is Role.LEADER]
        assert len(leaders) <= 1, leaders
        return leaders[0] if leaders else NO_NODE

    def elect_by_ticks(self) -> int:
        """Tick every node until one leads (what a lease cluster needs: a fresh voter
        refuses votes for an election timeout)."""
        for _ in range(100):
            for node_id in self.nodes:
                self.nodes[node_id].tick()
            self.stabilize()
            if self.leader():
                return self.leader()
        raise AssertionError("nobody was elected")


def elected(count: int = 3, **options: object) -> Cluster:
    cluster = Cluster.of(count, **options)
    cluster.nodes[1].campaign()
    cluster.stabilize()
    assert cluster.leader() == 1
    return cluster


def test_transfer_to_an_up_to_date_follower_takes_one_round_trip() -> None:
    cluster = elected()
    old_term = cluster.nodes[1].term
    cluster.nodes[1].transfer_leadership(2)
    assert cluster.nodes[1].lead_transferee == 2
    ready = cluster.handle(1)
    assert [(m.type, m.to) for m in ready.messages] == [(TIMEOUT_NOW, 2)]
    # TIMEOUT_NOW in; the target campaigns without a pre-election.
    cluster.nodes[2].step(cluster.queue.pop(0))
    assert cluster.nodes[2].role is Role.CANDIDATE
    votes = cluster.handle(2).messages
    assert {(m.type, m.to, m.context) for m in votes} == {
        (MessageType.VOTE, 1, TRANSFER_CAMPAIGN),
        (MessageType.VOTE, 3, TRANSFER_CAMPAIGN),
    }
    cluster.stabilize()
    assert cluster.leader() == 2
    assert cluster.nodes[2].term == old_term + 1
    assert all(node.leader_id == 2 for node in cluster.nodes.values())
    # Both voters had heard from leader 1 within the election timeout (CheckQuorum on), and
    # granted the vote all the same.
    assert cluster.nodes[1].vote == 2 and cluster.nodes[3].vote == 2
    assert cluster.nodes[1].lead_transferee == NO_NODE


def test_transfer_to_a_lagging_follower_catches_it_up_first() -> None:
    cluster = elected()
    cluster.cut = {3}
    for number in range(5):
        assert cluster.nodes[1].propose(f"x{number}") is not None
    cluster.stabilize()
    cluster.cut = set()
    last = cluster.nodes[1].last_index
    assert cluster.nodes[3].last_index < last
    cluster.nodes[1].transfer_leadership(3)
    since = len(cluster.sent)
    first = cluster.handle(1).messages
    assert [m.type for m in first if m.to == 3] == [MessageType.APPEND]
    assert TIMEOUT_NOW not in [m.type for m in first]
    # While the target catches up, proposals are refused.
    assert cluster.nodes[1].propose("refused") is None
    cluster.stabilize()
    flow = [(m.type, m.sender, m.to) for m in cluster.sent[since:] if 3 in (m.sender, m.to)]
    timeout_now = flow.index((TIMEOUT_NOW, 1, 3))
    # Appends and their answers (a probe may be rejected first), then TIMEOUT_NOW.
    catch_up = flow[:timeout_now]
    assert catch_up[0] == (MessageType.APPEND, 1, 3) and catch_up[-1] == (MessageType.APPEND_RESPONSE, 3, 1)
    assert {kind for kind, _, _ in catch_up} == {MessageType.APPEND, MessageType.APPEND_RESPONSE}
    assert flow.count((TIMEOUT_NOW, 1, 3)) == 1
    assert cluster.leader() == 3
    assert cluster.nodes[3].last_index >= last
    assert "refused" not in [entry.data for entry in cluster.nodes[3].log_entries()]


def lagging_third(**options: object) -> tuple[Cluster, int]:
    """Leader 1 commits five entries with node 2 while node 3 is cut off; the link comes
    back. Returns the cluster and the last committed index, which node 3 lacks."""
    cluster = elected(**options)
    cluster.cut = {3}
    for number in range(5):
        assert cluster.nodes[1].propose(f"x{number}") is not None
    cluster.stabilize()
    cluster.cut = set()
    committed = cluster.nodes[1].commit_index
    assert committed == cluster.nodes[1].last_index > cluster.nodes[3].last_index
    return cluster, committed


def test_the_planted_bug_hands_over_blindly_and_the_lagging_target_overwrites_committed_entries() -> None:
    cluster, committed = lagging_third(bugs=frozenset({TRANSFER_SKIPS_LOG_CHECK}))
    cluster.nodes[1].transfer_leadership(3)
    # TIMEOUT_NOW at once, no append to catch the target up first.
    assert [(m.type, m.to) for m in cluster.handle(1).messages] == [(TIMEOUT_NOW, 3)]
    cluster.stabilize()
    # Both voters granted the transfer campaign a vote though its log is behind theirs.
    assert cluster.leader() == 3
    assert cluster.nodes[1].vote == 3 and cluster.nodes[2].vote == 3
    kept = [entry.data for entry in cluster.nodes[2].log_entries()]
    assert not {f"x{number}" for number in range(5)} & set(kept), "the committed entries were overwritten"
    assert cluster.nodes[2].last_index <= committed


def test_the_planted_bug_keeps_the_log_check_for_a_campaign_nobody_asked_for() -> None:
    cluster, _ = lagging_third(bugs=frozenset({TRANSFER_SKIPS_LOG_CHECK}), check_quorum=False)
    cluster.nodes[3].campaign()
    cluster.stabilize()
    assert cluster.nodes[3].role is not Role.LEADER
    assert cluster.nodes[2].vote != 3


def test_proposals_are_refused_while_a_transfer_is_pending() -> None:
    cluster = elected()
    cluster.cut = {2}
    cluster.nodes[1].transfer_leadership(2)
    last = cluster.nodes[1].last_index
    assert cluster.nodes[1].propose("x") is None
    assert cluster.nodes[1].last_index == last


def test_the_kv_server_answers_not_leader_during_a_transfer() -> None:
    servers = {
        node_id: KVServer(Config(node_id=node_id, peers=(1, 2, 3)), PersistedState(), random.Random(node_id))
        for node_id in (1, 2, 3)
    }
    cluster = Cluster({node_id: server.node for node_id, server in servers.items()})
    cluster.nodes[1].campaign()
    cluster.stabilize()
    cluster.cut = {2}
    cluster.nodes[1].transfer_leadership(2)
    answer = servers[1].submit(Request("r1", "client-1", "put", "k", "v"))
    assert isinstance(answer, Response)
    assert answer.error == "not-leader"
    # The hint names where leadership is going, not the leader that refuses.
    assert answer.leader_hint == 2


def test_a_transfer_is_given_up_after_an_election_timeout() -> None:
    cluster = elected()
    cluster.cut = {2}
    leader = cluster.nodes[1]
    leader.transfer_leadership(2)
    cluster.stabilize()
    cluster.tick(1, leader.config.election_ticks - 1)
    assert leader.lead_transferee == 2
    assert leader.propose("too early") is None
    cluster.tick(1)
    assert leader.role is Role.LEADER, "node 3 kept the quorum alive"
    assert leader.lead_transferee == NO_NODE
    assert leader.propose("after") is not None


def test_a_transfer_to_another_node_replaces_the_pending_one() -> None:
    cluster = elected()
    cluster.cut = {2}
    leader = cluster.nodes[1]
    leader.transfer_leadership(2)
    cluster.stabilize()
    leader.transfer_leadership(3)
    assert leader.lead_transferee == 3
    cluster.stabilize()
    assert cluster.leader() == 3


def test_a_repeated_request_for_the_pending_target_is_ignored() -> None:
    cluster = elected()
    cluster.cut = {2}
    leader = cluster.nodes[1]
    leader.transfer_leadership(2)
    assert [m.type for m in cluster.handle(1).messages] == [TIMEOUT_NOW]
    cluster.tick(1, 3)
    leader.transfer_leadership(2)
    assert not leader.has_ready() or TIMEOUT_NOW not in [m.type for m in cluster.handle(1).messages]
    # The timeout runs from the first request: it was not restarted.
    cluster.tick(1, leader.config.election_ticks - 3)
    assert leader.lead_transferee == NO_NODE


def test_a_transfer_to_self_an_unknown_node_or_a_learner_is_ignored() -> None:
    membership = Membership(voters=frozenset({1, 2, 3}), learners=frozenset({4}))
    cluster = Cluster.of(4, membership=membership)
    cluster.nodes[1].campaign()
    cluster.stabilize()
    leader = cluster.nodes[1]
    for target in (1, 4, 9):
        leader.transfer_leadership(target)
        assert leader.lead_transferee == NO_NODE
        assert not leader.has_ready()
    assert leader.propose("x") is not None


def test_a_transfer_to_self_ends_a_pending_one() -> None:
    cluster = elected()
    cluster.cut = {2}
    leader = cluster.nodes[1]
    leader.transfer_leadership(2)
    leader.transfer_leadership(1)
    assert leader.lead_transferee == NO_NODE
    assert leader.propose("x") is not None


def test_a_follower_forwards_the_request_to_its_leader() -> None:
    cluster = elected()
    cluster.nodes[3].transfer_leadership(2)
    forwarded = cluster.handle(3).messages
    assert [(m.type, m.sender, m.to, m.log_index) for m in forwarded] == [(TRANSFER_LEADER, 3, 1, 2)]
    cluster.stabilize()
    assert cluster.leader() == 2


def test_a_follower_without_a_leader_drops_the_request() -> None:
    cluster = Cluster.of(3)
    cluster.nodes[2].transfer_leadership(3)
    assert not cluster.nodes[2].has_ready() or not cluster.handle(2).messages


def test_a_plain_campaign_is_still_refused_within_the_lease() -> None:
    cluster = elected(pre_vote=False)
    term = cluster.nodes[1].term
    cluster.nodes[2].campaign()
    cluster.stabilize()
    assert cluster.leader() in (1, NO_NODE)
    assert cluster.nodes[3].term == term and cluster.nodes[3].vote == 1


def test_lease_voters_grant_a_transfer_vote_and_the_old_leader_reads_with_rounds_from_then_on() -> None:
    cluster = Cluster.of(3, read_only="lease")
    old = cluster.elect_by_ticks()
    leader = cluster.nodes[old]
    for _ in range(3):
        cluster.tick(old)
    leader.read_index("before")
    assert [state.context for state in cluster.handle(old).read_states] == ["before"], "served under the lease"
    target, other = (node_id for node_id in cluster.nodes if node_id != old)
    assert cluster.nodes[other]._in_leader_lease()
    # The TIMEOUT_NOW leaves but is held back: from now on the old leader cannot count
    # on its lease, since the target may campaign whenever the message arrives.
    cluster.cut = {target}
    leader.transfer_leadership(target)
    held = [m for m in cluster.handle(old).messages if m.type is TIMEOUT_NOW]
    assert len(held) == 1
    cluster.stabilize()
    cluster.tick(old, leader.config.election_ticks)
    assert leader.role is Role.LEADER and leader.lead_transferee == NO_NODE, "the transfer was given up"
    leader.read_index("after")
    assert not cluster.handle(old).read_states, "no read under the lease once a TIMEOUT_NOW left"
    cluster.cut = set()
    cluster.stabilize()
    # The late TIMEOUT_NOW still elects the target: voters in the lease grant the vote.
    assert cluster.nodes[other]._in_leader_lease()
    cluster.nodes[target].step(held[0])
    cluster.stabilize()
    assert cluster.leader() == target
    assert cluster.nodes[other].vote == target


def test_a_restarted_voter_that_forgot_its_leader_grants_a_transfer_vote() -> None:
    cluster = Cluster.of(3, read_only="lease")
    old = cluster.elect_by_ticks()
    target, other = (node_id for node_id in cluster.nodes if node_id != old)
    cluster.restart(other)
    assert cluster.nodes[other]._in_leader_lease(), "a fresh lease voter refuses ordinary votes"
    cluster.nodes[old].transfer_leadership(target)
    cluster.stabilize()
    assert cluster.leader() == target
    assert cluster.nodes[other].vote == target


def test_a_learner_ignores_timeout_now() -> None:
    membership = Membership(voters=frozenset({1, 2, 3}), learners=frozenset({4}))
    cluster = Cluster.of(4, membership=membership)
    cluster.nodes[1].campaign()
    cluster.stabilize()
    learner = cluster.nodes[4]
    learner.step(Message(TIMEOUT_NOW, 1, 4, cluster.nodes[1].term))
    assert learner.role is Role.FOLLOWER and learner.leader_id == 1


def test_a_lease_revoke_refused_during_a_transfer_is_tried_again_next_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config(node_id=1, peers=(1,), tick_ms=100, election_ticks=10)
    server = KVServer(config, PersistedState(), random.Random(1))
    for _ in range(30):
        server.tick()
        settle(server)
    granted = ask(server, Request.etcd("g", "c1", "lease-grant", {"TTL": 2}))
    lease_id = int(granted.value["ID"])
    # A lone node cannot hand over leadership; refuse its proposals as a transfer would.
    monkeypatch.setattr(server.node, "propose", lambda data: None)
    for _ in range(60):
        assert server.tick() == []
        settle(server)
    monkeypatch.undo()
    revoked = server.tick()
    assert [lease for lease, _ in revoked] == [lease_id]


def test_every_message_type_a_node_sends_has_a_colour_in_the_message_diagram() -> None:
    sent = [kind.value for kind in MessageType if kind not in LOCAL_MESSAGE_TYPES]
    assert "timeout-now" in sent and "transfer-leader" in sent
    assert [kind for kind in sent if kind not in MESSAGE_COLOURS] == []
