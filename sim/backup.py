"""A member's backup taken from a run replayed up to a moment, as `etcdctl snapshot save`
takes one from a live member.

A run is deterministic, so replaying its resolved scenario reaches, at every simulated
moment, the state the recorded run had then: the backup is the replayed member's store as
of its applied index (`KVServer.applied_snapshot`), taken between two events, where the
host has always finished what it was applying.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftcore.types import Snapshot
from scenarios.model import Scenario
from scenarios.resolve import resolve
from sim.clock import now_us
from sim.host import RUNNING
from sim.world import World


class BackupRefused(ValueError):
    """No backup can be taken as asked: one line saying why, and the flag at fault if one is."""

    def __init__(self, message: str, flag: str | None = None) -> None:
        super().__init__(message)
        self.flag = flag


@dataclass(frozen=True, slots=True)
class Backup:
    snapshot: Snapshot
    t_us: int
    """The simulated moment it was taken at."""
    trace_text: str
    """The replayed trace up to that moment: a prefix of the recorded one if the replay
    is faithful (the caller compares)."""


def take_backup(scenario: Scenario, node_id: int, at_us: int | None) -> Backup:
    """Replay `scenario` up to `at_us` (None: its end) and take node `node_id`'s backup."""
    world = World(resolve(scenario))
    if node_id not in world.hosts:
        nodes = ", ".join(str(node) for node in world.hosts)
        raise BackupRefused(f"node {node_id} is not a member of the run (its nodes: {nodes})", "--node")
    if at_us is None:
        result = world.run()
        if result.crash is not None or (result.invariants is not None and result.invariants.violation is not None):
            raise BackupRefused("the run stopped early (a crash or a broken invariant); give --at-ms before it")
        trace_text = result.trace_text
    else:
        clients_done, limit_us = world.start()
        try:
            world.env.run(until=clients_done | world.env.timeout(min(at_us, limit_us)))
        except Exception:  # the system under test raised, or an invariant broke: a finding of the run's
            raise BackupRefused(
                f"the run stopped at {now_us(world.env) // 1000} ms (a crash or a broken invariant), "
                f"before {at_us // 1000} ms"
            ) from None
        if now_us(world.env) < at_us:
            raise BackupRefused(f"the run ended at {now_us(world.env) // 1000} ms, before {at_us // 1000} ms")
        trace_text = world.trace.text()
    host = world.hosts.get(node_id)
    assert host is not None, node_id
    if host.state != RUNNING or host.server is None:
        state = "removed from the cluster" if host.removed else host.state
        raise BackupRefused(f"node {node_id} is {state} at {now_us(world.env) // 1000} ms: it cannot be asked")
    try:
        snapshot = host.server.applied_snapshot()
    except ValueError as error:
        raise BackupRefused(f"node {node_id}: {error}") from None
    return Backup(snapshot, now_us(world.env), trace_text)
