"""The values that flow into and out of a Raft node.

Everything here is an immutable value so that a host may keep, compare, log or replay it
without fearing that the node changes it later. The node never performs I/O: it hands the
host a `Ready` batch and the host persists, sends and applies, in that order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

NO_NODE = 0
"""Node ids start at 1; 0 means "nobody" (no vote cast, no known leader)."""


class Role(enum.StrEnum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class MessageType(enum.StrEnum):
    PRE_VOTE = "pre-vote"
    PRE_VOTE_RESPONSE = "pre-vote-response"
    VOTE = "vote"
    VOTE_RESPONSE = "vote-response"
    APPEND = "append"
    APPEND_RESPONSE = "append-response"
    HEARTBEAT = "heartbeat"
    HEARTBEAT_RESPONSE = "heartbeat-response"
    READ_INDEX = "read-index"
    """A read asks its node's leader for the index to read at (`context` names the read);
    stepped locally by the node that took the read, and sent on to the leader by a follower."""
    READ_INDEX_RESPONSE = "read-index-response"
    """The leader's answer to a follower's read-index: `log_index` is the index, once the
    leader confirmed it still led after the request arrived."""
    TRANSFER_LEADER = "transfer-leader"
    """Hand leadership to the voter named by `log_index` (`RaftNode.transfer_leadership`);
    stepped locally, and sent on to the leader by a follower that knows one."""
    TIMEOUT_NOW = "timeout-now"
    """A leader tells the follower it hands leadership to that its log is caught up: stand
    for election at once, without a pre-election, in a campaign voters may not refuse for
    having heard from a leader lately (`TRANSFER_CAMPAIGN`)."""
    # Local events: a node steps these into itself and never sends them, so that every
    # input (bar the clock) takes one path through `step`, as etcd's MsgHup and MsgProp do.
    HUP = "hup"
    """Start an election now (a pre-election first when PreVote is on)."""
    PROPOSE = "propose"
    """Append `entries` (placeholders whose data alone counts) if this node leads."""
    BEAT = "beat"
    """A leader's heartbeat timer fired: tell every follower it still leads."""
    CHECK_QUORUM = "check-quorum"
    """A leader's election timer fired: step down unless a quorum was heard from."""
    SNAPSHOT = "snapshot"
    """A leader sends its latest snapshot (`snapshot`) to a follower whose next entry it
    has compacted away (etcd's MsgSnap); the follower answers with an append response
    whose `log_index` is how far its log now matches."""


LOCAL_MESSAGE_TYPES = frozenset({MessageType.HUP, MessageType.PROPOSE, MessageType.BEAT, MessageType.CHECK_QUORUM})
"""Message types that only ever go from a node to itself."""

TRANSFER_CAMPAIGN = "transfer"
"""The `context` of a vote request in a campaign a leader asked for with TIMEOUT_NOW. Its
voters grant it even within a leader's lease: the leader that would hold them to their
promise is the one stepping aside."""


class EntryKind(enum.StrEnum):
    NORMAL = "normal"
    """A command for the state machine (or the empty entry of a new leader)."""
    CONF_CHANGE = "conf-change"
    """A membership change (`ConfChange.encode` as data), which Raft itself applies once
    the entry is applied (etcd's EntryConfChange)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. `data` is opaque to Raft; the empty string marks the empty entry a
    new leader appends to commit entries of earlier terms (Raft paper, section 5.4.2).
    `kind` defaults to NORMAL, so that every entry made before membership changes existed
    is built, compared and traced as it was."""

    term: int
    index: int
    data: str = ""
    kind: EntryKind = EntryKind.NORMAL


