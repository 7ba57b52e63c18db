"""Each request takes effect once: judge `effects.jsonl` against the trace.

A client resends a request under the same id when a reply does not come, and a request a
follower forwards may reach the log more than once; the state machine answers a repeat from
its table of results instead of executing it again. Nothing in the history shows a request
executed twice when its second effect looks like the first (a register written twice with
one value), and the trace's `apply` lines name entries, not what the store did with them.
`effects.jsonl` does: one line per command a store executed (`execute`: `node`,
`incarnation` (the node's crashes so far), `index` (the log index being applied), `request`,
`operation`, `key`, `digest` of the command, `revision` after it), and none for a repeat.
It is written beside the trace rather than into it, so that recording it leaves every
run's trace and digest as they were.

Properties, per node incarnation (a restart rebuilds the store from the log, so a new
incarnation executes every request again, once):

- applied-twice: no request id is executed twice;
- applied-outside-log: every execution is of the entry the node's trace applies at that
  index (same digest), one per index: a command executed beside the log (a follower
  running a request it forwards) matches no applied entry or doubles an index;
- replicas-agree: at every index, every incarnation that applied it did the same thing:
  executed the same command to the same revision, or executed nothing (an empty entry or a
  repeat). Same log, same state machine, same effects: a store that drifted from its
  replicas (a command executed outside the log, a restart that skipped the log) shows here.

Only the first `ANOMALIES_KEPT_PER_PROPERTY` anomalies of each property are kept; all are
counted in `stats.anomaly_counts`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.errors import InputError
from checkers.history import Event, decode_json_line, invoke_lines, text_problem
from checkers.trace import TraceEvent
from checkers.verdict import CheckerResult, Verdict

EffectEvent = dict[str, Any]
"""One `effects.jsonl` line as parsed."""

PROPERTIES = ("applied-twice", "applied-outside-log", "replicas-agree")
ANOMALIES_KEPT_PER_PROPERTY = 20
_INTEGER_FIELDS = ("t", "node", "incarnation", "index", "revision")
_STRING_FIELDS = ("request", "operation", "key", "digest")

Incarnation = tuple[int, int]
"""(node, crashes of that node before it)."""
Outcome = tuple[str, str, int] | None
"""What an incarnation did at one index: (request, digest, revision after) or nothing."""


@dataclass(frozen=True, slots=True)
class _Apply:
    """One entry an incarnation applied, in trace order."""

    t: int
    incarnation: Incarnation
    index: int
    digest: str


# --- reading ---------------------------------------------------------------------------


def read_effects_jsonl(path: str | Path) -> list[EffectEvent]:
    """Read and validate `effects.jsonl`; an InputError names the line and field."""
    from checkers.formats.text import numbered_lines

    source = str(path)
    return list(_validated(numbered_lines(source), source))


def _validated(lines: Iterable[tuple[int, str]], source: str) -> Iterator[EffectEvent]:
    previous_us = None
    for line_number, line in lines:
        event = decode_json_line(line, source, line_number)
        if type(event) is not dict:
            raise InputError(source, line_number, None, "an effects line must be a JSON object")
        problem = text_problem(line, event)
        if problem is not None:
            raise InputError(source, line_number, *problem)
        if event.get("ev") != "execute":
            raise InputError(source, line_number, "ev", f"must be 'execute', got {event.get('ev')!r}")
        for name in _INTEGER_FIELDS:
            if type(event.get(name)) is not int or event[name] < 0:
                raise InputError(source, line_number, name, f"must be an integer >= 0, got {event.get(name)!r}")
        for name in _STRING_FIELDS:
            if type(event.get(name)) is not str:
                raise InputError(source, line_number, name, f"must be a string, got {event.get(name)!r}")
        if previous_us is not None and event["t"] < previous_us:
            raise InputError(source, line_number, "t", f"time went backwards: {event['t']} < {previous_us}")
        previous_us = event["t"]
        yield event


# --- judging ---------------------------------------------------------------------------


class _Anomalies:
    """Counts every anomaly, keeps the first few of each property."""

    def __init__(self, phases: list[tuple[int, str]], invoke_lines: dict[str, int]) -> None:
        self.counts = {name: 0 for name in PROPERTIES}
        self.kept: list[dict[str, Any]] = []
        self._phase_times = [t for t, _ in phases]
        self._phases = [phase for _, phase in phases]
        self._invoke_lines = invoke_lines

    def add(self, property_name: str, t: int, node: int, index: int, request: str | None, message: str) -> None:
        assert property_name in self.counts, property_name
        assert "\n" not in message, "an anomaly's message is one line"
        self.counts[property_name] += 1
        if self.counts[property_name] > ANOMALIES_KEPT_PER_PROPERTY:
            return
        position = bisect.bisect_right(self._phase_times, t) - 1
        anomaly = {
            "property": property_name,
            "t": t,
            "phase": self._phases[position] if position >= 0 else "safety",
            "node": node,
            "index": index,
            "request": request,
            "line": None if request is None else self._invoke_lines.get(request),
            "message": message,
        }
        self.kept.append(anomaly)


def check_effects(
    effects: Iterable[EffectEvent],
    trace: Iterable[TraceEvent],
    history: Iterable[Event] | None = None,
    crashed_at_us: int | None = None,
) -> CheckerResult:
    """Judge the stores' executions (`effects.jsonl`) against the entries the trace says
    each node applied. With the run's `history`, anomalies name the history line of the
    request they are about. `crashed_at_us`: when the system under test raised and the run
    ended; an apply line written then may announce entries its store never reached, so
    those entries are not compared with the replicas'."""
    applies, phases = _applies_of(trace)
    applied = _applied_digests(applies)
    anomalies = _Anomalies(phases, invoke_lines(history) if history is not None else {})
    executed: dict[Incarnation, dict[int, Outcome]] = {}
    first_of: dict[tuple[Incarnation, str], EffectEvent] = {}
    count = 0
    for event in effects:
        count += 1
        incarnation = (event["node"], event["incarnation"])
        _judge_execution(event, first_of, applied.get(incarnation, {}), executed, anomalies)
        first_of.setdefault((incarnation, event["request"]), event)
    judged = applies if crashed_at_us is None else [apply for apply in applies if apply.t < crashed_at_us]
    _judge_agreement(judged, executed, anomalies)
    stats = {
        "executions": count,
        "requests": len({request for _, request in first_of}),
        "entries_applied": len(applies),
        "anomaly_counts": anomalies.counts,
    }
    return CheckerResult(
        Verdict.holds(sum(anomalies.counts.values()) == 0), anomalies=tuple(anomalies.kept), stats=stats
    )


