"""A host: one machine running one key-value server, with its own clock and disk.

The host is the only place the pure core meets time and I/O. It ticks the node from its
local clock, hands it messages and requests, and works through each Ready in the order the
core demands: persist (waiting for the fsync), send, apply, advance. It can crash (memory
and unsynced writes gone; restart rebuilds from the disk), pause (frozen: no ticks, no
processing, arrivals queue up in the socket) and resume.

A restart must read back exactly what the host saw synced (the disk drops unsynced writes
in a crash, and nothing else): asserted. Disk faults (`sim.disk`) change that only as the
restart sees them: a torn tail record (never synced) is dropped, a corrupt record keeps the
node down, a full disk stops it; only the planted bug `restart-ignores-torn-record` reads
back more than was synced (a garbled entry), which the assertion allows. Raft's own
invariants (a leader's `match` within its follower's log, one leader per term, the
committed prefix, ...) are the world's state checker's (`sim.invariants`), which the host
calls through `observer` after each message it steps, each Ready it hands over or sees
persisted and each restart: a broken invariant is an anomaly of the run, under a planted
bug or not.

With `trace_messages` on, a MessageTracer follows every Raft message between hosts through
the network and records its send (`msg`), each arrival (`recv`) and each loss (`drop`).
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from raftcore.bugs import RESTART_IGNORES_TORN_RECORD
from raftcore.kv import Command
from raftcore.raft import RaftNode
from raftcore.server import Forward, KVServer, Request, Response, entry_digest
from raftcore.types import (
    ConfChange,
    ConfChangeType,
    Config,
    Entry,
    HardState,
    Membership,
    Message,
    MessageType,
    PersistedState,
    Ready,
    Role,
    Snapshot,
)
from raftcore.watch import ProgressRequest, WatchCreate
from sim.clock import LocalClock
from sim.disk import Damage, Disk
from sim.schedule import call_later

if TYPE_CHECKING:
    import simpy

    from sim.network import Network
    from sim.trace import Trace

RUNNING, PAUSED, CRASHED = "running", "paused", "crashed"
PAUSED_INBOX_LIMIT = 10_000
"""A frozen process's socket buffer is finite; beyond this, arrivals are dropped."""
VOTE, PRE_VOTE, APPEND_RESPONSE = MessageType.VOTE, MessageType.PRE_VOTE, MessageType.APPEND_RESPONSE


def endpoint(node_id: int) -> str:
    return f"n{node_id}"


class HostObserver(Protocol):
    """What the world's state checker hears from a host (`sim.invariants.Invariants`)."""

    def after_step(self, host: Host, sender: int) -> None: ...

    def after_ready(self, host: Host, ready: Ready) -> None: ...

    def after_persist(self, host: Host, ready: Ready) -> None: ...

    def after_restart(self, host: Host) -> None: ...


