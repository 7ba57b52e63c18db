"""The seeded world: builds a cluster, clients and nemesis from a scenario and runs it.

One simpy.Environment per run, time in integer microseconds, every random draw from a
stream named after its component. A run goes through the phases: safety (faults on), heal
(everything undone), liveness (a quiet period: a leader must emerge, clients must
progress), final reads (every client reads every key), end.

The world's state checker (`sim.invariants`) watches every host as the run goes; the
first broken Raft invariant stops the run there, as a crash does, but as a finding of the
checker's (`RunResult.invariants`), not an exception of the system under test.
"""

from __future__ import annotations

import traceback
from collections import Counter
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import simpy

from raftcore.backup import decode_backup
from raftcore.restore import restored_hard_state, restored_keys, restored_revision, restored_snapshot
from raftcore.types import ConfChange, ConfChangeType, Config, EntryKind, Membership, Role, Snapshot
from scenarios.model import Scenario
from scenarios.resolve import resolve
from scenarios.rng import stream
from sim.client import Client
from sim.clock import MS, LocalClock, now_us
from sim.disk import Disk
from sim.history import History
from sim.host import Host, MessageTracer, endpoint
from sim.invariants import Invariants, InvariantViolation, Violation
from sim.nemesis import Nemesis
from sim.network import LinkSpec, Network
from sim.trace import Trace, digest_of
from sim.watcher import Watcher
from workloads import get as get_workload
from workloads import register
from workloads._watch import INFORMERS, WATCHERS

SECOND_US = 1_000_000
REMOVED_WATCH_CHECKS_MAX = 1_000_000
"""A removed member's checks for a peer that knows it was removed: far beyond any run."""
RESTORE_PROCESS = 1_000_000_000
"""The history's `process` of the writes that stand for a restored store's keys: no
client's (clients number theirs from 0, one more round of their count after each info)."""


@dataclass(frozen=True, slots=True)
class Crash:
    """The system under test raised an exception and the run ended there.

    A crash is a finding, not an accident of the harness: the world is deterministic, so the
    same scenario raises the same exception at the same simulated moment, and the trace and
    history up to it are as reproducible as a full run's. `where` names the node (or client)
    whose code raised, when a frame of one is on the stack."""

    t_us: int
    phase: str
    error_type: str
    text: str
    where: str | None
    traceback: str

    @property
    def message(self) -> str:
        head = f"{self.error_type}: {self.text}" if self.text else self.error_type
        return head if self.where is None else f"{head} in {self.where}"


@dataclass(frozen=True, slots=True)
class InvariantsReport:
    """What the world's state checker found: the violation that ended the run, if one
    did, and its figures."""

    violation: Violation | None
    stats: dict[str, int]


@dataclass(frozen=True, slots=True)
class RunResult:
    scenario: Scenario
    history_text: str
    trace_text: str
    digest: str
    stats: dict[str, Any]
    crash: Crash | None = None
    invariants: InvariantsReport | None = None
    """None when the run was made without the state checker."""
    effects_text: str | None = None
    """`effects.jsonl`: every command a store executed (None: not recorded)."""
    watch_text: str | None = None
    """`watch.jsonl`: what the watchers asked and were sent (None: the run had none)."""


