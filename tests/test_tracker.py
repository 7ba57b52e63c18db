"""Joint quorums against brute force over every subset, the ProgressTracker's answers, and
the node's use of them: learners, local events stepped as messages, membership values."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftcore.quorum import JointConfig, MajorityConfig, VoteResult, majority
from raftcore.raft import RaftNode
from raftcore.tracker import ProgressTracker
from raftcore.types import Config, Entry, Membership, Message, MessageType, PersistedState, Ready, Role

# ---- brute-force twins: every subset of voters ----


def quorums(voters: Sequence[int]) -> list[tuple[int, ...]]:
    """Every subset of `voters` large enough to decide alone."""
    size = majority(len(voters))
    return [group for count in range(size, len(voters) + 1) for group in itertools.combinations(voters, count)]


def brute_committed(incoming: Sequence[int], outgoing: Sequence[int], match: dict[int, int]) -> int:
    """The largest index that some quorum of each set holds in full (outgoing empty: no
    constraint from it)."""
    best = 0
    outgoing_quorums = quorums(outgoing) if outgoing else [()]
    for first in quorums(incoming):
        for second in outgoing_quorums:
            holders = first + second
            best = max(best, min(match[voter] for voter in holders))
    return best


def brute_vote(incoming: Sequence[int], outgoing: Sequence[int], votes: dict[int, bool]) -> VoteResult:
    """WON when a quorum of each set granted; LOST when some set has no quorum left that
    could still grant; else PENDING."""
    sets = [incoming, outgoing] if outgoing else [incoming]
    won = all(any(all(votes.get(v) is True for v in group) for group in quorums(voters)) for voters in sets)
    possible = all(any(all(votes.get(v) is not False for v in group) for group in quorums(voters)) for voters in sets)
    if won:
        return VoteResult.WON
    return VoteResult.PENDING if possible else VoteResult.LOST


ids = st.lists(st.integers(1, 9), min_size=1, max_size=6, unique=True).map(sorted)
maybe_ids = st.lists(st.integers(1, 9), max_size=6, unique=True).map(sorted)


@given(ids, maybe_ids, st.data())
def test_joint_committed_index_matches_every_pair_of_quorums(
    incoming: list[int], outgoing: list[int], data: st.DataObject
) -> None:
    voters = sorted(set(incoming) | set(outgoing))
    match = {voter: data.draw(st.integers(0, 12), label=f"match {voter}") for voter in voters}
    joint = JointConfig(MajorityConfig.of(incoming), MajorityConfig.of(outgoing))
    assert joint.committed_index(match.__getitem__) == brute_committed(incoming, outgoing, match)


@given(ids, maybe_ids, st.data())
def test_joint_vote_result_matches_every_pair_of_quorums(
    incoming: list[int], outgoing: list[int], data: st.DataObject
) -> None:
    voters = sorted(set(incoming) | set(outgoing))
    answers = {voter: data.draw(st.sampled_from([None, True, False]), label=f"vote {voter}") for voter in voters}
    votes = {voter: answer for voter, answer in answers.items() if answer is not None}
    joint = JointConfig(MajorityConfig.of(incoming), MajorityConfig.of(outgoing))
    assert joint.vote_result(votes) is brute_vote(incoming, outgoing, votes)


@given(ids, st.data())
def test_an_empty_outgoing_set_is_the_plain_majority(voters: list[int], data: st.DataObject) -> None:
    match = {voter: data.draw(st.integers(0, 12)) for voter in voters}
    votes = {voter: data.draw(st.booleans()) for voter in voters if data.draw(st.booleans())}
    plain = MajorityConfig.of(voters)
    joint = JointConfig(plain)
    assert joint.committed_index(match.__getitem__) == plain.committed_index(match.__getitem__)
    assert joint.vote_result(votes) is plain.vote_result(votes)
    assert joint.voter_ids() == tuple(voters)


def test_a_joint_decision_needs_both_sets() -> None:
    joint = JointConfig(MajorityConfig.of([1, 2, 3]), MajorityConfig.of([3, 4, 5]))
    match = {1: 7, 2: 7, 3: 2, 4: 5, 5: 5}
    assert joint.committed_index(match.__getitem__) == 5, "incoming holds 7, outgoing only 5"
    assert joint.vote_result({1: True, 2: True}) is VoteResult.PENDING, "outgoing has not answered"
    assert joint.vote_result({1: True, 2: True, 4: False, 5: False}) is VoteResult.LOST
    assert joint.vote_result({1: True, 3: True, 4: True}) is VoteResult.WON
    assert joint.voter_ids() == (1, 2, 3, 4, 5)


# ---- the tracker ----


def tracker(voters: Iterable[int], learners: Iterable[int] = (), outgoing: Iterable[int] = ()) -> ProgressTracker:
    return ProgressTracker(Membership(frozenset(voters), frozenset(learners), frozenset(outgoing)))


def test_learners_are_members_that_never_count() -> None:
    progress_tracker = tracker({3, 1, 2}, learners={5, 4})
    assert progress_tracker.member_ids == (1, 2, 3, 4, 5)
    assert progress_tracker.voter_ids == (1, 2, 3)
    assert progress_tracker.is_member(4)
    assert not progress_tracker.is_voter(4)
    progress_tracker.reset_progress(next_index=1)
    assert [member for member, _ in progress_tracker.visit()] == [1, 2, 3, 4, 5], "id order"
    for member, index in ((1, 9), (4, 9), (5, 9), (2, 1), (3, 1)):
        progress_tracker.progress[member].maybe_update(index)
    assert progress_tracker.committed() == 1, "two learners at 9 do not make a majority"
    progress_tracker.record_vote(4, True)
    progress_tracker.record_vote(5, True)
    progress_tracker.record_vote(1, True)
    assert progress_tracker.vote_result() is VoteResult.PENDING
    progress_tracker.progress[1].recent_active = True
    progress_tracker.progress[4].recent_active = True
    progress_tracker.progress[5].recent_active = True
    assert not progress_tracker.quorum_active(), "active learners are no quorum"
    progress_tracker.progress[2].recent_active = True
    assert progress_tracker.quorum_active()


def test_only_a_voters_first_answer_counts() -> None:
    progress_tracker = tracker({1, 2, 3})
    progress_tracker.record_vote(2, False)
    progress_tracker.record_vote(2, True)
    progress_tracker.record_vote(3, False)
    assert progress_tracker.tally_votes() == (0, 2, VoteResult.LOST)
    progress_tracker.reset_votes()
    assert progress_tracker.tally_votes() == (0, 0, VoteResult.PENDING)


def test_a_joint_tracker_commits_only_what_both_sets_hold() -> None:
    progress_tracker = tracker({1, 2, 3}, outgoing={1, 4, 5})
    progress_tracker.reset_progress(next_index=1)
    for member, index in ((1, 6), (2, 6), (3, 6), (4, 2), (5, 0)):
        progress_tracker.progress[member].maybe_update(index)
    assert progress_tracker.committed() == 2
    progress_tracker.progress[5].maybe_update(6)
    assert progress_tracker.committed() == 6


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"voters": frozenset()}, "at least one voter"),
        ({"voters": frozenset({0, 1})}, "node ids start at 1"),
        ({"voters": frozenset({1, 2}), "learners": frozenset({2})}, r"nodes \[2\] cannot be voters and learners"),
        ({"voters": frozenset({1}), "learners": frozenset({3}), "voters_outgoing": frozenset({3})}, "learners"),
    ],
)
def test_a_bad_membership_is_refused(arguments: dict[str, frozenset[int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Membership(**arguments)


def test_a_config_takes_peers_or_a_membership_but_not_both() -> None:
    membership = Membership(frozenset({1, 2, 3}))
    assert Config(1, (3, 1, 2)).initial_membership() == membership, "peers are all voters"
    assert Config(2, membership=membership).initial_membership() is membership
    with pytest.raises(ValueError, match="not both"):
        Config(1, (1, 2, 3), membership=membership)
    with pytest.raises(ValueError, match="must include the node itself"):
        Config(4, membership=membership)
    assert Config(4, membership=Membership(frozenset({1}), learners=frozenset({4}))).node_id == 4


# ---- the node ----


def start(node_id: int, membership: Membership) -> RaftNode:
    return RaftNode(Config(node_id, membership=membership), PersistedState(), random.Random(node_id))


def drain(raft: RaftNode) -> Ready:
    ready = raft.ready()
    raft.advance(ready)
    return ready


def test_local_events_are_stepped_as_messages() -> None:
    raft = start(1, Membership(frozenset({1})))
    assert raft.role is Role.FOLLOWER
    raft.step(Message(MessageType.HUP, 1, 1, 0))
    assert raft.role is Role.LEADER, "a lone voter wins its own election"
    drain(raft)
    raft.step(Message(MessageType.PROPOSE, 1, 1, 0, entries=(Entry(0, 0, "x"),)))
    assert raft.log_entries()[-1] == Entry(raft.term, 2, "x"), "the leader gives it term and index"
    assert raft.propose("y") == Entry(raft.term, 3, "y")


def test_a_follower_drops_a_proposal() -> None:
    raft = start(1, Membership(frozenset({1, 2, 3})))
    assert raft.propose("x") is None
    raft.step(Message(MessageType.PROPOSE, 1, 1, 0, entries=(Entry(0, 0, "x"),)))
    assert raft.last_index == 0
    assert not raft.has_ready()


def test_a_learner_never_stands_but_is_replicated_to() -> None:
    membership = Membership(frozenset({1}), learners=frozenset({2}))
    learner = start(2, membership)
    for _ in range(3 * learner.config.election_ticks):
        learner.tick()
    learner.campaign()
    assert learner.role is Role.FOLLOWER
    assert learner.term == 0, "a learner never starts an election"
    leader = start(1, membership)
    leader.campaign()
    assert leader.role is Role.LEADER, "the learner's vote is not needed"
    messages = drain(leader).messages
    assert [(message.type, message.to) for message in messages] == [(MessageType.APPEND, 2)]
    assert leader.commit_index == 1, "the leader's own write is the whole quorum"


def test_a_message_has_no_context_unless_given_one() -> None:
    message = Message(MessageType.HEARTBEAT, 1, 2, 3)
    assert message.context is None
    assert message == Message(MessageType.HEARTBEAT, 1, 2, 3, context=None)
    assert message._replace(context=b"read-1") != message
