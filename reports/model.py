"""The data every view of a report draws: operations, node states, faults, messages,
anomalies and their causes, counterexamples. `reports.timeline` builds it from files;
`html`, `png` and `terminal` only draw it.

Every string here came from a history, a trace or a verdict and is data: the renderers
escape it. Times are integers on the timeline's axis (microseconds, or history event
positions when a history records no times).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from checkers.verdict import Verdict

OUTCOMES = ("ok", "fail", "info", "pending")
"""How an operation ended: `ok` happened; `fail` certainly did not take effect (a cas
whose compare failed is a `fail` that observed something); `info` unknown, the client gave
up at its end; `pending` never completed before the history ended."""

NODE_STATES = (
    "follower",
    "pre-candidate",
    "candidate",
    "leader",
    "paused",
    "crashed",
    "learner",
    "removed",
    "corrupt",
)
"""What a node lane shows. `paused` and `crashed` hide the Raft role beneath them: a paused
node keeps its role but acts on nothing, and a crashed one has none. `learner`: a follower
that is not yet a voter (a member that joined, until its promotion applies at that node);
`removed`: no longer a member (its host stopped for good); `corrupt`: its restart found a
record of its disk failing its checksum and it refused to start, for the rest of the run.
A node that joins mid-run has no span before it joins."""

LASTING_STATES = ("removed", "corrupt")
"""States a node never leaves: no role, pause or restart shows over them."""

OCCASIONAL_STATES = ("learner", *LASTING_STATES)
"""States only some runs have: legends show them only when a run has them."""

LANE_MARK_KINDS = (
    "snapshot",
    "snapshot-install",
    "restart-snapshot",
    "conf-apply",
    "member-added",
    "member-removed",
    "corrupt",
    "disk",
)
"""What a mark on a node lane says happened to that node: it snapshotted its store (there
can be hundreds: drawn faint), installed its leader's snapshot, restarted from a snapshot
on its disk, applied a membership change, joined or left the membership, found its disk
corrupt at a restart, or another disk fault struck it (`disk`: a write torn by a crash, the
torn tail dropped at the restart, a write or restart refused by a full disk)."""

MAX_SNAPSHOT_MARKS = 5_000
"""Snapshots taken that a timeline keeps as marks (the first ones); the rest are counted.
Installs, restarts and membership changes are few and always kept."""

MAX_OPERATIONS = 100_000
"""The most operations a timeline of a history holds; a page of more stays responsive
(the canvas draws what is visible) but weighs tens of megabytes."""

MAX_MESSAGES = 6_000
"""How many traced messages a timeline keeps: those nearest the focus window. A report
holding every message of a long run would be tens of megabytes and draw no faster."""


@dataclass(frozen=True, slots=True)
class OpBar:
    """One operation as a bar from invoke to completion in its client's lane.

    `call` is the operation's invoke position in its history (for `history.jsonl` the
    event index), the same number a linearizability counterexample names, which is how a
    counterexample finds its bars. `end` None: never completed, drawn to the end.
    `record` is the operation's full record as (field, text) pairs, for a person to read.
    """

    id: int
    lane: str
    f: str
    key: str | None
    outcome: str
    start: int
    end: int | None
    call: int
    label: str
    record: tuple[tuple[str, str], ...]
    line: int | None = None
    """The history line of its invoke (1-based), when the history has lines."""
    end_line: int | None = None
    """The history line of its completion."""

    def __post_init__(self) -> None:
        assert self.outcome in OUTCOMES, self.outcome
        assert self.end is None or self.end >= self.start, (self.start, self.end)
        assert (self.end is None) == (self.outcome == "pending"), (self.end, self.outcome)


@dataclass(frozen=True, slots=True)
class NodeSpan:
    """A node in one state over [start, end); `term` and `leader` as it last knew them."""

    node: int
    state: str
    term: int
    leader: int
    start: int
    end: int

    def __post_init__(self) -> None:
        assert self.state in NODE_STATES, self.state
        assert self.start <= self.end, (self.start, self.end)


@dataclass(frozen=True, slots=True)
class LaneMark:
    """Something that happened to one node at one moment (see `LANE_MARK_KINDS`), drawn
    on its lane; `label` says it in a line and `record` in full (index, term, voters)."""

    time: int
    node: int
    kind: str
    label: str
    record: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        assert self.kind in LANE_MARK_KINDS, self.kind


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """A membership change as the cluster lived it: proposed by a leader as the entry at
        `index`, first applied at `applied` (None: never), with the voters and learners it
        left. `applied_by` counts the nodes that applied it (a node that restarts applies it
    again, and counts once)."""

    index: int
    change: str
    proposed: int | None
    proposer: int | None
    term: int | None
    applied: int | None
    voters: tuple[int, ...]
    learners: tuple[int, ...]
    applied_by: int


@dataclass(frozen=True, slots=True)
class Election:
    """A node became leader of `term` at `time`."""

    time: int
    node: int
    term: int


@dataclass(frozen=True, slots=True)
class FaultSpan:
    """A fault the nemesis started at `start` and healed at `end` (the run's end if never)."""

    id: int
    kind: str
    start: int
    end: int
    label: str
    nodes: tuple[int, ...]
    record: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class MessageArrow:
    """A traced Raft message: sent at `sent`, received at `received`, or dropped."""

    id: int
    source: int
    target: int
    type: str
    term: int
    sent: int
    received: int | None
    dropped: str | None
    label: str


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of a node's log; `op` the bar of the client operation that proposed it,
    when the trace's acknowledgements or the history name one."""

    index: int
    term: int
    digest: str
    client: str | None = None
    request: str | None = None
    line: int | None = None
    op: int | None = None


@dataclass(frozen=True, slots=True)
class NodeState:
    """A node as it stood at an anomaly's moment: what Raft safety is judged on."""

    node: int
    role: str
    term: int
    commit: int
    log_length: int
    tail: tuple[LogEntry, ...]


@dataclass(frozen=True, slots=True)
class Marker:
    """A checker's anomaly, placed at the time of the operation or event that caused it.

    `op` is the bar of the causing operation when the anomaly names its history `line`;
    `cause` is the position of its cause in `Timeline.causes`; `nodes` the state of each
    node at that moment, for an anomaly of Raft safety.
    """

    time: int
    checker: str
    message: str
    property: str = ""
    line: int | None = None
    op: int | None = None
    cause: int | None = None
    nodes: tuple[NodeState, ...] = ()


@dataclass(frozen=True, slots=True)
class Cause:
    """What a group of anomalies have in common: one faulty operation or event and the
    effects it had. A checker that does not group its anomalies gives each its own."""

    checker: str
    property: str
    text: str
    time: int
    line: int | None
    op: int | None
    count: int


@dataclass(frozen=True, slots=True)
class StuckWhy:
    """Why one operation of a counterexample cannot be placed: a line of words and the
    operations (bars, and history lines) that rule its value out."""

    op: int
    text: str
    ruled_out_by: tuple[int, ...]
    lines: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Counterexample:
    """A partition the linearizability checker proved illegal, located on the timeline.

    `stuck` and `prefix` are `OpBar.id`s: the operations that cannot be linearized after
    the longest linearizable prefix, and that prefix in its linearization order.
    """

    key: str
    stuck: tuple[int, ...]
    prefix: tuple[int, ...]
    state: str
    reasons: tuple[str, ...]
    why: tuple[StuckWhy, ...] = ()

    def why_of(self, op: int) -> StuckWhy | None:
        return next((why for why in self.why if why.op == op), None)


@dataclass(frozen=True, slots=True)
class VerdictLine:
    """One checker's line of a report: its verdict and what it found, in a few words."""

    checker: str
    verdict: Verdict
    summary: str


@dataclass(frozen=True, slots=True)
class Timeline:
    title: str
    meta: tuple[tuple[str, str], ...]
    time_unit: str
    end: int
    verdicts: tuple[VerdictLine, ...]
    ops: tuple[OpBar, ...]
    lanes: tuple[str, ...]
    nodes: tuple[int, ...]
    spans: tuple[NodeSpan, ...] = ()
    elections: tuple[Election, ...] = ()
    faults: tuple[FaultSpan, ...] = ()
    phases: tuple[tuple[str, int], ...] = ()
    messages: tuple[MessageArrow, ...] = ()
    messages_traced: bool = False
    markers: tuple[Marker, ...] = ()
    counterexamples: tuple[Counterexample, ...] = ()
    focus: tuple[int, int] | None = None
    replay: str | None = None
    start: int = 0
    commands: tuple[tuple[str, str], ...] = ()
    """What a person runs next: (purpose, command line), e.g. ("replay", "raftsim replay DIR")."""
    causes: tuple[Cause, ...] = ()
    lane_marks: tuple[LaneMark, ...] = ()
    """In time order; every mark's node is one of `nodes`."""
    snapshots_uncounted: int = 0
    """Snapshots taken beyond `MAX_SNAPSHOT_MARKS`, left out of `lane_marks`."""
    membership: tuple[MembershipChange, ...] = ()

    def __post_init__(self) -> None:
        assert self.time_unit in ("us", "event"), self.time_unit
        assert all(op.id == number for number, op in enumerate(self.ops)), "op ids are positions"
        assert set(op.lane for op in self.ops) <= set(self.lanes)
        assert set(mark.node for mark in self.lane_marks) <= set(self.nodes)

    def marks_of(self, *kinds: str) -> list[LaneMark]:
        return [mark for mark in self.lane_marks if mark.kind in kinds]

    def states_shown(self) -> list[str]:
        """The node states a legend lists: every role, and a lasting state when it occurs."""
        present = {span.state for span in self.spans}
        return [state for state in NODE_STATES if state not in OCCASIONAL_STATES or state in present]

    @property
    def verdict(self) -> Verdict:
        return Verdict.combine(line.verdict for line in self.verdicts)

    @property
    def first_anomaly(self) -> int | None:
        times = [marker.time for marker in self.markers]
        return min(times) if times else None


# ---------------------------------------------------------------------------------------
# Describing values for people


def show(value: Any) -> str:
    """A value as a person reads it: null as `nil`, strings as they are, the rest as JSON."""
    if value is None:
        return "nil"
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list | dict | int | float):
        return str(value)  # a value of a model's own (an etcd request shows as its JSON)
    return json.dumps(value, ensure_ascii=False, default=str)


