"""The network: a directed networkx graph over servers and clients.

An edge is a link that can carry messages one way; its attributes say how (latency,
jitter, loss, duplication). A partition removes edges and healing puts them back; cuts
are counted so that overlapping faults heal independently. A message is checked against
the graph both when it leaves and when it arrives, so a partition also drops what was in
flight, as a firewall rule would.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import simpy


@dataclass(frozen=True, slots=True)
class LinkSpec:
    latency_us: int
    jitter_us: int
    loss: float = 0.0
    duplicate: float = 0.0


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

    def add_endpoint(self, name: str, handler: Callable[[str, Any], None]) -> None:
        self.graph.add_node(name)
        self._handlers[name] = handler

    def link(self, a: str, b: str, spec: LinkSpec) -> None:
        """Connect a and b both ways."""
        for src, dst in ((a, b), (b, a)):
            self._base[(src, dst)] = spec
            self.graph.add_edge(src, dst, spec=spec)

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

    def connected(self, src: str, dst: str) -> bool:
        return self.graph.has_edge(src, dst)

    def send(self, src: str, dst: str, payload: Any) -> None:
        self.sent += 1
        edges = self.graph._succ[src]  # a plain dict: the hot path avoids networkx's views
        attributes = edges.get(dst)
        if attributes is None:
            return
        spec: LinkSpec = attributes["spec"]
        rng = self._rng
        loss = spec.loss if spec.loss > self.extra_loss else self.extra_loss
        if loss and rng.random() < loss:
            return
        copies = 1
        duplicate = spec.duplicate if spec.duplicate > self.extra_duplicate else self.extra_duplicate
        if duplicate and rng.random() < duplicate:
            copies = 2
        for _ in range(copies):
            delay = spec.latency_us + int(rng.random() * (spec.jitter_us + 1))
            self._env.timeout(delay).callbacks.append(self._arrival(src, dst, payload))

    def _arrival(self, src: str, dst: str, payload: Any) -> Callable[[object], None]:
        def arrive(_event: object) -> None:
            if dst in self.graph._succ[src]:
                self.delivered += 1
                self._handlers[dst](src, payload)
        return arrive
