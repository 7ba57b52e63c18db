"""A disk whose writes become durable only when their fsync completes, and that may lie.

Writes complete in order, each after an fsync latency drawn from the disk's stream. A
crash drops every write still in flight: what the node believed persisted may be gone,
which is exactly the window that `send-before-persist` exposes.

The disk holds a hard state, the latest snapshot and the log entries after it. A snapshot
from the leader replaces the whole log (the entries of the same write follow it); the
node's own snapshot of its applied state keeps the entries after its index, as etcd keeps
its WAL from the snapshot on.

What is stored is records (`sim.records`): each entry, the hard state and a snapshot, each
with a CRC-32 of its bytes, verified when a restart reads them back (`read_back`). The disk
faults of the nemesis act here, after Jepsen's lazyfs and FoundationDB's non-durable files:

- torn (`tear_rng` set): a crash leaves the write the disk was busy with (the oldest in
  flight) torn. A Ready's records go to disk in the order etcd's WAL writes them (a
  snapshot, the entries, then the hard state); the crash lands inside the first, which is
  left cut at a point drawn from the fault's stream, and nothing after it was written. Only
  a write that was never reported synced is touched, as with a real torn write: no
  acknowledged record is ever lost. The cut record is the tail of what is stored; a restart
  drops it (etcd's WAL repair truncates a torn tail) and reads back exactly what was synced.
- flip (`flip`): one bit of one stored record inverted. Its checksum fails at the next
  read: the node refuses to start (etcd panics on a corrupt WAL), wherever the record is.
- full (`full`): writes are refused while it lasts; the host stops (etcd treats a failed
  WAL write as fatal) and cannot start again until the disk has room.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import simpy

from raftcore.types import Entry, HardState, PersistedState, Snapshot
from sim.clock import now_us
from sim.records import (
    ENTRY,
    HARD_STATE,
    HEADER_BYTES,
    Record,
    entry_of,
    entry_record,
    hard_state_of,
    hard_state_record,
    snapshot_of,
    snapshot_record,
)
from sim.schedule import call_later


@dataclass(frozen=True, slots=True)
class Damage:
    """Which record a disk fault damaged: its kind (`sim.records.KINDS`) and, for an entry
    or a snapshot, its index (None for the hard state)."""

    record: str
    index: int | None

    def fields(self) -> dict[str, object]:
        """As a trace line carries it."""
        return {"record": self.record, "index": self.index}


def _damage(record: Record) -> Damage:
    return Damage(record.kind, None if record.kind == HARD_STATE else record.at_index)


@dataclass(frozen=True, slots=True)
class ReadBack:
    """What a restart reads from the disk. `state` is None when a record failed its
    checksum (`corrupt` names the first): the node must not start. `repaired` names a torn
    tail record the read dropped; `garbled` one it loaded as an entry regardless (only
    under the planted bug `restart-ignores-torn-record`)."""

    state: PersistedState | None
    corrupt: Damage | None = None
    repaired: Damage | None = None
    garbled: Damage | None = None


class _Write(NamedTuple):
    """One write in flight (a named tuple: one is built per write, on the hot path)."""

    hard_state: HardState | None
    entries: tuple[Entry, ...]
    snapshot: Snapshot | None
    own_snapshot: bool = False
    """The snapshot is the node's own (`save_snapshot`), not a leader's."""

    def records(self) -> list[Record]:
        """The write's records in the order they reach the disk (etcd's WAL.Save order)."""
        records = [snapshot_record(self.snapshot)] if self.snapshot is not None else []
        records.extend(entry_record(entry) for entry in self.entries)
        if self.hard_state is not None:
            records.append(hard_state_record(self.hard_state))
        return records


class Disk:
    def __init__(self, env: simpy.Environment, rng: random.Random, fsync_us: int, fsync_jitter_us: int) -> None:
        self._env = env
        self._rng = rng
        self.fsync_us = fsync_us
        self.fsync_jitter_us = fsync_jitter_us
        self.slow_factor = 1
        self._hard_state: Record | None = None
        self._snapshot: Record | None = None
        self._entries: list[Record] = []
        self._first_index = 1
        """The index of `_entries[0]`: 1, or the one after the stored snapshot's."""
        self._tail: Record | None = None
        """A torn record after everything else stored: the write a crash interrupted."""
        self._in_flight: deque[_Write] = deque()
        self._epoch = 0
        self._busy_until_us = 0
        self.writes = 0
        self.tear_rng: random.Random | None = None
        """Set while a torn-write fault acts on this disk: where a crash cuts its record."""
        self.full = False
        """Set while a disk-full fault acts on this disk: every write is refused."""

    def restore(self, snapshot: Snapshot, hard_state: HardState) -> None:
        """Start from a restored backup (`raftcore.restore`): before the node first runs,
        the disk holds `snapshot` and `hard_state` and no entries, as if long synced."""
        assert self.writes == 0 and self._snapshot is None, "a disk is restored before its first write"
        self._snapshot = snapshot_record(snapshot)
        self._hard_state = hard_state_record(hard_state)
        self._first_index = snapshot.index + 1

    def durable_state(self) -> PersistedState:
        """What the disk holds, every record intact (asserted: a disk no fault touched)."""
        back = self.read_back()
        assert back.state is not None and back.repaired is None, back
        return back.state

    def write(
        self,
        hard_state: HardState | None,
        entries: tuple[Entry, ...],
        done: Callable[[], None],
        snapshot: Snapshot | None = None,
    ) -> bool:
        """Schedule a durable write; `done` runs when it is synced, unless a crash
        intervenes. A `snapshot` (the leader's) replaces the log before `entries` are
        written after it. False, and nothing scheduled, when the disk is full."""
        return self._schedule(_Write(hard_state, entries, snapshot), done)

    def save_snapshot(self, snapshot: Snapshot, done: Callable[[], None]) -> bool:
        """Schedule writing the node's own snapshot; the entries after it stay. False, and
        nothing scheduled, when the disk is full."""
        return self._schedule(_Write(None, (), snapshot, own_snapshot=True), done)

    def _schedule(self, write: _Write, done: Callable[[], None]) -> bool:
        if self.full:
            return False
        latency_us = self.fsync_us + int(self._rng.random() * (self.fsync_jitter_us + 1))
        now = now_us(self._env)
        finish_us = max(now, self._busy_until_us) + latency_us * self.slow_factor
        self._busy_until_us = finish_us
        epoch = self._epoch
        self.writes += 1
        self._in_flight.append(write)

        def complete(_event: object) -> None:
            if epoch != self._epoch:
                return
            assert self._in_flight[0] is write, "writes complete in the order they were made"
            self._in_flight.popleft()
            self._sync(write)
            done()

        call_later(self._env, finish_us - now, complete)
        return True

    def crash(self) -> Damage | None:
        """Lose every write in flight; under a torn-write fault, leave the one the disk was
        busy with cut (see the module's doc) and return what it cut."""
        torn = None
        if self.tear_rng is not None and self._in_flight:
            first = self._in_flight[0].records()[0]
            self._tail = first.cut(self.tear_rng.randrange(first.length))
            torn = _damage(first)
        self._in_flight.clear()
        self._epoch += 1
        self._busy_until_us = now_us(self._env)
        return torn

    def flip(self, rng: random.Random) -> Damage | None:
        """Invert one bit of one stored record, both drawn from `rng`; None if nothing is
        stored yet."""
        stored = ([] if self._snapshot is None else [self._snapshot]) + (
            [] if self._hard_state is None else [self._hard_state]
        )
        count = len(stored) + len(self._entries)
        if count == 0:
            return None
        pick = rng.randrange(count)
        if pick < len(stored):
            record = stored[pick]
            damaged = record.flipped(rng.randrange(8 * len(record.payload)))
            if record is self._snapshot:
                self._snapshot = damaged
            else:
                self._hard_state = damaged
        else:
            record = self._entries[pick - len(stored)]
            self._entries[pick - len(stored)] = record.flipped(rng.randrange(8 * len(record.payload)))
        return _damage(record)

    def read_back(self, keep_torn: bool = False) -> ReadBack:
        """Read and verify every record, as a restart does. A torn tail record is dropped
        from the disk (repaired); with `keep_torn` (the planted bug) an entry record whose
        header survived is loaded with whatever data survived, and kept."""
        for record in self._stored():
            if record.problem() is not None:
                return ReadBack(None, corrupt=_damage(record))
        repaired = garbled = None
        tail, self._tail = self._tail, None
        if tail is not None:
            assert tail.problem() is not None, "only a torn record is left at the tail"
            if keep_torn and tail.kind == ENTRY and len(tail.payload) >= HEADER_BYTES:
                self._store_entries((entry_of(tail),))
                garbled = _damage(tail)
            else:
                repaired = _damage(tail)
        hard_state = HardState() if self._hard_state is None else hard_state_of(self._hard_state)
        snapshot = None if self._snapshot is None else snapshot_of(self._snapshot)
        entries = tuple(entry_of(record) for record in self._entries)
        return ReadBack(PersistedState(hard_state, entries, snapshot), repaired=repaired, garbled=garbled)

    def _stored(self) -> list[Record]:
        stored = [record for record in (self._snapshot, self._hard_state) if record is not None]
        return stored + self._entries

    def _sync(self, write: _Write) -> None:
        if write.hard_state is not None:
            self._hard_state = hard_state_record(write.hard_state)
        snapshot = write.snapshot
        if snapshot is not None:
            if not write.own_snapshot:
                self._entries = []  # a leader's snapshot replaces the whole log
            elif snapshot.index < self._first_index:
                return  # a leader's later snapshot was written first
            # The snapshot stands for every entry up to its index.
            del self._entries[: max(0, snapshot.index + 1 - self._first_index)]
            self._first_index = snapshot.index + 1
            self._snapshot = snapshot_record(snapshot)
        if write.entries:
            self._store_entries(write.entries)

    @property
    def snapshot_index(self) -> int:
        return self._first_index - 1

    def _store_entries(self, entries: tuple[Entry, ...]) -> None:
        position = entries[0].index - self._first_index
        assert 0 <= position <= len(self._entries), "a write never leaves a gap in the log"
        del self._entries[position:]
        self._entries.extend(map(entry_record, entries))
