"""The server's side of leases: the leader's deadlines, expiry, keep-alives and time-to-live.

`raftcore.lease` holds the values and the replicated table (in the store); this module
binds them to one node: it follows the node's role (promote once the leader has applied its
term's first entry, demote as soon as it leads no more), proposes a revoke through the log
for each lease whose deadline passed, and answers the two requests a leader serves from its
memory rather than through the log (keep-alive and time-to-live), as etcd does.

A keep-alive of a lease whose expiry revoke is under way waits for that revoke and then
answers TTL 0 (not found), as etcd's Renew waits on the revoke: answering sooner would let
a client believe in a lease the log is about to take away.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftcore.bugs import LEASE_DEADLINE_FROM_GRANT, LEASE_NOT_EXTENDED
from raftcore.kv import Command, KVStore, Result
from raftcore.lease import (
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    Lessor,
    lease_request_from_json,
)
from raftcore.raft import RaftNode
from raftcore.types import Config, Entry, Role

LOCAL_LEASE_OPERATIONS = {"etcd-lease-keepalive": "lease-keepalive", "etcd-lease-timetolive": "lease-timetolive"}
"""The lease requests a leader answers from its memory, never logged."""
EXPIRY_PREFIX = "expire-"
"""How the request id of a revoke proposed for expiry begins (no client's does)."""
WAITING_KEEPALIVES_MAX = 10_000
"""Keep-alives held for a revoke under way; beyond this, more are refused as not-leader."""


@dataclass(frozen=True, slots=True)
class LateAnswer:
    """A reply owed to a keep-alive that waited for its lease's revoke."""

    request_id: str
    client: str
    result: Result


class LeaseService:
    def __init__(self, config: Config, node: RaftNode, store: KVStore) -> None:
        self._node = node
        self._store = store
        self._node_id = config.node_id
        self._extend_ticks = config.election_ticks
        self.lessor = Lessor(
            config.tick_ms,
            config.election_ticks,
            unextended=LEASE_NOT_EXTENDED in config.bugs,
            deadline_from_grant=LEASE_DEADLINE_FROM_GRANT in config.bugs,
        )
        self._promoted_term = 0
        self._expiries_proposed = 0
        # lease id -> keep-alives waiting for its revoke, in arrival order.
        self._waiting: dict[int, list[tuple[str, str]]] = {}
        self.expiries_applied: list[tuple[int, str]] = []
        """(lease, request id) of each expiry revoke applied here that revoked its lease,
        for the host to record and clear."""

    def tick(self) -> list[tuple[int, str]]:
        """One tick of the node's clock (after Raft's): the leases found due, whose revoke
        this leader has just proposed, in id order, each with its revoke's request id."""
        self._follow_role()
        proposed: list[tuple[int, str]] = []
        for lease_id in self.lessor.tick():
            self._expiries_proposed += 1
            request_id = f"{EXPIRY_PREFIX}{lease_id}-n{self._node_id}-t{self._node.term}-{self._expiries_proposed}"
            command = Command.etcd(request_id, LeaseRevokeRequest(lease_id))
            entry = self._node.propose(command.encode())
            if entry is None:
                # Only a leader counts deadlines, but one handing over leadership takes no
                # proposals: the lease stays due and its revoke is tried again next tick.
                self.lessor.expiring.discard(lease_id)
                continue
            proposed.append((lease_id, request_id))
        return proposed

    def _follow_role(self) -> None:
        """Demote as soon as this node leads no more, or leads a term it was not promoted in."""
        leads = self._node.role is Role.LEADER and self._node.term == self._promoted_term
        if self.lessor.primary and not leads:
            self.lessor.demote()
            self._waiting.clear()

    def answer(self, operation: str, body: object) -> Result | None:
        """A keep-alive or time-to-live at a node that leads; None: the answer comes later
        (`applied`). A leader not yet promoted refuses (not-leader), as etcd's Renew does."""
        self._follow_role()
        request = lease_request_from_json(LOCAL_LEASE_OPERATIONS[operation], body)
        revision = self._store.revision
        if not self.lessor.primary:
            return Result(False, None, revision, "not-leader")
        table = self._store.mvcc.leases
        if isinstance(request, LeaseTimeToLiveRequest):
            return Result(True, self._time_to_live(request), revision)
        assert isinstance(request, LeaseKeepAliveRequest)
        lease_id = request.lease_id
        if lease_id not in table:
            return Result(True, LeaseKeepAliveResponse(revision, lease_id, 0), revision)
        if lease_id in self.lessor.expiring:
            return None
        ttl = table.leases[lease_id].ttl_seconds
        self.lessor.renew(lease_id, ttl)
        return Result(True, LeaseKeepAliveResponse(revision, lease_id, ttl), revision)

    def wait_for_revoke(self, lease_id: int, request_id: str, client: str) -> bool:
        """Hold a keep-alive until the lease's revoke applies; False if too many wait."""
        if sum(len(waiting) for waiting in self._waiting.values()) >= WAITING_KEEPALIVES_MAX:
            return False
        self._waiting.setdefault(lease_id, []).append((request_id, client))
        return True

    def _time_to_live(self, request: LeaseTimeToLiveRequest) -> LeaseTimeToLiveResponse:
        table, revision = self._store.mvcc.leases, self._store.revision
        if request.lease_id not in table:
            return LeaseTimeToLiveResponse(revision, request.lease_id, -1)
        keys = table.keys_of(request.lease_id) if request.keys else ()
        remaining = 0 if request.lease_id in self.lessor.expiring else self.lessor.remaining_seconds(request.lease_id)
        granted = table.leases[request.lease_id].ttl_seconds
        return LeaseTimeToLiveResponse(revision, request.lease_id, remaining, granted, keys)

    def restored(self) -> list[LateAnswer]:
        """The store's state was replaced by a snapshot (`KVStore.load_snapshot`): the
        deadlines follow the restored lease table, and a keep-alive waiting for the revoke
        of a lease the snapshot no longer holds is answered now, TTL 0 (not found), as it
        would have been when that revoke applied."""
        table = self._store.mvcc.leases
        self.lessor.restored(table)
        revision = self._store.revision
        answers: list[LateAnswer] = []
        for lease_id in sorted(self._waiting):
            if lease_id in table:
                continue
            gone = LeaseKeepAliveResponse(revision, lease_id, 0)
            for request_id, client in self._waiting.pop(lease_id):
                answers.append(LateAnswer(request_id, client, Result(True, gone, revision)))
        return answers

    def applied(self, entry: Entry, command: Command | None, result: Result | None) -> list[LateAnswer]:
        """Follow one applied entry: promote on this leader's own empty entry, count a
        grant, forget a revoked lease (answering the keep-alives that waited for it)."""
        if command is None:
            node = self._node
            if not entry.data and node.role is Role.LEADER and entry.term == node.term:
                self._promoted_term = node.term
                self.lessor.promote(self._store.mvcc.leases, self._extend_ticks)
            return []
        if result is None or command.operation not in ("etcd-lease-grant", "etcd-lease-revoke"):
            return []
        self._follow_role()
        table = self._store.mvcc.leases
        if command.operation == "etcd-lease-grant":
            if isinstance(result.value, LeaseGrantResponse) and result.value.lease_id in table:
                self.lessor.granted(result.value.lease_id, result.value.ttl_seconds)
            return []
        revoke = command.etcd_request()
        assert isinstance(revoke, LeaseRevokeRequest)
        if revoke.lease_id in table:
            return []
        if command.request_id.startswith(EXPIRY_PREFIX) and result.succeeded:
            self.expiries_applied.append((revoke.lease_id, command.request_id))
        self.lessor.revoked(revoke.lease_id)
        revision = self._store.revision
        gone = LeaseKeepAliveResponse(revision, revoke.lease_id, 0)
        waiting = self._waiting.pop(revoke.lease_id, [])
        return [LateAnswer(request_id, client, Result(True, gone, revision)) for request_id, client in waiting]
