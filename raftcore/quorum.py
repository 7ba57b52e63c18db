"""Majority arithmetic: which index a majority holds, and whether an election is decided.

Kept apart from the node so that the two rules every safety argument leans on are short
enough to read at a glance, and so that tests can compare them with brute-force twins.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence


class VoteResult(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def majority(voter_count: int) -> int:
    """The smallest number of voters that intersects every other such group."""
    assert voter_count >= 1
    return voter_count // 2 + 1


def committed_index(match_indexes: Sequence[int]) -> int:
    """The highest index that at least a majority of voters hold.

    Sorting descending, the majority-th value is held by that many voters (itself and every
    larger one) and no larger value is.
    """
    assert match_indexes, "a cluster has at least one voter"
    ordered = sorted(match_indexes, reverse=True)
    return ordered[majority(len(ordered)) - 1]


def vote_result(voters: Sequence[int], votes: Mapping[int, bool]) -> VoteResult:
    """WON once a majority granted; LOST once a majority can no longer grant; else PENDING."""
    granted = 0
    missing = 0
    for voter in voters:
        answer = votes.get(voter)
        if answer is None:
            missing += 1
        elif answer:
            granted += 1
    needed = majority(len(voters))
    if granted >= needed:
        return VoteResult.WON
    if granted + missing >= needed:
        return VoteResult.PENDING
    return VoteResult.LOST
