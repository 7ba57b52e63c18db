"""The picture of a run or a history that every view draws: HTML, PNG and terminal.

A report is built once, from files, into a `Timeline`, and each renderer only draws it.
That keeps the three views in agreement (the same lanes, the same colours by outcome,
the same counterexample) and keeps the renderers free of parsing. It also keeps `reports`
away from `sim`: a timeline comes from a run folder's artifacts or from any history
`checkers` can read, never from a live simulation.

Time is one axis for everything. For our runs and for histories that carry times it is
simulated (or recorded) microseconds. Histories without times (most Porcupine and some
Knossos files) are drawn against the position of each event in the file instead, which
keeps what a linearizability argument needs, "a returned before b was invoked", and
drops only the spacing; `time_unit` says which axis a timeline has.

Faults come from the trace's `fault` and `heal` events, or, where a run's trace holds none
(a real cluster's) and for a history checked on its own, from the history's fault lines
(`checkers.history.FaultLine`), which `fault_events` turns into the same events: one
path (`_World`, `_fault_span`) makes every fault band, so labels and colours agree
whatever the source.

Every string a history or trace provides (keys, values, errors) is kept as data here and
escaped by the renderer that shows it: the timeline never holds markup.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import os
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.errors import InputError
from checkers.history import (
    JSONL_WORDING,
    Event,
    FaultLine,
    Operation,
    Pairing,
    pair_event,
    read_history_faults,
    read_history_jsonl,
)
from checkers.trace import TraceEvent, iter_trace_file
from checkers.verdict import CheckerResult, RunVerdict, Verdict
from reports.model import (
    LASTING_STATES,
    MAX_MESSAGES,
    MAX_OPERATIONS,
    MAX_SNAPSHOT_MARKS,
    NODE_STATES,
    OUTCOMES,
    Cause,
    Counterexample,
    Election,
    FaultSpan,
    LaneMark,
    LogEntry,
    Marker,
    MembershipChange,
    MessageArrow,
    NodeSpan,
    NodeState,
    OpBar,
    StuckWhy,
    Tenure,
    Timeline,
    VerdictLine,
    bars_by_line,
    leader_tenures,
    plural,
    seconds,
    show,
)
from reports.raftstate import LogTracker, RawNodeState, request_lines
from reports.verdicts import (
    STATE_CHECKERS,
    anomaly_markers,
    causes_of,
    counterexample_markers,
    counterexamples_from_result,
    verdict_lines,
)

_us = seconds


# ---------------------------------------------------------------------------------------
# From a run folder


def timeline_from_run(
    folder: str | os.PathLike[str],
    max_messages: int = MAX_MESSAGES,
    messages: Iterable[TraceEvent] | None = None,
    focus: tuple[int, int] | None = None,
    shown_folder: Path | None = None,
    parsed: ParsedRun | None = None,
) -> Timeline:
    """Draw a run folder (`history.jsonl`, `trace.jsonl`, `verdict.json`).

    `parsed` holds the folder's files as the caller already read them (a run folder value
    read once per process): with it, no file is read again here, but for the history's
    fault lines when `parsed` has none and the trace has no fault (see `fault_events`).
    Without it the files are read from `folder`, the history with the register's
    vocabulary only.

    `messages` supplies message events (`msg`, `recv`, `drop`) recorded apart from the
    trace, as a replay with message tracing on does; messages in the trace are used too.
    `focus` is the message diagram's window (default: around the first anomaly's cause,
    else the first election); the messages kept are those nearest it. `shown_folder` is
    the folder the commands in the header name (default `folder`): reports drawn in a
    staging folder name the one the run ends up in.
    """
    root = Path(folder)
    if parsed is None:
        parsed = _read_run(root)
    history, verdict = parsed.history, parsed.verdict
    world = _World()
    logs = LogTracker(_safety_moments(verdict))
    for event in parsed.trace:
        world.feed(event)
        if logs.wanted:
            logs.feed(event)
    logs.finish()
    if not world.fault_starts:
        # No fault in the trace (a real cluster's trace may hold none): the history's own.
        recorded = parsed.faults if parsed.faults is not None else read_history_faults(root / "history.jsonl")
        for event in fault_events(recorded):
            world.feed(event)
    for event in messages or ():
        world.feed(event)
    ops = _bars_from_events(history, str(root / "history.jsonl"))
    counterexamples = _run_counterexamples(verdict, ops)
    states = _node_states(logs, history, ops)
    markers = anomaly_markers(verdict, ops, states) + counterexample_markers(counterexamples, ops)
    causes, markers = causes_of(verdict, markers, ops, counterexamples)
    markers.sort(key=lambda marker: (marker.time, marker.checker, marker.message))
    end = max([world.end, *(op.end or op.start for op in ops)])
    focus = focus or _focus(causes, world, end)
    start = world.start_event
    meta = [("scenario", show(start.get("scenario", "?"))), ("seed", show(start.get("seed", "?")))]
    if verdict.digest:
        meta.append(("digest", show(verdict.digest)))
    lanes = sorted({op.lane for op in ops}, key=_lane_order)
    commands = run_commands(
        shown_folder if shown_folder is not None else root, failed=verdict.verdict is Verdict.INVALID
    )
    return Timeline(
        title=f"{show(start.get('scenario', root.name))} seed {show(start.get('seed', '?'))}",
        meta=tuple(meta),
        time_unit="us",
        end=end,
        verdicts=verdict_lines(verdict),
        ops=tuple(ops),
        lanes=tuple(lanes),
        nodes=tuple(world.nodes),
        spans=tuple(world.close_spans(end)),
        elections=tuple(world.elections),
        faults=tuple(world.close_faults(end)),
        phases=tuple(world.phases),
        messages=tuple(_messages_near(world.arrows(), focus, max_messages)),
        messages_traced=world.messages_seen,
        markers=tuple(markers),
        counterexamples=tuple(counterexamples),
        focus=focus,
        replay=commands[0][1],
        commands=commands,
        causes=tuple(causes),
        lane_marks=tuple(world.marks),
        snapshots_uncounted=world.snapshots_uncounted,
        membership=tuple(world.memberships()),
    )


def run_commands(folder: Path, failed: bool) -> tuple[tuple[str, str], ...]:
    """The commands a person runs next on a run folder, quoted for a POSIX shell."""
    where = shlex.quote(str(folder))
    commands = [("replay", f"raftsim replay {where}"), ("report", f"raftsim report {where}")]
    if failed:
        commands.append(("shrink", f"raftsim shrink {where}"))
    return tuple(commands)


def _safety_moments(verdict: RunVerdict) -> list[int]:
    """The times of Raft safety and invariant anomalies: where the report shows each
    node's log."""
    moments = []
    for name in STATE_CHECKERS:
        result = verdict.checkers.get(name)
        if result is not None:
            moments += [item["t"] for item in result.found if type(item.get("t")) is int]
    return sorted(moments)


