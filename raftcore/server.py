"""A key-value server: one Raft node plus the state machine its committed entries build.

The host owns all I/O. It hands client requests to `submit`, and after persisting and
sending a Ready it passes the committed entries to `apply` and then the Ready to
`serve_reads`, which return the replies owed to clients. Writes go through the log. Reads
do not, as in etcd: a linearizable read asks the node's Raft for a read index
(`RaftNode.read_index`: the leader's commit index, confirmed by a heartbeat round or the
leader's lease) and is served from this node's own state once it has applied that far, on
the leader or on a follower alike; a serializable read (`Request.serializable`, etcd's
`serializable` range) is served from this node's state at once and may be stale. A read
whose confirmation is lost to a change of leader fails with `not-leader`, and the client
asks again. Seven planted bugs short-cut this: `stale-local-read` and `read-from-follower`
answer linearizable reads from local state, `read-index-before-apply` serves a confirmed
read before its index is applied, `ack-before-commit` answers writes once proposed,
`forward-acknowledged` once forwarded, `cas-checked-at-propose` decides a compare-and-set
before its place in the log is known, and `retry-answered-afresh` answers a retry from the
state now rather than from the result the request had at its place in the log.

etcd's v3 requests (`raftcore.etcd`) travel the same way: `Request.etcd` builds one from the
contract's JSON, its entry is applied in log order like any read or write (a range too), and
the `Response` carries etcd's response JSON as its `value` or etcd's error string as its
`error`. The planted bug `txn-compare-at-propose` decides a txn's compares when it is
proposed, as `cas-checked-at-propose` does for a compare-and-set.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raftcore.bugs import (
    ACK_BEFORE_COMMIT,
    CAS_CHECKED_AT_PROPOSE,
    FORWARD_ACKNOWLEDGED,
    OVERWRITE_KEEPS_REVISION,
    READ_FROM_FOLLOWER,
    READ_INDEX_BEFORE_APPLY,
    RETRY_ANSWERED_AFRESH,
    SNAPSHOT_BEYOND_APPLIED,
    STALE_LOCAL_READ,
    TXN_COMPARE_AT_PROPOSE,
)
from raftcore.etcd import (
    KINDS,
    RangeRequest,
    TxnRequest,
    is_read_only,
    is_response,
    request_from_json,
    response_to_json,
)
from raftcore.kv import ETCD_OPERATIONS, READ_OPERATIONS, Command, ExecutionObserver, KVStore, Result
from raftcore.lease import minimum_ttl_seconds
from raftcore.lease_service import LOCAL_LEASE_OPERATIONS, LeaseService
from raftcore.raft import RaftNode
from raftcore.types import NO_NODE, ConfChange, Config, Entry, EntryKind, PersistedState, Ready, Role, Snapshot
from raftcore.watch import WatchHub

_PLAIN_WRITES = ("put", "delete", "cas", "append")
"""The writes of the operations before etcd's: the only ones `forward-acknowledged` answers."""


@dataclass(frozen=True, slots=True)
class Request:
    """What a client sends. `request_id` must be unique per operation; resending the same
    id is how a client retries without risking a second effect."""

    request_id: str
    client: str
    operation: str
    key: str
    value: Any = None
    expected: Any = None
    forwarded: bool = False
    serializable: bool = False
    """A `get` served from the receiving node's state, as etcd's serializable reads are
    (an etcd range says so in its own `serializable` field)."""

    @staticmethod
    def etcd(request_id: str, client: str, kind: str, body: Mapping[str, Any]) -> Request:
        """An etcd v3 request of the contract's `kind` (range, put, delete, txn, compact) and
        JSON `body`; ValueError if it is malformed. Its `Response` holds etcd's response JSON
        as `value` (`error`: etcd's error string, the request had no effect)."""
        if kind not in KINDS:
            raise ValueError(f"unknown etcd request kind {kind!r}; known: {', '.join(KINDS)}")
        command = Command.etcd(request_id, request_from_json(kind, body))
        return Request(request_id, client, command.operation, command.key, command.value)

    def command(self) -> Command:
        if self.operation in ETCD_OPERATIONS:
            # Canonical JSON: equal requests log equal bytes, however the client wrote them.
            return Command.etcd(self.request_id, request_from_json(ETCD_OPERATIONS[self.operation], self.value))
        return Command(self.request_id, self.operation, self.key, self.value, self.expected)


@dataclass(frozen=True, slots=True)
class Response:
    """What a server answers. `error` is None on success; `not-leader`, `compare-failed`
    and etcd's errors (`raftcore.etcd.ERRORS`) are definite (the request had no effect). For
    an etcd request, `value` is its response as the contract's JSON (a fresh object) and
    `revision` the response header's."""

    request_id: str
    client: str
    node: int
    succeeded: bool
    value: Any = None
    revision: int = 0
    error: str | None = None
    leader_hint: int = NO_NODE
    index: int = 0
    term: int = 0