def _judge_execution(
    event: EffectEvent,
    first_of: dict[tuple[Incarnation, str], EffectEvent],
    applied: dict[int, str],
    executed: dict[Incarnation, dict[int, Outcome]],
    anomalies: _Anomalies,
) -> None:
    node, index, request = event["node"], event["index"], event["request"]
    incarnation = (node, event["incarnation"])
    what = f"request {request} ({event['operation']} {event['key']})"
    earlier = first_of.get((incarnation, request))
    if earlier is not None:
        anomalies.add(
            "applied-twice",
            event["t"],
            node,
            index,
            request,
            f"node {node} executed {what} twice: at index {earlier['index']} (revision "
            f"{earlier['revision']}) and again at index {index} (revision {event['revision']})",
        )
    at_index = executed.setdefault(incarnation, {})
    entry = applied.get(index)
    if entry == event["digest"] and index not in at_index:
        at_index[index] = (request, event["digest"], event["revision"])
        return
    if entry is None:
        message = (
            f"node {node} executed {what} outside the log: its store stood at index {index}, which it never applied"
        )
    elif entry != event["digest"]:
        message = (
            f"node {node} executed {what} outside the log: its store stood at index {index}, "
            f"whose entry is another command (digest {entry})"
        )
    else:
        message = f"node {node} executed {what} a second time at index {index}, outside the log"
    anomalies.add("applied-outside-log", event["t"], node, index, request, message)


def _judge_agreement(
    applies: list[_Apply], executed: dict[Incarnation, dict[int, Outcome]], anomalies: _Anomalies
) -> None:
    """The first incarnation to apply an index binds what it did there; every later one
    must do the same."""
    bound: dict[int, tuple[Outcome, Incarnation]] = {}
    for apply in applies:
        outcome = executed.get(apply.incarnation, {}).get(apply.index)
        first = bound.setdefault(apply.index, (outcome, apply.incarnation))
        if first[0] == outcome:
            continue
        node = apply.incarnation[0]
        anomalies.add(
            "replicas-agree",
            apply.t,
            node,
            apply.index,
            None if outcome is None else outcome[0],
            f"at index {apply.index} node {node} {_did(outcome)}, but node {first[1][0]} {_did(first[0])}",
        )


def _did(outcome: Outcome) -> str:
    if outcome is None:
        return "executed nothing"
    request, _digest, revision = outcome
    return f"executed request {request} to revision {revision}"


def _applies_of(trace: Iterable[TraceEvent]) -> tuple[list[_Apply], list[tuple[int, str]]]:
    """Every entry each incarnation applied, in trace order, and when each phase began."""
    crashes: dict[int, int] = {}
    applies: list[_Apply] = []
    phases: list[tuple[int, str]] = []
    for event in trace:
        kind = event["ev"]
        if kind == "apply":
            incarnation = (event["node"], crashes.get(event["node"], 0))
            for offset, (_term, digest) in enumerate(event["entries"]):
                applies.append(_Apply(event["t"], incarnation, event["index"] + offset, digest))
        elif kind == "crash":
            crashes[event["node"]] = crashes.get(event["node"], 0) + 1
        elif kind == "phase":
            phases.append((event["t"], event["phase"]))
    return applies, phases


def _applied_digests(applies: list[_Apply]) -> dict[Incarnation, dict[int, str]]:
    applied: dict[Incarnation, dict[int, str]] = {}
    for apply in applies:
        applied.setdefault(apply.incarnation, {})[apply.index] = apply.digest
    return applied
