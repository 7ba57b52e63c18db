"""What the checkers said, located on the timeline: verdict lines, counterexamples with
why each operation is stuck, anomalies placed on the operation that caused them, and the
causes those anomalies share.

A verdict file is input like any other: it may come from an older raftsim, a hand edit or
an attacker. It is read leniently (`RunVerdict.from_json(..., lenient=True)`), every field
inside an anomaly or partition is read through a type test, and a field of the wrong type
is treated as absent, so a report of an odd verdict draws what it can instead of failing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from checkers.verdict import CheckerResult, RunVerdict, Verdict
from reports.model import (
    Cause,
    Counterexample,
    LogEntry,
    Marker,
    NodeState,
    OpBar,
    StuckWhy,
    VerdictLine,
    bars_by_line,
    plural,
    show,
)

CHECKER_ORDER = (
    "crash",
    "invariants",
    "raft-safety",
    "effects",
    "linearizability",
    "list-append",
    "revisions",
    "watch",
    "leases",
    "disruption",
    "liveness",
)
"""Causes of equal time are listed in this order: the deeper failure first."""


STATE_CHECKERS = ("raft-safety", "invariants")
"""Checkers whose anomalies are about the nodes' logs: the report shows every node's log at
each one's moment."""


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _one_line(value: Any) -> str:
    text = value if isinstance(value, str) else show(value)
    return " ".join(text.split())


def checker_results(verdict: RunVerdict) -> list[tuple[str, CheckerResult]]:
    """The checkers by name: a report lists them alphabetically, whatever order they ran in."""
    return sorted(verdict.checkers.items(), key=lambda item: item[0])


def verdict_lines(verdict: RunVerdict) -> tuple[VerdictLine, ...]:
    return tuple(VerdictLine(name, result.verdict, summary(name, result)) for name, result in checker_results(verdict))


def partition_name(key: Any) -> str:
    # A model with one partition (a single register, a mutex, etcd's one store) has no key to name.
    return "(the whole history)" if key is None else show(key)


def summary(name: str, result: CheckerResult) -> str:
    if name == "linearizability":
        bad = [partition_name(p.get("key")) for p in result.partitions_with(Verdict.INVALID)]
        unknown = [partition_name(p.get("key")) for p in result.partitions_with(Verdict.UNKNOWN)]
        operations = _int(result.details.get("ops"))
        text = (
            f"{plural(operations, 'operation') if operations is not None else '? operations'}, "
            f"{plural(len(result.partitions), 'partition')}, model {_one_line(result.details.get('model', '?'))}"
        )
        if bad:
            text += f"; not linearizable: {', '.join(bad)}"
        if unknown:
            text += f"; undecided: {', '.join(unknown)}"
        return text
    anomalies = list(result.found)
    if not anomalies:
        return "no anomaly" + _tolerated(name, result)
    groups = list(result.groups or ())
    first = anomalies[0]
    text = plural(_anomaly_total(anomalies, groups), "anomaly", "anomalies")
    if groups:
        stats = result.stats or {}
        group_total = _int(stats.get("groups_total")) or len(groups)
        text += f" from {plural(group_total, 'cause')}; first cause: {_one_line(groups[0].get('cause', ''))}"
    else:
        text += f"; first: {_one_line(first.get('property', '?'))}: {_one_line(first.get('message', ''))}"
    return text


def _tolerated(name: str, result: CheckerResult) -> str:
    """Disruptions within the scenario's bound (or with none) are no anomaly, but a reader
    of a run without PreVote should still see how many there were."""
    stats = result.stats or {}
    count = _int(stats.get("disruptions"))
    if name != "disruption" or not count:
        return ""
    bound = _int(stats.get("max_disruptions"))
    limit = "no limit" if bound is None else f"bound {bound}"
    return f"; {plural(count, 'term')} begun over a healthy leader ({limit})"


def _anomaly_total(anomalies: list[dict[str, Any]], groups: list[dict[str, Any]]) -> int:
    """Every anomaly a checker counted: only the first few are kept in full, while each group
    counts all of its own."""
    counts = [_int(group.get("count")) for group in groups]
    if groups and all(count is not None for count in counts):
        return max(len(anomalies), sum(count for count in counts if count is not None))
    return len(anomalies)


# ---------------------------------------------------------------------------------------
# Counterexamples


