"""A disk whose writes become durable only when their fsync completes.

Writes complete in order, each after an fsync latency drawn from the disk's stream. A
crash drops every write still in flight: what the node believed persisted may be gone,
which is exactly the window that `send-before-persist` exposes.

The disk holds a hard state, the latest snapshot and the log entries after it. A snapshot
from the leader replaces the whole log (the entries of the same write follow it); the
node's own snapshot of its applied state keeps the entries after its index, as etcd keeps
its WAL from the snapshot on.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import simpy

from raftcore.types import Entry, HardState, PersistedState, Snapshot
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
        self._snapshot: Snapshot | None = None
        self._epoch = 0
        self._busy_until_us = 0
        self.writes = 0

    def durable_state(self) -> PersistedState:
        return PersistedState(self._hard_state, tuple(self._entries), self._snapshot)

    def write(
        self,
        hard_state: HardState | None,
        entries: tuple[Entry, ...],
        done: Callable[[], None],
        snapshot: Snapshot | None = None,
    ) -> None:
        """Schedule a durable write; `done` runs when it is synced, unless a crash intervenes.
        A `snapshot` (the leader's) replaces the log before `entries` are written after it."""
        self._schedule(lambda: self._sync(hard_state, entries, snapshot), done)

    def save_snapshot(self, snapshot: Snapshot, done: Callable[[], None]) -> None:
        """Schedule writing the node's own snapshot; the entries after it stay."""
        self._schedule(lambda: self._sync_own_snapshot(snapshot), done)

    def _schedule(self, sync: Callable[[], None], done: Callable[[], None]) -> None:
        latency_us = self.fsync_us + int(self._rng.random() * (self.fsync_jitter_us + 1))
        now = now_us(self._env)
        finish_us = max(now, self._busy_until_us) + latency_us * self.slow_factor
        self._busy_until_us = finish_us
        epoch = self._epoch
        self.writes += 1

        def complete(_event: object) -> None:
            if epoch != self._epoch:
                return
            sync()
            done()

        call_later(self._env, finish_us - now, complete)

    def crash(self) -> None:
        self._epoch += 1
        self._busy_until_us = now_us(self._env)

    def _sync(self, hard_state: HardState | None, entries: tuple[Entry, ...], snapshot: Snapshot | None) -> None:
        if hard_state is not None:
            self._hard_state = hard_state
        if snapshot is not None:
            self._snapshot = snapshot
            self._entries = []
        if entries:
            position = entries[0].index - 1 - self.snapshot_index
            assert 0 <= position <= len(self._entries), "a write never leaves a gap in the log"
            del self._entries[position:]
            self._entries.extend(entries)

    def _sync_own_snapshot(self, snapshot: Snapshot) -> None:
        if snapshot.index <= self.snapshot_index:
            return  # a leader's later snapshot was written first
        self._entries = [entry for entry in self._entries if entry.index > snapshot.index]
        self._snapshot = snapshot

    @property
    def snapshot_index(self) -> int:
        return 0 if self._snapshot is None else self._snapshot.index
