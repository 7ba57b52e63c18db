"""Reads that skip the log: a leader's ReadIndex bookkeeping and the lease it may read under.

ReadIndex (Raft thesis, section 6.4): a read sees every write acknowledged before it began if
it is served from a state that has applied the leader's commit index as of the read's
arrival, provided the node still led at some moment after that arrival. The leader proves
the second part with a heartbeat round that a quorum answers; whoever serves the read
(the leader, or the follower that asked it for the index) waits until it has applied that
far.

Rounds are numbered: every heartbeat broadcast is one, its number travels as the
heartbeat's context and comes back in each answer. A read waits for the first round sent
after it arrived, and a quorum answering round r confirms every earlier round too, since
those were sent earlier still. A read that arrives while no round is out therefore costs
one round, and reads that arrive together share it.

The same answers give the leader a lease: once a quorum answered a round sent at tick s,
none of those voters grants a vote to anyone else for an election timeout after receiving
it (CheckQuorum's stickiness, `RaftNode._in_leader_lease`), so no other leader can exist
before then, and the leader may answer reads without a round while its own clock says the
lease, shortened for the clocks' drift, has not run out (`lease_ticks`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

PPM = 1_000_000


def lease_ticks(election_ticks: int, max_drift_ppm: int) -> int:
    """How many of its own ticks after sending a round a quorum answered the leader may
    read under its lease.

    A voter that received the round refuses votes until its election timer counts
    `election_ticks` ticks, which takes at least `election_ticks - 1` whole tick intervals
    of its clock (the first tick may come at once). The leader's lease must end before the
    earliest such moment in true time: a leader clock slow by the drift bound and a voter
    clock fast by it shrink the lease by (1 - rho) / (1 + rho). Clocks that drift further,
    or jump, break the promise, which is what the clock faults are for.
    """
    assert 0 <= max_drift_ppm < PPM, max_drift_ppm
    return max(0, (election_ticks - 1) * (PPM - max_drift_ppm) // (PPM + max_drift_ppm))


@dataclass(frozen=True, slots=True)
class PendingRead:
    round: int
    """The first round whose confirmation releases the read."""
    requester: int
    """The node to hand the index to: the leader itself, or the follower that asked."""
    context: str
    index: int
    """The leader's commit index when the read arrived."""


class ReadOnly:
    """The leader's reads waiting on a round, and the rounds' answers. One per term of
    leadership: a new leader starts afresh, and answers from an earlier term never count."""

    __slots__ = ("_acked", "_pending", "_sent_ticks", "confirmed", "lease_start", "round")

    def __init__(self) -> None:
        self.round = 0
        """The last round sent."""
        self.confirmed = 0
        """The last round a quorum answered."""
        self.lease_start: int | None = None
        """The tick at which the confirmed round was sent: the lease counts from there."""
        self._sent_ticks: dict[int, int] = {}
        self._acked: dict[int, int] = {}
        self._pending: deque[PendingRead] = deque()

    def __repr__(self) -> str:
        return f"ReadOnly(round={self.round} confirmed={self.confirmed} pending={len(self._pending)})"

    @property
    def waiting(self) -> bool:
        """Whether some read waits for a round not sent yet."""
        return bool(self._pending) and self._pending[-1].round > self.round

    def add(self, requester: int, context: str, index: int) -> None:
        """A read arrived now: it waits for the next round to go out."""
        self._pending.append(PendingRead(self.round + 1, requester, context, index))

    def next_round(self, tick: int) -> int:
        self.round += 1
        self._sent_ticks[self.round] = tick
        return self.round

    def acknowledged(self, voter: int) -> int:
        """The last round `voter` answered (0 for none)."""
        return self._acked.get(voter, 0)

    def acknowledge(self, voter: int, round_number: int) -> None:
        # Answers may arrive out of order, or twice: only the latest round counts.
        if 0 < round_number <= self.round and round_number > self._acked.get(voter, 0):
            self._acked[voter] = round_number

    def confirm(self, round_number: int) -> list[PendingRead]:
        """A quorum answered `round_number`: the reads it releases, in arrival order."""
        if round_number <= self.confirmed:
            return []
        assert round_number <= self.round, (round_number, self.round)
        self.confirmed = round_number
        self.lease_start = self._sent_ticks[round_number]
        for old in [number for number in self._sent_ticks if number <= round_number]:
            del self._sent_ticks[old]
        released = []
        pending = self._pending
        while pending and pending[0].round <= round_number:
            released.append(pending.popleft())
        return released
