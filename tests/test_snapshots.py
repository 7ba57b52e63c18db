"""Snapshots and log compaction: the core's snapshot life cycle, the raft-safety checker's
view of snapshots (good and bad traces), and whole simulated runs that compact, send and
restart from snapshots."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
from test_raft_safety import TraceBuilder, good_trace, properties
from tests_support import swarm_corner_takers

from checkers.raft_safety import check_raft_safety
from checkers.verdict import Verdict
from raftcore.raft import RaftNode
from raftcore.types import Config, Entry, HardState, Membership, Message, MessageType, PersistedState, Snapshot
from raftsim import api
from scenarios import loader
from scenarios import swarm as swarm_draw

# -- the core ----------------------------------------------------------------------------


def _leader_with_entries(count: int, catch_up: int = 0) -> RaftNode:
    """A single-voter cluster's leader that applied `count` entries of its own."""
    node = RaftNode(Config(node_id=1, peers=(1,), snapshot_catch_up=catch_up), PersistedState(), random.Random(1))
    node.campaign()
    for index in range(count):
        node.propose(f"w{index}")
    while node.has_ready():
        node.advance(node.ready())
    assert node.applied_index == count + 1  # the leader's empty entry, then the writes
    return node


def test_a_snapshot_compacts_the_log_keeping_catch_up_entries() -> None:
    node = _leader_with_entries(10, catch_up=3)
    snapshot = node.create_snapshot(8, "state")
    assert (snapshot.index, snapshot.term, snapshot.data) == (8, 1, "state")
    assert snapshot.membership == Membership.of_voters((1,))
    assert node.log.first_index == 6  # entries 6, 7 and 8 kept before the snapshot's index
    assert [entry.index for entry in node.log_entries()] == [6, 7, 8, 9, 10, 11]


@pytest.mark.parametrize("index", [0, 12, 20])
def test_a_snapshot_beyond_what_was_applied_is_refused(index: int) -> None:
    node = _leader_with_entries(10)
    with pytest.raises(ValueError, match="must be past"):
        node.create_snapshot(index, "state")


def test_an_older_snapshot_than_the_one_held_is_refused() -> None:
    node = _leader_with_entries(10)
    node.create_snapshot(8, "state")
    with pytest.raises(ValueError, match="past 8"):
        node.create_snapshot(5, "state")


def _follower(log: tuple[Entry, ...], term: int, bugs: frozenset[str] = frozenset()) -> RaftNode:
    state = PersistedState(HardState(term=term), log)
    return RaftNode(Config(node_id=2, peers=(1, 2, 3), bugs=bugs), state, random.Random(2))


def _snapshot_message(term: int, snapshot: Snapshot) -> Message:
    return Message(MessageType.SNAPSHOT, 1, 2, term, snapshot=snapshot)


def test_a_follower_replaces_a_conflicting_log_with_the_snapshot() -> None:
    # Entries 1-4 of term 1; the leader of term 2 committed another entry at 3 and on.
    follower = _follower(tuple(Entry(1, index, f"old{index}") for index in range(1, 5)), term=2)
    snapshot = Snapshot(index=3, term=2, membership=Membership.of_voters((1, 2, 3)), data="s")
    follower.step(_snapshot_message(2, snapshot))
    ready = follower.ready()
    assert ready.snapshot == snapshot
    assert ready.committed_entries == ()
    assert follower.log_entries() == ()
    assert follower.log.first_index == 4 and follower.commit_index == 3
    answer = [m for m in ready.messages if m.type is MessageType.APPEND_RESPONSE]
    assert [(m.to, m.log_index, m.reject) for m in answer] == [(1, 3, False)]
    follower.advance(ready)
    assert follower.applied_index == 3


def test_the_planted_bug_keeps_the_conflicting_entries_after_the_snapshot() -> None:
    follower = _follower(
        tuple(Entry(1, index, f"old{index}") for index in range(1, 6)),
        term=2,
        bugs=frozenset({"snapshot-keeps-conflicting-entries"}),
    )
    snapshot = Snapshot(index=3, term=2, membership=Membership.of_voters((1, 2, 3)), data="s")
    follower.step(_snapshot_message(2, snapshot))
    ready = follower.ready()
    # The entries of term 1 after the snapshot stay, and the follower claims them.
    assert [entry.index for entry in follower.log_entries()] == [4, 5]
    assert [m.log_index for m in ready.messages if m.type is MessageType.APPEND_RESPONSE] == [5]


def test_a_snapshot_the_log_already_holds_only_moves_the_commit_index() -> None:
    follower = _follower(tuple(Entry(1, index, f"e{index}") for index in range(1, 6)), term=1)
    snapshot = Snapshot(index=3, term=1, membership=Membership.of_voters((1, 2, 3)), data="s")
    follower.step(_snapshot_message(1, snapshot))
    ready = follower.ready()
    assert ready.snapshot is None
    assert follower.commit_index == 3 and len(follower.log_entries()) == 5
    assert [entry.index for entry in ready.committed_entries] == [1, 2, 3]


def test_a_restart_starts_from_the_snapshot_and_the_entries_after_it() -> None:
    snapshot = Snapshot(index=5, term=2, membership=Membership.of_voters((1, 2, 3)), data="s")
    state = PersistedState(HardState(term=2, commit=3), (Entry(2, 6, "x"), Entry(2, 7, "y")), snapshot)
    node = RaftNode(Config(node_id=2, peers=(1, 2, 3)), state, random.Random(3))
    assert node.applied_index == 5 and node.commit_index == 5 and node.last_index == 7
    assert node.snapshot == snapshot
    assert node.log.term(5) == 2