def _node_states(logs: LogTracker, history: list[Event], ops: list[OpBar]) -> dict[int, tuple[NodeState, ...]]:
    """The tracker's snapshots with each entry led back to the operation that proposed it:
    the entry's digest names a client request (`ack`), the request its history line."""
    if not logs.snapshots:
        return {}
    lines = request_lines(
        (event.client, event.index + 1) for event in history if event.type == "invoke" and event.client is not None
    )
    by_line = bars_by_line(ops)

    def entry(index: int, term: int, digest: str) -> LogEntry:
        client, request = logs.requests.get(digest, (None, None))
        line = lines.get(request) if request is not None else None
        return LogEntry(index, term, digest, client, request, line, by_line.get(line) if line else None)

    def state(raw: RawNodeState) -> NodeState:
        return NodeState(
            raw.node, raw.role, raw.term, raw.commit, raw.log_length, tuple(entry(*item) for item in raw.tail)
        )

    return {t: tuple(state(raw) for raw in snapshot) for t, snapshot in logs.snapshots.items()}


@dataclass(frozen=True)
class ParsedRun:
    """A run folder's files, parsed: the history's events, the trace's events (or an
    iterable that yields them once), the verdict (`RunVerdict({})` for a run never
    judged) and the history's fault lines (None when they were not read: the timeline
    reads them itself if it needs them)."""

    history: list[Event]
    trace: Iterable[TraceEvent]
    verdict: RunVerdict
    faults: Sequence[FaultLine] | None = None


def _read_run(root: Path) -> ParsedRun:
    for name in ("history.jsonl", "trace.jsonl"):
        if not (root / name).is_file():
            raise InputError(str(root), None, None, f"not a run folder: {name} is missing")
    faults: list[FaultLine] = []
    return ParsedRun(
        read_history_jsonl(root / "history.jsonl", faults=faults),
        iter_trace_file(root / "trace.jsonl"),
        read_verdict_leniently(root / "verdict.json"),
        faults,
    )


def read_verdict_leniently(path: Path) -> RunVerdict:
    """A run's `verdict.json`, read leniently (see `reports.verdicts`); none for a run
    that was never judged."""
    if not path.is_file():
        return RunVerdict({})
    try:
        verdict = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(str(path), None, None, f"not valid JSON: {error}") from None
    if not isinstance(verdict, dict) or not isinstance(verdict.get("checkers", {}), dict):
        raise InputError(str(path), None, "checkers", "expected an object of checker results")
    return RunVerdict.from_json(verdict, str(path), lenient=True)


def _lane_order(lane: str) -> tuple[str, int, str]:
    word, _, number = lane.partition(" ")
    return (word, int(number) if number.isdigit() else -1, number)