def seconds(value: int, digits: int = 6) -> str:
    """Microseconds as a person reads them: seconds, with the unit."""
    return f"{value / 1e6:.{digits}f} s"


def bars_by_line(ops: tuple[OpBar, ...] | list[OpBar]) -> dict[int, int]:
    """History line (of an invoke or a completion) to the bar of its operation."""
    found: dict[int, int] = {}
    for op in ops:
        for line in (op.line, op.end_line):
            if line is not None:
                found.setdefault(line, op.id)
    return found


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 fault`, `2 faults`: the count with its noun agreeing."""
    return f"{count:,} {noun if count == 1 else (many or noun + 's')}"


@dataclass(frozen=True, slots=True)
class Tenure:
    """One leader's term: elected at `start`, led until `end`, and how that ended:
    `deposed` (by a node of term `by_term`), `crashed`, `paused`, `removed` (from the
    membership), `stepped down` or `run ended`."""

    term: int
    node: int
    start: int
    end: int
    how: str
    by_term: int | None = None

    def describe(self, time_text: str) -> str:
        """How the tenure ended, in words; `time_text` is `end` as the caller shows times."""
        if self.how == "run ended":
            return "led until the run ended"
        if self.how == "deposed":
            return f"deposed by term {self.by_term} at {time_text}"
        return f"{self.how} at {time_text}"


def leader_tenures(timeline: Timeline) -> list[Tenure]:
    """Each election with the time its leader stopped leading that term (the end of the
    last leader span it had in that term) and what it became next."""
    by_node: dict[int, list[NodeSpan]] = {}
    for span in timeline.spans:
        by_node.setdefault(span.node, []).append(span)
    tenures = []
    for election in sorted(timeline.elections, key=lambda e: (e.time, e.term, e.node)):
        spans = by_node.get(election.node, [])
        led = [position for position, span in enumerate(spans) if span.state == "leader" and span.term == election.term]
        if not led:
            tenures.append(Tenure(election.term, election.node, election.time, election.time, "stepped down"))
            continue
        last = spans[led[-1]]
        end = max(last.end, election.time)
        following = spans[led[-1] + 1] if led[-1] + 1 < len(spans) else None
        if following is None or end >= timeline.end:
            tenures.append(Tenure(election.term, election.node, election.time, end, "run ended"))
        elif following.state in ("crashed", "paused", "removed", "corrupt"):
            tenures.append(Tenure(election.term, election.node, election.time, end, following.state))
        elif following.term > election.term:
            tenures.append(Tenure(election.term, election.node, election.time, end, "deposed", following.term))
        else:
            tenures.append(Tenure(election.term, election.node, election.time, end, "stepped down"))
    return tenures
