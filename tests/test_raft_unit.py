"""Unit tests for raftcore's pieces: bugs registry, quorum arithmetic (against brute-force
twins), the log's marks and conflict rules, progress, and the node's Ready contract."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftcore.bugs import (
    BUGS,
    COMMIT_OLD_TERM,
    LOG_DAMAGING_BUGS,
    RESTART_SKIPS_APPLY,
    SEND_BEFORE_PERSIST,
    STALE_LOCAL_READ,
    validate_bugs,
)
from raftcore.kv import Command
from raftcore.log import RaftLog
from raftcore.progress import MAX_INFLIGHT_MESSAGES, Progress, ProgressState
from raftcore.quorum import VoteResult, committed_index, vote_result
from raftcore.raft import RaftNode
from raftcore.types import (
    NO_NODE,
    Config,
    Entry,
    HardState,
    Message,
    MessageType,
    PersistedState,
    Ready,
    Role,
)


def entries(*terms: int, start: int = 1) -> tuple[Entry, ...]:
    return tuple(Entry(term, start + offset, f"e{start + offset}") for offset, term in enumerate(terms))


def node(
    node_id: int = 1,
    peers: tuple[int, ...] = (1, 2, 3),
    state: PersistedState | None = None,
    **options: object,
) -> RaftNode:
    config = Config(node_id=node_id, peers=peers, **options)  # type: ignore[arg-type]
    return RaftNode(config, state or PersistedState(), random.Random(node_id))


def drain(raft: RaftNode) -> Ready:
    ready = raft.ready()
    raft.advance(ready)
    return ready


# ---- bugs ----


def test_the_registry_names_at_least_ten_bugs_with_descriptions() -> None:
    assert {COMMIT_OLD_TERM, SEND_BEFORE_PERSIST, STALE_LOCAL_READ} <= set(BUGS)
    assert len(BUGS) >= 10
    assert all(len(description) > 20 for description in BUGS.values())


def test_validate_bugs_accepts_known_and_refuses_unknown_names() -> None:
    assert validate_bugs([COMMIT_OLD_TERM]) == frozenset({COMMIT_OLD_TERM})
    with pytest.raises(ValueError, match=r"unknown bug 'typo'; known: .*commit-old-term, "):
        validate_bugs([COMMIT_OLD_TERM, "typo"])
    with pytest.raises(ValueError, match="unknown bug"):
        node(bugs=frozenset({"typo"}))


# ---- quorum, against brute force ----


@given(st.lists(st.integers(0, 20), min_size=1, max_size=7))
def test_committed_index_is_the_highest_index_a_majority_holds(matches: list[int]) -> None:
    majority = len(matches) // 2 + 1
    reference = max(i for i in range(0, 21) if sum(m >= i for m in matches) >= majority)
    assert committed_index(matches) == reference


@given(st.integers(1, 7).flatmap(lambda n: st.lists(st.sampled_from([None, True, False]), min_size=n, max_size=n)))
def test_vote_result_matches_counting_every_completion(answers: list[bool | None]) -> None:
    voters = list(range(1, len(answers) + 1))
    votes = {voter: answer for voter, answer in zip(voters, answers, strict=True) if answer is not None}
    majority = len(voters) // 2 + 1
    missing = answers.count(None)
    outcomes = {
        sum(answers[i] is True for i in range(len(answers))) + extra >= majority for extra in range(missing + 1)
    }
    expected = (
        VoteResult.PENDING if outcomes == {True, False} else VoteResult.WON if True in outcomes else VoteResult.LOST
    )
    assert vote_result(voters, votes) is expected


# ---- the log ----


def test_find_conflict_by_term_skips_a_divergent_tail() -> None:
    # Follower log of etcd's example: terms 1 3 3 4 4 5 5 5 6 at indexes 1..9.
    log = RaftLog(entries(1, 3, 3, 4, 4, 5, 5, 5, 6))
    assert log.find_conflict_by_term(8, 3) == (3, 3)
    assert log.find_conflict_by_term(9, 6) == (9, 6)
    assert log.find_conflict_by_term(5, 2) == (1, 1)
    assert log.find_conflict_by_term(5, 0) == (0, 0)
    assert log.find_conflict_by_term(12, 7) == (12, 0)


def test_maybe_append_keeps_matching_entries_and_truncates_a_conflict() -> None:
    log = RaftLog(entries(1, 1, 1, 1))
    assert log.maybe_append(2, 1, entries(1, start=3), commit=1) == 3
    assert log.last_index == 4, "a duplicate append must not cut entries behind it"
    assert log.maybe_append(2, 1, entries(2, 2, start=3), commit=2) == 4
    assert [entry.term for entry in log.all_entries()] == [1, 1, 2, 2]
    assert log.committed == 2
    assert log.stable_index == log.in_progress_index == 2, "the host's copy from 3 on is stale"
    assert log.maybe_append(4, 1, (), commit=4) == -1, "previous entry does not match"


def test_truncation_of_entries_in_flight_to_disk() -> None:
    log = RaftLog(entries(1))
    log.append(entries(1, 1, start=2))
    assert log.take_unstable() == entries(1, 1, start=2)
    assert (log.stable_index, log.in_progress_index) == (1, 3)
    log.append(entries(2, 2, start=3))  # a new leader overwrites entry 3 while it is written
    assert (log.stable_index, log.in_progress_index) == (1, 2)
    log.stable_to_in_progress()  # the write of 2..3 finished: 2 is good, 3 is not
    assert log.stable_index == 2
    assert log.take_unstable() == entries(2, 2, start=3)


def test_committed_entries_are_never_truncated_and_commit_never_falls() -> None:
    log = RaftLog(entries(1, 1, 1), committed=2)
    log.commit_to(1)
    assert log.committed == 2
    with pytest.raises(AssertionError, match="committed"):
        log.append(entries(2, start=2))
    with pytest.raises(AssertionError, match="beyond log end"):
        log.commit_to(4)


def test_a_persisted_commit_beyond_the_log_is_refused_unless_a_log_damaging_bug_is_on() -> None:
    state = PersistedState(HardState(term=1, vote=1, commit=5), entries(1, 1))
    with pytest.raises(AssertionError, match="beyond log end"):
        node(state=state)
    # A bug that cannot damage the log must not silence the log's own checks.
    for harmless in (STALE_LOCAL_READ, RESTART_SKIPS_APPLY):
        with pytest.raises(AssertionError, match="beyond log end"):
            node(state=state, bugs=frozenset({harmless}))
    assert node(state=state, bugs=frozenset({SEND_BEFORE_PERSIST})).commit_index == 2
    assert node(state=state, bugs=frozenset({STALE_LOCAL_READ, COMMIT_OLD_TERM})).commit_index == 2


def test_log_damaging_bugs_are_known_raft_bugs() -> None:
    assert len(set(LOG_DAMAGING_BUGS)) == len(LOG_DAMAGING_BUGS)
    assert set(LOG_DAMAGING_BUGS) <= set(BUGS)
    assert STALE_LOCAL_READ not in LOG_DAMAGING_BUGS
    assert RESTART_SKIPS_APPLY not in LOG_DAMAGING_BUGS


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"node_id": 0}, "node ids start at 1"),
        ({"node_id": 4}, "must include the node itself"),
        ({"peers": (1, 2, 2)}, "must be distinct"),
        ({"heartbeat_ticks": 0}, "heartbeat_ticks must be at least 1"),
        ({"election_ticks": 1}, r"election_ticks \(1\) must exceed heartbeat_ticks \(1\)"),
        ({"max_entries_per_message": 0}, "max_entries_per_message must be at least 1"),
    ],
)
def test_a_bad_config_is_refused_with_a_value_error(options: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"node_id": 1, "peers": (1, 2, 3), **options}
    with pytest.raises(ValueError, match=message):
        Config(**arguments)  # type: ignore[arg-type]


def test_a_bad_command_is_refused_with_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown operation 'increment'; known: get, put"):
        Command("r1", "increment", "k")
    with pytest.raises(ValueError, match="request id"):
        Command("", "put", "k", 1)
    assert Command.decode(Command("r1", "cas", "k", 2, 1).encode()) == Command("r1", "cas", "k", 2, 1)


# ---- progress ----


def test_probe_sends_one_append_then_waits() -> None:
    progress = Progress(match=0, next_index=5)
    progress.sent_entries(2, 6)
    assert progress.is_paused() and progress.next == 5, "probing does not advance next"
    assert not progress.maybe_decrement_to(rejected=3, match_hint=1), "stale rejection"
    assert progress.maybe_decrement_to(rejected=4, match_hint=1)
    assert progress.next == 2 and not progress.is_paused()


def test_replicate_streams_until_the_window_is_full() -> None:
    progress = Progress(match=0, next_index=1)
    assert progress.maybe_update(3)
    progress.become_replicate()
    for sent in range(MAX_INFLIGHT_MESSAGES):
        assert not progress.is_paused()
        progress.sent_entries(1, 4 + sent)
    assert progress.is_paused() and progress.state is ProgressState.REPLICATE
    progress.free_inflights_up_to(5)
    assert progress.inflight_count == MAX_INFLIGHT_MESSAGES - 2
    assert not progress.maybe_decrement_to(rejected=3, match_hint=0), "at or below match"
    assert progress.maybe_decrement_to(rejected=9, match_hint=0)
    assert progress.next == progress.match + 1


# ---- the node ----


def test_election_timeouts_are_drawn_from_the_node_random() -> None:
    timeouts = {node(peers=(1,), election_ticks=10).randomized_election_timeout_ticks}
    for seed in range(50):
        raft = RaftNode(Config(1, (1, 2, 3)), PersistedState(), random.Random(seed))
        timeouts.add(raft.randomized_election_timeout_ticks)
    assert min(timeouts) >= 10 and max(timeouts) < 20 and len(timeouts) > 5


def test_a_lone_node_elects_itself_by_ticking_and_commits_after_its_write() -> None:
    raft = node(peers=(1,))
    for _ in range(20):
        raft.tick()
    assert raft.role is Role.LEADER and raft.term == 1
    first = drain(raft)
    assert first.entries == (Entry(1, 1, ""),) and first.committed_entries == ()
    assert raft.commit_index == 1, "its own write is done once advance() returns"
    assert drain(raft).committed_entries == (Entry(1, 1, ""),)
    assert not raft.has_ready()


def test_ready_twice_without_advance_is_refused() -> None:
    raft = node()
    raft.campaign()
    ready = raft.ready()
    assert not raft.has_ready(), "nothing more is handed out until advance()"
    with pytest.raises(AssertionError, match="advance"):
        raft.ready()
    with pytest.raises(AssertionError, match="outstanding"):
        raft.advance(Ready(None, None, (), (), ()))
    raft.advance(ready)


def test_a_follower_votes_once_per_term_and_only_for_an_up_to_date_log() -> None:
    raft = node(2, state=PersistedState(HardState(term=1), entries(1, 1)), pre_vote=False)
    request = Message(MessageType.VOTE, 1, 2, term=2, log_index=1, log_term=1)
    raft.step(request)
    assert drain(raft).messages[0].reject, "candidate's log is shorter"
    raft.step(Message(MessageType.VOTE, 3, 2, term=2, log_index=2, log_term=1))
    ready = drain(raft)
    assert ready.hard_state == HardState(term=2, vote=3, commit=0)
    assert not ready.messages[0].reject
    raft.step(Message(MessageType.VOTE, 1, 2, term=2, log_index=5, log_term=1))
    assert drain(raft).messages[0].reject, "already voted for 3 in term 2"
    raft.step(Message(MessageType.VOTE, 3, 2, term=2, log_index=2, log_term=1))
    assert not drain(raft).messages[0].reject, "a repeated request gets the same answer"


def test_a_pre_vote_changes_neither_term_nor_vote() -> None:
    raft = node(2, state=PersistedState(HardState(term=3, vote=2)), check_quorum=False)
    raft.step(Message(MessageType.PRE_VOTE, 1, 2, term=4, log_index=0, log_term=0))
    ready = drain(raft)
    assert ready.hard_state is None
    assert ready.messages == (Message(MessageType.PRE_VOTE_RESPONSE, 2, 1, term=4),)
    assert (raft.term, raft.vote) == (3, 2)


def test_a_follower_within_its_leader_lease_ignores_a_later_term_vote() -> None:
    raft = node(2, check_quorum=True, pre_vote=False)
    raft.step(Message(MessageType.HEARTBEAT, 1, 2, term=1))
    drain(raft)
    raft.step(Message(MessageType.VOTE, 3, 2, term=5, log_index=9, log_term=4))
    assert (raft.term, raft.leader_id) == (1, 1)
    assert not raft.has_ready()


def test_a_stale_leader_is_told_the_newer_term() -> None:
    raft = node(2, state=PersistedState(HardState(term=5)), check_quorum=True)
    raft.step(Message(MessageType.APPEND, 1, 2, term=3, log_index=0, log_term=0))
    assert drain(raft).messages == (Message(MessageType.APPEND_RESPONSE, 2, 1, term=5),)


def test_the_leader_counts_its_own_entries_only_once_they_are_on_disk() -> None:
    leader = elect_three_node_leader()
    entry = leader.propose("x")
    assert entry == Entry(1, 2, "x")
    ready = leader.ready()
    assert ready.entries == (Entry(1, 1, ""), entry)
    leader.step(Message(MessageType.APPEND_RESPONSE, 2, 1, term=1, log_index=2))
    assert leader.commit_index == 0, "one follower is no majority while the leader writes"
    leader.advance(ready)
    assert leader.commit_index == 2
    assert drain(leader).committed_entries == (Entry(1, 1, ""), entry)


def test_only_entries_of_the_current_term_are_committed_by_counting() -> None:
    for bugs, expected_commit in ((frozenset(), 0), (frozenset({COMMIT_OLD_TERM}), 1)):
        state = PersistedState(HardState(term=1, vote=1), entries(1))
        leader = node(state=state, pre_vote=False, bugs=bugs)
        leader.campaign()
        leader.step(Message(MessageType.VOTE_RESPONSE, 2, 1, term=2))
        assert leader.role is Role.LEADER
        drain(leader)  # its empty entry 2 of term 2 is on its disk
        leader.step(Message(MessageType.APPEND_RESPONSE, 2, 1, term=2, log_index=1))
        assert leader.commit_index == expected_commit


def test_heartbeats_never_carry_a_commit_beyond_what_the_follower_holds() -> None:
    leader = elect_three_node_leader()
    drain(leader)
    leader.step(Message(MessageType.APPEND_RESPONSE, 2, 1, term=1, log_index=1))
    drain(leader)
    assert leader.commit_index == 1
    # The first round skips node 2, which an append reached since; the second does not.
    for _ in range(2 * leader.config.heartbeat_ticks):
        leader.tick()
    commits = {m.to: m.commit for m in drain(leader).messages if m.type is MessageType.HEARTBEAT}
    assert commits == {2: 1, 3: 0}


def appends_to(ready: Ready) -> list[Message]:
    return [message for message in ready.messages if message.type is MessageType.APPEND]


def test_proposals_stepped_before_a_ready_travel_in_one_append_per_follower() -> None:
    leader = elect_three_node_leader()
    drain(leader)
    for peer in (2, 3):
        leader.step(Message(MessageType.APPEND_RESPONSE, peer, 1, term=1, log_index=1))
    drain(leader)
    for data in ("a", "b", "c"):
        leader.propose(data)
    appends = appends_to(drain(leader))
    assert [message.to for message in appends] == [2, 3]
    for message in appends:
        assert [entry.data for entry in message.entries] == ["a", "b", "c"]


def test_a_commit_advance_sends_no_append_of_its_own_but_rides_on_the_next() -> None:
    leader = elect_three_node_leader()
    drain(leader)
    leader.step(Message(MessageType.APPEND_RESPONSE, 2, 1, term=1, log_index=1))
    assert leader.commit_index == 1
    assert appends_to(drain(leader)) == [], "node 2 holds everything; the commit waits"
    leader.propose("x")
    appends = appends_to(drain(leader))
    # Node 3 is still probing, its first append unanswered: it waits for that answer.
    assert {message.to: message.commit for message in appends} == {2: 1}


def heartbeat_targets(leader: RaftNode) -> list[int]:
    for _ in range(leader.config.heartbeat_ticks):
        leader.tick()
    return [message.to for message in drain(leader).messages if message.type is MessageType.HEARTBEAT]


def test_an_append_stands_in_for_the_next_heartbeat_only_to_a_replicating_follower() -> None:
    leader = elect_three_node_leader()
    drain(leader)
    # Node 2 answers and replicates; node 3 stays in PROBE though an append went to it too.
    leader.step(Message(MessageType.APPEND_RESPONSE, 2, 1, term=1, log_index=1))
    drain(leader)
    assert heartbeat_targets(leader) == [3]
    assert heartbeat_targets(leader) == [2, 3], "no append since the last round"


def test_every_follower_gets_heartbeats_when_the_election_timeout_leaves_no_room() -> None:
    leader = elect_three_node_leader(election_ticks=3, heartbeat_ticks=1)
    drain(leader)
    leader.step(Message(MessageType.APPEND_RESPONSE, 2, 1, term=1, log_index=1))
    drain(leader)
    assert heartbeat_targets(leader) == [2, 3]


def test_a_leader_without_a_quorum_steps_down_after_two_election_timeouts() -> None:
    leader = elect_three_node_leader(check_quorum=True)
    drain(leader)
    leader.step(Message(MessageType.APPEND_RESPONSE, 2, 1, term=1, log_index=1))
    for _ in range(leader.config.election_ticks):
        leader.tick()
    assert leader.role is Role.LEADER, "node 2 answered within the first timeout"
    for _ in range(leader.config.election_ticks):
        leader.tick()
    assert leader.role is Role.FOLLOWER and leader.leader_id == NO_NODE and leader.term == 1


def test_a_restart_hands_every_committed_entry_out_again() -> None:
    state = PersistedState(HardState(term=2, vote=1, commit=2), entries(1, 2, 2))
    raft = node(state=state)
    assert (raft.role, raft.term, raft.vote, raft.applied_index) == (Role.FOLLOWER, 2, 1, 0)
    ready = drain(raft)
    assert ready.committed_entries == entries(1, 2) and ready.entries == ()
    assert ready.hard_state is None


def elect_three_node_leader(**options: object) -> RaftNode:
    leader = node(pre_vote=False, **options)
    leader.campaign()
    leader.step(Message(MessageType.VOTE_RESPONSE, 2, 1, term=1))
    assert leader.role is Role.LEADER
    return leader