def counterexamples_from_result(result: CheckerResult, ops: Iterable[OpBar]) -> list[Counterexample]:
    """Locate each partition's counterexample (linearizability JSON) among the bars by
    `call`; an operation the bars do not hold (a reader dropped it) is left out."""
    ops = list(ops)
    by_call = {op.call: op.id for op in ops}
    by_line = bars_by_line(ops)
    found: list[Counterexample] = []
    for partition in result.partitions:
        example = partition.get("counterexample")
        if not isinstance(example, dict):
            continue
        stuck_ops = [op for op in _dicts(example.get("operations")) if _int(op.get("call")) in by_call]
        prefix = [by_call[op["call"]] for op in _dicts(example.get("prefix")) if _int(op.get("call")) in by_call]
        stuck = [by_call[op["call"]] for op in stuck_ops]
        whys = tuple(_why(by_call[op["call"]], op, by_line) for op in stuck_ops)
        found.append(
            Counterexample(
                key=partition_name(partition.get("key")),
                stuck=tuple(stuck),
                prefix=tuple(prefix),
                state=show(example.get("state")),
                reasons=tuple(why.text for why in whys if why.text),
                why=tuple(why for why in whys if why.text or why.lines),
            )
        )
    return found


def _why(bar: int, op: Mapping[str, Any], by_line: Mapping[int, int]) -> StuckWhy:
    """The operation's `explanation` (which node answered, in which term) when the checker
    gave one, else its `reason`; `ruled_out_by` names history lines."""
    explanation = op.get("explanation")
    text = explanation if isinstance(explanation, str) and explanation else op.get("reason")
    ruled_out_by = op.get("ruled_out_by")
    lines = tuple(line for line in (ruled_out_by if isinstance(ruled_out_by, list) else ()) if type(line) is int)
    return StuckWhy(
        bar,
        _one_line(text) if isinstance(text, str) else "",
        tuple(by_line[line] for line in lines if line in by_line),
        lines,
    )


def counterexample_markers(counterexamples: Iterable[Counterexample], ops: list[OpBar]) -> list[Marker]:
    markers = []
    for example in counterexamples:
        for number in example.stuck:
            op = ops[number]
            why = example.why_of(number)
            text = f"key {example.key}: cannot linearize {op.label}" + (f" ({why.text})" if why and why.text else "")
            markers.append(Marker(op.start, "linearizability", text, "linearizability", op.line, number))
    return markers


# ---------------------------------------------------------------------------------------
# Anomalies and their causes


def anomaly_markers(
    verdict: RunVerdict, ops: list[OpBar], states: Mapping[int, tuple[NodeState, ...]] | None = None
) -> list[Marker]:
    """Every checker's anomalies (but linearizability's, which are its counterexamples),
    each at its `t` and on the operation its `line` names. `states` gives the computed
    node states by time for anomalies that do not carry their own `nodes`."""
    by_line = bars_by_line(ops)
    markers: list[Marker] = []
    for name, result in checker_results(verdict):
        for anomaly in result.found:
            t = _int(anomaly.get("t"))
            if t is None:
                continue
            line = _int(anomaly.get("line"))
            prop = _one_line(anomaly.get("property", name))
            nodes: tuple[NodeState, ...] = ()
            if name in STATE_CHECKERS:
                nodes = node_states(anomaly.get("nodes"), by_line) or (states or {}).get(t, ())
            markers.append(
                Marker(
                    t,
                    name,
                    f"{prop}: {_one_line(anomaly.get('message', ''))}",
                    prop,
                    line,
                    by_line.get(line) if line is not None else None,
                    _int(anomaly.get("group")),
                    nodes,
                )
            )
    return markers


def node_states(value: Any, by_line: Mapping[int, int]) -> tuple[NodeState, ...]:
    """An anomaly's own `nodes` field, when it holds node states (not a list of ids)."""
    found = []
    for item in _dicts(value):
        node, term, commit = _int(item.get("node")), _int(item.get("term")), _int(item.get("commit"))
        if node is None or term is None or commit is None:
            continue
        tail = []
        for entry in _dicts(item.get("log_tail")):
            index, entry_term = _int(entry.get("index")), _int(entry.get("term"))
            if index is None or entry_term is None:
                continue
            line = _int(entry.get("line"))
            tail.append(
                LogEntry(
                    index,
                    entry_term,
                    _one_line(entry.get("digest", "")),
                    _text_or_none(entry.get("client")),
                    _text_or_none(entry.get("request")),
                    line,
                    by_line.get(line) if line else None,
                )
            )
        length = max((entry.index for entry in tail), default=0)
        found.append(NodeState(node, _one_line(item.get("role", "?")), term, commit, length, tuple(tail)))
    return tuple(found)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else _one_line(value)