def _bars_from_events(events: list[Event], source: str) -> list[OpBar]:
    """Pair each invoke with its process's completion, by the rules every history obeys
    (`checkers.history.Pairing`); a failed completion keeps its bar, which the checkers drop."""
    pairing = Pairing(source, wording=JSONL_WORDING, collect=False)
    pairs: dict[int, tuple[Event, Event | None]] = {}  # by the invoke's index, in call order
    for line, event in enumerate(events, start=1):
        opened = pair_event(pairing, event, line)
        if opened is None:
            pairs[event.index] = (event, None)
        else:
            pairs[opened.position] = (pairs[opened.position][0], event)
    return [_bar_from_pair(number, invoke, done) for number, (invoke, done) in enumerate(pairs.values())]


def _bar_from_pair(number: int, invoke: Event, done: Event | None) -> OpBar:
    outcome = "pending" if done is None else done.type
    argument = invoke.value if invoke.f != "read" else None
    result = done.value if done is not None and invoke.f == "read" and done.type == "ok" else None
    label = _label(invoke.f, invoke.key, argument, result, outcome, done.error if done else None)
    serializable = bool(invoke.serializable) or bool(getattr(invoke.value, "serializable", False))
    if serializable:
        # Served from one member's state without a read index: the first suspect of a stale read.
        label = f"{label} [serializable]"
    record: list[tuple[str, str]] = [
        ("operation", label),
        ("outcome", outcome),
        ("process", str(invoke.process)),
        ("invoked", _us(invoke.time)),
        ("history line", str(invoke.index + 1)),
    ]
    if invoke.client is not None:
        record.insert(2, ("client", str(invoke.client)))
    if serializable:
        record.append(("served", "from the member's own state, without a read index"))
    if done is not None:
        record.append(("completed", _us(done.time)))
        record.append(("latency", f"{(done.time - invoke.time) / 1000:.3f} ms"))
        for name in ("revision", "node", "error"):
            value = getattr(done, name)
            if value is not None:
                record.append((name, show(value)))
    lane = f"client {invoke.client}" if invoke.client is not None else f"process {invoke.process}"
    return OpBar(
        id=number,
        lane=lane,
        f=invoke.f,
        key=invoke.key,
        outcome=outcome,
        start=invoke.time,
        end=None if done is None else done.time,
        call=invoke.index,
        label=label,
        record=tuple(record),
        line=invoke.index + 1,
        end_line=None if done is None else done.index + 1,
    )


def _label(f: str, key: str | None, argument: Any, result: Any, outcome: str, error: str | None) -> str:
    where = "" if key is None else show(key)
    if f == "read":
        text = f"read({where})" + (f" -> {show(result)}" if outcome == "ok" else "")
    elif f == "cas" and isinstance(argument, tuple) and len(argument) == 2:
        text = f"cas({where}, {show(argument[0])} -> {show(argument[1])})"
    else:
        inside = ", ".join(part for part in (where, show(argument) if argument is not None else "") if part)
        text = f"{f}({inside})"
    if outcome in ("fail", "info") and error:
        text += f" {outcome}: {error}"
    elif outcome in ("fail", "info", "pending"):
        text += f" {outcome}"
    return text


def _run_counterexamples(verdict: RunVerdict, ops: list[OpBar]) -> list[Counterexample]:
    result = verdict.checkers.get("linearizability")
    return counterexamples_from_result(result, ops) if result is not None else []


def _focus(causes: list[Cause], world: _World, end: int) -> tuple[int, int] | None:
    """The default window of the message diagram: around the first cause of an anomaly;
    in a clean run, the first election (the votes that made it and the first appends),
    which is where a reader learns how the cluster talks; else the first fault."""
    if causes:
        centre = causes[0].time
        return max(0, centre - 100_000), min(end, centre + 100_000)
    if world.elections:
        elected = world.elections[0].time
        return max(0, elected - 150_000), min(end, elected + 50_000)
    if world.fault_starts:
        centre = world.fault_starts[0]
        return max(0, centre - 100_000), min(end, centre + 100_000)
    return None


def _messages_near(arrows: list[MessageArrow], focus: tuple[int, int] | None, limit: int) -> list[MessageArrow]:
    if len(arrows) <= limit:
        return arrows
    centre = 0 if focus is None else (focus[0] + focus[1]) // 2
    nearest = sorted(arrows, key=lambda arrow: (abs(arrow.sent - centre), arrow.id))[:limit]
    return sorted(nearest, key=lambda arrow: arrow.id)


