"""Raft's invariants, checked against the nodes' own states while the world runs.

The trace checkers judge a run after it ended, from what the hosts wrote down. This state
checker looks at the nodes themselves as the run goes, in the habit of TigerBeetle's
state checker: the host calls it after each message a node steps and after each Ready it
hands over, and it checks only what that step or batch could have changed, so its cost
grows with the work the cluster does, never with the length of a log. The first broken
invariant ends the run there (`InvariantViolation`, which the world catches, never lets
out), with the simulated moment, the nodes involved and the invariant's name: a seed that
broke Raft at 3.2 s is reported at 3.2 s, not as whatever that did to clients later.

The invariants, and why each holds in a correct Raft (names as the anomalies carry them):

- `leader-match`: a leader's `match` for a follower of its own term never exceeds what the
  follower holds, in memory and on disk, with the leader's term at that index. The
  follower acknowledged those entries only once they were durable, and within one term
  only that leader may replace them, which it never does with other entries.
- `follower-commit`: a follower's commit index never passes what it shares with the leader
  of its term: the entry at its commit index is the leader's. A leader holds every entry
  committed before its term (leader completeness) and every one committed in it.
- `election-quorum`: a leader of term T was voted for in T by a majority, each voter's own
  vote (as the voter holds it) naming it: votes are counted only from the current term.
  Its voters must also be a majority of the latest committed voters or of the voters
  before the last change of them. Changes take effect one at a time, each only once the
  one before it is committed and applied by the leader proposing it, so a node still
  counting with voters two changes old lacks an entry that a majority of the newer ones
  holds, and loses: only majorities of neighbouring voter sets, which always intersect,
  elect.
- `one-vote-per-term`: no node votes for two candidates in one term, across its restarts.
  A vote is cast when the Ready that carries it is persisted (its answer leaves then), so
  a vote lost in a crash before that was never cast.
- `one-leader-per-term`: at most one node leads a term, over the whole run.
- `committed-prefix`: the committed entries are one prefix. The longest committed prefix
  seen is kept, with, for each index, the node that first committed it and its term then.
  A node whose commit index passes an index must hold that prefix's entry there; a node's
  commit index never falls back while it runs (its committed entries were overwritten);
  an entry written at a committed index by a leader of a term at or above the one that
  committed it must be the committed entry (that leader holds it); and a new leader holds
  every entry committed in an earlier term (checked at the highest one, which by log
  matching stands for all below it).

Entries written at a committed index by a node of an older term are not a violation: a
deposed leader and its followers may hold stale entries until the new leader reaches them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from raftcore.types import NO_NODE, ConfChange, Entry, EntryKind, Membership, Ready, Role, Snapshot

if TYPE_CHECKING:
    from raftcore.raft import RaftNode
    from sim.host import Host

INVARIANTS = (
    "leader-match",
    "follower-commit",
    "election-quorum",
    "one-vote-per-term",
    "one-leader-per-term",
    "committed-prefix",
)
"""Every invariant the checker knows, by the name its anomalies carry."""


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken invariant: which, when (true simulated time), in which phase, the nodes it
    involves (the first is the node whose step or batch broke it), what each of them was
    at that moment and one line saying what went wrong."""

    invariant: str
    t_us: int
    phase: str
    nodes: tuple[int, ...]
    message: str
    states: tuple[dict[str, Any], ...] = ()

    def anomaly(self) -> dict[str, Any]:
        """The anomaly as `verdict.json`'s `invariants` entry holds it."""
        return {
            "property": self.invariant,
            "t": self.t_us,
            "phase": self.phase,
            "node": self.nodes[0],
            "involved": list(self.nodes),
            "message": self.message,
            "states": list(self.states),
        }


