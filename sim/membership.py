"""The `member` fault: members removed through membership changes, and each replaced by a
new, empty one when the fault heals, as an operator replaces failed etcd members.

Everything goes through the leader of the moment, as `etcdctl member remove/add` does:
the removal is proposed there (tried again until one takes it: there may be no leader, or
an earlier change not yet applied); the world stops the removed host once the removal is
applied (`World._membership_applied`). At the heal a new node id (never one used before)
is proposed as a learner; once that change is applied the world starts its host, empty,
and the learner is promoted once the leader finds it caught up (`RaftNode.
conf_change_refusal`). Each loop tries every `RETRY_US` and gives up after `ATTEMPTS_MAX`
tries (the run goes on with the membership it has).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from raftcore.types import ConfChange, ConfChangeType

if TYPE_CHECKING:
    import simpy

    from sim.host import Host

RETRY_US = 20_000
ATTEMPTS_MAX = 3_000
"""A minute of tries at RETRY_US: past that the cluster is not taking changes."""


class MemberFault:
    """One `member` fault against nodes `targets`: `remove` runs from its start, one
    removal after the other (each tried until a leader takes it), `heal` replaces each
    target whose removal was proposed by then."""

    def __init__(
        self,
        env: simpy.Environment,
        hosts: dict[int, Host],
        leader: Callable[[], int | None],
        new_node_id: Callable[[], int],
        targets: list[int],
    ) -> None:
        self.env = env
        self.hosts = hosts
        self.leader = leader
        self.new_node_id = new_node_id
        self.targets = targets
        self.removals_proposed = 0
        self.healed = False

    def remove(self) -> Generator[Any, Any, None]:
        for target in self.targets:
            change = ConfChange(ConfChangeType.REMOVE, target)
            for _ in range(ATTEMPTS_MAX):
                if self.healed:
                    return
                if self._propose(change):
                    self.removals_proposed += 1
                    break
                yield self.env.timeout(RETRY_US)
            else:
                return

    def heal(self) -> list[int]:
        """The fault heals: the ids of the members that will replace the targets whose
        removal was proposed (each replacement runs on as a process of its own)."""
        self.healed = True
        joining = [self.new_node_id() for _ in range(self.removals_proposed)]
        for node_id in joining:
            self.env.process(self._replace(node_id))
        return joining

    def _replace(self, joining: int) -> Generator[Any, Any, None]:
        add = ConfChange(ConfChangeType.ADD_LEARNER, joining)
        promote = ConfChange(ConfChangeType.PROMOTE, joining)
        added = False
        for _ in range(ATTEMPTS_MAX):
            if not added:
                added = self._propose(add) is not None
            elif joining in self.hosts and self._propose(promote):
                return
            yield self.env.timeout(RETRY_US)

    def _propose(self, change: ConfChange) -> object | None:
        leader = self.leader()
        if leader is None:
            return None
        return self.hosts[leader].propose_conf_change(change)