class _World:
    """Folds the trace's events into node spans, elections, faults and messages."""

    def __init__(self) -> None:
        self.start_event: TraceEvent = {}
        self.nodes: list[int] = []
        self.end = 0
        self.phases: list[tuple[str, int]] = []
        self.elections: list[Election] = []
        self.fault_starts: list[int] = []
        self.messages_seen = False
        self._role: dict[int, tuple[str, int, int]] = {}
        self._state: dict[int, tuple[str, int]] = {}  # node -> (state shown, since)
        self._spans: dict[int, list[NodeSpan]] = {}
        self._faults: dict[object, tuple[TraceEvent, int]] = {}
        """Open faults by id; a node found corrupt by ("corrupt", node)."""
        self._closed_faults: list[FaultSpan] = []
        self._sent: dict[int, TraceEvent] = {}
        self._outcome: dict[int, tuple[int | None, str | None]] = {}
        self.marks: list[LaneMark] = []
        self.snapshots_uncounted = 0
        self._snapshot_marks = 0
        self._changes: dict[int, _Change] = {}  # by the change's log index
        self._corrupt: set[int] = set()
        self._learners: set[int] = set()  # as each node itself last knew (only looked up)
        # The events a timeline draws; any other kind (append, apply, ack, ...) is skipped.
        self._handlers: dict[str, Callable[[TraceEvent, int], None]] = {
            "start": self._on_start,
            "phase": self._on_phase,
            "role": self._on_role,
            "crash": self._on_crash,
            "restart": self._on_restart,
            # A real cluster's member processes, whose Raft state the trace does not hold:
            # started again after a kill. Removed from the membership and added (back, on a
            # real cluster; with a new id, in the simulator), empty.
            "started": self._on_started,
            "member-removed": self._on_member_removed,
            "member-added": self._on_member_added,
            "snapshot": self._on_snapshot,
            "snapshot-install": self._on_snapshot_install,
            "restore": self._on_restore,
            "conf-propose": self._on_conf_propose,
            "conf-apply": self._on_conf_apply,
            "corrupt": self._on_corrupt,
            "torn": self._on_disk,
            "repair": self._on_disk,
            "disk-full": self._on_disk,
            "pause": self._on_pause,
            "resume": self._on_resume,
            "fault": self._on_fault,
            "heal": self._on_heal,
            "msg": self._on_msg,
            "recv": self._on_recv,
            "drop": self._on_drop,
        }

    def feed(self, event: TraceEvent) -> None:
        kind, t = event["ev"], event["t"]
        self.end = max(self.end, t)
        handler = self._handlers.get(kind)
        if handler is not None:
            node = event.get("node")
            if type(node) is int and node not in self._state and kind not in _NOT_A_NODE_OF_ITS_OWN:
                self._join(node, t)
            handler(event, t)

    def _join(self, node: int, t: int) -> None:
        """A node the `start` event did not list (one that joins the membership mid-run):
        its lane begins now, not at the run's start."""
        bisect.insort(self.nodes, node)
        self._role[node] = ("follower", 0, 0)
        self._state[node] = ("follower", t)

    def _mark(self, event: TraceEvent, t: int, kind: str, label: str, record: list[tuple[str, str]]) -> None:
        self.marks.append(LaneMark(t, event["node"], kind, label, (("at", _us(t)), *record)))

    def _on_start(self, event: TraceEvent, t: int) -> None:
        self.start_event = event
        self.nodes = sorted(event["nodes"])
        for node in self.nodes:
            self._role[node] = ("follower", 0, 0)
            self._state[node] = ("follower", t)

    def _on_phase(self, event: TraceEvent, t: int) -> None:
        if event["phase"] != "end":
            self.phases.append((event["phase"], t))

    def _show(self, node: int, t: int, state: str) -> None:
        shown, since = self._state.get(node, ("follower", 0))
        _role, term, leader = self._role.get(node, ("follower", 0, 0))
        if since < t:
            spans = self._spans.setdefault(node, [])
            last = spans[-1] if spans else None
            if last is not None and last.end == since and (last.state, last.term, last.leader) == (shown, term, leader):
                spans[-1] = NodeSpan(node, shown, term, leader, last.start, t)
            else:
                spans.append(NodeSpan(node, shown, term, leader, since, t))
        if state == "follower" and node in self._learners:
            state = "learner"
        self._state[node] = (state, t)

    def _on_role(self, event: TraceEvent, t: int) -> None:
        node, role = event["node"], event["role"]
        previous = self._role.get(node)
        current_state = self._state.get(node, ("follower", 0))[0]
        shown = current_state if current_state in ("paused", "crashed", *LASTING_STATES) else role
        self._show(node, t, shown)
        self._role[node] = (role, event["term"], event["leader"])
        if role == "leader" and (previous is None or previous[:2] != ("leader", event["term"])):
            self.elections.append(Election(t, node, event["term"]))

    def _on_crash(self, event: TraceEvent, t: int) -> None:
        self._show(event["node"], t, "crashed")

    def _on_started(self, event: TraceEvent, t: int) -> None:
        self._show(event["node"], t, "follower")

    def _on_restart(self, event: TraceEvent, t: int) -> None:
        node = event["node"]
        self._show(node, t, "follower")
        self._role[node] = ("follower", event["term"], 0)
        snapshot = event.get("snapshot")
        if isinstance(snapshot, list) and len(snapshot) == 2:
            index, term = (show(value) for value in snapshot)
            self._mark(
                event,
                t,
                "restart-snapshot",
                f"node {node} restarted from its snapshot at index {index} (term {term})",
                [
                    ("snapshot index", str(index)),
                    ("snapshot term", str(term)),
                    ("log after it", str(len(event["log"]))),
                ],
            )

    def _on_restore(self, event: TraceEvent, t: int) -> None:
        """A cluster restored from a backup: each node starts from the backup's snapshot,
        drawn as a restart from a snapshot on every lane."""
        index, term = show(event["index"]), show(event["term"])
        for node in _node_ids(event["nodes"]):
            if node not in self._state:
                self._join(node, t)
            self._mark(
                {"node": node},
                t,
                "restart-snapshot",
                f"node {node} started from the backup's snapshot at index {index} (term {term})",
                [
                    ("snapshot index", index),
                    ("snapshot term", term),
                    ("revision", show(event["revision"])),
                    ("keys", show(event["keys"])),
                ],
            )

    def _on_snapshot(self, event: TraceEvent, t: int) -> None:
        if self._snapshot_marks >= MAX_SNAPSHOT_MARKS:
            self.snapshots_uncounted += 1
            return
        self._snapshot_marks += 1
        node, index, term = event["node"], event["index"], event["term"]
        self._mark(
            event,
            t,
            "snapshot",
            f"node {node} snapshotted at index {index} (term {term})",
            [("index", str(index)), ("term", str(term)), ("log compacted up to", str(event["compacted"]))],
        )

    def _on_snapshot_install(self, event: TraceEvent, t: int) -> None:
        node, index, term = event["node"], event["index"], event["term"]
        self._mark(
            event,
            t,
            "snapshot-install",
            f"node {node} installed its leader's snapshot at index {index} (term {term})",
            [("index", str(index)), ("term", str(term))],
        )

    def _on_conf_propose(self, event: TraceEvent, t: int) -> None:
        change = self._changes.setdefault(event["index"], _Change(str(event["change"])))
        if change.proposed is None:
            change.proposed, change.proposer, change.term = t, event["node"], event["term"]

    def _on_conf_apply(self, event: TraceEvent, t: int) -> None:
        node, index, what = event["node"], event["index"], show(event["change"])
        voters, learners = _node_ids(event["voters"]), _node_ids(event["learners"])
        change = self._changes.setdefault(index, _Change(what))
        change.nodes.add(node)
        if (node in learners) != (node in self._learners):
            # The node itself applied its promotion (or, replaying, its joining): its lane
            # turns from learner to follower, or back, from now.
            if node in learners:
                self._learners.add(node)
            else:
                self._learners.discard(node)
            state = self._state[node][0]
            if state in ("follower", "learner"):
                self._show(node, t, "follower")
        if change.applied is None:
            change.applied, change.voters, change.learners = t, voters, learners
        self._mark(
            event,
            t,
            "conf-apply",
            f"node {node} applied {what} (index {index}): voters {_ids(voters)}"
            + (f", learners {_ids(learners)}" if learners else ""),
            [
                ("change", what),
                ("index", str(index)),
                ("voters", _ids(voters)),
                ("learners", _ids(learners)),
            ],
        )

    def _on_member_removed(self, event: TraceEvent, t: int) -> None:
        node = event["node"]
        self._show(node, t, "removed")
        self._mark(event, t, "member-removed", f"node {node} removed from the membership", [])

    def _on_member_added(self, event: TraceEvent, t: int) -> None:
        node = event["node"]
        voters = event.get("voters")
        if isinstance(voters, list) and node not in voters:
            # The simulator's new member joins as a learner of those voters (a real
            # cluster's, added back, names none: it is a voter).
            self._learners.add(node)
        self._show(node, t, "follower")
        self._role[node] = ("follower", self._role.get(node, ("follower", 0, 0))[1], 0)
        record = [("voters", _ids(_node_ids(voters)))] if isinstance(voters, list) else []
        self._mark(event, t, "member-added", f"node {node} joined the membership", record)

    def _on_corrupt(self, event: TraceEvent, t: int) -> None:
        """A node whose restart found a record failing its checksum refuses to start and
        stays down: its lane shows it from the first refusal on (each later attempt says
        so again, and adds nothing), and so does the fault band, as a disk fault of that
        node to the end of the run."""
        node = event["node"]
        if node in self._corrupt:
            return
        self._corrupt.add(node)
        self._show(node, t, "corrupt")
        index = event.get("index")
        where = show(event.get("record", "?")) + ("" if index is None else f" {show(index)}")
        self._faults[("corrupt", node)] = ({"kind": "disk", "nodes": [node], "corrupt": where}, t)
        self._mark(
            event,
            t,
            "corrupt",
            f"node {node} found its disk corrupt ({where}) and refused to start",
            [("record", show(event.get("record", "?"))), ("index", show(index))],
        )

    def _on_disk(self, event: TraceEvent, t: int) -> None:
        node, index = event["node"], event.get("index")
        where = show(event.get("record", "?")) + ("" if index is None else f" {show(index)}")
        if event["ev"] == "torn":
            label = f"node {node}'s write in flight was torn by the crash ({where})"
        elif event["ev"] == "repair":
            label = f"node {node} dropped the torn tail of its disk at the restart ({where})"
        elif event.get("refused") == "restart":
            label = f"node {node}'s disk is full: its restart waits for the fault to heal"
        else:
            label = f"node {node}'s disk is full: a write was refused and the node stopped"
        record = [("event", show(event["ev"]))]
        record += [(name, show(event[name])) for name in ("record", "index", "refused") if name in event]
        self._mark(event, t, "disk", label, record)

    def memberships(self) -> list[MembershipChange]:
        return [
            MembershipChange(
                index,
                c.change,
                c.proposed,
                c.proposer,
                c.term,
                c.applied,
                c.voters,
                c.learners,
                len(c.nodes),
            )
            for index, c in sorted(self._changes.items())
        ]

    def _on_pause(self, event: TraceEvent, t: int) -> None:
        self._show(event["node"], t, "paused")

    def _on_resume(self, event: TraceEvent, t: int) -> None:
        node = event["node"]
        if self._state[node][0] not in LASTING_STATES:
            self._show(node, t, self._role.get(node, ("follower", 0, 0))[0])

    def _on_fault(self, event: TraceEvent, t: int) -> None:
        self.fault_starts.append(t)
        self._faults[event.get("id", len(self._faults))] = (event, t)

    def _on_heal(self, event: TraceEvent, t: int) -> None:
        opened = self._faults.pop(event.get("id", -1), None)
        if opened is not None:
            self._closed_faults.append(_fault_span(opened[0], opened[1], t))

    def _on_msg(self, event: TraceEvent, t: int) -> None:
        self.messages_seen = True
        if "id" in event:
            self._sent[event["id"]] = event

    def _on_recv(self, event: TraceEvent, t: int) -> None:
        self._outcome.setdefault(event["id"], (t, None))

    def _on_drop(self, event: TraceEvent, t: int) -> None:
        self._outcome.setdefault(event["id"], (None, str(event.get("reason", "dropped"))))

    def close_spans(self, end: int) -> list[NodeSpan]:
        for node in sorted(self._state):
            self._show(node, end, self._state[node][0])
        return [span for node in sorted(self._spans) for span in self._spans[node]]

    def close_faults(self, end: int) -> list[FaultSpan]:
        spans = list(self._closed_faults)
        spans.extend(_fault_span(event, start, end) for event, start in self._faults.values())
        return sorted(spans, key=lambda span: (span.start, span.id))

    def arrows(self) -> list[MessageArrow]:
        found = []
        for number in sorted(self._sent):
            event = self._sent[number]
            received, dropped = self._outcome.get(number, (None, None))
            label = f"{event['type']} t{event['term']}"
            for name in ("index", "log_term", "entries", "commit"):
                if event.get(name):
                    label += f" {name}={event[name]}"
            if event.get("reject"):
                label += " reject"
            found.append(
                MessageArrow(
                    number,
                    event["node"],
                    event["to"],
                    str(event["type"]),
                    event["term"],
                    event["t"],
                    received,
                    dropped,
                    label,
                )
            )
        return found


