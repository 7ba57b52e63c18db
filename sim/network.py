"""The network: a directed networkx graph over servers and clients.

An edge is a link that can carry messages one way; its attributes say how (latency,
jitter, loss, duplication), and the two directions between a pair may differ (a slow or
lossy uplink beside a healthy downlink). A partition removes edges and healing puts them
back; cuts are counted so that overlapping faults heal independently. A message is checked
against the graph both when it leaves and when it arrives, so a partition also drops what
was in flight, as a firewall rule would.

A hold (the nemesis's delay fault) keeps some messages in the network for up to seconds
and then delivers them: unlike loss, the message does arrive, after the cluster may have
moved on to later terms, and held messages overtake each other. Each hold draws from its
own random stream, so the network's own dice are the same whether or not a hold is on.

An optional observer follows messages through the network for a message sequence diagram:
it numbers the sends it cares about and hears, for each copy, that it arrived or why it was
dropped. It is None unless asked for, so an untraced run pays one `is None` test per send
and draws exactly the same dice either way.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import networkx as nx
import simpy

from sim.schedule import call_later


@dataclass(frozen=True, slots=True)
class LinkSpec:
    latency_us: int
    jitter_us: int
    loss: float = 0.0
    duplicate: float = 0.0


@dataclass(frozen=True, slots=True)
class Hold:
    """Messages from `sources` to `destinations` are each held, with probability `share`,
    for a uniform time between half of `longest_us` and all of it (long enough to matter,
    spread enough to reorder), but never past `until_us` (the fault's end): what is still
    held then arrives in a burst, in no particular order."""

    sources: frozenset[str]
    destinations: frozenset[str]
    share: float
    longest_us: int
    until_us: int
    rng: random.Random

    def __post_init__(self) -> None:
        assert 0.0 < self.share <= 1.0, self.share
        assert self.longest_us > 0, self.longest_us

    def extra_us(self, now_us: int) -> int:
        """How much longer one message is held (0: not held); draws from the hold's own
        stream only."""
        if self.share < 1.0 and self.rng.random() >= self.share:
            return 0
        held_us = self.longest_us - self.rng.randrange(self.longest_us // 2 + 1)
        return min(held_us, max(0, self.until_us - now_us))


class MessageObserver(Protocol):
    """Hears what becomes of sent messages. Must not draw randomness or schedule events:
    a traced run has to be the same run as an untraced one."""

    def sent(self, src: str, dst: str, payload: Any) -> int:
        """Called before the network looks at the link; returns the message's id, or 0 to
        leave this message unobserved."""
        ...

    def arrived(self, message_id: int, src: str, dst: str) -> None:
        """A copy reached dst's endpoint; called just before dst's handler runs."""
        ...

    def dropped(self, message_id: int, src: str, dst: str, reason: str) -> None:
        """A copy was lost: `loss`, `cut` (no link when sent) or `cut-in-flight`."""
        ...


class Network:
    def __init__(self, env: simpy.Environment, rng: random.Random) -> None:
        self._env = env
        self._rng = rng
        self.graph: nx.DiGraph = nx.DiGraph()
        self._base: dict[tuple[str, str], LinkSpec] = {}
        self._cuts: Counter[tuple[str, str]] = Counter()
        self._handlers: dict[str, Callable[[str, Any], None]] = {}
        self.extra_loss = 0.0
        self.extra_duplicate = 0.0
        self.sent = 0
        self.delivered = 0
        self.observer: MessageObserver | None = None
        self.holds: dict[int, Hold] = {}

    def add_endpoint(self, name: str, handler: Callable[[str, Any], None]) -> None:
        self.graph.add_node(name)
        self._handlers[name] = handler

    def link(self, a: str, b: str, spec: LinkSpec) -> None:
        """Connect a and b both ways."""
        for src, dst in ((a, b), (b, a)):
            self.link_one_way(src, dst, spec)

    def link_one_way(self, src: str, dst: str, spec: LinkSpec) -> None:
        """Set how src's messages reach dst, leaving dst to src as it is. A link that is cut
        now gets the new spec back when it heals."""
        self._base[(src, dst)] = spec
        if self._cuts[(src, dst)] == 0:
            self.graph.add_edge(src, dst, spec=spec)

    def hold(self, key: int, hold: Hold) -> None:
        """Start holding messages (see `Hold`) until `release(key)`."""
        assert key not in self.holds, key
        self.holds[key] = hold

    def release(self, key: int) -> None:
        """Hold no more messages for `key`; those already held arrive as drawn."""
        del self.holds[key]

    def reaches(self, src: str, dst: str) -> bool:
        """Whether `src` has a link to `dst` now (no partition cuts it)."""
        return dst in self.graph._succ[src]

    def cut(self, edges: Iterable[tuple[str, str]]) -> None:
        for edge in edges:
            self._cuts[edge] += 1
            if self._cuts[edge] == 1 and self.graph.has_edge(*edge):
                self.graph.remove_edge(*edge)

    def restore(self, edges: Iterable[tuple[str, str]]) -> None:
        for edge in edges:
            assert self._cuts[edge] > 0, f"restoring an edge that was not cut: {edge}"
            self._cuts[edge] -= 1
            if self._cuts[edge] == 0:
                del self._cuts[edge]
                self.graph.add_edge(*edge, spec=self._base[edge])

    def send(self, src: str, dst: str, payload: Any) -> None:
        self.sent += 1
        observer = self.observer
        message_id = 0 if observer is None else observer.sent(src, dst, payload)
        edges = self.graph._succ[src]  # a plain dict: the hot path avoids networkx's views
        attributes = edges.get(dst)
        if attributes is None:
            if message_id:
                self._dropped(message_id, src, dst, "cut")
            return
        spec: LinkSpec = attributes["spec"]
        rng = self._rng
        loss = spec.loss if spec.loss > self.extra_loss else self.extra_loss
        if loss and rng.random() < loss:
            if message_id:
                self._dropped(message_id, src, dst, "loss")
            return
        copies = 1
        duplicate = spec.duplicate if spec.duplicate > self.extra_duplicate else self.extra_duplicate
        if duplicate and rng.random() < duplicate:
            copies = 2
        for _ in range(copies):
            delay = spec.latency_us + int(rng.random() * (spec.jitter_us + 1))
            if self.holds:
                delay += self._held_us(src, dst)
            arrive = (
                self._observed_arrival(message_id, src, dst, payload)
                if message_id
                else (self._arrival(src, dst, payload))
            )
            call_later(self._env, delay, arrive)

    def _held_us(self, src: str, dst: str) -> int:
        """The longest extra time any hold on src->dst keeps this copy (holds in the order
        they started, each drawing once, so the dice do not depend on which wins)."""
        now = self._env.now
        extra = 0
        for hold in self.holds.values():
            if src in hold.sources and dst in hold.destinations:
                extra = max(extra, hold.extra_us(int(now)))
        return extra

    def _dropped(self, message_id: int, src: str, dst: str, reason: str) -> None:
        assert self.observer is not None
        assert message_id > 0
        self.observer.dropped(message_id, src, dst, reason)

    def _arrival(self, src: str, dst: str, payload: Any) -> Callable[[object], None]:
        def arrive(_event: object) -> None:
            if dst in self.graph._succ[src]:
                self.delivered += 1
                self._handlers[dst](src, payload)

        return arrive

    def _observed_arrival(self, message_id: int, src: str, dst: str, payload: Any) -> Callable[[object], None]:
        """`_arrival` that also reports the outcome. The observer is fixed when the copy is
        sent, so a copy in flight is reported to whoever numbered it."""
        observer = self.observer
        assert observer is not None
        assert message_id > 0

        def arrive(_event: object) -> None:
            if dst in self.graph._succ[src]:
                self.delivered += 1
                observer.arrived(message_id, src, dst)
                self._handlers[dst](src, payload)
            else:
                observer.dropped(message_id, src, dst, "cut-in-flight")

        return arrive
