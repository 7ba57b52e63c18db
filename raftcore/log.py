"""The in-memory Raft log and its split into what is on disk and what is not yet.

Positions: `_entries[k]` holds the entry at index `_offset + k`; `_entries[0]` is a sentinel
standing for the entry just before the log (index 0, term 0 while there are no snapshots;
after compaction, the last entry compacted away), so that "the entry before the first" has
a term like any other and needs no special case. Compaction moves the sentinel forward;
installing a snapshot from the leader replaces the whole log with a sentinel at the
snapshot's index (`restore`), unless the log already holds the snapshot's last entry.

Durability is tracked with two marks, both indexes into this log:

    1 ............ stable_index ............ in_progress_index ............ last_index
    |  on disk, known identical  |  handed to the host in the outstanding  |  not yet
    |                            |  Ready, not changed since               |  handed over

A Ready hands over (in_progress_index, last_index] and moves in_progress_index to the end;
advance() makes everything up to in_progress_index stable. A truncation at index i pulls
both marks down to i - 1, because the host's copy from i on is now wrong: the next Ready
starts at i and the host replaces its entries from there. Etcd keeps the same two marks in
its unstable log for the same reason (a host may still be writing entries that a newer
leader has meanwhile overwritten).

Invariants (asserted): applied <= committed <= last_index;
stable_index <= in_progress_index <= last_index; truncation never reaches a committed entry;
committed never decreases. Planted bugs may break the first and the last two; with
`tolerate_damage` the log then carries on so that a checker can report what went wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

from raftcore.types import Entry, EntryKind, Snapshot


class RaftLog:
    __slots__ = (
        "_entries",
        "_offset",
        "applied",
        "committed",
        "conflict_slice_off_by_one",
        "in_progress_index",
        "keep_conflicts_on_restore",
        "last_index",
        "pending_snapshot",
        "stable_index",
        "tolerate_damage",
        "truncate_on_every_append",
    )

    def __init__(
        self,
        entries: Sequence[Entry] = (),
        committed: int = 0,
        tolerate_damage: bool = False,
        truncate_on_every_append: bool = False,
        conflict_slice_off_by_one: bool = False,
        snapshot: Snapshot | None = None,
        keep_conflicts_on_restore: bool = False,
    ) -> None:
        before = Entry(term=0, index=0) if snapshot is None else Entry(term=snapshot.term, index=snapshot.index)
        self._offset = before.index
        self._entries: list[Entry] = [before]
        previous = before
        for entry in entries:
            assert entry.index == previous.index + 1, f"persisted log has a gap at {entry}"
            assert entry.term >= previous.term or tolerate_damage, f"persisted log has a term going back at {entry}"
            self._entries.append(entry)
            previous = entry
        # Kept in step with `_entries` by every mutation (read on every message; asserted).
        self.last_index = previous.index
        last = self.last_index
        # With a log-damaging planted bug on (`raftcore.bugs.LOG_DAMAGING_BUGS`), a node must
        # survive the damage the bug causes (say a commit index that outran what the disk
        # kept) so that a checker, not an assertion, reports it. Otherwise such damage is a
        # defect of ours and must stop the run.
        self.tolerate_damage = tolerate_damage
        # The planted bug `stale-append-truncates` (see `maybe_append`).
        self.truncate_on_every_append = truncate_on_every_append
        # The planted bug `conflict-slice-off-by-one` (see `maybe_append`).
        self.conflict_slice_off_by_one = conflict_slice_off_by_one
        # The planted bug `snapshot-keeps-conflicting-entries` (see `restore`).
        self.keep_conflicts_on_restore = keep_conflicts_on_restore
        assert tolerate_damage or committed <= last, f"commit {committed} beyond log end {last}"
        # A snapshot holds only committed entries, so its index is committed whatever the
        # hard state (written lazily) says; the state machine starts from it.
        self.committed = max(min(committed, last), self._offset)
        self.applied = self._offset
        self.stable_index = last
        self.in_progress_index = last
        self.pending_snapshot: Snapshot | None = None
        """A snapshot from the leader that replaced the log (`restore`) and is yet to be
        handed to the host, which persists it and loads it into the state machine."""

    def __repr__(self) -> str:
        return (
            f"RaftLog(last={self.last_index}, committed={self.committed}, "
            f"applied={self.applied}, stable={self.stable_index}, "
            f"in_progress={self.in_progress_index})"
        )

    # ---- reading ----

    def last_term(self) -> int:
        return self._entries[-1].term

    def term(self, index: int) -> int:
        position = index - self._offset
        assert 0 <= position < len(self._entries), f"term of {index} outside {self!r}"
        return self._entries[position].term

    def match_term(self, index: int, term: int) -> bool:
        position = index - self._offset
        return 0 <= position < len(self._entries) and self._entries[position].term == term

    def slice(self, low: int, high: int) -> tuple[Entry, ...]:
        """Entries with low <= index < high."""
        assert self._offset < low <= high <= self.last_index + 1, (low, high, self)
        return tuple(self._entries[low - self._offset : high - self._offset])

    def all_entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries[1:])

    @property
    def first_index(self) -> int:
        """The first index whose entry the log still holds (past the last compaction)."""
        return self._offset + 1

    def compacted_before(self, index: int) -> bool:
        """Whether the entry at `index` was compacted away: its term is no longer known,
        so an append starting after it cannot be built and a snapshot must go instead."""
        return index < self._offset

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a log ending at (last_index, last_term) is at least as complete as ours."""
        our_term = self._entries[-1].term
        return last_term > our_term or (last_term == our_term and last_index >= self.last_index)

    def find_conflict(self, entries: Sequence[Entry]) -> int:
        """Index of the first of `entries` that we lack or hold with another term; 0 if none."""
        for entry in entries:
            if not self.match_term(entry.index, entry.term):
                return entry.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest (i, term at i) with i <= index and term at i <= `term`.

        A leader whose entry at some index has term T holds only terms <= T below it, so
        every entry of ours with a term above T past that point must differ from the
        leader's: skipping all of them at once is what makes backtracking over a long
        divergent tail take one round trip per term instead of one per entry.
        """
        if index > self.last_index:
            return index, 0
        for candidate in range(index, self._offset, -1):
            candidate_term = self._entries[candidate - self._offset].term
            if candidate_term <= term:
                return candidate, candidate_term
        return self._offset, self._entries[0].term

    # ---- writing ----

    def append_new(self, term: int, data: str, kind: EntryKind = EntryKind.NORMAL) -> Entry:
        """A leader's own new entry at the end of the log."""
        assert term >= self._entries[-1].term
        entry = Entry(term=term, index=self.last_index + 1, data=data, kind=kind)
        self._entries.append(entry)
        self.last_index = entry.index
        return entry

    def append(self, entries: Sequence[Entry]) -> None:
        """Replace everything from entries[0].index on with `entries`."""
        first = entries[0].index
        assert entries[-1].index == first + len(entries) - 1, "entries must be contiguous"
        if first - 1 < self.committed:
            assert self.tolerate_damage, f"truncating at {first} would remove committed entries ({self!r})"
            # A planted bug overwrote committed entries. The commit index falls back with
            # them (a checker reports the damage); `applied` stays where the state machine
            # really is, and applying resumes once the commit index passes it again.
            self.committed = first - 1
        position = first - self._offset
        assert 1 <= position <= len(self._entries), f"append at {first} leaves a gap: {self!r}"
        if position < len(self._entries):
            del self._entries[position:]
            self.stable_index = min(self.stable_index, first - 1)
            self.in_progress_index = min(self.in_progress_index, first - 1)
        # A kept conflicting entry (a planted bug) may precede entries of a lower term.
        assert entries[0].term >= self._entries[-1].term or self.tolerate_damage, "terms in a log never go back"
        self._entries.extend(entries)
        self.last_index = entries[-1].index
        assert self.last_index == self._offset + len(self._entries) - 1

    def maybe_append(self, previous_index: int, previous_term: int, entries: Sequence[Entry], commit: int) -> int:
        """Accept a leader's append if our log holds its previous entry.

        Returns the index of the last entry the append vouches for, or -1 on a mismatch.
        Entries we already hold are kept (a delayed duplicate must not truncate entries
        that a newer append added behind it).
        """
        if not self.match_term(previous_index, previous_term):
            return -1
        last_new_index = previous_index + len(entries)
        if self.truncate_on_every_append and entries:
            # The planted bug: the paper's "delete the existing entry and all that follow it"
            # applied without first asking whether an existing entry conflicts.
            self.append(entries)
            self.commit_to(min(commit, last_new_index))
            return last_new_index
        conflict = self.find_conflict(entries)
        if conflict:
            assert conflict > self.committed or self.tolerate_damage, f"entry {conflict} conflicts with a committed one"
            start = conflict - previous_index - 1
            if self.conflict_slice_off_by_one and conflict <= self.last_index:
                # The planted bug: the slice starts one entry late, keeping our own entry
                # that conflicts (an entry we lack is appended as it should be).
                start += 1
            if start < len(entries):
                self.append(entries[start:])
        self.commit_to(min(commit, last_new_index))
        return last_new_index

    def commit_to(self, index: int) -> None:
        """Raise the commit index to `index`; a lower value is old news and ignored."""
        if index <= self.committed:
            return
        last = self.last_index
        if index > last:
            assert self.tolerate_damage, f"commit {index} beyond log end {last}"
            index = last
        self.committed = index

    def compact(self, index: int) -> None:
        """Forget every entry up to `index`, which a snapshot now stands for.

        Only applied entries may go: the state machine is what holds them afterwards.
        """
        if index <= self._offset:
            return
        assert index <= self.applied, f"compacting to {index} past what was applied ({self!r})"
        position = index - self._offset
        self._entries = [Entry(term=self._entries[position].term, index=index), *self._entries[position + 1 :]]
        self._offset = index
        assert self.last_index == self._offset + len(self._entries) - 1

    def restore(self, snapshot: Snapshot) -> bool:
        """Take the leader's snapshot; False when it brings nothing new.

        A snapshot at or below the commit index is old news. If the log holds the
        snapshot's last entry (same index, same term), everything up to it is committed
        and the entries after it stay: they agree with the leader's by log matching. Any
        other log is discarded whole, since an entry after the snapshot's index that we
        hold may conflict with what the leader committed there (etcd's raftLog.restore).
        The planted bug `snapshot-keeps-conflicting-entries` keeps them anyway.
        """
        index = snapshot.index
        if index <= self.committed:
            return False
        if self.match_term(index, snapshot.term):
            self.commit_to(index)
            return False
        kept: list[Entry] = []
        if self.keep_conflicts_on_restore and index < self.last_index:
            kept = self._entries[index - self._offset + 1 :]
        self._entries = [Entry(term=snapshot.term, index=index), *kept]
        self._offset = index
        self.last_index = index + len(kept)
        self.committed = index
        # The host's copy becomes the snapshot alone (the next Ready hands it over); kept
        # entries count as not yet handed over, so that Ready writes them after it.
        self.stable_index = self.in_progress_index = index
        self.pending_snapshot = snapshot
        return True

    def take_snapshot(self) -> Snapshot | None:
        """The snapshot `restore` took, handed to the host once."""
        snapshot, self.pending_snapshot = self.pending_snapshot, None
        return snapshot

    # ---- handing work to the host ----

    def has_unstable(self) -> bool:
        return self.in_progress_index < self.last_index

    def take_unstable(self) -> tuple[Entry, ...]:
        """Entries not yet handed to the host; from now on they count as in progress."""
        low = self.in_progress_index + 1
        self.in_progress_index = self.last_index
        return tuple(self._entries[low - self._offset :])

    def stable_to_in_progress(self) -> None:
        """The host finished writing what it was handed."""
        assert self.stable_index <= self.in_progress_index <= self.last_index, self
        self.stable_index = self.in_progress_index

    def has_committed_to_apply(self) -> bool:
        return self.applied < self.committed

    def committed_to_apply(self, after: int = 0) -> tuple[Entry, ...]:
        """Entries in (applied, committed]; all will be on disk once the current batch is.
        Those up to `after` are left out: a snapshot the host loads first holds them."""
        low = max(self.applied, after) + 1
        return self.slice(low, self.committed + 1) if low <= self.committed else ()

    def applied_to(self, index: int) -> None:
        # A planted bug may pull the commit index below entries already handed out to apply.
        assert self.applied <= index, (index, self)
        assert index <= self.committed or self.tolerate_damage, (index, self)
        self.applied = index