def test_entries_must_follow_the_snapshot_they_are_persisted_with() -> None:
    snapshot = Snapshot(index=5, term=2, membership=Membership.of_voters((1,)), data="s")
    with pytest.raises(AssertionError, match="after a snapshot at 5"):
        PersistedState(HardState(term=2), (Entry(2, 7, "x"),), snapshot)


# -- the raft-safety checker ---------------------------------------------------------------


def _committed_everywhere() -> TraceBuilder:
    """Node 1 leads term 1; entries 1-3 are committed and applied on every node."""
    trace = TraceBuilder()
    trace.elect(1, 1, 1, voters=(2, 3))
    entries = [[1, "00"], [1, "aa"], [1, "bb"]]
    trace.append(1, 2, entries[1:])
    for follower in (2, 3):
        trace.append(follower, 1, entries).role(follower, "follower", 1, 1)
    for node in (1, 2, 3):
        trace.commit_apply(node, 1, 1, entries)
    return trace


def test_snapshots_taken_installed_and_restarted_from_are_valid() -> None:
    trace = _committed_everywhere()
    trace.add("snapshot", node=3, index=3, term=1, compacted=3)
    trace.add("crash", node=3)
    trace.add("restart", node=3, term=1, vote=1, commit=3, log=[], snapshot=[3, 1])
    trace.role(3, "follower", 1, 1)
    trace.replicate(1, 1, 4, [[1, "cc"]], followers=(2,))
    trace.add("snapshot-install", node=3, index=4, term=1).hard(3, 1, commit=4)
    trace.replicate(1, 1, 5, [[1, "dd"]], followers=(2, 3))
    trace.commit_apply(3, 1, 5, [[1, "dd"]])
    result = check_raft_safety(trace.events)
    assert result.verdict is Verdict.VALID, result.found


def test_a_snapshot_labelled_beyond_what_the_node_applied_is_flagged() -> None:
    trace = _committed_everywhere()
    trace.replicate(1, 1, 4, [[1, "cc"]], followers=(2,))
    trace.hard(2, 1, commit=4)  # committed, not applied yet
    trace.add("snapshot", node=2, index=4, term=1, compacted=4)
    result = check_raft_safety(trace.events)
    assert properties(result) == {"state-machine-safety"}
    assert "applied only up to 3" in result.found[0]["message"]


def test_an_installed_snapshot_of_another_term_than_the_committed_entry_is_flagged() -> None:
    trace = _committed_everywhere()
    trace.add("snapshot-install", node=3, index=3, term=2)
    result = check_raft_safety(trace.events)
    assert properties(result) == {"state-machine-safety"}


def test_an_installed_snapshot_beyond_every_commit_is_flagged() -> None:
    trace = _committed_everywhere()
    trace.add("snapshot-install", node=3, index=9, term=1)
    assert "beyond every committed entry" in check_raft_safety(trace.events).found[0]["message"]


def test_applying_again_below_an_installed_snapshot_is_flagged() -> None:
    trace = _committed_everywhere()
    trace.replicate(1, 1, 4, [[1, "cc"]], followers=(2,))
    trace.add("snapshot-install", node=3, index=4, term=1).hard(3, 1, commit=4)
    trace.apply(3, 4, [[1, "cc"]])  # the snapshot already holds entry 4
    assert properties(check_raft_safety(trace.events)) == {"state-machine-safety"}


def test_the_good_trace_stays_valid() -> None:
    assert check_raft_safety(good_trace()).verdict is Verdict.VALID


# -- whole runs ----------------------------------------------------------------------------


def _trace_events(folder: Path, kind: str) -> list[dict[str, object]]:
    lines = (json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines())
    return [event for event in lines if event["ev"] == kind]


def test_the_snapshot_scenario_compacts_sends_snapshots_and_restarts_from_them(tmp_path: Path) -> None:
    scenario = dataclasses.replace(loader.load("snapshot-install"), seed=1)
    outcome = api.run(scenario, tmp_path / "run", budget_s=60)
    assert outcome.verdict.verdict is Verdict.VALID, outcome.verdict
    assert _trace_events(tmp_path / "run", "snapshot")
    assert _trace_events(tmp_path / "run", "snapshot-install")
    assert any("snapshot" in event for event in _trace_events(tmp_path / "run", "restart"))
    api.run(scenario, tmp_path / "again", budget_s=60)
    assert (tmp_path / "run" / "trace.jsonl").read_bytes() == (tmp_path / "again" / "trace.jsonl").read_bytes()


def test_swarm_draws_snapshots_without_changing_the_seeds_that_do_not_take_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    takers = swarm_corner_takers(
        monkeypatch,
        "SNAPSHOTS",
        range(60),
        lambda now: bool(now.cluster.snapshot_every),
        lambda now, before: dataclasses.replace(now, cluster=before.cluster),
    )
    for now in takers:
        assert now.cluster.snapshot_every in swarm_draw.SNAPSHOT_EVERY
        assert now.cluster.snapshot_catch_up in swarm_draw.SNAPSHOT_CATCH_UP
    assert 0 < len(takers) < 60