class Message(NamedTuple):
    """A message between two nodes.

    Field meanings follow etcd's raftpb.Message: for votes `log_index`/`log_term` describe the
    candidate's last entry; for appends they describe the entry preceding `entries`; for
    append responses `log_index` is the highest index the follower now matches (or, on reject,
    the index that was rejected) and `reject_hint` the follower's hint for fast backtracking;
    for a transfer request `log_index` names the node to hand leadership to.
    `context` is an opaque payload for requests that need one (a read's id for ReadIndex, a
    forced election for leadership transfer); None, the default, means none, and a message
    without one looks in every trace exactly as before the field existed.

    An immutable named tuple rather than a frozen dataclass: messages are the most numerous
    values a run creates, and a tuple is built three times faster (measured: 1.1 µs against
    3.3 µs), which the simulator feels directly.
    """

    type: MessageType
    sender: int
    to: int
    term: int
    log_term: int = 0
    log_index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    reject_hint_term: int = 0
    context: str | bytes | None = None
    snapshot: Snapshot | None = None


@dataclass(frozen=True, slots=True)
class HardState:
    """What must survive a crash besides the log: the current term, the vote cast in it,
    and the commit index (kept so a restarted node need not wait to re-learn it)."""

    term: int = 0
    vote: int = NO_NODE
    commit: int = 0


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile facts the host may want to show or act on; never persisted."""

    leader: int
    role: Role


@dataclass(frozen=True, slots=True)
class PersistedState:
    """What a host hands a node when it (re)starts: the durable hard state, the latest
    snapshot (None before the first) and the log entries after the snapshot's index."""

    hard_state: HardState = HardState()
    entries: tuple[Entry, ...] = ()
    snapshot: Snapshot | None = None

    def __post_init__(self) -> None:
        if self.snapshot is not None and self.entries:
            # Asserted, not raised: a host builds this from its own disk.
            assert self.entries[0].index == self.snapshot.index + 1, (
                f"entries start at {self.entries[0].index}, after a snapshot at {self.snapshot.index}"
            )


@dataclass(frozen=True, slots=True)
class ReadState:
    """A read this node took may be served once it has applied `index`: the index the
    leader confirmed for the read named `context` (`RaftNode.read_index`)."""

    index: int
    context: str


@dataclass(frozen=True, slots=True)
class Ready:
    """One batch of work for the host.

    The host must, in order: persist `hard_state` (if not None) and `entries` (which
    replace any stored entries from `entries[0].index` on), then send `messages`, then
    apply `committed_entries`, then call `advance(ready)`. `persist_before_send` is True
    except under the planted bug `send-before-persist`, which invites the host to send
    first; it exists so the harness can prove it catches that mistake.
    """

    hard_state: HardState | None
    soft_state: SoftState | None
    entries: tuple[Entry, ...]
    messages: tuple[Message, ...]
    committed_entries: tuple[Entry, ...]
    persist_before_send: bool = True
    read_states: tuple[ReadState, ...] = ()
    """Reads confirmed since the last Ready; the host hands them to the server after
    applying `committed_entries`."""
    snapshot: Snapshot | None = None
    """A snapshot received from the leader: the host persists it (it replaces the log up to
    its index) before `entries`, and loads it into the state machine before applying
    `committed_entries`, which then start right after it."""


@dataclass(frozen=True, slots=True)
class Membership:
    """Who belongs to the cluster, as etcd's ConfState: a value, so that a node can be given
    it at start and later read a new one from its log.

    `voters` elect and commit; `voters_outgoing`, non-empty only while a membership change
    is under way, must agree too (a joint configuration); `learners` receive the log but
    never vote and never count towards a quorum. Sets, so equal memberships compare equal
    whatever order they were written in; whoever walks them sorts first.
    """

    voters: frozenset[int]
    learners: frozenset[int] = frozenset()
    voters_outgoing: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        # A membership comes from outside (a configuration, later the log): refuse a bad one
        # with an exception that `python -O` keeps.
        if not self.voters:
            raise ValueError("a membership needs at least one voter")
        for node_id in sorted(self.voters | self.learners | self.voters_outgoing):
            if node_id < 1:
                raise ValueError(f"node ids start at 1, not {node_id}")
        both = sorted(self.learners & (self.voters | self.voters_outgoing))
        if both:
            raise ValueError(f"nodes {both} cannot be voters and learners at once")

    @classmethod
    def of_voters(cls, voters: tuple[int, ...]) -> Membership:
        return cls(voters=frozenset(voters))

    def members(self) -> tuple[int, ...]:
        """Every node of the membership, in id order."""
        return tuple(sorted(self.voters | self.voters_outgoing | self.learners))

    def describe(self) -> str:
        """`voters=1,2,3 learners=4`: the membership in a stable text, for traces and tests."""
        text = "voters=" + ",".join(map(str, sorted(self.voters)))
        if self.learners:
            text += " learners=" + ",".join(map(str, sorted(self.learners)))
        if self.voters_outgoing:
            text += " outgoing=" + ",".join(map(str, sorted(self.voters_outgoing)))
        return text


