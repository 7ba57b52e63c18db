"""Workloads: what a client asks for next.

The register workload reads, writes and compare-and-sets a few keys. Written values are
unique (client slot and a counter), which makes every read point at exactly one write and
keeps the linearizability search narrow; a cas expects the value this client last saw for
the key, so that a fair share of them succeed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from scenarios.model import WorkloadSpec


@dataclass(frozen=True, slots=True)
class Operation:
    f: str
    key: str
    value: Any


class RegisterWorkload:
    def __init__(self, spec: WorkloadSpec, slot: int, rng: random.Random) -> None:
        self._rng = rng
        self._keys = [f"k{i}" for i in range(spec.keys)]
        self._weights = [spec.read, spec.write, spec.cas]
        self._slot = slot
        self._counter = 0
        self._seen: dict[str, Any] = {}

    def next_operation(self) -> Operation:
        f = self._rng.choices(("read", "write", "cas"), self._weights)[0]
        key = self._rng.choice(self._keys)
        if f == "read":
            return Operation("read", key, None)
        self._counter += 1
        fresh = self._slot * 1_000_000 + self._counter
        if f == "write":
            return Operation("write", key, fresh)
        return Operation("cas", key, [self._seen.get(key), fresh])

    def final_reads(self) -> list[Operation]:
        return [Operation("read", key, None) for key in self._keys]

    def observe(self, key: str, value: Any) -> None:
        """Remember what this client last saw a key hold, to aim its next cas."""
        self._seen[key] = value