class Host:
    def __init__(
        self,
        env: simpy.Environment,
        config: Config,
        disk: Disk,
        clock: LocalClock,
        raft_rng: random.Random,
        tick_us: int,
        network: Network,
        trace: Trace,
        effects: Trace | None = None,
    ) -> None:
        """`effects`, when given, records every command the node's store executes (one
        `execute` line each: `effects.jsonl`); it is kept apart from `trace` so that
        recording it leaves the trace, and a run's digest, as they were."""
        self.env = env
        self.config = config
        self.node_id = config.node_id
        self.name = endpoint(config.node_id)
        self.disk = disk
        self.clock = clock
        self.tick_us = tick_us
        self.network = network
        self.trace = trace
        self.effects = effects
        self._raft_rng = raft_rng
        self.state = RUNNING
        self.incarnation = 0
        durable = disk.durable_state()
        self.server: KVServer | None = self._build_server(durable)
        self._busy = False
        self._deferred: Ready | None = None
        self._inbox: deque[tuple[str, Any]] = deque()
        self._shown: tuple[Role, int, int] | None = None
        # What the disk reported synced, kept apart from the disk to check it on restart:
        # at first what it holds (nothing, or a restored backup).
        self._synced_hard_state: HardState = durable.hard_state
        self._synced_entries: list[Entry] = list(durable.entries)
        self._synced_snapshot: Snapshot | None = durable.snapshot
        self._stopped_by_disk = False
        """The node stopped on a full disk, or could not start on one: `disk_healed` starts it."""
        self._down_for_good = False
        """A restart found a corrupt record: the node stays down (`_refuse`)."""
        self.observer: HostObserver | None = None
        self.on_role: Callable[[int, str], None] | None = None
        self.before_ready: Callable[[Host], None] | None = None
        """Told before each Ready is taken (`World._commit_seen`, set only when a fault waits
        for a membership change to commit): a fault it starts then cuts, crashes or pauses
        the node before it acts on anything the step changed, or tells anyone of it."""
        """Told of each role this node takes (node, role name): the nemesis's protocol moments."""
        self.observed: Counter[str] = Counter()
        """Rare events that leave no trace line (`checkers.events`), counted as they happen;
        reading them changes nothing in the node or the run."""
        self.raft_messages_sent = 0
        self.removed = False
        """Removed from the membership (`retire`): down for good, as etcd stops a member
        that learns it was removed; its id is never used again."""
        self.removed_peers: set[int] = set()
        """Nodes whose removal this incarnation applied: a message from one tells it it was
        removed (`on_removed_peer`), as etcd's peers answer a removed member's stream."""
        self.on_removed_peer: Callable[[int], None] | None = None
        self.on_self_removed: Callable[[int], None] | None = None
        """Told when this node applies its own removal (`World._watch_removed`)."""
        self.on_membership: Callable[[int, ConfChange, Membership], None] | None = None
        """Told of each membership change this node applies (its index, the change, the
        membership after it): how the world learns who the members are."""
        self._next_tick_local_us = 0
        """The local time of the next tick's deadline (`start_ticking`, `_tick`)."""
        self._wake: object = None
        """The one pending wake-up that may tick; earlier ones are stale (`retime_ticks`)."""
        self._burst_ticks_max = 2 * config.election_ticks

        """The most ticks one wake-up fires after the clock jumped forward (see `_tick`)."""
        network.add_endpoint(self.name, self.receive)

    # --- time -------------------------------------------------------------------------

    # The node ticks whenever its local clock passes the next tick's deadline, a time on
    # that clock: drift stretches or shrinks the true time between ticks, a clock set
    # forward passes several deadlines at once (a burst of ticks: timeouts fire early), and
    # a clock set back leaves the next deadline further off (no tick until local time has
    # caught up). Everything the core times is counted in ticks, so this is all it takes
    # for its timers to run on the local clock.

    def start_ticking(self, first_tick_us: int) -> None:
        """Tick first when the local clock has moved on `first_tick_us`, then at every
        `tick_us` of local time after that."""
        self._next_tick_local_us = self.clock.local_us(self.env.now) + first_tick_us  # type: ignore[arg-type]
        self._plan_tick()

    def retime_ticks(self) -> int:
        """The clock was just changed: plan the next tick again from its deadline (now, if
        the clock jumped past it). The wake-up planned before stays in simpy's queue, which
        cannot cancel it, and does nothing when it comes (`_tick`). Returns the true time
        of the next tick: for a clock set back, the end of the stall."""
        return self._plan_tick()

    def _plan_tick(self) -> int:
        env = self.env
        now: int = env.now  # type: ignore[assignment]
        wake_us = max(now, self.clock.true_at(self._next_tick_local_us))
        # The pending wake-up is the generation: only the latest plan's event ticks.
        self._wake = call_later(env, wake_us - now, self._tick)
        return wake_us

    def _tick(self, event: object) -> None:
        if event is not self._wake:
            return  # planned before the clock last changed: superseded by a later plan
        due_us = self._next_tick_local_us
        local_us = self.clock.local_us(self.env.now)  # type: ignore[arg-type]
        assert local_us >= due_us, f"{self.name} woke at local {local_us} before its tick at {due_us}"
        ticks = (local_us - due_us) // self.tick_us + 1
        self._next_tick_local_us = due_us + ticks * self.tick_us
        if self.state == RUNNING and self.server is not None:
            server = self.server
            # A jump of an hour at 10 ms ticks would be 360,000 ticks in one instant. Twice
            # the election timeout already expires every timer the core keeps (the
            # randomised election timeout is under 2n ticks; a leader's CheckQuorum looks
            # twice, so it steps down having heard nobody in between): more would only run
            # expired timers again with no message between them (a candidate raising its
            # term election after election in one instant), as no timer of a real process
            # does: a timer that fell behind fires once, not once per period it missed.
            for _ in range(min(ticks, self._burst_ticks_max)):
                for lease_id, request_id in server.tick():
                    # The leader's clock found the lease due and proposed its revoke: the
                    # true time of that decision is what the lease checker judges (once
                    # applied).
                    term = server.node.term
                    self.trace.emit("lease-expire", node=self.node_id, lease=lease_id, term=term, request=request_id)
            self.kick()
        self._plan_tick()

    # --- input ------------------------------------------------------------------------

    def discard_reason(self) -> str | None:
        """Why `receive` would throw away a message arriving now, if it would; must agree
        with `receive`, which does not call it to stay fast."""
        if self.state == CRASHED:
            return "crashed"
        if self.state == PAUSED and len(self._inbox) >= PAUSED_INBOX_LIMIT:
            return "inbox-full"
        return None

    def receive(self, source: str, payload: Any) -> None:
        if self.state == CRASHED:
            if self._down_for_good and type(payload) is Request:
                self._refuse(payload)
            return
        if self.state == PAUSED:
            if len(self._inbox) < PAUSED_INBOX_LIMIT:
                self._inbox.append((source, payload))
            return
        self._dispatch(payload)

    def _dispatch(self, payload: Any) -> None:
        server = self.server
        assert server is not None
        assert self.state == RUNNING
        if type(payload) is Message:
            if payload.sender in self.removed_peers and self.on_removed_peer is not None:
                self.on_removed_peer(payload.sender)
            kind = payload.type
            # Only vote requests and rejected appends are looked at: both are rare.
            watched = kind is VOTE or kind is PRE_VOTE or (payload.reject and kind is APPEND_RESPONSE)
            next_before = self._observe_before_step(server.node, payload) if watched else None
            server.node.step(payload)
            if next_before is not None:
                self._observe_backoff(server.node, payload.sender, next_before)
            if self.observer is not None:
                self.observer.after_step(self, payload.sender)
        elif type(payload) is WatchCreate or type(payload) is ProgressRequest:
            self._serve_watch(server, payload)
        else:
            assert isinstance(payload, Request)
            answer = server.submit(payload)
            if type(answer) is Forward:
                self.observed["request-forwarded"] += 1
                self.network.send(self.name, endpoint(answer.to), answer.request)
                if answer.reply is not None:
                    self.network.send(self.name, payload.client, answer.reply)
            elif answer is not None:
                if payload.forwarded and type(answer) is Response and answer.error == "not-leader":
                    self.observed["forward-refused"] += 1
                self.network.send(self.name, payload.client, answer)
        self.kick()

    def _serve_watch(self, server: KVServer, message: WatchCreate | ProgressRequest) -> None:
        """A watcher's message (`raftcore.watch`): the answers go back on its stream."""
        hub = server.watches
        answers = hub.create(message) if isinstance(message, WatchCreate) else hub.progress(message)
        for answer in answers:
            self.network.send(self.name, answer.client, answer)

    def _observe_before_step(self, node: RaftNode, message: Message) -> int | None:
        """Count a vote request the election restriction refuses; for a rejected append
        answer at a leader, return the follower's next index before the leader steps it."""
        if message.type is not APPEND_RESPONSE:
            if not node.log.is_up_to_date(message.log_index, message.log_term):
                self.observed["vote-rejected-log"] += 1
            return None
        progress = node.progress(message.sender)
        return None if progress is None else progress.next

    def _observe_backoff(self, node: RaftNode, follower: int, next_before: int) -> None:
        progress = node.progress(follower)
        if progress is not None and next_before - progress.next > 1:
            self.observed["backoff-over-one-entry"] += 1

    # --- the Ready loop ---------------------------------------------------------------

    def kick(self) -> None:
        """Start on the next Ready unless one is still being persisted."""
        if self.before_ready is not None and self.state == RUNNING and self.server is not None:
            self.before_ready(self)
        server = self.server
        if self._busy or self.state != RUNNING or server is None or not server.node.has_ready():
            return
        ready = server.node.ready()
        self._busy = True
        self._record_ready(server, ready)
        if self.observer is not None:
            self.observer.after_ready(self, ready)
        needs_disk = ready.hard_state is not None or bool(ready.entries) or ready.snapshot is not None
        if not ready.persist_before_send:
            self._send(ready.messages)
        if not needs_disk:
            self._persisted(ready, self.incarnation)
            return
        incarnation = self.incarnation
        write = self.disk.write(
            ready.hard_state, ready.entries, lambda: self._synced(ready, incarnation), snapshot=ready.snapshot
        )
        if not write:
            self._stop_for_disk("write")

    def _synced(self, ready: Ready, incarnation: int) -> None:
        """The disk synced `ready`: note what it now holds, then carry on with the Ready."""
        if ready.hard_state is not None:
            self._synced_hard_state = ready.hard_state
        if ready.snapshot is not None:
            self._synced_snapshot = ready.snapshot
            self._synced_entries = []
        if ready.entries:
            del self._synced_entries[ready.entries[0].index - 1 - self._synced_snapshot_index() :]
            self._synced_entries.extend(ready.entries)
        self._persisted(ready, incarnation)

    def _synced_snapshot_index(self) -> int:
        return 0 if self._synced_snapshot is None else self._synced_snapshot.index

    def _snapshot_synced(self, snapshot: Snapshot) -> None:
        """The node's own snapshot is on disk: the entries it stands for are gone there."""
        if snapshot.index <= self._synced_snapshot_index():
            return
        self._synced_entries = [entry for entry in self._synced_entries if entry.index > snapshot.index]
        self._synced_snapshot = snapshot

    def _persisted(self, ready: Ready, incarnation: int) -> None:
        if incarnation != self.incarnation:
            return
        if self.observer is not None:
            self.observer.after_persist(self, ready)
        if self.state == PAUSED:
            self._deferred = ready
            return
        self._finish(ready)

    def _finish(self, ready: Ready) -> None:
        server = self.server
        assert server is not None
        assert self._busy
        if ready.persist_before_send:
            self._send(ready.messages)
        if ready.snapshot is not None:
            snapshot = ready.snapshot
            for response in server.install_snapshot(snapshot):
                self.network.send(self.name, response.client, response)
            if len(server.watches):
                for owed in server.watches.after_apply():
                    self.network.send(self.name, owed.client, owed)
        if ready.committed_entries:
            first = ready.committed_entries[0]
            trace = self.trace
            trace.emit_log_entries("apply", self.node_id, first.index, ready.committed_entries)
            responses, acknowledgements = server.apply(ready.committed_entries)
            for lease_id, request_id in server.leases.expiries_applied:
                trace.emit("lease-revoked", node=self.node_id, lease=lease_id, request=request_id)
            server.leases.expiries_applied.clear()
            for ack in acknowledgements:
                trace.emit_ack(self.node_id, ack.client, ack.request_id, ack.index, ack.term, ack.digest)
            for response in responses:
                self.network.send(self.name, response.client, response)
            if len(server.watches):
                for owed in server.watches.after_apply():
                    self.network.send(self.name, owed.client, owed)
        for response in server.serve_reads(ready):
            self.network.send(self.name, response.client, response)
        membership = server.node.membership
        server.node.advance(ready)
        if server.conf_changes_applied:
            self._record_conf_changes(server, membership)
        self._maybe_snapshot(server)
        self._busy = False
        self.kick()

    def _record_conf_changes(self, server: KVServer, membership: Membership) -> None:
        """One `conf-apply` line per membership change just applied, with the membership
        after it, then the world is told. Run after `advance`, where Raft switched."""
        applied, server.conf_changes_applied = server.conf_changes_applied, []
        after = []
        for index, change in applied:
            membership = change.apply_to(membership)
            after.append(membership)
            self.trace.emit(
                "conf-apply",
                node=self.node_id,
                index=index,
                change=change.encode(),
                voters=sorted(membership.voters),
                learners=sorted(membership.learners),
            )
        assert membership == server.node.membership, (membership, server.node.membership)
        removals = [change.node_id for _index, change in applied if change.type is ConfChangeType.REMOVE]
        self.removed_peers.update(removals)
        if self.on_membership is not None:
            for (index, change), each in zip(applied, after, strict=True):
                self.on_membership(index, change, each)
        if self.node_id in removals and self.on_self_removed is not None:
            # It runs on until a peer that applied the removal too can tell it (etcd's
            # peers refuse a removed member's streams): a removed leader steps down at
            # once, and the voters left may need its vote to elect a leader that commits
            # the removal again under the old membership. etcd stops after a fixed second
            # instead, which a lost vote and a stalled clock can outlast.
            self.on_self_removed(self.node_id)

    def propose_conf_change(self, change: ConfChange) -> Entry | None:
        """Ask this node, if it leads, to propose `change`; the entry, or None if it does
        not lead or refuses (`RaftNode.conf_change_refusal`)."""
        if self.state != RUNNING or self.server is None:
            return None
        entry = self.server.node.propose_conf_change(change)
        if entry is not None:
            self.trace.emit(
                "conf-propose", node=self.node_id, term=entry.term, index=entry.index, change=change.encode()
            )
            self.kick()
        return entry

    def _maybe_snapshot(self, server: KVServer) -> None:
        """Snapshot the store once enough entries were applied since the last snapshot
        (`Config.snapshot_every`), and write the snapshot to disk."""
        snapshot = server.maybe_snapshot()
        if snapshot is None:
            return
        compacted = server.node.log.first_index - 1
        self.trace.emit("snapshot", node=self.node_id, index=snapshot.index, term=snapshot.term, compacted=compacted)
        incarnation = self.incarnation

        def synced() -> None:
            if incarnation == self.incarnation:
                self._snapshot_synced(snapshot)

        if not self.disk.save_snapshot(snapshot, synced):
            self._stop_for_disk("write")

    def _send(self, messages: tuple[Message, ...]) -> None:
        self.raft_messages_sent += len(messages)
        send, name = self.network.send, self.name
        for message in messages:
            send(name, endpoint(message.to), message)

    def _record_ready(self, server: KVServer, ready: Ready) -> None:
        snapshot = ready.snapshot
        if snapshot is not None:
            # The node's log was replaced up to the snapshot; its entries follow (the store
            # loads it once the Ready is persisted, before applying what comes after).
            self.trace.emit("snapshot-install", node=self.node_id, index=snapshot.index, term=snapshot.term)
        if ready.entries:
            self.trace.emit_log_entries("append", self.node_id, ready.entries[0].index, ready.entries)
        self._record_role(server)
        hard = ready.hard_state
        if hard is not None:
            self.trace.emit_hard_state(self.node_id, hard.term, hard.vote, hard.commit)

    def _record_role(self, server: KVServer) -> None:
        node = server.node
        shown = (node.role, node.term, node.leader_id)
        if shown != self._shown:
            previous, self._shown = self._shown, shown
            self.trace.emit_role(self.node_id, node.role.value, node.term, node.leader_id)
            if self.on_role is not None and (previous is None or previous[:2] != shown[:2]):
                self.on_role(self.node_id, node.role.value)

    # --- faults -----------------------------------------------------------------------

    def crash(self) -> None:
        if self.state == CRASHED:
            return
        self.state = CRASHED
        self.incarnation += 1
        torn = self.disk.crash()
        self.server = None
        self._busy = False
        self._deferred = None
        self._inbox.clear()
        self._shown = None
        self.removed_peers = set()  # learnt again as the restarted node re-applies its log
        self.trace.emit("crash", node=self.node_id)
        if torn is not None:
            self.trace.emit("torn", node=self.node_id, **torn.fields())

    def retire(self) -> None:
        """Removed from the membership: stop for good, as etcd's member does once it learns
        it was removed (its data is of no further use)."""
        if self.removed:
            return
        self.removed = True
        self.state = CRASHED
        self.incarnation += 1
        self.disk.crash()
        self.server = None
        self._busy = False
        self._deferred = None
        self._inbox.clear()
        self._shown = None
        self.trace.emit("member-removed", node=self.node_id)

    def restart(self) -> None:
        if self.state != CRASHED or self.removed:
            return
        durable = self._read_disk()
        if durable is None:
            return
        self.state = RUNNING
        self.server = self._build_server(durable)
        self._check_recovered(durable)
        hard = durable.hard_state
        # With a snapshot on disk the log starts after it, and the event says where.
        snapshot = durable.snapshot
        from_snapshot = {} if snapshot is None else {"snapshot": [snapshot.index, snapshot.term]}
        self.trace.emit(
            "restart",
            node=self.node_id,
            term=hard.term,
            vote=hard.vote,
            commit=hard.commit,
            log=[[entry.term, entry_digest(entry.data)] for entry in durable.entries],
            **from_snapshot,
        )
        self._record_role(self.server)
        if self.observer is not None:
            self.observer.after_restart(self)
        self.kick()

    def _build_server(self, durable: PersistedState) -> KVServer:
        observer = None if self.effects is None else self._record_execution
        return KVServer(self.config, durable, self._raft_rng, on_execute=observer)

    def _record_execution(self, index: int, command: Command, revision: int) -> None:
        """One line per command the store executes; the incarnation (crashes so far) tells
        a rebuilt store's executions from its predecessor's."""
        assert self.effects is not None
        self.effects.emit(
            "execute",
            node=self.node_id,
            incarnation=self.incarnation,
            index=index,
            request=command.request_id,
            operation=command.operation,
            key=command.key,
            digest=entry_digest(command.encode()),
            revision=revision,
        )

    def _read_disk(self) -> PersistedState | None:
        """What a restart starts from, or None if it cannot start: its disk is full (it
        starts when the disk fault heals: `disk_healed`), or a record failed its checksum
        (etcd refuses a corrupt WAL: the node stays down for the rest of the run). A torn
        tail record is dropped, as etcd's WAL repair does, and the trace says so."""
        if self.disk.full:
            self._stopped_by_disk = True
            self.trace.emit("disk-full", node=self.node_id, refused="restart")
            return None
        back = self.disk.read_back(keep_torn=RESTART_IGNORES_TORN_RECORD in self.config.bugs)
        if back.corrupt is not None:
            self.trace.emit("corrupt", node=self.node_id, **back.corrupt.fields())
            self._down_for_good = True
            return None
        if back.repaired is not None:
            self.trace.emit("repair", node=self.node_id, **back.repaired.fields())
        assert back.state is not None
        self._check_read_back(back.state, back.garbled)
        return back.state

    def _refuse(self, request: Request) -> None:
        """A node that will not start is a machine whose server process is not running: a
        client's connection to it is refused at once, rather than left unanswered as by a
        machine that is down. The refusal is a `not-leader` answer naming no leader, on
        which a client goes on to the next node; without it a client whose home is that
        node would wait out most of every deadline on it for the rest of the run."""
        refusal = Response(request.request_id, request.client, self.node_id, False, error="not-leader")
        self.network.send(self.name, request.client, refusal)

    def _stop_for_disk(self, refused: str) -> None:
        """The disk refused a write: the node stops, as etcd does on a failed WAL write."""
        self.trace.emit("disk-full", node=self.node_id, refused=refused)
        self.crash()
        self._stopped_by_disk = True

    def disk_healed(self) -> None:
        """The disk has room again: a node it stopped, or kept from starting, starts."""
        if self._stopped_by_disk:
            self._stopped_by_disk = False
            self.restart()

    def _check_read_back(self, durable: PersistedState, garbled: Damage | None = None) -> None:
        """What the disk hands back is what it reported synced. Holds under every planted
        bug but one: bugs change what is written or when messages leave, never what a
        synced write keeps. Disk faults damage only what the read refuses (a flipped
        record: the node does not start) or drops (a torn tail, never synced); under
        `restart-ignores-torn-record` the torn tail comes back as a garbled entry, in place
        of the synced entries from its index on (a torn write was the one in flight, which
        replaced them)."""
        assert durable.hard_state == self._synced_hard_state, (
            f"disk of {self.name} read back {durable.hard_state}, synced {self._synced_hard_state}"
        )
        assert durable.snapshot == self._synced_snapshot, f"disk of {self.name} read back another snapshot"
        synced = tuple(self._synced_entries)
        if garbled is not None:
            assert garbled.index is not None and durable.entries[-1].index == garbled.index, (garbled, durable)
            synced = tuple(entry for entry in synced if entry.index < garbled.index)
            assert durable.entries[:-1] == synced, f"disk of {self.name} read back other entries than it synced"
            self._synced_entries = list(durable.entries)  # the garbled entry is on disk now
            return
        assert durable.entries == synced, (
            f"disk of {self.name} read back {len(durable.entries)} entries, synced {len(self._synced_entries)}"
        )

    def _check_recovered(self, durable: PersistedState) -> None:
        """The restarted node starts from exactly what the disk handed back."""
        assert self.server is not None
        node = self.server.node
        assert node.log_entries() == durable.entries, f"{self.name} restarted with a log other than its disk's"
        assert node.term == durable.hard_state.term, f"{self.name} restarted in another term than its disk's"
        assert node.vote == durable.hard_state.vote, f"{self.name} restarted with another vote than its disk's"

    def pause(self) -> None:
        if self.state != RUNNING:
            return
        self.state = PAUSED
        self.trace.emit("pause", node=self.node_id)

    def resume(self) -> None:
        if self.state != PAUSED:
            return
        self.state = RUNNING
        self.trace.emit("resume", node=self.node_id)
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            self._finish(deferred)
        while self._inbox and self.state == RUNNING:
            _source, payload = self._inbox.popleft()
            self._dispatch(payload)

    def transfer_leadership(self, to: int) -> None:
        """Ask this node to hand leadership to `to`, as an operator's request to its server
        would (the `transfer` fault); whether it works shows in the roles."""
        if self.state != RUNNING or self.server is None:
            return
        self.server.node.transfer_leadership(to)
        self.kick()

    # --- views ------------------------------------------------------------------------

    def last_index(self) -> int | None:
        """The index of the last entry of the node's log; None while it is crashed."""
        return self.server.node.last_index if self.server is not None else None

    def is_leader(self) -> bool:
        return self.state == RUNNING and self.server is not None and self.server.node.role is Role.LEADER

    def term(self) -> int:
        return self.server.node.term if self.server is not None else -1

    def synced_compacted(self, index: int) -> bool:
        """Whether the disk holds the entry at `index` only as part of a snapshot."""
        return index < self._synced_snapshot_index()

    def synced_term(self, index: int) -> int | None:
        """The term of the entry at `index` the disk reported synced; None if none is."""
        snapshot, entries = self._synced_snapshot, self._synced_entries
        if snapshot is not None and index <= snapshot.index:
            # Compacted into the snapshot: only its last entry's term is known.
            return snapshot.term if index == snapshot.index else None
        position = index - 1 - self._synced_snapshot_index()
        return entries[position].term if 0 <= position < len(entries) else None