class ConfChangeType(enum.StrEnum):
    ADD_LEARNER = "add-learner"
    """A new node joins as a learner: it receives the log, but neither votes nor counts."""
    PROMOTE = "promote"
    """A learner becomes a voter (etcd's ConfChangeAddNode of a learner)."""
    REMOVE = "remove"
    """A member, voter or learner, leaves."""


@dataclass(frozen=True, slots=True)
class ConfChange:
    """One single-step membership change, the data of a CONF_CHANGE entry (etcd's
    ConfChange, without joint consensus).

    A change is a delta, applied to the membership in force where the entry is applied.
    Applying it is idempotent and only touches `node_id`: node ids are never reused, so a
    log replayed onto a later membership (a node that joined mid-run starts with the one it
    joined) ends in the same membership as one replayed from the start.
    """

    type: ConfChangeType
    node_id: int

    def __post_init__(self) -> None:
        if self.node_id < 1:
            raise ValueError(f"node ids start at 1, not {self.node_id}")

    def encode(self) -> str:
        return f"{self.type} {self.node_id}"

    @staticmethod
    def decode(data: str) -> ConfChange:
        kind, node = data.split(" ")
        return ConfChange(ConfChangeType(kind), int(node))

    def refusal(self, membership: Membership) -> str | None:
        """Why this change may not be proposed on `membership`, or None if it may."""
        node = self.node_id
        if membership.voters_outgoing:
            return "a joint configuration is in force"
        if self.type is ConfChangeType.ADD_LEARNER:
            return f"{node} is already a member" if node in membership.members() else None
        if self.type is ConfChangeType.PROMOTE:
            return None if node in membership.learners else f"{node} is not a learner"
        if node not in membership.members():
            return f"{node} is not a member"
        if membership.voters == frozenset({node}):
            return f"{node} is the last voter"
        return None

    def apply_to(self, membership: Membership) -> Membership:
        """The membership after this change. A change that no longer fits (a demotion, the
        removal of the last voter: never proposed) leaves the membership as it is."""
        node = self.node_id
        voters, learners = membership.voters, membership.learners
        if self.type is ConfChangeType.ADD_LEARNER:
            if node in voters:
                return membership
            learners = learners | {node}
        elif self.type is ConfChangeType.PROMOTE:
            voters, learners = voters | {node}, learners - {node}
        else:
            voters, learners = voters - {node}, learners - {node}
        if not voters:
            return membership
        return Membership(voters, learners, membership.voters_outgoing - {node})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state machine as of log entry `index` (of term `term`), standing in for every
    entry up to it: what is left of the log after compaction, what a leader sends a
    follower it can no longer send entries to, and what a backup holds. `membership` is
    the configuration in force at `index` (etcd's ConfState in the snapshot's metadata);
    `data` is the state machine's own encoding, opaque to Raft."""

    index: int
    term: int
    membership: Membership
    data: str = ""

    def __post_init__(self) -> None:
        if self.index < 1 or self.term < 1:
            raise ValueError(f"a snapshot stands for entries from 1 on: index {self.index}, term {self.term}")


