"""The scenario's faults, done to a real etcd cluster on wall-clock time.

The schedule is the one `scenarios.resolve` draws from the seed, and every choice a fault
makes when it starts (a random node, the order a partition cuts from) comes from the same
per-fault random stream the simulator's nemesis uses, so a seed names the same attack on
both targets. What differs is the moment: a real cluster's leader, and how long a kill or a
restart takes, are the machine's, so a real run is not replayed byte for byte.

Each fault is written twice as it starts and heals: as a history fault line (the same
clock as the operations) and as a trace `fault`/`heal` event, so the reports draw the fault
band from either. What a real cluster cannot undergo here is refused before anything
starts (`problems`): clock faults (the members share the machine's clock), slow disks,
duplicated messages (TCP delivers a byte once) and faults triggered by a protocol moment
(the harness sees the cluster's roles only by polling).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from scenarios.model import FaultSpec, Scenario
from scenarios.rng import stream
from sim.nemesis import partition_edges, stream_name

UNSUPPORTED_KINDS = {
    "clock": "clock faults are not possible on a real etcd here: its members share this machine's clock",
    "disk": "disk faults are not possible on a real etcd here: its members write to this machine's disk",
}


class Cluster(Protocol):
    """What the nemesis needs of a cluster (`targets.etcd.cluster.EtcdCluster`)."""

    node_ids: tuple[int, ...]

    def leader(self) -> int | None: ...
    def kill(self, node: int) -> None: ...
    def restart(self, node: int) -> None: ...
    def pause(self, node: int) -> None: ...
    def resume(self, node: int) -> None: ...
    def cut(self, links: Any) -> None: ...
    def slow(self, links: Any, delay_ms: int) -> None: ...
    def lossy(self, links: Any, loss: float, rng: random.Random) -> None: ...
    def heal_links(self, links: Any = None) -> None: ...
    def remove_member(self, node: int) -> None: ...
    def add_member(self, node: int) -> None: ...
    def status(self) -> dict[int, dict[str, Any]]: ...
    def transfer_leadership(self, leader: int, to: int) -> str: ...


class Log(Protocol):
    """Where the nemesis writes what it did: the history and the trace, on one clock."""

    def fault(self, number: int, kind: str, **details: Any) -> None: ...
    def heal(self, number: int, kind: str, **details: Any) -> None: ...
    def event(self, name: str, **fields: Any) -> None: ...


def problems(scenario: Scenario) -> list[tuple[str, str]]:
    """(field, what is wrong) for each fault a real cluster cannot undergo, in schedule
    order; the field as `faults[N].NAME`, so the one-line error says where."""
    found: list[tuple[str, str]] = []
    for number, fault in enumerate(scenario.faults):
        where = f"faults[{number}]"
        if fault.kind in UNSUPPORTED_KINDS:
            found.append((f"{where}.kind", UNSUPPORTED_KINDS[fault.kind]))
        elif fault.after != "time":
            found.append((f"{where}.after", "faults started by a protocol moment need the simulator"))
        elif fault.kind == "link" and fault.duplicate > 0:
            found.append((f"{where}.duplicate", "TCP delivers each byte once: duplicated messages need the simulator"))
    if scenario.nemesis.mode == "random":
        for kind in scenario.nemesis.kinds:
            if kind in UNSUPPORTED_KINDS:
                found.append(("nemesis.kinds", UNSUPPORTED_KINDS[kind]))
        if scenario.nemesis.triggered > 0:
            found.append(("nemesis.triggered", "faults started by a protocol moment need the simulator"))
    return found


@dataclass
class _Active:
    spec: FaultSpec
    undo: Callable[[], None]


class Nemesis:
    """Starts and heals the schedule's faults at their times since `started` (monotonic
    seconds), from its own thread; `heal_all` at the end of the fault period undoes any
    still active, as the simulator's does."""

    def __init__(self, cluster: Cluster, scenario: Scenario, log: Log, started: float) -> None:
        self.cluster = cluster
        self.scenario = scenario
        self.log = log
        self.started = started
        self.active: dict[int, _Active] = {}
        self.count = 0
        self._lock = threading.Lock()
        self.rng = random.Random(0)

    def run(self, stop: threading.Event) -> None:
        """Walk the schedule (starts and heals in time order) until the fault period ends
        or `stop` is set; then heal what is left."""
        moments: list[tuple[int, int, int]] = []  # (ms, 0 heal / 1 start, fault number)
        for number, fault in enumerate(self.scenario.faults):
            if fault.start_ms < self.scenario.duration_ms:
                moments.append((fault.start_ms, 1, number))
                moments.append((min(fault.start_ms + fault.duration_ms, self.scenario.duration_ms), 0, number))
        moments.sort()
        for at_ms, starting, number in moments:
            if stop.wait(max(0.0, self.started + at_ms / 1000 - time.monotonic())):
                break
            if starting:
                self._start(number, self.scenario.faults[number])
            else:
                self._stop(number)
        if not stop.is_set():
            stop.wait(max(0.0, self.started + self.scenario.duration_ms / 1000 - time.monotonic()))
        self.heal_all()

    def heal_all(self) -> None:
        with self._lock:
            numbers = sorted(self.active)
        for number in numbers:
            self._stop(number)

    def _stop(self, number: int) -> None:
        with self._lock:
            active = self.active.pop(number, None)
        if active is None:
            return
        active.undo()
        self.log.heal(number, active.spec.kind)

    def _start(self, number: int, fault: FaultSpec) -> None:
        self.rng = stream(self.scenario.seed, f"fault:{stream_name(fault)}")
        starter: dict[str, Callable[[FaultSpec], tuple[Callable[[], None], dict[str, Any]]]] = {
            "crash": self._crash,
            "pause": self._pause,
            "partition": self._partition,
            "link": self._link,
            "delay": self._delay,
            "member": self._member,
            "transfer": self._transfer,
        }
        undo, details = starter[fault.kind](fault)
        with self._lock:
            self.active[number] = _Active(fault, undo)
            self.count += 1
        self.log.fault(number, fault.kind, **details)

    # --- targets ------------------------------------------------------------------------

    def _targets(self, target: str | tuple[int, ...]) -> list[int]:
        ids = sorted(self.cluster.node_ids)
        if isinstance(target, tuple):
            return sorted(node for node in target if node in ids)
        if target == "all":
            return ids
        if target == "leader":
            leader = self.cluster.leader()
            return [leader] if leader is not None else [self.rng.choice(ids)]
        if target == "minority":
            return sorted(self.rng.sample(ids, (len(ids) - 1) // 2)) or [self.rng.choice(ids)]
        if target == "majority":
            return sorted(self.rng.sample(ids, len(ids) // 2 + 1))
        assert target == "random", target
        return [self.rng.choice(ids)]

    def _down(self) -> set[int]:
        """Nodes a running crash, pause or member change holds: another leaves them be."""
        with self._lock:
            held = [a for a in self.active.values() if a.spec.kind in ("crash", "pause", "member")]
        return {node for active in held for node in getattr(active.undo, "nodes", ())}

    # --- kinds ----------------------------------------------------------------------------

    def _crash(self, fault: FaultSpec) -> tuple[Callable[[], None], dict[str, Any]]:
        nodes = [node for node in self._targets(fault.target) if node not in self._down()]
        for node in nodes:
            self.cluster.kill(node)
            self.log.event("crash", node=node)

        def undo() -> None:
            for node in nodes:
                self.cluster.restart(node)
                self.log.event("started", node=node)  # a restart, whose Raft state is the member's own

        undo.nodes = nodes  # type: ignore[attr-defined]
        return undo, {"nodes": nodes}

    def _pause(self, fault: FaultSpec) -> tuple[Callable[[], None], dict[str, Any]]:
        nodes = [node for node in self._targets(fault.target) if node not in self._down()]
        for node in nodes:
            self.cluster.pause(node)
            self.log.event("pause", node=node)

        def undo() -> None:
            for node in nodes:
                self.cluster.resume(node)
                self.log.event("resume", node=node)

        undo.nodes = nodes  # type: ignore[attr-defined]
        return undo, {"nodes": nodes}

    def _member(self, fault: FaultSpec) -> tuple[Callable[[], None], dict[str, Any]]:
        """Remove the targets from the membership (etcd's member remove; their data is
        deleted) and, when the fault heals, add each back as a new member that starts empty
        and catches up from the others: a failed member replaced. A quorum of the members
        left must answer for either change, so a target that would leave too few is spared."""
        members = len(self.cluster.node_ids)
        nodes: list[int] = []
        for node in self._targets(fault.target):
            if node in self._down() or members - len(nodes) - 1 < members // 2 + 1:
                continue
            self.cluster.remove_member(node)
            self.log.event("member-removed", node=node)
            nodes.append(node)

        def undo() -> None:
            for node in nodes:
                self.cluster.add_member(node)
                self.log.event("member-added", node=node)

        undo.nodes = nodes  # type: ignore[attr-defined]
        return undo, {"nodes": nodes}

    def _transfer(self, fault: FaultSpec) -> tuple[Callable[[], None], dict[str, Any]]:
        """Ask the leader to hand leadership to a follower (etcd's move-leader), as the
        simulator's nemesis does: a random follower, the answering follower whose store is
        furthest behind (`lagging`, by revision; ties drawn), or the node named. etcd answers
        once the target leads or refuses; the line's `outcome` says which. With no leader
        nothing is asked (`leader` null). The heal undoes nothing."""
        views = self.cluster.status()
        leader = self.cluster.leader()
        followers = [node for node in sorted(self.cluster.node_ids) if node != leader and node not in self._down()]
        if leader is None or not followers:
            return (lambda: None), {"nodes": [], "leader": leader, "to": None}
        if isinstance(fault.target, tuple):
            to = fault.target[0]
        else:
            revisions = {node: views[node]["revision"] for node in followers if node in views}
            if fault.target == "lagging" and revisions:
                lowest = min(revisions.values())
                followers = [node for node, revision in revisions.items() if revision == lowest]
            to = self.rng.choice(followers)
        term = views.get(leader, {}).get("term")
        outcome = self.cluster.transfer_leadership(leader, to)
        return (lambda: None), {"nodes": [leader, to], "leader": leader, "term": term, "to": to, "outcome": outcome}

    def _partition(self, fault: FaultSpec) -> tuple[Callable[[], None], dict[str, Any]]:
        ids = sorted(self.cluster.node_ids)
        self.rng.shuffle(ids)
        if fault.shape in ("isolate-node", "isolate-leader"):
            first = self._targets("leader" if fault.shape == "isolate-leader" else fault.target)[0]
            ids.remove(first)
            ids.insert(0, first)
        sides, cut = partition_edges(fault.shape, ids, fault.one_way)
        self.cluster.cut(cut)
        details = {"shape": fault.shape, "one_way": fault.one_way, "sides": sides, "cut": [list(e) for e in cut]}
        return (lambda: self.cluster.heal_links(cut)), details

    def _all_links(self) -> list[tuple[int, int]]:
        ids = sorted(self.cluster.node_ids)
        return [(a, b) for a in ids for b in ids if a != b]

    def _link(self, fault: FaultSpec) -> tuple[Callable[[], None], dict[str, Any]]:
        links = self._all_links()
        self.cluster.lossy(links, fault.loss, random.Random(self.rng.getrandbits(64)))
        return (lambda: self.cluster.heal_links(links)), {"loss": fault.loss, "duplicate": fault.duplicate}

    def _delay(self, fault: FaultSpec) -> tuple[Callable[[], None], dict[str, Any]]:
        """The simulator holds a share of the targets' messages for up to `delay_ms`; over TCP
        a link's bytes stay in order, so here every byte the targets send waits `delay_ms`."""
        nodes = self._targets(fault.target)
        links = [(a, b) for a in nodes for b in sorted(self.cluster.node_ids) if a != b]
        self.cluster.slow(links, fault.delay_ms)
        return (lambda: self.cluster.heal_links(links)), {"nodes": nodes, "delay_ms": fault.delay_ms}
