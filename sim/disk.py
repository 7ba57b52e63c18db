"""A disk whose writes become durable only when their fsync completes.

Writes complete in order, each after an fsync latency drawn from the disk's stream. A
crash drops every write still in flight: what the node believed persisted may be gone,
which is exactly the window that `send-before-persist` exposes.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import simpy

from raftcore.types import Entry, HardState, PersistedState
from sim.clock import now_us
from sim.schedule import call_later


class Disk:
    def __init__(self, env: simpy.Environment, rng: random.Random, fsync_us: int, fsync_jitter_us: int) -> None:
        self._env = env
        self._rng = rng
        self.fsync_us = fsync_us
        self.fsync_jitter_us = fsync_jitter_us
        self.slow_factor = 1
        self._hard_state = HardState()
        self._entries: list[Entry] = []
        self._epoch = 0
        self._busy_until_us = 0
        self.writes = 0

    def durable_state(self) -> PersistedState:
        return PersistedState(self._hard_state, tuple(self._entries))

    def write(self, hard_state: HardState | None, entries: tuple[Entry, ...], done: Callable[[], None]) -> None:
        """Schedule a durable write; `done` runs when it is synced, unless a crash intervenes."""
        latency_us = self.fsync_us + int(self._rng.random() * (self.fsync_jitter_us + 1))
        now = now_us(self._env)
        finish_us = max(now, self._busy_until_us) + latency_us * self.slow_factor
        self._busy_until_us = finish_us
        epoch = self._epoch
        self.writes += 1

        def complete(_event: object) -> None:
            if epoch != self._epoch:
                return
            self._sync(hard_state, entries)
            done()

        call_later(self._env, finish_us - now, complete)

    def crash(self) -> None:
        self._epoch += 1
        self._busy_until_us = now_us(self._env)

    def _sync(self, hard_state: HardState | None, entries: tuple[Entry, ...]) -> None:
        if hard_state is not None:
            self._hard_state = hard_state
        if entries:
            first = entries[0].index
            assert first <= len(self._entries) + 1, "a write never leaves a gap in the log"
            del self._entries[first - 1 :]
            self._entries.extend(entries)