READ_ONLY_OPTIONS = ("safe", "lease")


@dataclass(frozen=True, slots=True)
class Config:
    """Static configuration of one node. Ticks are the node's only notion of time.

    The cluster is given either as `peers`, the everyday shorthand for "these nodes, all
    voters", or as a full `membership` (learners, a joint configuration); never both.
    `initial_membership()` is the one the node reads either way.
    """

    node_id: int
    peers: tuple[int, ...] = ()
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_entries_per_message: int = 64
    bugs: frozenset[str] = field(default_factory=frozenset)
    membership: Membership | None = None
    read_only: str = "safe"
    """How a leader confirms a read (etcd's ReadOnlyOption): `safe`, a heartbeat round per
    read (ReadIndex); `lease`, no round while its lease holds (`raftcore.read_only`). A
    lease needs CheckQuorum: without it the leader confirms every read with a round."""
    max_clock_drift_ppm: int = 0
    """The clock drift the lease must survive: it is shortened to stay safe up to this."""
    tick_ms: int = 100
    """How long one tick is meant to last on the host's clock: what turns a lease's TTL in
    seconds into ticks (`raftcore.lease`). Raft itself counts ticks only."""
    snapshot_every: int = 0
    """Take a snapshot once this many entries were applied since the last one (etcd's
    `--snapshot-count`); 0 never takes one, and the log then grows without end."""
    snapshot_catch_up: int = 0
    """Entries kept before the snapshot's index when the log is compacted, so that a
    follower lagging by fewer still gets entries, not the whole snapshot (etcd's
    SnapshotCatchUpEntries)."""

    def __post_init__(self) -> None:
        # A configuration comes from outside (a scenario, a test, a host): refuse a bad one
        # with an exception that `python -O` keeps, unlike an assertion.
        if self.node_id == NO_NODE:
            raise ValueError(f"node ids start at 1, not {self.node_id}")
        self._check_membership()
        if self.heartbeat_ticks < 1:
            raise ValueError(f"heartbeat_ticks must be at least 1, not {self.heartbeat_ticks}")
        if self.election_ticks <= self.heartbeat_ticks:
            raise ValueError(
                f"election_ticks ({self.election_ticks}) must exceed heartbeat_ticks ({self.heartbeat_ticks})"
            )
        if self.read_only not in READ_ONLY_OPTIONS:
            raise ValueError(f"read_only must be one of {', '.join(READ_ONLY_OPTIONS)}, not {self.read_only!r}")
        if not 0 <= self.max_clock_drift_ppm < 1_000_000:
            raise ValueError(f"max_clock_drift_ppm must be in [0, 1000000), not {self.max_clock_drift_ppm}")
        if self.tick_ms < 1:
            raise ValueError(f"tick_ms must be at least 1, not {self.tick_ms}")
        if self.snapshot_every < 0 or self.snapshot_catch_up < 0:
            raise ValueError(
                f"snapshot_every ({self.snapshot_every}) and snapshot_catch_up ({self.snapshot_catch_up}) "
                "cannot be negative"
            )
        if self.max_entries_per_message < 1:
            raise ValueError(f"max_entries_per_message must be at least 1, not {self.max_entries_per_message}")

    def _check_membership(self) -> None:
        if self.membership is not None:
            if self.peers:
                raise ValueError("give peers or a membership, not both")
            if self.node_id not in self.membership.members():
                raise ValueError(f"{self.membership} must include the node itself ({self.node_id})")
            return
        if self.node_id not in self.peers:
            raise ValueError(f"peers {self.peers} must include the node itself ({self.node_id})")
        if len(set(self.peers)) != len(self.peers):
            raise ValueError(f"peers must be distinct: {self.peers}")

    def initial_membership(self) -> Membership:
        """The membership the node starts with (until one is read from the log)."""
        if self.membership is not None:
            return self.membership
        return Membership.of_voters(self.peers)
