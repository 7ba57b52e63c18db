"""The host's checks of two sides fire when the sides disagree, and only then: a restart
reads back what the disk reported synced (an assertion), and a leader's `match` for a
follower of its term never exceeds what that follower holds (the state checker's)."""

from __future__ import annotations

import pytest
from tests_support import shortened

from raftcore.types import Entry, Message, MessageType
from scenarios.resolve import resolve
from sim.clock import MS
from sim.host import Host
from sim.invariants import InvariantViolation
from sim.world import World


def settled_world() -> World:
    """A cluster that has elected a leader and replicated its first entry."""
    scenario = shortened("partition-leader", duration_ms=2000, quiet_ms=1000)
    world = World(resolve(scenario))
    world.env.run(until=1500 * MS)
    return world


def leader_and_follower(world: World) -> tuple[Host, Host]:
    leader_id = world.leader()
    assert leader_id is not None
    leader = world.hosts[leader_id]
    assert leader.server is not None
    follower = next(
        host
        for host in world.hosts.values()
        if host is not leader and host.server is not None and host.server.node.term == leader.server.node.term
    )
    return leader, follower


def test_a_restart_that_reads_back_what_was_synced_passes_and_a_lost_write_fails() -> None:
    world = settled_world()
    host = world.hosts[1]
    host.crash()
    host.restart()
    assert host.server is not None
    assert host.server.node.last_index > 0, "the cluster wrote something worth checking"
    host.crash()
    host.disk._entries.pop()  # a synced entry vanishes: what the disk must never do
    with pytest.raises(AssertionError, match="read back"):
        host.restart()


def test_a_leader_that_believes_a_follower_holds_more_than_it_does_is_caught_on_receipt() -> None:
    """The host hands every message it steps to the world's state checker, which catches a
    leader counting an entry its follower no longer holds (`sim.invariants`): an anomaly
    of the run, under a planted bug or not, rather than an assertion of the host's."""
    world = settled_world()
    leader, follower = leader_and_follower(world)
    assert leader.server is not None
    assert follower.server is not None
    leader_node = leader.server.node
    progress = leader_node.progress(follower.node_id)
    assert progress is not None
    assert progress.match >= 1, "the follower acknowledged the leader's first entry"
    # A message the leader ignores in its own term passes the check while both sides agree.
    stale_answer = Message(MessageType.VOTE_RESPONSE, follower.node_id, leader.node_id, leader_node.term)
    leader.receive(follower.name, stale_answer)
    # The follower's entry at `match` gives way to one of a later term.
    log = follower.server.node.log
    log.committed = min(log.committed, progress.match - 1)
    log.append([Entry(term=leader_node.term + 1, index=progress.match, data="other")])
    with pytest.raises(InvariantViolation, match=f"believes node {follower.node_id} holds entry"):
        leader.receive(follower.name, stale_answer)
