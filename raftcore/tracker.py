"""What a node tracks about the other members of its cluster: who they are, how far each
follower's log is known to reach (while it leads), and who voted how (while it campaigns).

Kept in one place, after etcd's tracker.ProgressTracker, so that the node asks questions
("is this index held by a quorum?", "did the election succeed?", "was a quorum heard
from?") instead of counting heads itself, and so that one answer covers both the plain
case and a joint configuration during a membership change.

Determinism: every walk over members goes in id order, never in set or dict order, and
progress is kept in a dict filled in id order, so two runs of one seed make the same
calls in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator

from raftcore.progress import Progress
from raftcore.quorum import JointConfig, MajorityConfig, VoteResult
from raftcore.types import Membership


class ProgressTracker:
    """The configuration, the per-member Progress and the votes of the current election.

    Invariants (asserted): progress, when tracked, covers exactly the members; learners
    never count towards a commit, an election or CheckQuorum.
    """

    __slots__ = (
        "_member_set",
        "_voter_set",
        "commit_counts_sent",
        "learners",
        "member_ids",
        "membership",
        "progress",
        "voter_ids",
        "voters",
        "votes",
    )

    def __init__(self, membership: Membership, quorum_half: bool = False, commit_counts_sent: bool = False) -> None:
        """`quorum_half` and `commit_counts_sent` are the planted bugs `quorum-half`
        (`quorum.majority`) and `commit-counts-sent` (`committed`)."""
        self.membership = membership
        self.commit_counts_sent = commit_counts_sent
        self.voters = JointConfig(
            MajorityConfig.of(membership.voters, quorum_half),
            MajorityConfig.of(membership.voters_outgoing, quorum_half),
        )
        self.learners = tuple(sorted(membership.learners))
        # Voters of either half and all members, each in id order; the sets answer
        # membership questions on every message without a walk.
        self.voter_ids = self.voters.voter_ids()
        self.member_ids = membership.members()
        self._voter_set = frozenset(self.voter_ids)
        self._member_set = frozenset(self.member_ids)
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}

    def __repr__(self) -> str:
        outgoing = f" outgoing={self.voters.outgoing.voters}" if self.voters.outgoing else ""
        return f"ProgressTracker(voters={self.voters.incoming.voters}{outgoing} learners={self.learners})"

    # ---- membership ----

    def is_voter(self, node_id: int) -> bool:
        return node_id in self._voter_set

    def is_member(self, node_id: int) -> bool:
        return node_id in self._member_set

    # ---- progress (only while the node leads) ----

    def reset_progress(self, next_index: int) -> None:
        """Forget every follower's log and probe each from `next_index`, as a new leader must."""
        self.progress = {member: Progress(0, next_index) for member in self.member_ids}

    def clear_progress(self) -> None:
        self.progress = {}

    def visit(self) -> Iterator[tuple[int, Progress]]:
        """Every member's progress, in id order."""
        progress = self.progress
        assert len(progress) == len(self.member_ids), "only a leader tracks progress, of every member"
        for member in self.member_ids:
            yield member, progress[member]

    def committed(self) -> int:
        """The highest index a quorum of voters (of both halves, when joint) has on disk."""
        progress = self.progress
        if self.commit_counts_sent:
            # The planted bug: `next` runs ahead of `match` as soon as an append is sent.
            return self.voters.committed_index(lambda voter: progress[voter].next - 1)
        return self.voters.committed_index(lambda voter: progress[voter].match)

    def quorum_active(self) -> bool:
        """Whether a quorum of voters was heard from since the last check (CheckQuorum).

        The leader counts itself: its own progress is active from the moment it leads.
        """
        progress = self.progress
        active = {voter: progress[voter].recent_active for voter in self.voter_ids}
        return self.voters.vote_result(active) is VoteResult.WON

    # ---- votes (only while the node campaigns) ----

    def reset_votes(self) -> None:
        self.votes = {}

    def record_vote(self, node_id: int, granted: bool) -> None:
        """Count a voter's answer; only its first answer counts, so a duplicated or
        reordered message cannot change a vote."""
        self.votes.setdefault(node_id, granted)

    def vote_result(self) -> VoteResult:
        return self.voters.vote_result(self.votes)

    def tally_votes(self) -> tuple[int, int, VoteResult]:
        """Granted and rejected answers among voters, and where the election stands."""
        granted = 0
        rejected = 0
        for voter in self.voter_ids:
            answer = self.votes.get(voter)
            if answer is True:
                granted += 1
            elif answer is False:
                rejected += 1
        return granted, rejected, self.vote_result()
