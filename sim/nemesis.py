"""The nemesis: carries out a scenario's fault schedule, then heals everything.

Targets are resolved when a fault starts (the leader at that moment, a random minority),
with the nemesis's own random stream, so the schedule stays a plain list a person can edit.
Partition shapes follow Jepsen's names. Each fault is undone at its end, or at the heal
that closes the safety phase, whichever comes first.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from raftcore.types import Membership
from scenarios.model import ALL_FAULT_KINDS, FaultSpec
from scenarios.rng import stream
from sim.clock import MS, now_us
from sim.host import Host, endpoint
from sim.membership import MemberFault
from sim.network import Hold, Network
from sim.schedule import call_later
from sim.trace import Trace

Undo = Callable[[], "dict[str, Any] | None"]
"""Ends what a fault started; may return fields for the `heal` line (a clock fault's jumps)."""


@dataclass(slots=True)
class ActiveFault:
    spec: FaultSpec
    undo: Undo
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ClockEffect:
    """What one active clock fault does to the clocks of its nodes. `set` gives them its
    drift and offset (the latest `set` still acting on a node rules it); `bump` and
    `strobe` add `delta_us` to the offset, a strobe only in its `up` half-periods, so
    that bumps and strobes add up over whatever sets the drift and base offset."""

    nodes: tuple[int, ...]
    mode: str
    drift_ppm: int = 0
    offset_us: int = 0
    delta_us: int = 0
    up: bool = True
    acting: bool = True


class Nemesis:
    def __init__(
        self,
        env: simpy.Environment,
        hosts: dict[int, Host],
        network: Network,
        trace: Trace,
        seed: int,
        leader: Callable[[], int | None],
    ) -> None:
        self.env = env
        self.hosts = hosts
        self.network = network
        self.trace = trace
        self.seed = seed
        self.rng = random.Random(0)  # replaced by each fault's own stream as it starts
        self.leader = leader
        self.active: dict[int, ActiveFault] = {}
        self.started = 0
        self.heal_us: int | None = None  # set by `run`: no fault outlasts the heal
        # Each node's own clock setting, which it runs whenever no clock fault acts on it.
        self._own_clocks = {node: (host.clock.drift_ppm, host.clock.offset_us) for node, host in hosts.items()}
        self._clock_effects: dict[int, ClockEffect] = {}  # by fault number, in order of start
        self._starting = -1  # the number of the fault whose starter runs
        self._faults: tuple[FaultSpec, ...] = ()
        self._armed: list[int] = []  # faults waiting for their protocol moment, in order
        self._flipped: set[int] = set()  # nodes whose disk holds a record a flip fault damaged
        # One starter per fault kind the scenario model knows; an explicit table, so that a
        # kind without a starter (or a starter without a kind) is caught here, at once.
        self._starters: dict[str, Callable[[FaultSpec], tuple[Undo, dict[str, Any]]]] = {
            "partition": self._start_partition,
            "crash": self._start_crash,
            "pause": self._start_pause,
            "clock": self._start_clock,
            "link": self._start_link,
            "disk": self._start_disk,
            "delay": self._start_delay,
            "member": self._start_member,
            "transfer": self._start_transfer,
        }
        assert sorted(self._starters) == sorted(ALL_FAULT_KINDS), (sorted(self._starters), ALL_FAULT_KINDS)
        self.new_node_id: Callable[[], int] = lambda: max(hosts) + 1
        """The id of a node that joins (the world's: ids are never reused)."""
        self.membership: Callable[[], Membership] = lambda: Membership(frozenset(hosts))
        """The newest membership applied anywhere (the world's)."""

    def run(self, faults: tuple[FaultSpec, ...], heal_us: int) -> Generator[Any, Any, None]:
        """Start and stop the timed faults at their times; arm the others at theirs (they
        start when `observe_role` sees their moment)."""
        self.heal_us = heal_us
        self._faults = faults
        timeline = []
        for number, fault in enumerate(faults):
            timeline.append((fault.start_ms * MS, 1, number, True))
            if fault.after == "time":
                timeline.append(((fault.start_ms + fault.duration_ms) * MS, 0, number, False))
        timeline.sort()
        for at_us, _order, number, starting in timeline:
            if at_us >= heal_us:
                break
            if at_us > now_us(self.env):
                yield self.env.timeout(at_us - now_us(self.env))
            if not starting:
                if number in self.active:
                    self._stop(number)
            elif faults[number].after == "time":
                self._start(number, faults[number])
            else:
                self._armed.append(number)

    def observe_role(self, node: int, role: str) -> None:
        """A node took `role`: start the armed faults waiting for that moment. They start
        just after the step that made it (a callback at the same instant), so the node's
        own step completes first, as a real crash would find it."""
        moment = {"candidate": "campaign", "leader": "leader"}.get(role)
        if moment is None:
            return
        due = [number for number in self._armed if self._faults[number].after == moment]
        for number in due:
            self._armed.remove(number)
            call_later(self.env, 0, functools.partial(self._start_triggered, number))

    def observe_membership(self) -> None:
        """A membership change just committed (`World._commit_seen`): the node that
        committed it, the leader as a rule, has not yet told anyone. The armed faults
        waiting for that moment start at once, not after the step as `observe_role`'s do,
        so a cut or a crash lands before the commit leaves the node."""
        due = [number for number in self._armed if self._faults[number].after == "membership"]
        for number in due:
            self._armed.remove(number)
            self._start_triggered(number)

    def _start_triggered(self, number: int, _event: simpy.Event | None = None) -> None:
        assert self.heal_us is not None
        if now_us(self.env) >= self.heal_us:
            return  # healed meanwhile: the safety phase is over
        fault = self._faults[number]
        self._start(number, fault)
        if now_us(self.env) + fault.duration_ms * MS < self.heal_us:
            call_later(self.env, fault.duration_ms * MS, functools.partial(self._stop_if_active, number))

    def _stop_if_active(self, number: int, _event: simpy.Event | None = None) -> None:
        if number in self.active:
            self._stop(number)

    def heal_all(self) -> None:
        """Undo every active fault and bring every node back: the end of the safety phase."""
        for number in sorted(self.active, reverse=True):
            self._stop(number)
        for host in self.hosts.values():
            host.restart()
            host.resume()

    def _stop(self, number: int) -> None:
        active = self.active.pop(number)
        healed = active.undo() or {}
        self.trace.emit("heal", id=number, kind=active.spec.kind, **healed, local_us=self._local_times())

    def _start(self, number: int, fault: FaultSpec) -> None:
        # Each fault draws from a stream named by its own content, so deleting or editing
        # one fault (as shrinking does) leaves every other fault's choices as they were.
        self.rng = stream(self.seed, f"fault:{stream_name(fault)}")
        self._starting = number
        undo, details = self._starters[fault.kind](fault)
        if fault.after != "time":
            details["after"] = fault.after
        self.active[number] = ActiveFault(fault, undo, details)
        self.started += 1
        self.trace.emit("fault", id=number, kind=fault.kind, **details, local_us=self._local_times())

    def _local_times(self) -> dict[str, int]:
        """Every node's local clock now, by node id (JSON keys are strings): what each node
        would read off its clock as the fault starts or heals."""
        now = now_us(self.env)
        return {str(node): self.hosts[node].clock.local_us(now) for node in sorted(self.hosts)}

    # --- targets ----------------------------------------------------------------------

    def joined(self, host: Host) -> None:
        """A node joined mid-run (`member`): its own clock setting is the one it has."""
        self._own_clocks[host.node_id] = (host.clock.drift_ppm, host.clock.offset_us)

    def _targets(self, target: str | tuple[int, ...]) -> list[int]:
        ids = sorted(node for node, host in self.hosts.items() if not host.removed)
        if isinstance(target, tuple):
            return sorted(target)
        if target == "all":
            return ids
        if target == "leader":
            leader = self.leader()
            return [leader] if leader is not None else [self.rng.choice(ids)]
        if target == "minority":
            return sorted(self.rng.sample(ids, (len(ids) - 1) // 2)) or [self.rng.choice(ids)]
        if target == "majority":
            return sorted(self.rng.sample(ids, len(ids) // 2 + 1))
        assert target == "random", target
        return [self.rng.choice(ids)]

    # --- fault kinds ------------------------------------------------------------------

    def _start_crash(self, fault: FaultSpec) -> tuple[Undo, dict[str, Any]]:
        nodes = [n for n in self._targets(fault.target) if self.hosts[n].state != "crashed"]
        for node in nodes:
            self.hosts[node].crash()

        def undo() -> None:
            for node in nodes:
                self.hosts[node].restart()

        return undo, {"nodes": nodes}

    def _start_pause(self, fault: FaultSpec) -> tuple[Undo, dict[str, Any]]:
        nodes = [n for n in self._targets(fault.target) if self.hosts[n].state == "running"]
        for node in nodes:
            self.hosts[node].pause()

        def undo() -> None:
            for node in nodes:
                self.hosts[node].resume()

        return undo, {"nodes": nodes}

    def _start_clock(self, fault: FaultSpec) -> tuple[Undo, dict[str, Any]]:
        """Set, bump or strobe the targets' clocks (`ClockEffect`); the node's timers follow
        at once (`Host.retime_ticks`). The fault's line, each strobe flip's `clock` line and
        the heal's line say how far each clock jumped and when each node ticks next."""
        number = self._starting
        nodes = tuple(self._targets(fault.target))
        effect = ClockEffect(nodes, fault.mode, fault.drift_ppm, fault.offset_ms * MS, fault.delta_ms * MS)
        self._clock_effects[number] = effect
        details: dict[str, Any] = {"nodes": list(nodes), "mode": fault.mode}
        if fault.mode == "set":
            details.update(drift_ppm=fault.drift_ppm, offset_us=fault.offset_ms * MS)
        else:
            details["delta_us"] = fault.delta_ms * MS
        if fault.mode == "strobe":
            details["period_us"] = fault.strobe_period_ms * MS
            period_us = fault.strobe_period_ms * MS
            assert period_us > 0, "the loader requires a strobe's period"
            call_later(self.env, period_us, functools.partial(self._flip, number, period_us))
        details.update(self._set_clocks(nodes))

        def undo() -> dict[str, Any]:
            # Whichever of overlapping clock faults ends first, the others keep acting and
            # the node's own setting comes back only when none does.
            effect.acting = False
            del self._clock_effects[number]
            return self._set_clocks(nodes)

        return undo, details

    def _flip(self, number: int, period_us: int, _event: simpy.Event | None = None) -> None:
        """A strobe's clocks flap between true time and time + delta, every period."""
        effect = self._clock_effects.get(number)
        if effect is None or not effect.acting:
            return  # healed: its flips stop
        effect.up = not effect.up
        changes = self._set_clocks(effect.nodes)
        self.trace.emit(
            "clock", id=number, nodes=list(effect.nodes), up=effect.up, **changes, local_us=self._local_times()
        )
        call_later(self.env, period_us, functools.partial(self._flip, number, period_us))

    def _set_clocks(self, nodes: tuple[int, ...]) -> dict[str, Any]:
        """Give each node the clock setting its acting faults make, and plan its ticks anew.
        Returns, by node, how far its clock jumped (`jump_us`, local time after less before)
        and the true time of its next tick (`next_tick_us`): after a jump back, the end of
        the stall, which the checkers need to know when the node's timers run again."""
        now = now_us(self.env)
        jumps, next_ticks = {}, {}
        for node in nodes:
            host = self.hosts[node]
            before_us = host.clock.local_us(now)
            host.clock.set(now, *self._clock_setting(node))
            jumps[str(node)] = host.clock.local_us(now) - before_us
            next_ticks[str(node)] = host.retime_ticks()
        return {"jump_us": jumps, "next_tick_us": next_ticks}

    def _clock_setting(self, node: int) -> tuple[int, int]:
        """(drift, offset) of `node`'s clock: the latest acting `set` fault's, else its own,
        plus the deltas of the bumps and raised strobes acting on it."""
        drift_ppm, offset_us = self._own_clocks[node]
        added_us = 0
        for effect in self._clock_effects.values():
            if node not in effect.nodes:
                continue
            if effect.mode == "set":
                drift_ppm, offset_us = effect.drift_ppm, effect.offset_us
            elif effect.up:
                added_us += effect.delta_us
        return drift_ppm, offset_us + added_us

    def _start_disk(self, fault: FaultSpec) -> tuple[Undo, dict[str, Any]]:
        if fault.effect != "slow":
            return self._start_lying_disk(fault)
        nodes = self._targets(fault.target)
        for node in nodes:
            self.hosts[node].disk.slow_factor = fault.slow_factor

        def undo() -> None:
            for node in nodes:
                self.hosts[node].disk.slow_factor = 1

        return undo, {"nodes": nodes, "slow_factor": fault.slow_factor}

    def _start_lying_disk(self, fault: FaultSpec) -> tuple[Undo, dict[str, Any]]:
        """A disk that tears, flips or fills up (`sim.disk`); every draw is the fault's own."""
        nodes = self._targets(fault.target)
        details: dict[str, Any] = {"nodes": nodes, "effect": fault.effect}
        if fault.effect == "flip":
            # A flipped record keeps its node down for good once it restarts: a majority
            # of intact disks is spared, or no cluster could go on and every liveness
            # check after the heal would blame Raft for what the disks did.
            members = sum(1 for host in self.hosts.values() if not host.removed)
            spare = (members - 1) // 2 - len(self._flipped)
            flipped = {}
            for node in nodes:
                if node in self._flipped or spare > 0:
                    damage = self.hosts[node].disk.flip(self.rng)
                    if damage is not None:
                        spare -= node not in self._flipped
                        self._flipped.add(node)
                        flipped[str(node)] = damage.fields()
            details["flipped"] = flipped
            return (lambda: None), details
        if fault.effect == "torn":
            for node in nodes:
                self.hosts[node].disk.tear_rng = random.Random(self.rng.getrandbits(64))

            def untear() -> None:
                acting = self._acting_disk_nodes("torn")
                for node in nodes:
                    if node not in acting:
                        self.hosts[node].disk.tear_rng = None

            return untear, details
        assert fault.effect == "full", fault.effect
        for node in nodes:
            self.hosts[node].disk.full = True

        def empty() -> None:
            acting = self._acting_disk_nodes("full")
            for node in nodes:
                if node not in acting:
                    self.hosts[node].disk.full = False
                    self.hosts[node].disk_healed()

        return empty, details

    def _acting_disk_nodes(self, effect: str) -> set[int]:
        """The nodes a still active disk fault of `effect` acts on (the one being undone
        is no longer active)."""
        acting: set[int] = set()
        for active in self.active.values():
            if active.spec.kind == "disk" and active.spec.effect == effect:
                acting.update(active.details.get("nodes", ()))
        return acting

    def _start_link(self, fault: FaultSpec) -> tuple[Undo, dict[str, Any]]:
        self.network.extra_loss = max(self.network.extra_loss, fault.loss)
        self.network.extra_duplicate = max(self.network.extra_duplicate, fault.duplicate)

        def undo() -> None:
            others = [a.spec for a in self.active.values() if a.spec.kind == "link"]
            self.network.extra_loss = max((s.loss for s in others), default=0.0)
            self.network.extra_duplicate = max((s.duplicate for s in others), default=0.0)

        return undo, {"loss": fault.loss, "duplicate": fault.duplicate}

    def _start_delay(self, fault: FaultSpec) -> tuple[Undo, dict[str, Any]]:
        """Hold a share of the targets' messages to the other nodes for up to `delay_ms`;
        they arrive late (by the fault's end at the latest), never lost, often after the
        cluster moved to a later term, and in another order than they were sent."""
        nodes = self._targets(fault.target)
        key = self.started  # one per fault started: unique among the active holds
        end_us = now_us(self.env) + fault.duration_ms * MS  # a triggered fault starts after start_ms
        hold = Hold(
            sources=frozenset(endpoint(node) for node in nodes),
            destinations=frozenset(endpoint(node) for node in self.hosts),
            share=fault.share,
            longest_us=fault.delay_ms * MS,
            until_us=end_us if self.heal_us is None else min(end_us, self.heal_us),
            rng=random.Random(self.rng.getrandbits(64)),
        )
        self.network.hold(key, hold)
        return (lambda: self.network.release(key)), {"nodes": nodes, "delay_ms": fault.delay_ms, "share": fault.share}

    def _start_member(self, fault: FaultSpec) -> tuple[Undo, dict[str, Any]]:
        """Remove the targets from the membership, one change after the other, and replace
        each by a new member when the fault heals (`sim.membership`)."""
        nodes = self._targets(fault.target)
        member = MemberFault(self.env, self.hosts, self.leader, self.new_node_id, self.membership, nodes)
        self.env.process(member.remove())
        return (lambda: {"joining": member.heal()}), {"nodes": nodes}

    def _start_transfer(self, fault: FaultSpec) -> tuple[Undo, dict[str, Any]]:
        """Ask the leader to hand leadership to a follower (`RaftNode.transfer_leadership`),
        as an operator would before taking its machine down: the leader stops taking
        proposals, catches the target up, and sends it TIMEOUT_NOW. The target is a random
        follower, the running follower with the shortest log (`lagging`; ties drawn), or the
        node named. With no leader to ask, nothing happens and the line says so (`leader`
        null). The heal undoes nothing: leadership stays where the transfer left it."""
        leader = self.leader()
        followers = [node for node, host in sorted(self.hosts.items()) if node != leader and not host.removed]
        if leader is None or not followers:
            return (lambda: None), {"nodes": [], "leader": leader, "to": None}
        to = self._transfer_target(fault.target, followers)
        term = self.hosts[leader].term()
        self.hosts[leader].transfer_leadership(to)
        return (lambda: None), {"nodes": [leader, to], "leader": leader, "term": term, "to": to}

    def _transfer_target(self, target: str | tuple[int, ...], followers: list[int]) -> int:
        if isinstance(target, tuple):
            return target[0]  # the loader allows one node
        lengths = {node: self.hosts[node].last_index() for node in followers}
        running = {node: length for node, length in lengths.items() if length is not None}
        if target == "lagging" and running:
            shortest = min(running.values())
            return self.rng.choice([node for node, length in running.items() if length == shortest])
        assert target in ("random", "lagging"), target
        return self.rng.choice(followers)

    def _start_partition(self, fault: FaultSpec) -> tuple[Undo, dict[str, Any]]:
        sides, cut = partition_edges(fault.shape, self._shape_order(fault), fault.one_way)
        edges = [(endpoint(a), endpoint(b)) for a, b in cut]
        self.network.cut(edges)
        return (lambda: self.network.restore(edges)), {
            "shape": fault.shape,
            "one_way": fault.one_way,
            "sides": sides,
            "cut": [list(e) for e in cut],
        }

    def _shape_order(self, fault: FaultSpec) -> list[int]:
        """The nodes in the order the shape is cut from: the target (leader, chosen node)
        first, the rest shuffled."""
        ids = sorted(node for node, host in self.hosts.items() if not host.removed)
        self.rng.shuffle(ids)
        if fault.shape in ("isolate-node", "isolate-leader"):
            first = self._targets("leader" if fault.shape == "isolate-leader" else fault.target)[0]
            ids.remove(first)
            ids.insert(0, first)
        return ids


def stream_name(fault: FaultSpec) -> str:
    """The name of a fault's random stream: its repr, which leaves out the fields added
    since the first fault kinds (`scenarios.model.ADDED`), so a fault written before they
    existed keeps its dice, followed by those of them that are set."""
    added = [
        f"{spec.name}={getattr(fault, spec.name)!r}"
        for spec in dataclasses.fields(fault)
        if spec.metadata.get("added") and getattr(fault, spec.name) != spec.default
    ]
    return repr(fault) + "".join(f" {text}" for text in added)


def partition_edges(shape: str, order: list[int], one_way: bool) -> tuple[list[list[int]], list[tuple[int, int]]]:
    """The sides (for display) and the directed edges to cut for a Jepsen-named shape.
    `order` is the nodes in cutting order; one-way cuts only edges leaving the first side."""
    count = len(order)
    if shape == "majorities-ring":
        reach = (count // 2 + 1) // 2  # each node keeps its nearest neighbours: a majority with itself
        cut = [
            (a, b)
            for i, a in enumerate(order)
            for j, b in enumerate(order)
            if a != b and min((i - j) % count, (j - i) % count) > reach
        ]
        return [[n] for n in order], sorted(cut)
    if shape in ("isolate-node", "isolate-leader"):
        sides = [order[:1], order[1:]]
    elif shape == "halves":
        sides = [order[: count // 2], order[count // 2 :]]
    else:
        assert shape == "bridge", shape
        half = (count - 1) // 2
        sides = [order[:half], order[half + 1 :]]  # order[half] is the bridge, seeing both
    cut = [(a, b) for a in sides[0] for b in sides[1]]
    if not one_way:
        cut += [(b, a) for a, b in cut]
    return [sorted(side) for side in sides], sorted(cut)