@dataclass
class _Change:
    """A membership change being folded from the trace (see `MembershipChange`)."""

    change: str
    proposed: int | None = None
    proposer: int | None = None
    term: int | None = None
    applied: int | None = None
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()
    nodes: set[int] = dataclasses.field(default_factory=set)
    """The nodes that applied it (a set, but only ever counted)."""


_NOT_A_NODE_OF_ITS_OWN = frozenset({"msg", "recv", "drop", "fault", "heal"})
"""Events whose `node` is not a sign that the node is running: one end of a message (a
message to a node that has not joined yet gives it no lane), or a fault's target."""


def _ids(nodes: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(node) for node in nodes) + "]" if nodes else "none"


def fault_events(faults: Iterable[FaultLine], timed: bool = True) -> list[TraceEvent]:
    """A history's fault lines as the trace's `fault` and `heal` events (`t`, `ev`, `id`
    and the settings), so that one path draws both. `t` is the line's time, or with
    `timed` False its index (the axis of a history without times); a line without a
    time on a timed axis cannot be placed and is left out (its fault, if it is a heal,
    then lasts to the end)."""
    events: list[TraceEvent] = []
    for fault in faults:
        t = fault.time if timed else fault.index
        if t is None:
            continue
        events.append({**fault.settings(), "t": t, "ev": fault.type, "id": fault.fault})
    return events


