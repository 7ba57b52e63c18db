"""The records a simulated disk stores: each a canonical encoding of what it holds, with
the length it was written with and a CRC-32 of its bytes, as etcd's WAL frames its records.

A record is what a disk fault can damage and what a restart verifies. Two kinds of damage
tell apart, as they do in etcd's WAL reader: a record shorter than its declared length is
a torn write (the machine stopped mid-write; only the last record can be so, and a restart
repairs it by dropping it), and a record of full length whose checksum fails is corruption
(a flipped bit: the node must not start from it). Entries, the hard state and a snapshot
are each one record, so a snapshot is checked exactly as the rest.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import NamedTuple

from raftcore.types import Entry, EntryKind, HardState, Membership, Snapshot

ENTRY, HARD_STATE, SNAPSHOT = "entry", "hard-state", "snapshot"
KINDS = (ENTRY, HARD_STATE, SNAPSHOT)
_INDEX_TERM = struct.Struct(">qq")
_ENTRY_HEADER = struct.Struct(">qqB")
_ENTRY_KINDS = tuple(EntryKind)
"""An entry's kind is stored as its position here (one byte)."""
_HARD_STATE = struct.Struct(">qqq")
_pack_entry_header = _ENTRY_HEADER.pack
_kind_number = {kind: number for number, kind in enumerate(_ENTRY_KINDS)}
crc32 = zlib.crc32
HEADER_BYTES = _ENTRY_HEADER.size
"""An entry's header (index, term, kind): what must survive for a cut entry record to be
read as an entry at all (by the planted bug `restart-ignores-torn-record`)."""
TORN, CHECKSUM = "torn", "checksum"


class Record(NamedTuple):
    """One stored record. `at_index` locates it (an entry's or a snapshot's index; 0 for the
    hard state), as a WAL's position would; `length` and `checksum` are those of the bytes
    as they were written, which `payload` holds unless a fault damaged them. A named tuple,
    as `raftcore.types.Message` is: one is built for every entry a disk stores, and a tuple
    is built several times faster than a frozen dataclass."""

    kind: str
    at_index: int
    length: int
    checksum: int
    payload: bytes

    def problem(self) -> str | None:
        """None for an intact record; `torn` if it is shorter than it was written;
        `checksum` if its bytes are not those it was written with."""
        if len(self.payload) < self.length:
            return TORN
        if len(self.payload) != self.length or zlib.crc32(self.payload) != self.checksum:
            return CHECKSUM
        return None

    def cut(self, keep: int) -> Record:
        """The record as a write interrupted after `keep` of its bytes leaves it."""
        assert 0 <= keep < self.length, (keep, self.length)
        return Record(self.kind, self.at_index, self.length, self.checksum, self.payload[:keep])

    def flipped(self, bit: int) -> Record:
        """The record with one bit of its bytes inverted (CRC-32 catches every such flip)."""
        assert 0 <= bit < 8 * len(self.payload), (bit, len(self.payload))
        data = bytearray(self.payload)
        data[bit // 8] ^= 1 << (bit % 8)
        flipped = Record(self.kind, self.at_index, self.length, self.checksum, bytes(data))
        assert flipped.problem() == CHECKSUM, "a single flipped bit always fails a CRC-32"
        return flipped


def _record(kind: str, index: int, payload: bytes) -> Record:
    return Record(kind, index, len(payload), crc32(payload), payload)


def entry_record(entry: Entry) -> Record:
    payload = _pack_entry_header(entry.index, entry.term, _kind_number[entry.kind]) + entry.data.encode()
    return Record(ENTRY, entry.index, len(payload), crc32(payload), payload)


def hard_state_record(hard_state: HardState) -> Record:
    payload = _HARD_STATE.pack(hard_state.term, hard_state.vote, hard_state.commit)
    return Record(HARD_STATE, 0, len(payload), crc32(payload), payload)


def snapshot_record(snapshot: Snapshot) -> Record:
    membership = snapshot.membership
    config = json.dumps(
        [sorted(membership.voters), sorted(membership.learners), sorted(membership.voters_outgoing)],
        separators=(",", ":"),
    )
    payload = _INDEX_TERM.pack(snapshot.index, snapshot.term) + config.encode() + b"\n" + snapshot.data.encode()
    return _record(SNAPSHOT, snapshot.index, payload)


def entry_of(record: Record) -> Entry:
    """The entry a record holds. An intact record gives back the entry written; a cut one
    whose header survived gives its index and term with whatever data survived (garbled),
    which only the planted bug ever asks for."""
    assert record.kind == ENTRY and len(record.payload) >= HEADER_BYTES, record
    index, term, kind = _ENTRY_HEADER.unpack_from(record.payload)
    return Entry(term, index, record.payload[HEADER_BYTES:].decode(errors="replace"), _ENTRY_KINDS[kind])


def hard_state_of(record: Record) -> HardState:
    assert record.kind == HARD_STATE and record.problem() is None, record
    term, vote, commit = _HARD_STATE.unpack(record.payload)
    return HardState(term, vote, commit)


def snapshot_of(record: Record) -> Snapshot:
    assert record.kind == SNAPSHOT and record.problem() is None, record
    index, term = _INDEX_TERM.unpack_from(record.payload)
    config, data = record.payload[_INDEX_TERM.size :].split(b"\n", 1)
    voters, learners, outgoing = json.loads(config)
    membership = Membership(frozenset(voters), frozenset(learners), frozenset(outgoing))
    return Snapshot(index, term, membership, data.decode())
