"""The host's paired assertions fire when the two sides disagree, and only then: a restart
reads back what the disk reported synced, and a leader's `match` for a follower of its
term never exceeds that follower's last index (armed only without log-damaging bugs)."""

from __future__ import annotations

import dataclasses

import pytest
from tests_support import shortened

from raftcore.bugs import SEND_BEFORE_PERSIST
from raftcore.types import Message, MessageType
from scenarios.resolve import resolve
from sim.clock import MS
from sim.host import Host
from sim.world import World


def settled_world(bugs: tuple[str, ...] = ()) -> World:
    """A three-node cluster that has elected a leader and replicated some writes."""
    scenario = dataclasses.replace(shortened("partition-leader", duration_ms=2000, quiet_ms=1000), bugs=bugs)
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


@pytest.mark.parametrize(("bugs", "armed"), [((), True), ((SEND_BEFORE_PERSIST,), False)])
def test_a_leader_that_believes_a_follower_holds_more_than_it_does_is_caught_unless_a_bug_may_cause_it(
    bugs: tuple[str, ...], armed: bool
) -> None:
    world = settled_world(bugs)
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
    # The follower's log now ends before what the leader believes it holds.
    follower.server.node.log.last_index = progress.match - 1
    if armed:
        with pytest.raises(AssertionError, match="beyond its last index"):
            leader.receive(follower.name, stale_answer)
    else:
        leader.receive(follower.name, stale_answer)