_NOT_SETTINGS = ("t", "ev", "id", "kind", "local_us", "jump_us", "next_tick_us")
"""Fields of a `fault` line that are not the fault's settings: every node's local time, and
for a clock fault how far each clock jumped and when each node ticks next (per node, too
long for a label; the trace has them)."""


def _fault_span(event: TraceEvent, start: int, end: int) -> FaultSpan:
    """A fault with a label that says all of it: the kind, the nodes or the sides, and its
    settings in words and units (a trace's `_us` fields read as seconds)."""
    kind = show(event["kind"])
    details = {name: value for name, value in event.items() if name not in _NOT_SETTINGS}
    nodes = _node_ids(details.get("nodes"))
    sides = details.get("sides")
    if kind == "partition" and isinstance(sides, list) and sides and all(_node_ids(side) for side in sides):
        # The side a person looks for is the smallest: the node cut off, the minority.
        groups = [_node_ids(side) for side in sides]
        nodes = min(groups, key=lambda side: (len(side), side))
        shape = show(details.get("shape", "")).strip()
        way = " (one way)" if details.get("one_way") is True else ""
        label = (f"partition {shape}{way}: " if shape else f"partition{way}: ") + " | ".join(
            " ".join(str(node) for node in side) for side in groups
        )
    else:
        settings = [_setting(name, value) for name, value in sorted(details.items()) if name not in ("nodes", "cut")]
        who = " ".join(str(node) for node in nodes) if nodes else ("(no node)" if "nodes" in details else "")
        label = " ".join(part for part in (kind, who) if part) + (": " + ", ".join(settings) if settings else "")
    record = tuple(_setting_pair(name, value) for name, value in sorted(details.items()) if name != "cut")
    number = event.get("id", -1)
    return FaultSpan(
        number if type(number) is int else -1,
        kind,
        start,
        end,
        label,
        nodes,
        (("started", _us(start)), ("healed", _us(end)), *record),
    )