def causes_of(
    verdict: RunVerdict, markers: list[Marker], ops: list[OpBar], counterexamples: list[Counterexample]
) -> tuple[list[Cause], list[Marker]]:
    """The causes, first first, and the markers with each one's cause set.

    A checker's `groups` name its causes; a checker without them (or an anomaly naming
    no group it listed) gives each anomaly a cause of its own. Each counterexample is one
    cause: its stuck operations are the effects."""
    by_line = bars_by_line(ops)
    keyed: list[tuple[tuple[int, int, int, int], Cause, tuple[str, str, int]]] = []
    declared: dict[tuple[str, int], int] = {}
    for name, result in checker_results(verdict):
        for order, group in enumerate(result.groups or ()):
            number, t = _int(group.get("group")), _int(group.get("t"))
            if number is None or t is None or (name, number) in declared:
                continue
            line = _int(group.get("line"))
            count = _int(group.get("count"))
            cause = Cause(
                name,
                _one_line(group.get("property", name)),
                _one_line(group.get("cause", "")),
                t,
                line,
                by_line.get(line) if line is not None else None,
                max(1, count or 1),
            )
            declared[(name, number)] = len(keyed)
            keyed.append((_sort_key(cause, order), cause, ("group", name, number)))
    loose = [
        number
        for number, marker in enumerate(markers)
        if marker.checker != "linearizability"
        and (marker.cause is None or (marker.checker, marker.cause) not in declared)
    ]
    for order, number in enumerate(loose):
        marker = markers[number]
        message = marker.message.removeprefix(f"{marker.property}: ")
        cause = Cause(marker.checker, marker.property, message, marker.time, marker.line, marker.op, 1)
        keyed.append((_sort_key(cause, order), cause, ("alone", "", order)))
    for order, example in enumerate(counterexamples):
        if not example.stuck:
            continue
        first = ops[example.stuck[0]]
        why = example.why_of(first.id)
        text = f"key {example.key}: {first.label} cannot be linearized" + (f": {why.text}" if why and why.text else "")
        cause = Cause("linearizability", "linearizability", text, first.start, first.line, first.id, len(example.stuck))
        keyed.append((_sort_key(cause, order), cause, ("counterexample", "", order)))
    keyed.sort(key=lambda item: item[0])
    position = {ident: number for number, (_key, _cause, ident) in enumerate(keyed)}
    return [cause for _key, cause, _ident in keyed], _assign(markers, position, loose, counterexamples)


def _sort_key(cause: Cause, order: int) -> tuple[int, int, int, int]:
    rank = CHECKER_ORDER.index(cause.checker) if cause.checker in CHECKER_ORDER else len(CHECKER_ORDER)
    return (cause.time, rank, order, 0)


def _assign(
    markers: list[Marker],
    position: Mapping[tuple[str, str, int], int],
    loose: list[int],
    counterexamples: list[Counterexample],
) -> list[Marker]:
    loose_order = {number: order for order, number in enumerate(loose)}
    stuck_example = {op: order for order, example in enumerate(counterexamples) for op in example.stuck}
    assigned = []
    for number, marker in enumerate(markers):
        if number in loose_order:
            cause = position.get(("alone", "", loose_order[number]))
        elif marker.checker == "linearizability":
            stuck = stuck_example.get(marker.op, -1) if marker.op is not None else -1
            cause = position.get(("counterexample", "", stuck))
        else:
            cause = position.get(("group", marker.checker, marker.cause if marker.cause is not None else -1))
        assigned.append(dataclasses.replace(marker, cause=cause))
    return assigned


__all__ = [
    "anomaly_markers",
    "causes_of",
    "checker_results",
    "counterexample_markers",
    "counterexamples_from_result",
    "partition_name",
    "summary",
    "verdict_lines",
]
