"""What a leader knows about each follower's log, and how fast it may send to it.

A leader starts every follower in PROBE: it does not know where the follower's log ends, so
it sends one append at a time and waits for the answer (or the next heartbeat response)
before trying again. The first acknowledgement moves the follower to REPLICATE, where the
leader streams appends optimistically, bounded by a window of messages in flight so that
a slow or unreachable follower cannot make the leader queue without limit. A rejection
sends the follower back to PROBE. A follower whose next entry the leader compacted away is
sent the leader's snapshot instead and waits in SNAPSHOT (nothing else goes to it) until
it acknowledges the snapshot's index, or until its next heartbeat response shows the
snapshot was lost (etcd learns that from its transport's report; a heartbeat answer is
this core's only news), when it goes back to PROBE and is sent the snapshot again.

Invariant (asserted): 0 <= match < next. `match` only grows during a term.
"""

from __future__ import annotations

import enum
from collections import deque

MAX_INFLIGHT_MESSAGES = 8
"""Appends a leader may have unacknowledged towards one follower in REPLICATE."""


class ProgressState(enum.StrEnum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Progress:
    """A leader's view of one follower (or of itself: then only `match` matters)."""

    __slots__ = (
        "_inflight_last_indexes",
        "appended_since_heartbeat",
        "match",
        "next",
        "paused",
        "pending_snapshot",
        "recent_active",
        "state",
    )

    def __init__(self, match: int, next_index: int) -> None:
        assert 0 <= match < next_index
        self.match = match
        self.next = next_index
        self.state = ProgressState.PROBE
        # In PROBE: an append went out and its answer is awaited. In REPLICATE: the window
        # of messages in flight is full.
        self.paused = False
        # Set by any response from the follower; cleared by the leader at each CheckQuorum.
        self.recent_active = False
        # Whether an append went out since the last heartbeat round: it told the follower
        # all a heartbeat would (the leader lives, its term, a commit index).
        self.appended_since_heartbeat = False
        self._inflight_last_indexes: deque[int] = deque()
        self.pending_snapshot = 0
        """In SNAPSHOT: the index of the snapshot sent."""

    def __repr__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        text = f"{self.state} match={self.match} next={self.next}"
        if self.state is ProgressState.SNAPSHOT:
            text += f" snapshot={self.pending_snapshot}"
        if self.paused:
            text += " paused"
        if not self.recent_active:
            text += " inactive"
        if self._inflight_last_indexes:
            text += f" inflight={len(self._inflight_last_indexes)}"
        return text

    @property
    def inflight_count(self) -> int:
        return len(self._inflight_last_indexes)

    def inflights_full(self) -> bool:
        return len(self._inflight_last_indexes) >= MAX_INFLIGHT_MESSAGES

    def _reset_state(self, state: ProgressState) -> None:
        self.paused = False
        self.state = state
        self._inflight_last_indexes.clear()

    def become_probe(self) -> None:
        self._reset_state(ProgressState.PROBE)
        self.next = self.match + 1
        self.pending_snapshot = 0

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1
        self.pending_snapshot = 0

    def become_snapshot(self, snapshot_index: int) -> None:
        """The follower was sent a snapshot up to `snapshot_index`: wait for its answer."""
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index
        self.paused = True

    def is_paused(self) -> bool:
        return self.paused

    def sent_entries(self, count: int, last_index: int) -> None:
        """Record an append of `count` entries ending at `last_index`."""
        if self.state is ProgressState.REPLICATE:
            if count:
                assert last_index == self.next + count - 1
                self.next = last_index + 1
                self._inflight_last_indexes.append(last_index)
            self.paused = len(self._inflight_last_indexes) >= MAX_INFLIGHT_MESSAGES
        elif count:
            self.paused = True

    def maybe_update(self, index: int) -> bool:
        """The follower acknowledged `index`; return True if that taught us anything."""
        if index <= self.match:
            return False
        self.match = index
        self.next = max(self.next, index + 1)
        self.paused = False
        return True

    def free_inflights_up_to(self, index: int) -> None:
        window = self._inflight_last_indexes
        while window and window[0] <= index:
            window.popleft()

    def maybe_decrement_to(self, rejected: int, match_hint: int) -> bool:
        """The follower rejected an append whose previous entry was at `rejected`.

        Returns False for a rejection that is stale (answers an append we no longer care
        about); otherwise moves `next` back to probe just after `match_hint`.
        """
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        assert self.match < self.next
        self.paused = False
        return True