class World:
    def __init__(self, scenario: Scenario, check_invariants: bool = True) -> None:
        assert scenario.nemesis.mode == "schedule", "resolve() the scenario first"
        self.scenario = scenario
        seed = scenario.seed
        self.env = simpy.Environment()
        # simpy types `now` as int or float; the trace checks that it is whole microseconds
        # when it renders the lines, rather than at every event as `now_us` does.
        env = self.env
        self.trace = Trace(lambda: env.now)  # type: ignore[arg-type, return-value]
        self.effects = Trace(lambda: env.now)  # type: ignore[arg-type, return-value]
        self.history = History(self.env)
        self.network = Network(self.env, stream(seed, "network"))
        self.restored: Snapshot | None = None
        """The snapshot every first member's disk starts with (`[restore]`), if any."""
        self._value_offset = 0
        """What the clients' written values are moved up by, past the restored ones."""
        if scenario.restore is not None:
            backup = decode_backup(scenario.restore.text, scenario.restore.backup)
            self.restored = restored_snapshot(backup, scenario.node_ids)
            self._value_offset = register.offset_above([kv.value for kv in restored_keys(self.restored)])
        self.hosts = {node_id: self._build_host(node_id) for node_id in scenario.node_ids}
        self.phase = "safety"
        self.invariants: Invariants | None = None
        if check_invariants:
            self.invariants = Invariants(lambda: now_us(self.env), lambda: self.phase)
            self.invariants.watch(self.hosts)
            if self.restored is not None:
                self.invariants.restored(self.restored)
            for host in self.hosts.values():
                host.observer = self.invariants
        if scenario.trace_messages:
            self.network.observer = MessageTracer(self.trace, {host.name: host for host in self.hosts.values()})
        self._link_cluster()
        self.clients = [self._build_client(slot) for slot in range(scenario.workload.clients)]
        self.watch_log = Trace(lambda: env.now)  # type: ignore[arg-type, return-value]
        self.watchers = self._build_watchers()
        self.nemesis = Nemesis(self.env, self.hosts, self.network, self.trace, seed, self.leader)
        self._triggered = any(fault.after != "time" for fault in scenario.faults)
        self._before_ready = (
            self._commit_seen if any(fault.after == "membership" for fault in scenario.faults) else None
        )
        self._commit_scanned: dict[int, int] = {}
        """By node: the commit index `_commit_seen` last looked through for changes."""
        if self._triggered:
            for host in self.hosts.values():
                host.on_role = self.nemesis.observe_role
                host.before_ready = self._before_ready
        # Membership changes (`member` faults): the index of the newest change applied
        # anywhere, and the next node id (ids are never reused, as etcd's are not).
        self._membership_index = 0
        self._membership = Membership(frozenset(scenario.node_ids))
        """The newest membership applied anywhere (committed), as of `_membership_index`."""
        self._next_node_id = max(scenario.node_ids) + 1
        self.nemesis.new_node_id = self._new_node_id
        self.nemesis.membership = lambda: self._membership
        for host in self.hosts.values():
            host.on_membership = self._membership_applied
            host.on_removed_peer = self._removed_member_spoke
            host.on_self_removed = self._watch_removed

    def _build_host(self, node_id: int, membership: Membership | None = None) -> Host:
        """The host of `node_id`: one of the scenario's nodes, or, given the `membership`
        it joins with, a node added mid-run (its streams are named by its id like any)."""
        spec, seed = self.scenario, self.scenario.seed
        cluster = spec.cluster
        config = Config(
            node_id=node_id,
            peers=spec.node_ids if membership is None else (),
            membership=membership,
            election_ticks=cluster.election_ticks,
            heartbeat_ticks=cluster.heartbeat_ticks,
            pre_vote=cluster.pre_vote,
            check_quorum=cluster.check_quorum,
            max_entries_per_message=cluster.max_entries_per_message,
            bugs=frozenset(spec.bugs),
            read_only=cluster.read_only,
            # The lease is cut for the drift every clock may have; clock faults that go
            # beyond it are the experiment, so they are not counted.
            max_clock_drift_ppm=spec.clock.drift_ppm_max,
            tick_ms=cluster.tick_ms,
            snapshot_every=cluster.snapshot_every,
            snapshot_catch_up=cluster.snapshot_catch_up,
        )
        clock_rng = stream(seed, f"clock-{node_id}")
        drift = spec.clock.drift_ppm_max
        clock = LocalClock(drift_ppm=clock_rng.randint(-drift, drift) if drift else 0)
        disk = Disk(self.env, stream(seed, f"disk-{node_id}"), spec.disk.fsync_us, spec.disk.fsync_jitter_us)
        if self.restored is not None and membership is None:  # a member added later starts empty
            disk.restore(self.restored, restored_hard_state(self.restored))
        host = Host(
            self.env,
            config,
            disk,
            clock,
            stream(seed, f"raft-{node_id}"),
            cluster.tick_ms * MS,
            self.network,
            self.trace,
            self.effects,
        )
        host.start_ticking(1 + clock_rng.randrange(cluster.tick_ms * MS))
        return host

    def _new_node_id(self) -> int:
        node_id = self._next_node_id
        self._next_node_id += 1
        return node_id

    def add_host(self, node_id: int, membership: Membership) -> None:
        """Start a new, empty node that joins as a learner of `membership` (which names
        it): its endpoint linked to every host and client, its disk, clock and streams
        its own."""
        assert node_id in membership.learners and node_id not in self.hosts, (node_id, membership)
        host = self._build_host(node_id, membership)
        self.hosts[node_id] = host
        network = self.scenario.network
        servers = LinkSpec(network.latency_us, network.jitter_us, network.loss, network.duplicate)
        for other in sorted(self.hosts):
            if other != node_id:
                self.network.link(endpoint(other), host.name, servers)
        client_link = LinkSpec(network.client_latency_us, network.jitter_us)
        for client in self.clients:
            self.network.link(client.name, host.name, client_link)
        for watcher in self.watchers:
            self.network.link(watcher.name, host.name, client_link)
        if self.invariants is not None:
            self.invariants.watch_new(host)
            host.observer = self.invariants
        if isinstance(self.network.observer, MessageTracer):
            self.network.observer.add_host(host)
        if self._triggered:
            host.on_role = self.nemesis.observe_role
            host.before_ready = self._before_ready
        host.on_membership = self._membership_applied
        host.on_removed_peer = self._removed_member_spoke
        host.on_self_removed = self._watch_removed
        self.nemesis.joined(host)
        self.trace.emit("member-added", node=node_id, voters=sorted(membership.voters))

    def _commit_seen(self, host: Host) -> None:
        """`host` is about to take its next Ready: if it leads and its commit index passed
        a membership change since the last look, faults waiting for that moment (`after =
        "membership"`) start now, before the node tells its followers the change committed
        or acts on it. Each node's commit index is looked through once, from where the last
        look left it."""
        server = host.server
        assert server is not None
        node, node_id = server.node, host.node_id
        log = node.log
        before = self._commit_scanned.get(node_id, 0)
        if log.committed <= before:
            return
        self._commit_scanned[node_id] = log.committed
        if node.role is not Role.LEADER:
            return
        low, high = max(before + 1, log.first_index), min(log.committed, log.last_index)
        if low <= high and any(entry.kind is EntryKind.CONF_CHANGE for entry in log.slice(low, high + 1)):
            self.nemesis.observe_membership()

    def _membership_applied(self, index: int, change: ConfChange, membership: Membership) -> None:
        """A node applied the membership change at `index` (committed: the cluster's, and
        any node's word will do). A new learner's host starts with the membership that
        names it; clients talk to the members of the newest membership only. A removed
        member runs on until it applies its removal or hears of it (`_removed_member_spoke`),
        as etcd's does: meanwhile it may still vote."""
        if index <= self._membership_index:
            return  # a node catching up on a change the world already acted on
        self._membership_index = index
        self._membership = membership
        if change.type is ConfChangeType.ADD_LEARNER and change.node_id not in self.hosts:
            self.add_host(change.node_id, membership)
        members = tuple(member for member in membership.members() if not self.hosts[member].removed)
        for client in self.clients:
            client.set_members(members)

    def _removed_member_spoke(self, node_id: int) -> None:
        """A removed member's message reached a node that applied its removal: that node
        answers it was removed (etcd's peers refuse its stream), and it stops."""
        self.hosts[node_id].retire()

    def _watch_removed(self, node_id: int) -> None:
        """A node applied its own removal: from now on, once every tick, it stops if it can
        reach a running peer that applied its removal too, as an etcd member stops when
        such a peer refuses the stream it dials (`REMOVED_WATCH_CHECKS_MAX` at most)."""
        self.env.process(self._removed_watch(node_id))

    def _removed_watch(self, node_id: int) -> Any:
        host = self.hosts[node_id]
        for _ in range(REMOVED_WATCH_CHECKS_MAX):
            if host.removed:
                return
            for peer_id in sorted(self.hosts):
                peer = self.hosts[peer_id]
                if (
                    peer_id != node_id
                    and peer.state == "running"
                    and node_id in peer.removed_peers
                    and self.network.reaches(host.name, peer.name)
                ):
                    host.retire()
                    return
            yield self.env.timeout(host.tick_us)

    def _link_cluster(self) -> None:
        network = self.scenario.network
        servers = LinkSpec(network.latency_us, network.jitter_us, network.loss, network.duplicate)
        ids = self.scenario.node_ids
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                self.network.link(endpoint(a), endpoint(b), servers)
        for links in self.scenario.links:
            # One direction only: the way back keeps the spec above (asymmetric links).
            degraded = LinkSpec(
                network.latency_us + links.extra_latency_us,
                network.jitter_us,
                max(network.loss, links.loss),
                network.duplicate,
            )
            for a, b in links.pairs():
                self.network.link_one_way(endpoint(a), endpoint(b), degraded)

    def _build_client(self, slot: int) -> Client:
        spec = self.scenario
        settings = spec.workload
        workload = get_workload(settings.kind)
        rng = stream(spec.seed, f"client-{slot}")
        generator = workload.generator(settings, slot, stream(spec.seed, f"workload-{slot}"))
        if self.restored is not None:
            # The loader lets only the register workload restore (`RESTORABLE_MODELS`).
            assert settings.kind == "register", settings.kind
            generator = register.AboveRestored(generator, self._value_offset)
        think_mean_us = max(1, settings.clients * SECOND_US // settings.rate)
        client = Client(
            self.env,
            slot,
            settings.clients,
            spec.node_ids,
            self.network,
            rng,
            workload,
            generator,
            self.history,
            settings.timeout_ms * MS,
            settings.attempt_timeout_ms * MS,
            think_mean_us,
        )
        client_link = LinkSpec(spec.network.client_latency_us, spec.network.jitter_us)
        for node_id in spec.node_ids:
            self.network.link(client.name, endpoint(node_id), client_link)
        return client

    def _build_watchers(self) -> list[Watcher]:
        """The workload's watchers, then its informers (`workloads._watch`); none unless
        the scenario asks, so a run without them is built, and runs, as before."""
        spec = self.scenario
        settings = spec.workload
        workload = get_workload(settings.kind)
        if not workload.watch_prefix:
            return []
        plain, informers = int(WATCHERS.read(settings)), int(INFORMERS.read(settings))
        page_size = int(dict(settings.options).get("page_size", 50))
        silence_us = max(4 * settings.attempt_timeout_ms * MS, 200 * MS)
        client_link = LinkSpec(spec.network.client_latency_us, spec.network.jitter_us)
        watchers = []
        for slot in range(plain + informers):
            watcher = Watcher(
                self.env,
                slot,
                spec.node_ids,
                self.network,
                self.watch_log,
                workload.watch_prefix,
                slot >= plain,
                page_size,
                silence_us,
            )
            for node_id in spec.node_ids:
                self.network.link(watcher.name, endpoint(node_id), client_link)
            watchers.append(watcher)
        return watchers

    def leader(self) -> int | None:
        """The running leader of the highest term, if any."""
        leaders = [(host.term(), -node_id) for node_id, host in self.hosts.items() if host.is_leader()]
        return -max(leaders)[1] if leaders else None

    def start(self) -> tuple[simpy.Event, int]:
        """Open the run: its first trace lines, then every process. Returns the event of
        every client being done and the time limit of the run."""
        spec = self.scenario
        heal_us = spec.duration_ms * MS
        workload_end_us = heal_us + spec.phases.quiet_ms * MS
        self.trace.emit(
            "start", scenario=spec.name, seed=spec.seed, nodes=list(spec.node_ids), clients=spec.workload.clients
        )
        if self.restored is not None:
            self._record_restore(self.restored)
        self.trace.emit("phase", phase="safety")
        self.env.process(self.nemesis.run(spec.faults, heal_us))
        clients = [self.env.process(c.run(workload_end_us, spec.phases.final_reads)) for c in self.clients]
        for watcher in self.watchers:
            self.env.process(watcher.run(workload_end_us))
        self.env.process(self._phases(heal_us, workload_end_us))
        return simpy.AllOf(self.env, clients), workload_end_us + spec.phases.final_reads_limit_ms * MS

    def _record_restore(self, snapshot: Snapshot) -> None:
        """A restored cluster: one `restore` trace line (every member holds the snapshot,
        committed), and the history opens with one write per restored key, each returned
        before any client invokes, with the revision the key was last written at: what the
        checkers judge the clients' reads against, as if those writes had made the store."""
        keys = restored_keys(snapshot)
        self.trace.emit(
            "restore",
            nodes=list(self.scenario.node_ids),
            index=snapshot.index,
            term=snapshot.term,
            revision=restored_revision(snapshot),
            keys=len(keys),
        )
        for kv in keys:
            self.history.record_restored(RESTORE_PROCESS, kv.key, kv.value, kv.mod_revision)

    def run(self) -> RunResult:
        clients_done, limit_us = self.start()
        crash = violation = None
        try:
            self.env.run(until=clients_done | self.env.timeout(limit_us))
        except Exception as error:  # whatever the cluster raises ends the run, as a finding
            violation = _violation_of(error)
            crash = None if violation is not None else self._crash_of(error)
        self.trace.emit("phase", phase="end")
        self.trace.emit("end")
        trace_text = self.trace.text()
        checked = None if self.invariants is None else InvariantsReport(violation, self.invariants.stats())
        return RunResult(
            self.scenario,
            self.history.text(),
            trace_text,
            digest_of(trace_text),
            self._stats(),
            crash,
            checked,
            self.effects.text(),
            self.watch_log.text() if self.watchers else None,
        )

    def _crash_of(self, error: BaseException) -> Crash:
        """Describe an exception that escaped the simulation. simpy re-raises a failed
        process's exception as a copy caused by the original, so the original (the end of the
        `__cause__` chain) names the type and text, and every traceback in the chain is
        searched for the node or client that raised."""
        original = error
        tracebacks = [error.__traceback__]
        while original.__cause__ is not None and len(tracebacks) < 16:
            original = original.__cause__
            tracebacks.append(original.__traceback__)
        where = None
        for trace_back in tracebacks:
            where = _culprit(trace_back) or where
        text = "".join(traceback.format_exception(error))
        return Crash(now_us(self.env), self.phase, type(original).__name__, str(original), where, text)

    def _phases(self, heal_us: int, workload_end_us: int) -> Any:
        yield self.env.timeout(heal_us)
        self.phase = "heal"
        self.trace.emit("phase", phase="heal")
        self.nemesis.heal_all()
        self.phase = "liveness"
        self.trace.emit("phase", phase="liveness", leader_bound_us=self.scenario.phases.leader_bound_ms * MS)
        yield self.env.timeout(workload_end_us - heal_us)
        self.phase = "final-reads"
        self.trace.emit("phase", phase="final-reads")
        self.history.final_reads_started.succeed()

    def _stats(self) -> dict[str, Any]:
        return {
            "simulated_us": now_us(self.env),
            "sim_events": next(self.env._eid),  # simpy's event counter; read once, after the run
            "messages_sent": self.network.sent,
            "raft_messages": sum(host.raft_messages_sent for host in self.hosts.values()),
            "messages_delivered": self.network.delivered,
            "disk_writes": sum(host.disk.writes for host in self.hosts.values()),
            "operations": self.history.counts["invoke"],
            "operations_ok": self.history.counts["ok"],
            "operations_fail": self.history.counts["fail"],
            "operations_info": self.history.counts["info"],
            "faults": self.nemesis.started,
            "trace_events": len(self.trace),
            "observed_events": self._observed(),
        }

    def _observed(self) -> dict[str, int]:
        """The rare events hosts and clients counted (`checkers.events`), summed, by name."""
        total: Counter[str] = Counter()
        for host in self.hosts.values():
            total.update(host.observed)
        for client in self.clients:
            total.update(client.observed)
        return dict(sorted(total.items()))


def _violation_of(error: BaseException) -> Violation | None:
    """The broken invariant that stopped the world, if that is what `error` is: raised in
    a simpy process, it comes back as a copy caused by the original."""
    cause: BaseException | None = error
    for _ in range(16):
        if cause is None:
            return None
        if isinstance(cause, InvariantViolation):
            return cause.violation
        cause = cause.__cause__
    return None


def _culprit(trace_back: TracebackType | None) -> str | None:
    """The innermost host or client whose method is on the stack, as `node N`/`client N`."""
    found = None
    for frame, _line in traceback.walk_tb(trace_back):
        owner = frame.f_locals.get("self")
        if isinstance(owner, Host):
            found = f"node {owner.node_id}"
        elif isinstance(owner, Client):
            found = f"client {owner.slot}"
        elif isinstance(owner, Watcher):
            found = f"watcher {owner.slot}"
    return found


def run_scenario(scenario: Scenario, check_invariants: bool = True) -> RunResult:
    return World(resolve(scenario), check_invariants).run()
