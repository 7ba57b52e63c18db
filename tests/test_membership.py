"""Membership changes in raftcore, as etcd runs them: CONF_CHANGE entries through the log,
applied at apply time (`RaftNode._switch_membership`), one at a time, a learner promoted
only once caught up, a removed leader stepping down, a removed node silent.

The cluster is driven through the interaction harness (`tests/interaction.py`), whose
golden file `conf_change_remove_leader.txt` shows a whole run; these tests pin the rules
one by one, each also on the side where the rule must not fire."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from interaction import HANDLERS, InteractionEnv, parse_directive

from raftcore.bugs import TWO_CONF_CHANGES_IN_FLIGHT
from raftcore.raft import RaftNode
from raftcore.server import KVServer, Request
from raftcore.types import (
    ConfChange,
    ConfChangeType,
    Config,
    Entry,
    EntryKind,
    HardState,
    Membership,
    Message,
    MessageType,
    PersistedState,
    Role,
)

ADD, PROMOTE, REMOVE = ConfChangeType.ADD_LEARNER, ConfChangeType.PROMOTE, ConfChangeType.REMOVE


def run(env: InteractionEnv, *commands: str) -> list[str]:
    env.output = []
    for command in commands:
        directive = parse_directive(command, 0)
        HANDLERS[directive.name](env, directive)
    return env.output


def elected_cluster(*bugs: str) -> InteractionEnv:
    env = InteractionEnv()
    if bugs:
        run(env, "bugs " + " ".join(bugs))
    run(env, "add-nodes 3", "campaign 1", "stabilize")
    leader = env.nodes[1]
    assert leader is not None and leader.role is Role.LEADER
    return env


def node(env: InteractionEnv, node_id: int) -> RaftNode:
    found = env.nodes[node_id]
    assert found is not None
    return found


# ---- the value of a change ----


def test_a_change_travels_as_text_and_back() -> None:
    for kind in ConfChangeType:
        change = ConfChange(kind, 7)
        assert ConfChange.decode(change.encode()) == change
    with pytest.raises(ValueError, match="node ids start at 1"):
        ConfChange(ADD, 0)


def test_refusals_name_what_does_not_fit() -> None:
    three = Membership(frozenset({1, 2, 3}), learners=frozenset({4}))
    assert ConfChange(ADD, 5).refusal(three) is None
    assert ConfChange(ADD, 4).refusal(three) == "4 is already a member"
    assert ConfChange(PROMOTE, 4).refusal(three) is None
    assert ConfChange(PROMOTE, 3).refusal(three) == "3 is not a learner"
    assert ConfChange(REMOVE, 4).refusal(three) is None
    assert ConfChange(REMOVE, 9).refusal(three) == "9 is not a member"
    assert ConfChange(REMOVE, 1).refusal(Membership.of_voters((1,))) == "1 is the last voter"


def test_applying_changes() -> None:
    three = Membership.of_voters((1, 2, 3))
    with_learner = ConfChange(ADD, 4).apply_to(three)
    assert with_learner == Membership(frozenset({1, 2, 3}), frozenset({4}))
    promoted = ConfChange(PROMOTE, 4).apply_to(with_learner)
    assert promoted == Membership.of_voters((1, 2, 3, 4))
    assert ConfChange(REMOVE, 2).apply_to(promoted) == Membership.of_voters((1, 3, 4))
    # Never proposed, left alone rather than broken: a demotion, the last voter removed.
    assert ConfChange(ADD, 1).apply_to(three) == three
    assert ConfChange(REMOVE, 1).apply_to(Membership.of_voters((1,))) == Membership.of_voters((1,))


@st.composite
def life_histories(draw: st.DrawFn) -> list[ConfChange]:
    """Changes of a run: fresh ids only, each added as a learner, perhaps promoted, perhaps
    removed, in that order; original voters 1..3 perhaps removed (never all)."""
    steps: list[tuple[int, list[ConfChange]]] = []
    for node_id in draw(st.lists(st.integers(1, 3), unique=True, max_size=2)):
        steps.append((node_id, [ConfChange(REMOVE, node_id)]))
    for node_id in range(4, 4 + draw(st.integers(0, 4))):
        life = [ConfChange(ADD, node_id)]
        if draw(st.booleans()):
            life.append(ConfChange(PROMOTE, node_id))
        if draw(st.booleans()):
            life.append(ConfChange(REMOVE, node_id))
        steps.append((node_id, life))
    changes: list[ConfChange] = []
    while any(life for _, life in steps):
        alive = [life for _, life in steps if life]
        changes.append(draw(st.sampled_from(alive)).pop(0))
    return changes


@given(life_histories())
def test_a_log_replayed_onto_a_later_membership_ends_in_the_same_one(changes: list[ConfChange]) -> None:
    """A node that joins mid-run starts with the membership it joined and replays the log
    from its start: every prefix's membership, replayed onto, must end where the whole
    log does (ids are never reused, so old changes cannot undo new ones)."""
    memberships = [Membership.of_voters((1, 2, 3))]
    for change in changes:
        memberships.append(change.apply_to(memberships[-1]))
    for base in memberships:
        replayed = base
        for change in changes:
            replayed = change.apply_to(replayed)
        assert replayed == memberships[-1]


# ---- the leader's rules ----


def test_one_change_at_a_time_until_applied() -> None:
    env = elected_cluster()
    assert run(env, "propose-conf-change 1 add-learner 4") == ['proposed 2@1 conf "add-learner 4"']
    assert run(env, "propose-conf-change 1 remove 3") == ["refused: the change at 2 is not applied yet"]
    run(env, "stabilize")
    assert node(env, 1).membership == Membership(frozenset({1, 2, 3}), frozenset({4}))
    assert run(env, "propose-conf-change 1 remove 3") == ['proposed 3@1 conf "remove 3"']


def test_planted_bug_takes_a_second_change_in_flight() -> None:
    env = elected_cluster(TWO_CONF_CHANGES_IN_FLIGHT)
    run(env, "propose-conf-change 1 add-learner 4")
    assert run(env, "propose-conf-change 1 remove 3") == ['proposed 3@1 conf "remove 3"']


def test_a_new_leader_waits_for_what_it_has_not_applied() -> None:
    """etcd sets pendingConfIndex to its last index on election: any entry not applied may
    be a change, and the next one waits for it."""
    env = InteractionEnv()
    run(env, "add-nodes 3 checkquorum=false", "campaign 1", "stabilize")
    run(env, "propose-conf-change 1 add-learner 4", "process-ready 1", "deliver-msgs 2 3", "process-ready 2 3")
    run(env, "crash 1", "campaign 2")
    for _ in range(20):
        if node(env, 2).role is Role.LEADER:
            break
        run(env, "process-ready 2 3", "deliver-msgs 2 3")
    new_leader = node(env, 2)
    assert new_leader.role is Role.LEADER and new_leader.applied_index == 1
    assert new_leader.conf_change_refusal(ConfChange(ADD, 5)) == "the change at 2 is not applied yet"
    run(env, "stabilize 2 3")
    assert new_leader.conf_change_refusal(ConfChange(ADD, 5)) is None
    assert new_leader.membership.learners == frozenset({4})
    # etcd's strict reconfiguration check: with node 1 down, removing node 3 would leave
    # one active voter of two.
    assert new_leader.conf_change_refusal(ConfChange(REMOVE, 3)) == "only 1 of the 2 voters left would be active"
    assert new_leader.conf_change_refusal(ConfChange(REMOVE, 1)) is None


def test_followers_and_non_members_are_refused() -> None:
    env = elected_cluster()
    assert run(env, "propose-conf-change 2 add-learner 4") == ["refused: not leader"]
    assert run(env, "propose-conf-change 1 promote 3") == ["refused: 3 is not a learner"]


def test_a_lagging_learner_is_not_promoted() -> None:
    env = elected_cluster()
    run(env, "propose-conf-change 1 add-learner 4", "stabilize", "add-node 4 from=1")
    for number in range(20):
        run(env, f"propose 1 v{number}")
    run(env, "stabilize 1 2 3")
    assert run(env, "propose-conf-change 1 promote 4") == ["refused: learner 4 has not caught up (0 of 22)"]
    run(env, "stabilize")
    assert run(env, "propose-conf-change 1 promote 4") == ['proposed 23@1 conf "promote 4"']


def test_a_learner_promoted_unawares_votes_for_the_next_leader() -> None:
    """Node 3's promotion commits while it is cut off, and the leader then dies: the
    survivor needs node 3's vote, which node 3, still a learner in its own eyes, must grant
    once it has not heard from a leader for an election timeout. Its timer keeps counting
    (etcd's `promotable` check): set back to zero at each would-be timeout, it would go on
    refusing votes as if it still heard from the dead leader (CheckQuorum's lease)."""
    env = InteractionEnv()
    run(env, "add-nodes 2 checkquorum=true prevote=false", "campaign 1", "stabilize")
    run(env, "propose-conf-change 1 add-learner 3", "stabilize", "add-node 3 from=1", "stabilize")
    run(env, "isolate 3", "propose-conf-change 1 promote 3", "stabilize 1 2", "propose 1 x", "stabilize 1 2")
    run(env, "crash 1", "heal")
    survivor = node(env, 2)
    assert survivor.membership.voters == frozenset({1, 2, 3})
    assert node(env, 3).membership.voters == frozenset({1, 2})
    # Just short of two election timeouts without a leader: a timer set back at the first
    # would-be timeout ([1, 2) election timeouts) would be inside CheckQuorum's lease again.
    run(env, f"tick 3 {2 * survivor.config.election_ticks - 1}", "campaign 2", "stabilize 2 3")
    assert survivor.role is Role.LEADER
    assert node(env, 3).membership.voters == frozenset({1, 2, 3})


def test_a_learner_never_stands() -> None:
    env = elected_cluster()
    run(env, "propose-conf-change 1 add-learner 4", "stabilize", "add-node 4 from=1", "stabilize", "isolate 1")
    assert run(env, "tick 4 100") == []
    assert node(env, 4).role is Role.FOLLOWER


# ---- removal ----


def test_a_removed_follower_is_forgotten_and_ignored() -> None:
    """The leader stops sending to a removed follower at once, so that follower may never
    learn its removal committed (in etcd its peers then tell it it was removed, and it
    stops; the simulator's host does so). Meanwhile it cannot disrupt: here, without
    pre-votes, it raises its term at each campaign, and the members, hearing from their
    leader, ignore its vote requests (CheckQuorum's lease), and the leader its answers."""
    env = InteractionEnv()
    run(env, "add-nodes 3 prevote=false", "campaign 1", "stabilize")
    run(env, "propose-conf-change 1 remove 3", "stabilize", "propose 1 x", "stabilize")
    assert node(env, 1).membership == node(env, 2).membership == Membership.of_voters((1, 2))
    assert node(env, 3).membership == Membership.of_voters((1, 2, 3)), "its removal never reached it committed"
    assert node(env, 1).progress(3) is None and node(env, 1).progress(2) is not None
    terms = (node(env, 1).term, node(env, 2).term)
    run(env, "tick 3 100", "stabilize", "campaign 3", "stabilize")
    assert node(env, 3).term > terms[1], "it campaigned"
    assert (node(env, 1).term, node(env, 2).term) == terms
    assert node(env, 1).role is Role.LEADER


def test_a_node_that_applied_its_own_removal_never_campaigns() -> None:
    membership = Membership.of_voters((1, 2))
    raft = RaftNode(Config(node_id=3, membership=Membership.of_voters((1, 2, 3))), PersistedState(), random.Random(0))
    raft._switch_membership(membership)
    for _ in range(100):
        raft.tick()
    raft.campaign()
    assert raft.role is Role.FOLLOWER and raft.term == 0
    assert not raft.has_ready()


def test_a_removed_leader_steps_down_once_applied_not_before() -> None:
    env = elected_cluster()
    run(env, "propose-conf-change 1 remove 1", "process-ready 1", "deliver-msgs 2 3", "process-ready 2 3")
    assert node(env, 1).role is Role.LEADER, "committed, not applied: still leading"
    run(env, "deliver-msgs 1")
    run(env, "process-ready 1")
    assert node(env, 1).role is Role.FOLLOWER
    assert node(env, 1).membership == Membership.of_voters((2, 3))
    assert run(env, "tick 1 100") == []


def test_a_restarted_node_takes_its_membership_back_from_the_log() -> None:
    entries = (
        Entry(1, 1),
        Entry(1, 2, ConfChange(ADD, 4).encode(), EntryKind.CONF_CHANGE),
        Entry(1, 3, ConfChange(REMOVE, 3).encode(), EntryKind.CONF_CHANGE),
    )
    state = PersistedState(HardState(term=1, vote=1, commit=2), entries)
    raft = RaftNode(Config(node_id=2, peers=(1, 2, 3)), state, random.Random(0))
    assert raft.membership == Membership.of_voters((1, 2, 3)), "until applied, the initial one"
    ready = raft.ready()
    raft.advance(ready)
    # Only the committed change applies: the removal of 3 waits for its commit.
    assert raft.membership == Membership(frozenset({1, 2, 3}), frozenset({4}))


def test_a_node_does_not_stand_with_a_committed_change_unapplied() -> None:
    """etcd's hasUnappliedConfChanges: until it applied a committed change, a node would
    count votes with a membership the cluster already left."""
    entries = (Entry(1, 1), Entry(1, 2, ConfChange(ADD, 4).encode(), EntryKind.CONF_CHANGE))
    committed = PersistedState(HardState(term=1, vote=1, commit=2), entries)
    raft = RaftNode(Config(node_id=2, peers=(1, 2, 3)), committed, random.Random(0))
    raft.campaign()
    assert raft.role is Role.FOLLOWER
    raft.advance(raft.ready())
    raft.campaign()
    assert raft.role is Role.PRE_CANDIDATE
    # An uncommitted change does not hold a campaign back: it may never take effect.
    uncommitted = PersistedState(HardState(term=1, vote=1, commit=1), entries)
    other = RaftNode(Config(node_id=2, peers=(1, 2, 3)), uncommitted, random.Random(0))
    other.advance(other.ready())
    other.campaign()
    assert other.role is Role.PRE_CANDIDATE


def test_the_server_skips_a_change_for_the_store_and_reports_it() -> None:
    server = KVServer(Config(node_id=1, peers=(1,)), PersistedState(), random.Random(0))
    server.node.campaign()
    drain(server)
    entry = server.node.propose_conf_change(ConfChange(ADD, 2))
    assert entry is not None and entry.kind is EntryKind.CONF_CHANGE
    assert server.submit(Request("r1", "c0", "put", "k", "v")) is None
    applied, responses, acknowledgements = drain(server)
    assert applied == [entry.index, entry.index + 1]
    assert server.conf_changes_applied == [(entry.index, ConfChange(ADD, 2))]
    assert [response.request_id for response in responses] == ["r1"]
    assert [ack.index for ack in acknowledgements] == [entry.index + 1]
    assert server.store.applied_index == entry.index + 1
    assert server.node.membership == Membership(frozenset({1}), frozenset({2}))


def drain(server: KVServer) -> tuple[list[int], list[object], list[object]]:
    applied: list[int] = []
    responses: list[object] = []
    acknowledgements: list[object] = []
    for _ in range(10):
        if not server.node.has_ready():
            break
        ready = server.node.ready()
        applied += [entry.index for entry in ready.committed_entries]
        answers, acks = server.apply(ready.committed_entries)
        responses += answers
        acknowledgements += acks
        server.node.advance(ready)
    return applied, responses, acknowledgements


def test_a_lagging_node_hears_a_leader_outside_the_membership_it_applied() -> None:
    """etcd-io/raft takes requests from any node: one that has not applied the change that
    added its leader must still take its appends (and could vote for it), or it could
    never catch up. Answers about progress from a non-member are dropped: the leader
    tracks none for it."""
    stale = RaftNode(Config(node_id=2, peers=(1, 2, 3)), PersistedState(HardState(term=1)), random.Random(0))
    append = Message(MessageType.APPEND, 7, 2, 2, log_index=0, log_term=0, entries=(Entry(2, 1),), commit=0)
    stale.step(append)
    assert stale.leader_id == 7 and stale.term == 2 and stale.last_index == 1
    answers = stale.ready().messages
    assert [(m.type, m.to, m.log_index) for m in answers] == [(MessageType.APPEND_RESPONSE, 7, 1)]
    env = elected_cluster()
    leader = node(env, 1)
    leader.step(Message(MessageType.APPEND_RESPONSE, 9, 1, leader.term + 5, log_index=1))
    assert leader.role is Role.LEADER and leader.term == 1, "a non-member's answer, even of a later term, is dropped"


def test_a_leader_leaving_takes_no_proposals_and_hands_over() -> None:
    """Two voters, and the leader removes itself: it takes no proposals after its removal,
    so the other voter holds its whole log when the removal applies and can be handed
    leadership at once (its vote is the only one the other can get)."""
    env = InteractionEnv()
    run(env, "add-nodes 2", "campaign 1", "stabilize")
    assert run(env, "propose-conf-change 1 remove 1") == ['proposed 2@1 conf "remove 1"']
    assert run(env, "propose 1 late") == ["dropped: not leader"]
    run(env, "stabilize")
    assert node(env, 2).role is Role.LEADER
    assert node(env, 2).membership == Membership.of_voters((2,))
    assert run(env, "propose 2 after") == ['proposed 4@2 "after"']
