"""Majority arithmetic: which index a majority holds, and whether an election is decided.

Kept apart from the node so that the two rules every safety argument leans on are short
enough to read at a glance, and so that tests can compare them with brute-force twins.
The pure functions decide for one voter set; `MajorityConfig` binds them to a set, and
`JointConfig` asks two sets at once, which is what a membership change needs.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass


class VoteResult(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def majority(voter_count: int, half: bool = False) -> int:
    """The smallest number of voters that intersects every other such group.

    `half` is the planted bug `quorum-half`: half the voters rounded up, the same number for
    an odd count but for an even one a half that the other half does not intersect.
    """
    assert voter_count >= 1
    if half:
        return (voter_count + 1) // 2
    return voter_count // 2 + 1


def committed_index(match_indexes: Sequence[int], half: bool = False) -> int:
    """The highest index that at least a majority of voters hold (`half`: see `majority`).

    Sorting descending, the majority-th value is held by that many voters (itself and every
    larger one) and no larger value is.
    """
    assert match_indexes, "a cluster has at least one voter"
    ordered = sorted(match_indexes, reverse=True)
    return ordered[majority(len(ordered), half) - 1]


def vote_result(voters: Sequence[int], votes: Mapping[int, bool], half: bool = False) -> VoteResult:
    """WON once a majority granted; LOST once a majority can no longer grant; else PENDING."""
    granted = 0
    missing = 0
    for voter in voters:
        answer = votes.get(voter)
        if answer is None:
            missing += 1
        elif answer:
            granted += 1
    needed = majority(len(voters), half)
    if granted >= needed:
        return VoteResult.WON
    if granted + missing >= needed:
        return VoteResult.PENDING
    return VoteResult.LOST


@dataclass(frozen=True, slots=True)
class MajorityConfig:
    """One set of voters deciding by simple majority.

    The voters are kept sorted so that every walk over them is in id order, whatever order
    they were given in: nothing a run does may hang on set iteration order.
    """

    voters: tuple[int, ...]
    half: bool = False
    """The planted bug `quorum-half` (see `majority`)."""

    def __post_init__(self) -> None:
        assert list(self.voters) == sorted(set(self.voters)), f"voters must be sorted and distinct: {self.voters}"

    @classmethod
    def of(cls, voters: Iterable[int], half: bool = False) -> MajorityConfig:
        return cls(tuple(sorted(set(voters))), half)

    def __bool__(self) -> bool:
        return bool(self.voters)

    def committed_index(self, acknowledged: Callable[[int], int]) -> int:
        """The highest index a majority of these voters acknowledged."""
        return committed_index([acknowledged(voter) for voter in self.voters], self.half)

    def vote_result(self, votes: Mapping[int, bool]) -> VoteResult:
        """The election's state counting only these voters' answers."""
        return vote_result(self.voters, votes, self.half)


@dataclass(frozen=True, slots=True)
class JointConfig:
    """Two voter sets that must both agree, as during a membership change (Raft thesis,
    section 4.3): the outgoing set still decides until the change is done, and the
    incoming one already does, so no decision can be taken by either set alone.

    An empty `outgoing` is the everyday case of one voter set, and then every answer is
    exactly `incoming`'s.
    """

    incoming: MajorityConfig
    outgoing: MajorityConfig = MajorityConfig(())

    def __post_init__(self) -> None:
        assert self.incoming, "a configuration has at least one incoming voter"

    def voter_ids(self) -> tuple[int, ...]:
        """Every voter of either set, once each, in id order."""
        if not self.outgoing:
            return self.incoming.voters
        return tuple(sorted(set(self.incoming.voters) | set(self.outgoing.voters)))

    def committed_index(self, acknowledged: Callable[[int], int]) -> int:
        """An index is committed only once each set holds it by its own majority."""
        incoming = self.incoming.committed_index(acknowledged)
        if not self.outgoing:
            return incoming
        return min(incoming, self.outgoing.committed_index(acknowledged))

    def vote_result(self, votes: Mapping[int, bool]) -> VoteResult:
        """WON needs both sets won; one lost set loses the whole election (it can no longer
        be won), and anything else is still open."""
        incoming = self.incoming.vote_result(votes)
        if not self.outgoing:
            return incoming
        outgoing = self.outgoing.vote_result(votes)
        if incoming is outgoing:
            return incoming
        if incoming is VoteResult.LOST or outgoing is VoteResult.LOST:
            return VoteResult.LOST
        return VoteResult.PENDING