class InvariantViolation(Exception):
    """Raised from a host's hook to stop the world at the moment of the violation; the
    world catches it and ends the run cleanly, like the end of its time."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.message)
        self.violation = violation


@dataclass(slots=True)
class _Seen:
    """What the checker last saw of one node incarnation, to check only what changed."""

    role: Role = Role.FOLLOWER
    term: int = 0
    vote: int = NO_NODE
    commit: int = 0


@dataclass(slots=True)
class _Prefix:
    """The longest committed prefix seen: position i holds index i (0 is a sentinel), the
    term the node that first committed it was in, and that node."""

    entries: list[Entry] = field(default_factory=lambda: [Entry(term=0, index=0)])
    terms: list[int] = field(default_factory=lambda: [0])
    committers: list[int] = field(default_factory=lambda: [NO_NODE])
    memberships: list[Membership] = field(default_factory=list)
    """The memberships the committed entries set, oldest first: the first one the cluster
    started (or was restored) with, then one per change of voters in the prefix (a
    learner added or removed changes no quorum, and replaces the last one)."""

    @property
    def last_index(self) -> int:
        return len(self.entries) - 1


class Invariants:
    """The state checker of one world. `now` gives the simulated time, `phase` the phase."""

    def __init__(self, now: Callable[[], int], phase: Callable[[], str]) -> None:
        self._now = now
        self._phase = phase
        self._hosts: Mapping[int, Host] = {}
        self._seen: dict[int, _Seen] = {}
        self._leaders: dict[int, int] = {}  # term -> the node that led it
        self._votes: dict[tuple[int, int], int] = {}  # (voter, term) -> the candidate, once persisted
        self._unpersisted_votes: dict[int, tuple[int, int]] = {}  # node -> (term, vote) being written
        self._prefix = _Prefix()
        self.steps = 0
        self.readies = 0

    def watch(self, hosts: Mapping[int, Host]) -> None:
        self._hosts = hosts
        self._seen = {node_id: _Seen() for node_id in hosts}
        if not self._prefix.memberships:
            started = [node.membership for node in map(_node_of, hosts.values()) if node is not None]
            if started:
                self._prefix.memberships.append(started[0])

    def restored(self, snapshot: Snapshot) -> None:
        """Every node starts from a restored backup (`raftcore.restore`): the entries it
        stands for are committed, known by its last entry's term only (the snapshot's
        check looks no further). Before any node runs."""
        assert self._prefix.last_index == 0, "a cluster is restored before it commits anything"
        entries = [Entry(term=snapshot.term, index=index) for index in range(1, snapshot.index + 1)]
        self._prefix.entries.extend(entries)
        self._prefix.terms.extend([snapshot.term] * snapshot.index)
        self._prefix.committers.extend([NO_NODE] * snapshot.index)
        self._prefix.memberships[:] = [snapshot.membership]

    def watch_new(self, host: Host) -> None:
        """A node joined mid-run (the world's mapping of hosts already holds it)."""
        assert self._hosts.get(host.node_id) is host, host.node_id
        self._seen[host.node_id] = _Seen()

    def stats(self) -> dict[str, int]:
        return {
            "steps_checked": self.steps,
            "readies_checked": self.readies,
            "committed_prefix": self._prefix.last_index,
            "terms_led": len(self._leaders),
        }

    # --- hooks ------------------------------------------------------------------------

    def after_step(self, host: Host, sender: int) -> None:
        """`host` stepped a message from `sender`: the only moment a leader's `match` for
        that follower grows, or the follower's log or term changes under it."""
        self.steps += 1
        peer = self._hosts.get(sender)
        server = host.server
        if peer is None or peer.server is None or server is None:
            return
        here, there = server.node, peer.server.node
        # The roles are tested here: a message between two followers, most of them with
        # no leader involved, then costs no call.
        if here.role is Role.LEADER:
            self._check_match(here, there, peer)
        if there.role is Role.LEADER:
            self._check_match(there, here, host)

    def after_ready(self, host: Host, ready: Ready) -> None:
        """`host` handed over a Ready: every change of role, term, vote, commit index and
        log since the last one is in it or visible on the node now."""
        self.readies += 1
        node = _node_of(host)
        assert node is not None, f"node {host.node_id} handed over a Ready while down"
        if ready.entries:
            self._check_written(node, ready.entries)
        if ready.hard_state is not None:  # the vote it persists (a planted bug may leave it out)
            self._unpersisted_votes[host.node_id] = (node.term, node.vote)
        seen = self._seen[host.node_id]
        if node.term != seen.term or node.vote != seen.vote or node.role is not seen.role:
            self._on_role(node, seen)
        if node.log.committed != seen.commit:
            self._on_commit(node, seen)

    def after_persist(self, host: Host, ready: Ready) -> None:
        """`host` persisted a Ready: a vote it carries is cast now. Only now may its answer
        leave (a planted bug may send it sooner), and a crash before now loses the vote
        with the answer, so a restarted node that votes again in that term votes once."""
        if ready.hard_state is None:
            return
        term, vote = self._unpersisted_votes.pop(host.node_id)
        if vote != NO_NODE:
            self._cast(host.node_id, term, vote)

    def after_restart(self, host: Host) -> None:
        """A restarted node is a new incarnation: its commit index starts again from what
        its disk held, and the leader of its term (if any) must not believe it holds more."""
        node = _node_of(host)
        assert node is not None
        seen = self._seen[host.node_id] = _Seen()
        self._unpersisted_votes.pop(host.node_id, None)
        if node.vote != NO_NODE:
            self._cast(host.node_id, node.term, node.vote)  # read back from its disk
        self._on_role(node, seen)
        self._on_commit(node, seen)
        leader = self._running_leader(node.term)
        if leader is not None:
            self._check_match(leader, node, host)

    # --- role, term and vote ----------------------------------------------------------

    def _cast(self, voter: int, term: int, candidate: int) -> None:
        voted = self._votes.setdefault((voter, term), candidate)
        if voted != candidate:
            self._fail(
                "one-vote-per-term",
                (voter, voted, candidate),
                f"node {voter} voted for node {candidate} in term {term}, having voted for node {voted}",
            )

    def _on_role(self, node: RaftNode, seen: _Seen) -> None:
        term = node.term
        if node.role is Role.LEADER and not (seen.role is Role.LEADER and seen.term == term):
            self._on_new_leader(node)
        seen.role, seen.term, seen.vote = node.role, term, node.vote
        if node.role is not Role.LEADER:
            self._check_follower_commit(node)

    def _on_new_leader(self, node: RaftNode) -> None:
        node_id, term = node.node_id, node.term
        earlier = self._leaders.setdefault(term, node_id)
        if earlier != node_id:
            message = f"node {node_id} leads term {term}, as node {earlier} did"
            self._fail("one-leader-per-term", (node_id, earlier), message)
        # Its own vote counts at once: no message left before it was persisted.
        # The voters it counted: the membership it had applied (membership changes apply
        # at apply time, so two nodes may count with different ones).
        voters = node.membership.voters
        granted = sorted(
            voter for voter in voters if self._votes.get((voter, term)) == node_id or voter == node.vote == node_id
        )
        if 2 * len(granted) <= len(voters):
            self._fail(
                "election-quorum",
                (node_id, *(voter for voter in sorted(voters) if voter not in granted)),
                f"node {node_id} leads term {term} with the persisted votes of nodes {_ids(granted)} only, "
                f"of {len(voters)} voters",
            )
        self._check_votes_in_committed_membership(node, frozenset(granted))
        self._check_leader_holds_prefix(node)

    def _check_votes_in_committed_membership(self, node: RaftNode, granted: frozenset[int]) -> None:
        """The votes a new leader counted are a majority of the latest committed voters or
        of the voters before the last change of them: two majorities of voter sets one
        change apart intersect, majorities of sets further apart need not."""
        recent = self._prefix.memberships[-2:]
        if not recent or any(2 * len(granted & membership.voters) > len(membership.voters) for membership in recent):
            return
        latest = recent[-1].voters
        self._fail(
            "election-quorum",
            (node.node_id, *sorted(latest - granted)),
            f"node {node.node_id} leads term {node.term} with the votes of nodes {_ids(sorted(granted))}, "
            f"counted in a membership of voters {_ids(sorted(node.membership.voters))}: a majority of neither "
            f"the latest committed voters ({_ids(sorted(latest))}) nor those before the last change of them",
        )

    def _check_leader_holds_prefix(self, node: RaftNode) -> None:
        """A leader of term T holds every entry committed in a term before T. Committing
        terms grow along the prefix, so the highest index committed before T is found a
        few steps back from the end; log matching makes it stand for those below."""
        prefix, term = self._prefix, node.term
        index = prefix.last_index
        while index > 0 and prefix.terms[index] >= term:
            index -= 1
        if index == 0:
            return
        expected = prefix.entries[index]
        # Entries compacted into a snapshot were checked against the prefix when the
        # snapshot was taken or installed.
        if not (node.log.compacted_before(index) or node.log.match_term(index, expected.term)):
            self._fail(
                "committed-prefix",
                (node.node_id, prefix.committers[index]),
                f"node {node.node_id} leads term {term} without entry {index} of term {expected.term}, "
                f"committed by node {prefix.committers[index]} in term {prefix.terms[index]}",
            )

    # --- commit index -----------------------------------------------------------------

    def _on_commit(self, node: RaftNode, seen: _Seen) -> None:
        commit, before = node.log.committed, seen.commit
        seen.commit = commit
        if commit < before:
            self._fail(
                "committed-prefix",
                (node.node_id,),
                f"node {node.node_id}'s commit index fell from {before} to {commit}: committed entries were replaced",
            )
        self._extend_prefix(node, before, commit)
        if node.role is not Role.LEADER:
            self._check_follower_commit(node)

    def _extend_prefix(self, node: RaftNode, before: int, commit: int) -> None:
        """Entries (before, commit] of `node` are committed: each must be the prefix's
        where the prefix reaches, and extends it beyond."""
        prefix = self._prefix
        log = node.log
        low = before + 1
        covered = log.first_index - 1
        if low <= covered:
            # A snapshot (installed, or read back at a restart) stands for the entries up
            # to `covered`: only its last entry's term is left to check them by.
            self._check_snapshot_entry(node, covered, log.term(covered))
            low = covered + 1
        if low > commit:
            return
        for entry in log.slice(low, commit + 1):
            index = entry.index
            if index > prefix.last_index:
                prefix.entries.append(entry)
                prefix.terms.append(node.term)
                prefix.committers.append(node.node_id)
                if entry.kind is EntryKind.CONF_CHANGE and prefix.memberships:
                    changed = _changed(prefix.memberships[-1], entry)
                    if changed.voters != prefix.memberships[-1].voters:
                        prefix.memberships.append(changed)
                    else:  # a learner came or went: no quorum changed, no step taken
                        prefix.memberships[-1] = changed
                continue
            expected = prefix.entries[index]
            if entry.term != expected.term or entry.data != expected.data:
                self._fail(
                    "committed-prefix",
                    (node.node_id, prefix.committers[index]),
                    f"node {node.node_id} committed entry {index} of term {entry.term}, but node "
                    f"{prefix.committers[index]} committed entry {index} of term {expected.term}",
                )

    def _check_snapshot_entry(self, node: RaftNode, index: int, term: int) -> None:
        """A snapshot's last entry, at `index` of `term`, is a committed one."""
        prefix = self._prefix
        if index > prefix.last_index:
            self._fail(
                "committed-prefix",
                (node.node_id,),
                f"node {node.node_id} holds a snapshot up to entry {index}, beyond every entry committed "
                f"so far ({prefix.last_index})",
            )
        expected = prefix.entries[index]
        if expected.term != term:
            self._fail(
                "committed-prefix",
                (node.node_id, prefix.committers[index]),
                f"node {node.node_id} holds a snapshot up to entry {index} of term {term}, but node "
                f"{prefix.committers[index]} committed entry {index} of term {expected.term}",
            )

    def _check_follower_commit(self, node: RaftNode) -> None:
        commit = node.log.committed
        leader = self._running_leader(node.term)
        if commit == 0 or leader is None or leader is node:
            return
        if node.log.compacted_before(commit) or leader.log.compacted_before(commit):
            return  # committed entries compacted away: checked when they were committed
        if commit > leader.log.last_index or leader.log.term(commit) != node.log.term(commit):
            held = leader.log.term(commit) if commit <= leader.log.last_index else None
            self._fail(
                "follower-commit",
                (node.node_id, leader.node_id),
                f"node {node.node_id} committed up to entry {commit} of term {node.log.term(commit)}, "
                f"which its leader node {leader.node_id} of term {node.term} "
                + ("does not hold" if held is None else f"holds with term {held}"),
            )

    # --- log writes -------------------------------------------------------------------

    def _check_written(self, node: RaftNode, entries: tuple[Entry, ...]) -> None:
        """An entry written at a committed index in a term at or above the one that
        committed it came from a leader holding the committed entry: it must be that
        entry. The entry's own term bounds its writer's term from below."""
        prefix = self._prefix
        if entries[0].index > prefix.last_index:
            return
        for entry in entries:
            index = entry.index
            if index > prefix.last_index:
                return
            expected = prefix.entries[index]
            if entry.term < prefix.terms[index] or entry == expected:
                continue
            self._fail(
                "committed-prefix",
                (node.node_id, prefix.committers[index]),
                f"node {node.node_id} wrote entry {index} of term {entry.term} over entry {index} of term "
                f"{expected.term}, committed by node {prefix.committers[index]} in term {prefix.terms[index]}",
            )

    # --- leader and follower ----------------------------------------------------------

    def _check_match(self, leader: RaftNode, follower: RaftNode, follower_host: Host) -> None:
        if leader.role is not Role.LEADER or follower.term != leader.term:
            return
        progress = leader.progress(follower.node_id)
        if progress is None:
            # Not a member in the membership the leader applied (a node that joined or
            # left since): the leader counts nothing of it.
            assert follower.node_id not in leader.membership.members(), (leader.node_id, follower.node_id)
            return
        match = progress.match
        if match == 0 or leader.log.compacted_before(match) or follower.log.compacted_before(match):
            return  # compacted entries are committed ones, checked as such
        if follower_host.synced_compacted(match):
            return
        term = leader.log.term(match) if match <= leader.log.last_index else None
        if term is not None and follower.log.match_term(match, term) and follower_host.synced_term(match) == term:
            return
        held = "nothing" if match > follower.log.last_index else f"term {follower.log.term(match)}"
        self._fail(
            "leader-match",
            (leader.node_id, follower.node_id),
            f"leader {leader.node_id} of term {leader.term} believes node {follower.node_id} holds entry "
            f"{match} of {_described(term)}; it holds {held} there, on disk "
            f"{_described(follower_host.synced_term(match))}",
        )

    def _running_leader(self, term: int) -> RaftNode | None:
        """The leader of `term` as it is now, if it still runs and leads that term."""
        leader_id = self._leaders.get(term)
        host = self._hosts.get(leader_id) if leader_id is not None else None
        node = _node_of(host) if host is not None else None
        if node is None or node.role is not Role.LEADER or node.term != term:
            return None
        return node

    # --- reporting --------------------------------------------------------------------

    def _fail(self, invariant: str, nodes: tuple[int, ...], message: str) -> None:
        assert invariant in INVARIANTS, invariant
        involved = tuple(dict.fromkeys(node_id for node_id in nodes if node_id != NO_NODE))
        states = tuple(self._state_of(node_id) for node_id in involved if node_id in self._hosts)
        raise InvariantViolation(Violation(invariant, self._now(), self._phase(), involved, message, states))

    def _state_of(self, node_id: int) -> dict[str, Any]:
        node = _node_of(self._hosts[node_id])
        if node is None:
            return {"node": node_id, "role": "crashed"}
        log = node.log
        return {
            "node": node_id,
            "role": str(node.role),
            "term": node.term,
            "vote": node.vote,
            "commit": log.committed,
            "last_index": log.last_index,
            "last_term": log.last_term(),
        }


def _node_of(host: Host) -> RaftNode | None:
    server = host.server
    return server.node if server is not None else None


def _changed(membership: Membership, entry: Entry) -> Membership:
    """`membership` after the change `entry` holds; unchanged by data that is no change
    (garbled by a planted disk bug: the nodes' own apply reports that)."""
    try:
        return ConfChange.decode(entry.data).apply_to(membership)
    except ValueError:
        return membership


def _ids(node_ids: list[int]) -> str:
    return " ".join(str(node_id) for node_id in node_ids) or "(none)"


def _described(term: int | None) -> str:
    return "nothing" if term is None else f"term {term}"
