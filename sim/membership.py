"""The `member` fault: members removed through membership changes, and each replaced by a
new, empty one when the fault heals, as an operator replaces failed etcd members.

Everything goes through the leader of the moment, as `etcdctl member remove/add` does, and
like that command each change is waited on until it is applied: a change the leader took
may still be lost (the leader cut off or crashed before it committed), and is then
proposed again, as an operator retries a command that timed out. A change is tried every
`RETRY_US` until a leader takes it (there may be no leader, or an earlier change not yet
applied); one taken but not applied within `CONFIRM_US` is proposed again. The world stops
the removed host once the removal is applied (`World._membership_applied`). No removal
starts after the heal, but one a leader took is still confirmed. At the heal a new node id
(never one used before) is drawn for each target whose removal a leader took by then, and
proposed as a learner once that removal is applied; once that change is applied the world
starts its host, empty, and the learner is promoted once the leader finds it caught up
(`RaftNode.conf_change_refusal`).
Each change gives up after `ATTEMPTS_MAX` tries (the run goes on with the membership it
has).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from raftcore.types import ConfChange, ConfChangeType, Membership

if TYPE_CHECKING:
    import simpy

    from sim.host import Host

RETRY_US = 20_000
ATTEMPTS_MAX = 3_000
"""A minute of tries at RETRY_US: past that the cluster is not taking changes."""
CONFIRM_US = 1_000_000
"""How long a change the leader took may take to be applied before it is proposed again:
etcd's default request timeout is longer, but a change that commits at all commits within
a few round trips once a leader holds a quorum."""


class MemberFault:
    """One `member` fault against nodes `targets`: `remove` runs from its start, one
    removal after the other (each tried until it is applied), `heal` replaces each target
    whose removal a leader took by then, once that removal is applied."""

    def __init__(
        self,
        env: simpy.Environment,
        hosts: dict[int, Host],
        leader: Callable[[], int | None],
        new_node_id: Callable[[], int],
        membership: Callable[[], Membership],
        targets: list[int],
    ) -> None:
        self.env = env
        self.hosts = hosts
        self.leader = leader
        self.new_node_id = new_node_id
        self.membership = membership
        self.targets = targets
        self.taken: list[int] = []
        """Targets whose removal a leader took: each is removed, or still being confirmed."""
        self.healed = False

    def remove(self) -> Generator[Any, Any, None]:
        for target in self.targets:
            change = ConfChange(ConfChangeType.REMOVE, target)
            done = yield from self._until_applied(change, functools.partial(self._gone, target), self.taken)
            if not done:
                return

    def heal(self) -> list[int]:
        """The fault heals: no removal starts any more, and each target whose removal a
        leader took is replaced once that removal is applied: the ids of the new members
        (each replacement runs on as a process of its own)."""
        self.healed = True
        joining = [(target, self.new_node_id()) for target in self.taken]
        for target, node_id in joining:
            self.env.process(self._replace(target, node_id))
        return [node_id for _target, node_id in joining]

    def _replace(self, target: int, joining: int) -> Generator[Any, Any, None]:
        for _ in range(ATTEMPTS_MAX):
            if self._gone(target):
                break
            yield self.env.timeout(RETRY_US)
        else:
            return  # the removal never took effect: nothing to replace
        added = yield from self._until_applied(
            ConfChange(ConfChangeType.ADD_LEARNER, joining), lambda: joining in self._members()
        )
        if added:
            yield from self._until_applied(
                ConfChange(ConfChangeType.PROMOTE, joining), lambda: joining in self.membership().voters
            )

    def _until_applied(
        self, change: ConfChange, applied: Callable[[], bool], taken: list[int] | None = None
    ) -> Generator[Any, Any, bool]:
        """Propose `change` until it is applied: True once it is, False if the tries ran
        out or, for a removal (`taken` given), the fault healed before any leader took it.
        A proposal taken is given CONFIRM_US to be applied before it is proposed again; a
        removal taken is noted in `taken`, and confirmed after the heal too, as an operator
        waits on a command issued."""
        waited_us: int | None = None  # since the last proposal a leader took
        for _ in range(ATTEMPTS_MAX):
            if applied():
                return True
            if self.healed and taken is not None and change.node_id not in taken:
                return False
            if waited_us is None or waited_us >= CONFIRM_US:
                waited_us = 0 if self._propose(change) is not None else None
                if waited_us == 0 and taken is not None and change.node_id not in taken:
                    taken.append(change.node_id)
            yield self.env.timeout(RETRY_US)
            if waited_us is not None:
                waited_us += RETRY_US
        return applied()

    def _gone(self, node_id: int) -> bool:
        return node_id not in self._members()

    def _members(self) -> tuple[int, ...]:
        return self.membership().members()

    def _propose(self, change: ConfChange) -> object | None:
        leader = self.leader()
        if leader is None:
            return None
        return self.hosts[leader].propose_conf_change(change)