def _node_ids(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(sorted(node for node in value if type(node) is int))


def _setting_pair(name: str, value: Any) -> tuple[str, str]:
    if name.endswith("_us") and type(value) is int:
        return name.removesuffix("_us"), _us(value)
    return name, show(value)


def _setting(name: str, value: Any) -> str:
    shown_name, text = _setting_pair(name, value)
    if name in ("loss", "duplicate") and isinstance(value, float) and 0 <= value <= 1:
        text = f"{value * 100:.1f}%"
    elif name == "drift_ppm":
        shown_name, text = "drift", f"{show(value)} ppm"
    return f"{shown_name.replace('_', ' ')} {text}"


# ---------------------------------------------------------------------------------------
# From a history recorded anywhere


def timeline_from_operations(
    operations: list[Operation],
    result: CheckerResult | None,
    source: str,
    model: str,
    describe: Callable[[Operation], str] | None = None,
    max_ops: int = MAX_OPERATIONS,
    faults: Sequence[FaultLine] = (),
) -> Timeline:
    """A timeline of a history any reader of `checkers.formats` produced, with the
    linearizability result when one was computed. `describe` is the model's
    own wording of an operation (`describe_op`), so the page and the checker's text agree.
    A history longer than `max_ops` is cut to the `max_ops` operations around the first
    counterexample (or its beginning), and the header says so. `faults` (the history's,
    `checkers.formats.History.faults`) are drawn as a run's are; a fault never healed
    lasts to the end, and in a cut history only the part in view is drawn."""
    assert max_ops >= 1
    timed = bool(operations) and all(
        op.call_time_us is not None and (op.ret is None or op.return_time_us is not None) for op in operations
    )
    ordered = sorted(operations, key=lambda op: op.call)
    shown = _around_the_anomaly(ordered, result, max_ops)
    ops = [_bar_from_operation(number, op, timed, describe) for number, op in enumerate(shown)]
    start = min([op.start for op in ops], default=0) if len(shown) < len(ordered) else 0
    end = max([start, *(op.end if op.end is not None else op.start for op in ops)])
    if not timed:
        end = max([end, *(op.ret or op.call for op in shown)]) + 1
    world = _World()
    for event in fault_events(faults, timed):
        world.feed(event)
    if len(shown) == len(ordered):
        end = max(end, world.end)
    fault_spans = _in_view(world.close_faults(end), start, end, timed)
    counterexamples = counterexamples_from_result(result, ops) if result is not None else []
    verdicts: tuple[VerdictLine, ...] = ()
    if result is not None:
        verdicts = verdict_lines(RunVerdict({"linearizability": result}))
    lanes = sorted({op.lane for op in ops}, key=_lane_order)
    causes, markers = causes_of(RunVerdict({}), counterexample_markers(counterexamples, ops), ops, counterexamples)
    meta = [("history", source), ("model", model)]
    if len(shown) < len(ordered):
        where = "around the first counterexample" if _first_stuck_call(result) is not None else "from the start"
        meta.append(("shown", f"{len(shown):,} of {len(ordered):,} operations, {where}"))
    return Timeline(
        title=Path(source).name,
        meta=tuple(meta),
        start=start,
        time_unit="us" if timed else "event",
        end=end,
        verdicts=verdicts,
        ops=tuple(ops),
        lanes=tuple(lanes),
        nodes=(),
        faults=tuple(fault_spans),
        markers=tuple(sorted(markers, key=lambda m: (m.time, m.message))),
        counterexamples=tuple(counterexamples),
        causes=tuple(causes),
    )


def _in_view(spans: list[FaultSpan], start: int, end: int, timed: bool) -> list[FaultSpan]:
    """The faults that overlap [start, end], cut to it (their records keep the true
    times); on an axis of events, their records name events, not seconds."""
    shown = []
    for span in spans:
        if span.end < start or span.start > end:
            continue
        record = span.record
        if not timed:
            record = (("started at event", str(span.start)), ("healed at event", str(span.end)), *record[2:])
        shown.append(dataclasses.replace(span, start=max(span.start, start), end=min(span.end, end), record=record))
    return shown


def _first_stuck_call(result: CheckerResult | None) -> int | None:
    calls = [
        op.get("call")
        for partition in (result.partitions if result is not None else ())
        for op in ((partition.get("counterexample") or {}).get("operations") or ())
    ]
    calls = [call for call in calls if isinstance(call, int)]
    return min(calls) if calls else None


def _around_the_anomaly(ordered: list[Operation], result: CheckerResult | None, max_ops: int) -> list[Operation]:
    """At most `max_ops` operations: all of them, or a window of the history centred on the
    first operation a counterexample names (so its prefix's end is in view)."""
    if len(ordered) <= max_ops:
        return ordered
    first = _first_stuck_call(result)
    if first is None:
        return ordered[:max_ops]
    position = bisect.bisect_left(ordered, first, key=lambda op: op.call)
    low = max(0, min(position - max_ops // 2, len(ordered) - max_ops))
    return ordered[low : low + max_ops]


def _bar_from_operation(number: int, op: Operation, timed: bool, describe: Callable[[Operation], str] | None) -> OpBar:
    outcome = "pending" if op.ret is None else "fail" if op.status == "compare-failed" else "ok"
    start = op.call_time_us if timed else op.call
    end = (op.return_time_us if timed else op.ret) if op.ret is not None else None
    assert start is not None
    label = describe(op) if describe is not None else _operation_label(op, outcome)
    if outcome == "pending" and describe is not None:
        label += " pending"
    record: list[tuple[str, str]] = [
        ("operation", label),
        ("outcome", "pending (unknown)" if outcome == "pending" else op.status),
        ("process", str(op.process)),
        ("input", show(op.input)),
        ("output", show(op.output)),
    ]
    if op.line is not None:
        record.append(("history line", str(op.line)))
    if timed:
        record.append(("invoked", _us(start)))
        if end is not None:
            record.append(("completed", _us(end)))
    else:
        record.append(("invoked at event", str(op.call)))
        if end is not None:
            record.append(("completed at event", str(end)))
    # Our own histories name a client, whose lane holds every process it was given after
    # an operation of unknown outcome; histories from elsewhere have processes only.
    lane = f"client {op.client}" if op.client is not None else f"process {op.process}"
    return OpBar(
        id=number,
        lane=lane,
        f=op.f,
        key=None if op.key is None else show(op.key),
        outcome=outcome,
        start=start,
        end=end,
        call=op.call,
        label=label,
        record=tuple(record),
        line=op.line,
    )


def _operation_label(op: Operation, outcome: str) -> str:
    where = "" if op.key is None else show(op.key)
    argument = "" if op.input is None else show(op.input)
    inside = ", ".join(part for part in (where, argument) if part)
    text = f"{op.f}({inside})"
    if op.ret is not None and op.output is not None:
        text += f" -> {show(op.output)}"
    if outcome == "pending":
        text += " pending"
    elif op.status == "compare-failed":
        text += " compare failed"
    return text


__all__ = [
    "MAX_MESSAGES",
    "MAX_OPERATIONS",
    "NODE_STATES",
    "OUTCOMES",
    "Cause",
    "Counterexample",
    "Election",
    "FaultSpan",
    "LaneMark",
    "LogEntry",
    "Marker",
    "MembershipChange",
    "MessageArrow",
    "NodeSpan",
    "NodeState",
    "OpBar",
    "ParsedRun",
    "StuckWhy",
    "Tenure",
    "Timeline",
    "VerdictLine",
    "counterexamples_from_result",
    "fault_events",
    "leader_tenures",
    "plural",
    "read_verdict_leniently",
    "run_commands",
    "seconds",
    "show",
    "timeline_from_operations",
    "timeline_from_run",
]
