"""Say, in one line a person reads, why an operation of our own runs cannot be placed.

A linearizability counterexample names the operations the search could not place, with the
model's view of why. For a run of our simulator the history and the trace know more: which
node answered the operation (`node` on the completion), what that node believed itself to
be at that moment (the trace's `role` events), when it stopped believing it, and which
completed write the answer ignored. `explain_linearizability` adds that to each
counterexample operation as `served` and `explanation`, for example

    key k0: read -> 1000105 by node 1 (leader of term 2, deposed at 12.03 s) at revision 81
    after write 1000107 completed at 12.281 s (line 1598)

The node's role is taken at the answer's completion, the time the history records, unless
the node led some term during the operation and no longer did at its completion: a node
answers as leader, and the client hears the answer only after the network's delay, so the
term it led is the one the answer came from. Likewise a node that crashed after answering
is shown in the role it answered in.

Also here: `format_seconds`, `format_duration` and `plural`, the words every checker's messages use for
simulated times and counts.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from checkers.history import Event
from checkers.trace import TraceEvent
from checkers.verdict import CheckerResult


def format_seconds(time_us: int) -> str:
    """`47865969` -> "47.866 s": milliseconds shown, trailing zeros cut down to two places."""
    text = f"{time_us / 1_000_000:.3f}"
    if text.endswith("0"):
        text = text[:-1]
    return f"{text} s"


def format_duration(length_us: int) -> str:
    """A length of time: `2_500_000` -> "2.50 s", `1250` -> "1.25 ms", `0` -> "0 ms"."""
    if abs(length_us) >= 1_000_000:
        return format_seconds(length_us)
    text = f"{length_us / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{text} ms"


def plural(count: int, word: str, words: str | None = None) -> str:
    """`plural(1, "key")` -> "1 key", `plural(3, "anomaly")` -> "3 anomalies"."""
    if count == 1:
        return f"{count} {word}"
    if words is None:
        words = word[:-1] + "ies" if word.endswith("y") and word[-2:-1] not in "aeiou" else word + "s"
    return f"{count} {words}"


@dataclass(frozen=True, slots=True)
class _State:
    """What a node believed itself to be from `since_us` on."""

    since_us: int
    role: str
    term: int | None


@dataclass(frozen=True, slots=True)
class _Op:
    invoke: Event
    completion: Event | None

    @property
    def written(self) -> Any:
        value = self.invoke.value
        if self.invoke.f == "cas" and isinstance(value, tuple) and len(value) == 2:
            return value[1]
        return value

    @property
    def wrote(self) -> bool:
        """Certainly took effect as a write."""
        return self.completion is not None and self.completion.type == "ok" and self.invoke.f in ("write", "cas")


class _World:
    """The history's operations and each node's roles over time, indexed for look-ups."""

    def __init__(self, history_events: Iterable[Event], trace_events: Iterable[TraceEvent]) -> None:
        self.by_index: dict[int, _Op] = {}
        self.writes_by_key: dict[Any, list[_Op]] = {}
        self.writer_of: dict[tuple[Any, Any], _Op] = {}
        self.states: dict[int, list[_State]] = {}
        self.leaders: list[tuple[int, int, int]] = []  # (since_us, term, node)
        self._pair(history_events)
        self._roles(trace_events)

    def _pair(self, history_events: Iterable[Event]) -> None:
        open_invokes: dict[int, Event] = {}
        for event in history_events:
            if event.type == "invoke":
                open_invokes[event.process] = event
                continue
            invoke = open_invokes.pop(event.process, None)
            if invoke is not None:
                self._add(_Op(invoke, event))
        for invoke in open_invokes.values():
            self._add(_Op(invoke, None))
        for writes in self.writes_by_key.values():
            writes.sort(key=lambda op: op.completion.index if op.completion is not None else -1)

    def _add(self, op: _Op) -> None:
        self.by_index[op.invoke.index] = op
        if op.completion is not None:
            self.by_index[op.completion.index] = op
        if op.invoke.f in ("write", "cas"):
            self.writer_of.setdefault((op.invoke.key, op.written), op)
            if op.wrote:
                self.writes_by_key.setdefault(op.invoke.key, []).append(op)

    def _roles(self, trace_events: Iterable[TraceEvent]) -> None:
        for event in trace_events:
            kind, node = event.get("ev"), event.get("node")
            if type(node) is not int or type(event.get("t")) is not int:
                continue
            states = self.states.setdefault(node, [])
            last_term = states[-1].term if states else None
            if kind == "role":
                states.append(_State(event["t"], str(event.get("role")), event.get("term")))
                if event.get("role") == "leader":
                    self.leaders.append((event["t"], event.get("term") or 0, node))
            elif kind == "crash":
                states.append(_State(event["t"], "crashed", last_term))
            elif kind == "restart":
                states.append(_State(event["t"], "follower", event.get("term")))

    def served(self, op: _Op) -> dict[str, Any] | None:
        """The `served` record of an answered operation, None when no node is named."""
        completion = op.completion
        if completion is None or completion.node is None:
            return None
        states = self.states.get(completion.node, [])
        chosen, position = self._state_of(states, op.invoke.time, completion.time)
        deposed = None
        if chosen is not None and chosen.role == "leader":
            deposed = next(
                (
                    state.since_us
                    for state in states[position + 1 :]
                    if (state.role, state.term) != ("leader", chosen.term)
                ),
                None,
            )
        term = None if chosen is None else chosen.term
        newer = next(
            (
                (since, leader_term, node)
                for since, leader_term, node in self.leaders
                if since <= completion.time and term is not None and leader_term > term
            ),
            None,
        )
        return {
            "node": completion.node,
            "term": term,
            "role": None if chosen is None else chosen.role,
            "deposed_at_us": deposed,
            "revision": completion.revision,
            "newer_leader": None if newer is None else {"node": newer[2], "term": newer[1], "since_us": newer[0]},
        }

    @staticmethod
    def _state_of(states: list[_State], invoke_us: int, completion_us: int) -> tuple[_State | None, int]:
        at_completion = -1
        for position, state in enumerate(states):
            if state.since_us > completion_us:
                break
            at_completion = position
        if at_completion < 0:
            return None, -1
        if states[at_completion].role != "leader":
            for position in range(at_completion, -1, -1):
                state = states[position]
                if state.role == "leader":
                    ended = states[position + 1].since_us
                    if ended >= invoke_us:
                        return state, position
                    break
                if state.since_us < invoke_us:
                    break
        if states[at_completion].role == "crashed" and at_completion > 0:
            # The answer left before the crash and arrived after it.
            return states[at_completion - 1], at_completion - 1
        return states[at_completion], at_completion

    def ruling_write(self, read: _Op, ruled_out_by: list[int]) -> _Op | None:
        """The completed write the read ignored: one that finished, with another value,
        before the read was invoked, preferring those invoked after the read's own value was
        written (they certainly overwrote it) and, among those, the last to finish."""
        key, value = read.invoke.key, None if read.completion is None else read.completion.value
        own = self.writer_of.get((key, value)) if value is not None else None
        earlier = [
            op
            for op in self.writes_by_key.get(key, [])
            if op.completion is not None and op.completion.index < read.invoke.index and op.written != value
        ]
        named = [
            op
            for op in earlier
            if op.invoke.index + 1 in ruled_out_by
            or (op.completion is not None and op.completion.index + 1 in ruled_out_by)
        ]
        certain = [
            op
            for op in earlier
            if own is None or (own.completion is not None and op.invoke.index > own.completion.index)
        ]
        for choice in (named, certain, earlier):
            if choice:
                return choice[-1]
        return None


def _what(op: _Op) -> str:
    invoke = op.invoke
    if op.completion is None or op.completion.type == "info":
        outcome = " (outcome unknown)"
    elif op.completion.type == "fail":
        outcome = " (compare failed)" if invoke.f == "cas" else " (failed)"
    else:
        outcome = ""
    if invoke.f == "read":
        return f"read{outcome}" if outcome else f"read -> {_show(op.completion.value)}"  # type: ignore[union-attr]
    return f"{invoke.f} {_show(invoke.value)}{outcome}"


def _show(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(part) for part in value) + "]"
    return str(value)


def _served_text(served: Mapping[str, Any]) -> str:
    role, term = served["role"], served["term"]
    if role is None:
        state = "role unknown"
    elif role == "leader":
        state = f"leader of term {term}"
        if served["deposed_at_us"] is not None:
            state += f", deposed at {format_seconds(served['deposed_at_us'])}"
    else:
        state = f"{role} in term {term}"
    newer = served.get("newer_leader")
    if newer is not None:
        state += f"; node {newer['node']} led term {newer['term']} from {format_seconds(newer['since_us'])}"
    revision = "" if served["revision"] is None else f" at revision {served['revision']}"
    return f" by node {served['node']} ({state}){revision}"


def explain_linearizability(
    linear: CheckerResult, history_events: list[Event], trace_events: list[TraceEvent]
) -> CheckerResult:
    """A copy of `linear` (a `LinearizabilityResult.checker_result()`) whose counterexample
    operations each carry `served` (None when the history names no node) and
    `explanation` (one line). Operations are found by their `ret`/`call` history indexes;
    anything unexpected in its partitions is left as it is."""
    details = copy.deepcopy(dict(linear.details))
    world = _World(history_events, trace_events)
    partitions = details.get("partitions")
    for partition in partitions if isinstance(partitions, list) else ():
        example = partition.get("counterexample") if isinstance(partition, dict) else None
        operations = example.get("operations") if isinstance(example, dict) else None
        for record in operations if isinstance(operations, list) else ():
            if isinstance(record, dict):
                _explain(record, world)
    return dataclasses.replace(linear, details=details)


def _explain(record: dict[str, Any], world: _World) -> None:
    position = record.get("ret") if type(record.get("ret")) is int else record.get("call")
    op = world.by_index.get(position) if type(position) is int else None
    if op is None:
        return
    served = world.served(op)
    record["served"] = served
    text = f"key {op.invoke.key}: {_what(op)}"
    if served is not None:
        text += _served_text(served)
    reason = record.get("reason")
    ruled = record.get("ruled_out_by")
    lines = [line for line in ruled if type(line) is int] if isinstance(ruled, list) else []
    write = world.ruling_write(op, lines) if op.invoke.f == "read" and op.completion is not None else None
    if write is not None:
        assert write.completion is not None
        text += (
            f" after {_what(write)} completed at {format_seconds(write.completion.time)} "
            f"(line {write.completion.index + 1})"
        )
    elif isinstance(reason, str) and reason:
        text += f": {reason}"
    record["explanation"] = " ".join(text.split())