class MessageTracer:
    """The network's observer when `trace_messages` is on: the input of a message sequence
    diagram. Messages are numbered 1, 2, 3, ... in send order, so a replay gives the same ids.

    Only Raft messages are followed; client requests, forwarded requests and responses are
    not. An arrival at a crashed host, or at a paused one whose socket buffer is full, is a
    `drop` (reason `crashed`, `inbox-full`) rather than a `recv`, since the host discards it
    unread. A `recv` at a paused host means the message waits in its socket buffer; a crash
    before the resume loses it without a further line (the `crash` event says so).
    """

    def __init__(self, trace: Trace, hosts: Mapping[str, Host]) -> None:
        self._trace = trace
        self._hosts = dict(hosts)
        self.count = 0

    def add_host(self, host: Host) -> None:
        """A node joined mid-run: follow its messages too."""
        self._hosts[host.name] = host

    def sent(self, src: str, dst: str, payload: Any) -> int:
        if type(payload) is not Message:
            return 0
        assert self._hosts[src].node_id == payload.sender, (src, dst, payload)
        assert dst == endpoint(payload.to), (src, dst, payload)
        self.count += 1
        self._trace.emit_message(
            self.count,
            payload.sender,
            payload.to,
            payload.type.value,
            payload.term,
            payload.log_index,
            payload.log_term,
            len(payload.entries),
            payload.commit,
            payload.reject,
        )
        return self.count

    def arrived(self, message_id: int, src: str, dst: str) -> None:
        hosts = self._hosts
        receiver = hosts[dst]
        self._trace.emit_outcome(message_id, receiver.node_id, hosts[src].node_id, receiver.discard_reason())

    def dropped(self, message_id: int, src: str, dst: str, reason: str) -> None:
        self._trace.emit_outcome(message_id, self._hosts[dst].node_id, self._hosts[src].node_id, reason)