@dataclass(frozen=True, slots=True)
class Forward:
    """A request this node passes to the leader it knows; forwarded once at most, so two
    nodes with stale views cannot bounce a request between them."""

    to: int
    request: Request
    reply: Response | None = None
    """Only under the planted bug `forward-acknowledged`: an answer sent to the client too."""


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A reply to a write that took effect, with the log position that holds it, so a
    durability checker can verify it is never lost."""

    request_id: str
    client: str
    index: int
    term: int
    digest: str


@functools.lru_cache(maxsize=1 << 16)
def entry_digest(data: str) -> str:
    """A short fingerprint of an entry's data for traces; equal data, equal digest. Every
    node appends and applies the same entries, so the cache spares most of the hashing."""
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def _command_of(data: str) -> Command | None:
    """The command an entry holds; None (applied as nothing, as an empty entry is) if its
    data is not one. Only a damaged disk garbles an entry (the planted bug
    `restart-ignores-torn-record`): the server must live on for the checkers to see the
    entry differ from its peers' rather than die on it."""
    try:
        return Command.decode(data)
    except (ValueError, TypeError):
        return None


class KVServer:
    def __init__(
        self, config: Config, state: PersistedState, rng: random.Random, on_execute: ExecutionObserver | None = None
    ) -> None:
        """`on_execute` hears of every command the store executes (`raftcore.kv`)."""
        self.node = RaftNode(config, state, rng)
        # A correct node has applied nothing yet: the store is rebuilt from the whole log.
        self.store = KVStore(
            applied_index=self.node.applied_index,
            overwrite_keeps_revision=OVERWRITE_KEEPS_REVISION in config.bugs,
            on_execute=on_execute,
            bugs=config.bugs,
            minimum_lease_ttl=minimum_ttl_seconds(config.election_ticks, config.tick_ms),
        )
        if state.snapshot is not None:
            self._load(state.snapshot)
        self._snapshot_beyond_applied = SNAPSHOT_BEYOND_APPLIED in config.bugs
        self.leases = LeaseService(config, self.node, self.store)
        self.node_id = config.node_id
        self.watches = WatchHub(config.node_id, self.store.mvcc, config.bugs)
        """The watches this member serves from its applied store (`raftcore.watch`); the host
        asks it for what they are owed after each apply."""
        bugs = config.bugs
        self._stale_local_read = STALE_LOCAL_READ in bugs
        self._read_from_follower = READ_FROM_FOLLOWER in bugs
        self._ack_before_commit = ACK_BEFORE_COMMIT in bugs
        self._cas_checked_at_propose = CAS_CHECKED_AT_PROPOSE in bugs
        self._retry_answered_afresh = RETRY_ANSWERED_AFRESH in bugs
        self._forward_acknowledged = FORWARD_ACKNOWLEDGED in bugs
        self._txn_compare_at_propose = TXN_COMPARE_AT_PROPOSE in bugs
        # request id -> client address, for requests this incarnation proposed.
        self._waiting: dict[str, str] = {}
        self._read_index_before_apply = READ_INDEX_BEFORE_APPLY in bugs
        # Linearizable reads: by read-index context while Raft confirms them, then with
        # their index until applied. Contexts are numbered by this incarnation.
        self._reads_asked: dict[str, Request] = {}
        self._reads_confirmed: list[tuple[int, Request]] = []
        self._reads_numbered = 0
        self.conf_changes_applied: list[tuple[int, ConfChange]] = []
        """Membership changes `apply` met (index, change), for the host to take: Raft
        switches to the new membership once the Ready is advanced (`RaftNode.membership`)."""

    def tick(self) -> list[tuple[int, str]]:
        """One tick of the host's clock: Raft's, then the leases'. Returns the leases this
        leader found expired and proposed to revoke, with the revokes' request ids
        (`raftcore.lease_service`)."""
        self.node.tick()
        return self.leases.tick()

    def submit(self, request: Request) -> Response | Forward | None:
        """Take a client request. Returns an immediate reply, a request to pass on to the
        leader (as etcd's followers forward proposals), or None when the reply will come
        out of `apply` once the request's entry commits."""
        known = self.store.result_of(request.request_id)
        if known is not None:
            if self._retry_answered_afresh:
                # The planted bug: the repeat is judged again against the state now, not
                # answered with the result its place in the log gave it.
                known = self.store.evaluate(request.command())
            return self._reply(request.request_id, request.client, known, index=0, term=0)
        read = _read_kind(request)
        if read is not None:
            return self._read(request, serializable=read == "serializable")
        if self.node.role is not Role.LEADER:
            leader = self.node.leader_id
            if leader != NO_NODE and leader != self.node_id and not request.forwarded:
                forwarded = dataclasses.replace(request, forwarded=True)
                if self._forward_acknowledged and request.operation in _PLAIN_WRITES:
                    # The planted bug: the write is passed on, so it is taken as done.
                    done = Result(True, request.value, self.store.revision)
                    return Forward(leader, forwarded, self._reply(request.request_id, request.client, done, 0, 0))
                return Forward(leader, forwarded)
            return self._not_leader(request)
        if request.operation in LOCAL_LEASE_OPERATIONS:
            return self._lease_answer(request)
        if request.request_id in self._waiting:
            self._waiting[request.request_id] = request.client
            return None
        command = request.command()
        if self._cas_checked_at_propose and command.operation == "cas":
            # The planted bug: compare against the state applied so far, which lags the log,
            # and log a plain write if the compare holds.
            local = self.store.read_local(command.key)
            if local.value != command.expected:
                refused = Result(False, local.value, local.revision)
                return self._reply(request.request_id, request.client, refused, index=0, term=0)
            command = Command(command.request_id, "put", command.key, command.value)
        if self._txn_compare_at_propose and command.operation == "etcd-txn":
            command = self._txn_decided_at_propose(command)
        entry = self.node.propose(command.encode())
        if entry is None:
            # A leader handing over leadership takes no proposals; the client tries again.
            return self._not_leader(request)
        if self._ack_before_commit and command.operation in ("put", "delete"):
            # The planted bug: the write is in the leader's log, so it is taken as done.
            result = Result(True, command.value, self.store.revision)
            return self._reply(request.request_id, request.client, result, entry.index, entry.term)
        self._waiting[request.request_id] = request.client
        return None

    def _lease_answer(self, request: Request) -> Response | None:
        """A keep-alive or time-to-live: answered by the leader from memory, not logged."""
        result = self.leases.answer(request.operation, request.value)
        if result is None:
            lease_id = request.value.get("ID", 0)
            if self.leases.wait_for_revoke(int(lease_id), request.request_id, request.client):
                return None
            result = Result(False, None, self.store.revision, "not-leader")
        return self._reply(request.request_id, request.client, result, index=0, term=0)

    def _read(self, request: Request, serializable: bool) -> Response | None:
        """Take a read: serve it now, or ask Raft for its read index and serve it later."""
        if serializable:
            return self._serve_read(request)
        leads = self.node.role is Role.LEADER
        if (self._read_from_follower and not leads and request.operation == "get") or (
            self._stale_local_read and leads and request.operation == "get"
        ):
            # The planted bugs: the local state is taken to be current without asking.
            return self._serve_read(request)
        self._reads_numbered += 1
        context = f"{self._reads_numbered}:{request.request_id}"
        if not self.node.read_index(context):
            return self._not_leader(request)
        self._reads_asked[context] = request
        return None

    def _serve_read(self, request: Request) -> Response:
        command = request.command()
        result = self.store.read_local(command.key) if command.operation == "get" else self.store.evaluate(command)
        return self._reply(request.request_id, request.client, result, index=0, term=0)

    def _not_leader(self, request: Request) -> Response:
        # A leader handing over names its successor to be: the client's next attempt goes
        # where leadership is going, not back to a leader that refuses proposals.
        node = self.node
        handing_over = node.role is Role.LEADER and node.lead_transferee != NO_NODE
        hint = node.lead_transferee if handing_over else node.leader_id
        return Response(request.request_id, request.client, self.node_id, False, error="not-leader", leader_hint=hint)

    def serve_reads(self, ready: Ready) -> list[Response]:
        """After `ready`'s committed entries are applied: the replies to reads that can be
        served now. Reads whose confirmation the Ready brings wait until their index is
        applied; if leadership changed, reads not confirmed yet never will be, and fail."""
        for state in ready.read_states:
            request = self._reads_asked.pop(state.context, None)
            if request is not None:
                self._reads_confirmed.append((state.index, request))
        responses: list[Response] = []
        if ready.soft_state is not None and self._reads_asked:
            responses.extend(self._not_leader(request) for request in self._reads_asked.values())
            self._reads_asked.clear()
        if self._reads_confirmed:
            applied = self.store.applied_index
            waiting = []
            for index, request in self._reads_confirmed:
                # The planted bug `read-index-before-apply` serves at once what it was told
                # may be served once applied that far.
                if index <= applied or self._read_index_before_apply:
                    responses.append(self._serve_read(request))
                else:
                    waiting.append((index, request))
            self._reads_confirmed = waiting
        return responses

    def _txn_decided_at_propose(self, command: Command) -> Command:
        """The planted bug `txn-compare-at-propose`: the compares hold on the state applied
        so far, which lags the log, so the txn is logged without them, as if nothing could
        come in between."""
        txn = command.etcd_request()
        assert isinstance(txn, TxnRequest)
        if not self.store.mvcc.compares_hold(txn):
            return command
        return Command.etcd(command.request_id, dataclasses.replace(txn, compare=()))

    def apply(self, entries: tuple[Entry, ...]) -> tuple[list[Response], list[Acknowledgement]]:
        """Apply committed entries in order; return replies for requests proposed here."""
        responses: list[Response] = []
        acknowledgements: list[Acknowledgement] = []
        for entry in entries:
            if entry.kind is EntryKind.CONF_CHANGE:
                # Raft's own business: a no-op for the store, which still counts the index.
                self.conf_changes_applied.append((entry.index, ConfChange.decode(entry.data)))
                self.store.apply(entry.index, None)
                continue
            command = _command_of(entry.data) if entry.data else None
            if command is not None and command.operation == "etcd-compact" and len(self.watches):
                self.watches.before_compaction()
            result = self.store.apply(entry.index, command)
            for late in self.leases.applied(entry, command, result):
                responses.append(self._reply(late.request_id, late.client, late.result, entry.index, entry.term))
            if command is None or result is None:
                continue
            client = self._waiting.pop(command.request_id, None)
            if client is None:
                continue
            responses.append(self._reply(command.request_id, client, result, entry.index, entry.term))
            if command.operation not in READ_OPERATIONS and result.succeeded:
                acknowledgements.append(
                    Acknowledgement(
                        command.request_id,
                        client,
                        entry.index,
                        entry.term,
                        entry_digest(entry.data),
                    )
                )
        return responses, acknowledgements

    def maybe_snapshot(self) -> Snapshot | None:
        """Snapshot the store if `Config.snapshot_every` entries were applied since the last
        snapshot (etcd's `--snapshot-count`); the node compacts its log. The host persists
        the snapshot returned."""
        every = self.node.config.snapshot_every
        if not every:
            return None
        node = self.node
        held = 0 if node.snapshot is None else node.snapshot.index
        if node.applied_index - held < every:
            return None
        index = node.applied_index
        if self._snapshot_beyond_applied:
            # The planted bug: the snapshot is labelled with the commit index, ahead of the
            # state it holds.
            index = node.commit_index
        return node.create_snapshot(index, self.store.snapshot_data())

    def applied_snapshot(self) -> Snapshot:
        """The store as of its applied index, with its entry's term and the membership in
        force: what `etcdctl snapshot save` takes from a member. Changes nothing (the log is
        not compacted); ValueError if nothing was applied yet."""
        index = self.store.applied_index
        if index < 1:
            raise ValueError("it has applied no entry yet")
        assert index == self.node.applied_index, (index, self.node.applied_index)
        return Snapshot(index, self.node.log.term(index), self.node.membership, self.store.snapshot_data())

    def install_snapshot(self, snapshot: Snapshot) -> list[Response]:
        """Load a snapshot the leader sent (handed over by a Ready, before its entries);
        return the replies it settles (keep-alives waiting on a revoke it holds)."""
        self._load(snapshot)
        self.watches.restored()
        return [
            self._reply(late.request_id, late.client, late.result, snapshot.index, snapshot.term)
            for late in self.leases.restored()
        ]

    def _load(self, snapshot: Snapshot) -> None:
        self.store.load_snapshot(snapshot.data)
        # The snapshot's label says where applying resumes; a correct snapshot's state is
        # exactly that far (a snapshot labelled beyond its state, a planted bug, loses
        # the entries in between here).
        self.store.applied_index = snapshot.index

    def _reply(self, request_id: str, client: str, result: Result, index: int, term: int) -> Response:
        error = result.error if result.error is not None or result.succeeded else "compare-failed"
        value = response_to_json(result.value) if is_response(result.value) else result.value
        return Response(
            request_id,
            client,
            self.node_id,
            result.succeeded,
            value,
            result.revision,
            error,
            self.node.leader_id,
            index,
            term,
        )


def _read_kind(request: Request) -> str | None:
    """`linearizable` or `serializable` for a request that only reads; None for a write.
    An etcd txn is a read when all its branches only range, and serializable when all its
    ranges are, as etcd judges it."""
    if request.operation == "get":
        return "serializable" if request.serializable else "linearizable"
    if request.operation not in ("etcd-range", "etcd-txn"):
        return None
    try:
        etcd = request_from_json(ETCD_OPERATIONS[request.operation], request.value)
    except ValueError:
        return None  # refused where it is applied, as any malformed request is
    if not is_read_only(etcd):
        return None
    ranges: list[object]
    if isinstance(etcd, RangeRequest):
        ranges = [etcd]
    else:
        assert isinstance(etcd, TxnRequest), etcd
        ranges = [*etcd.success, *etcd.failure]
    serializable = all(isinstance(item, RangeRequest) and item.serializable for item in ranges)
    return "serializable" if serializable and ranges else "linearizable"
