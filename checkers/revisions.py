"""Judge the revisions an etcd-like store reports, across keys.

Linearizability is checked key by key (P-compositionality), which is exact for each key
but blind to order between keys: a node serving an old snapshot of the whole store
answers every key consistently with some past, and per key that past may still fit. etcd's
revision closes the gap. The store has one revision counter that every successful write
increments, and every response carries the revision its operation observed or made; a
linearizable store therefore orders all operations, across keys, by revision, and these
properties follow (etcd's own robustness tests state the first two):

- revision-unique: no two successful writes (writes, or cas that applied) report the same
  revision. Two would mean one write applied twice, or a response carrying someone else's
  revision.
- revision-monotonic: if operation a returned before b was invoked, b observed at least
  a's revision, and a write b made a strictly greater one. A read answered from a stale
  store on any key breaks this as soon as anything returned with a newer revision before
  it was invoked.
- read-revision: a read of key k at revision r returned what the last known write to k at
  or below r wrote (absent if there is none). Only writes whose outcome is known have a
  revision; a write whose outcome is unknown (`info`) cannot be placed and is not used
  against any read, which keeps the check sound. Values are unique per write, as the
  workloads make them, so a value names its write.

Every anomaly involves two operations, and a person needs the one that is wrong, not the
one that merely looks wrong beside it. So each anomaly sits on its cause: `t` and `line`
are that operation's completion time and history line, and `affected_line` is the other's.
For revision-unique the cause is the later of the two writes (the first holder of a
revision had it alone when it returned); for revision-monotonic it is the operation that
went backwards. For read-revision either side may be wrong: a read that missed a write is
stale, but a write that reports a revision it cannot have (one reused, or below one that
returned before it was invoked) makes every older read at that revision look stale. The
write is blamed when it is itself the cause of a revision-unique or revision-monotonic
anomaly, the read otherwise.

One faulty node yields many anomalies (a restarted node whose store forgot its revisions
reuses one revision per write, and each reuse also makes older reads look wrong), so
anomalies are grouped by cause. Given the run's trace, the faulty operations one node
incarnation answered (from a start or restart to the next restart) form one group; without
it, those one node answered in a row, with no sound answer of that node between them. An
operation that names no node is a group of its own. The result's `groups` lists each
group's first cause, first-cause first, with the count of anomalies it explains.

The history is our `history.jsonl` (`checkers.history.Event`); operations without a
revision (a `fail` that was not a compare, an `info`) take no part except as writes of
unknown revision.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from checkers.etcd_requests import (
    UNLOGGED_LEASE_FUNCTIONS,
    CompactRequest,
    DeleteRequest,
    PutRequest,
    RangeRequest,
    TxnRequest,
)
from checkers.etcd_requests import Request as EtcdRequest
from checkers.etcd_revisions import EtcdCall, check_etcd_kvs
from checkers.etcd_revisions import describe as describe_etcd
from checkers.explain import format_seconds, plural
from checkers.history import COMPARE_FAILED, Event
from checkers.models.etcd import writes as f_writes
from checkers.trace import TraceEvent
from checkers.verdict import CheckerResult, Verdict

ETCD_REQUESTS = (RangeRequest, PutRequest, DeleteRequest, TxnRequest, CompactRequest)
ANOMALIES_KEPT = 10
"""Anomalies kept per property (besides the first of each kept group); all are counted."""
GROUPS_KEPT = 50
PROPERTIES = ("revision-unique", "revision-monotonic", "read-revision")
ETCD_PROPERTIES = ("kv-version",)
"""Counted only in a history with etcd operations."""
_RANK = {name: rank for rank, name in enumerate(PROPERTIES + ETCD_PROPERTIES)}


@dataclass(frozen=True, slots=True)
class _Done:
    """An operation that returned with a revision."""

    invoke: Event
    completion: Event

    @property
    def revision(self) -> int:
        revision = self.completion.revision
        if revision is None:  # an etcd response: its header says it
            revision = getattr(self.completion.value, "revision", None)
        assert revision is not None
        return revision

    @property
    def request(self) -> EtcdRequest:
        """The etcd request of an etcd operation (see `etcd`)."""
        assert isinstance(self.invoke.value, ETCD_REQUESTS)
        return self.invoke.value

    @property
    def etcd(self) -> bool:
        return isinstance(self.invoke.value, ETCD_REQUESTS)

    @property
    def writes(self) -> bool:
        if self.etcd:  # a compact reports the revision it found, as a read does
            made = f_writes(self.request, self.completion.value)
            return self.completion.type == "ok" and made and self.invoke.f != "compact"
        return self.completion.type == "ok" and self.invoke.f in ("write", "cas", "append")

    @property
    def written(self) -> Any:
        value = self.invoke.value
        return value[1] if self.invoke.f == "cas" else value  # type: ignore[index]

    @property
    def line(self) -> int:
        """The completion's line in `history.jsonl` (lines count from 1, indexes from 0)."""
        return self.completion.index + 1

    def describe(self) -> str:
        """One phrase naming the operation, who answered it, when and where it returned."""
        if self.etcd:
            what = describe_etcd(self.request, self.revision)
        elif self.invoke.f == "read":
            what = f"read {self.invoke.key} -> {_show(self.completion.value)}"
        else:
            what = f"{self.invoke.f} {self.invoke.key} {_show(self.invoke.value)}"
        if self.completion.error == COMPARE_FAILED:
            what += " (compare failed)"
        node = "" if self.completion.node is None else f" by node {self.completion.node}"
        return f"{what}{node} at {format_seconds(self.completion.time)} (line {self.line})"


def _show(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(part) for part in value) + "]"
    return str(value)


@dataclass(frozen=True, slots=True)
class _Finding:
    """One anomaly before it is numbered into a group: its cause, the operation it affects,
    and its message."""

    property: str
    cause: _Done
    affected: _Done
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def sort_key(self) -> tuple[int, int, int, int]:
        return (self.cause.completion.time, self.cause.line, _RANK[self.property], self.affected.line)

    def to_json(self, group: int) -> dict[str, Any]:
        assert "\n" not in self.message
        return {
            "property": self.property,
            "t": self.cause.completion.time,
            "phase": None,
            "message": self.message,
            "line": self.cause.line,
            "affected_line": self.affected.line,
            "group": group,
            **self.details,
        }


def check_revisions(
    events: Iterable[Event], trace: Iterable[TraceEvent] | None = None, stale_serializable: bool = False
) -> CheckerResult:
    """The result has anomalies, groups and stats, JSON-able, like the trace checkers'; an
    anomaly has `property`, `t` and `line` (its cause's completion), `message`,
    `affected_line` and `group` (see the module docstring). The run's `trace`, when given,
    sharpens the groups and names each anomaly's phase (else `phase` is None).
    `stale_serializable` spares serializable reads revision-monotonic: they may be served
    from a member that lags, and still show the store as of the revision they report."""
    done = _completed(events)
    findings = _check_unique(done) + _check_monotonic(done, stale_serializable)
    findings += _check_reads(done, {finding.cause.line for finding in findings})
    etcd = [item for item in done if item.etcd]
    findings += _check_etcd(etcd, stale_serializable)
    findings.sort(key=_Finding.sort_key)
    restarts, phases = (None, None) if trace is None else _restarts_and_phases(trace)
    group_of, episodes = _groups(done, findings, restarts)
    counts = dict.fromkeys(PROPERTIES + (ETCD_PROPERTIES if etcd else ()), 0)
    for finding in findings:
        counts[finding.property] += 1
    groups = _group_records(findings, group_of, episodes)
    return CheckerResult(
        Verdict.holds(not findings),
        anomalies=tuple(_with_phases(_kept(findings, group_of), phases)),
        groups=tuple(groups[:GROUPS_KEPT]),
        stats={
            "operations_with_revision": len(done),
            "max_revision": max((item.revision for item in done), default=0),
            "anomaly_counts": counts,
            "groups_total": len(groups),
        },
    )


def _completed(events: Iterable[Event]) -> list[_Done]:
    open_invokes: dict[int, Event] = {}
    done: list[_Done] = []
    for event in events:
        if event.type == "invoke":
            open_invokes[event.process] = event
            continue
        invoke = open_invokes.pop(event.process)
        if invoke.f in UNLOGGED_LEASE_FUNCTIONS:
            continue  # answered from the leader's memory, not the log: its header may be stale
        if event.revision is not None and event.type in ("ok", "fail"):
            done.append(_Done(invoke, event))
        elif event.type == "ok" and isinstance(getattr(event.value, "revision", None), int):
            done.append(_Done(invoke, event))  # an etcd response, its revision in its header
    return done


def _check_etcd(etcd: list[_Done], stale_serializable: bool = False) -> list[_Finding]:
    """The kvs of etcd responses against the writes whose revisions are known (see
    `checkers.etcd_revisions`). Only answers count: a failed request (a txn naming a lease
    that expired, say) wrote nothing, whatever revision its error carries."""
    etcd = [item for item in etcd if item.completion.type == "ok"]
    calls = [
        EtcdCall(
            item.request,
            item.completion.value,
            item.revision,
            item.describe(),
            item.invoke.index,
            item.completion.index,
        )
        for item in etcd
    ]
    return [
        _Finding(found.property, etcd[found.cause], etcd[found.affected], found.message)
        for found in check_etcd_kvs(calls, stale_serializable)
    ]


def _check_unique(done: list[_Done]) -> list[_Finding]:
    """The first write to return with a revision had it alone then: the later one reused it."""
    findings: list[_Finding] = []
    by_revision: dict[int, _Done] = {}
    for item in sorted((item for item in done if item.writes), key=lambda item: item.completion.index):
        earlier = by_revision.setdefault(item.revision, item)
        if earlier is not item:
            message = (
                f"{item.describe()} reported revision {item.revision}, already reported by "
                f"{earlier.describe()}: revision reused"
            )
            findings.append(_Finding("revision-unique", item, earlier, message, {"revision": item.revision}))
    return findings


def _check_monotonic(done: list[_Done], stale_serializable: bool = False) -> list[_Finding]:
    """Sweep invokes in order, folding in every completion that came before each. A
    serializable read that may be stale is not held to the floor, but the revision it saw
    existed, so it raises the floor for what follows."""
    findings: list[_Finding] = []
    by_return = sorted(done, key=lambda item: item.completion.index)
    highest: _Done | None = None
    position = 0
    for item in sorted(done, key=lambda item: item.invoke.index):
        while position < len(by_return) and by_return[position].completion.index < item.invoke.index:
            candidate = by_return[position]
            if highest is None or candidate.revision > highest.revision:
                highest = candidate
            position += 1
        if highest is None or (stale_serializable and item.invoke.serializable):
            continue
        floor = highest.revision + 1 if item.writes else highest.revision
        if item.revision < floor:
            relation = "above" if item.writes else "at least"
            message = (
                f"{item.describe()} reported revision {item.revision}, but {highest.describe()} had "
                f"returned revision {highest.revision} before it was invoked "
                f"(expected a revision {relation} {highest.revision})"
            )
            findings.append(
                _Finding(
                    "revision-monotonic",
                    item,
                    highest,
                    message,
                    {"revision": item.revision, "earlier_revision": highest.revision},
                )
            )
    return findings


def _check_reads(done: list[_Done], suspects: set[int]) -> list[_Finding]:
    """`suspects` holds (by completion line) the operations already shown to report a revision they
    cannot have; a read that conflicts with one of them is its victim, not its cause."""
    findings: list[_Finding] = []
    writes_by_key: dict[str, list[_Done]] = {}
    writer_of_value: dict[tuple[str, Any], _Done] = {}
    for item in done:
        if item.writes and not item.etcd:
            writes_by_key.setdefault(item.invoke.key, []).append(item)
            writer_of_value[(item.invoke.key, item.written)] = item
    for writes in writes_by_key.values():
        writes.sort(key=lambda write: write.revision)
    for item in done:
        if item.invoke.f != "read" or item.completion.type != "ok" or item.etcd:
            continue
        key, value = item.invoke.key, item.completion.value
        writes = writes_by_key.get(key, [])
        below = bisect.bisect_right(writes, item.revision, key=lambda write: write.revision)
        latest = writes[below - 1] if below else None
        own = None if value is None else writer_of_value.get((key, value))
        if value is None and latest is not None:
            findings.append(_read_finding(item, latest, "absent", suspects))
        elif own is not None and own.revision > item.revision:
            findings.append(_read_finding(item, own, "future", suspects))
        elif own is not None and latest is not None and latest is not own and latest.revision != own.revision:
            findings.append(_read_finding(item, latest, "overwritten", suspects, own))
    return findings


def _read_finding(read: _Done, write: _Done, kind: str, suspects: set[int], own: _Done | None = None) -> _Finding:
    key = read.invoke.key
    seen = f"{read.describe()} at revision {read.revision}"
    details: dict[str, Any] = {"revision": read.revision}
    if own is not None:
        details.update(written_revision=own.revision, overwritten_revision=write.revision)
    elif kind == "future":
        details["written_revision"] = write.revision
    if write.line not in suspects:
        if kind == "absent":
            text = f"{seen} found {key} absent, but {write.describe()} had written it at revision {write.revision}"
        elif kind == "future":
            text = f"{seen} returned a value first written at the later revision {write.revision} by {write.describe()}"
        else:
            assert own is not None
            text = (
                f"{seen} returned the value of revision {own.revision}, but {write.describe()} had "
                f"overwritten {key} at revision {write.revision}"
            )
        return _Finding("read-revision", read, write, text, details)
    if kind == "absent":
        effect = f"found {key} absent"
    elif kind == "future":
        effect = "returned its value"
    else:
        assert own is not None
        effect = f"returned the older value of revision {own.revision}"
    order = ", and returned before this write was invoked" if read.completion.index < write.invoke.index else ""
    text = f"{write.describe()} reported revision {write.revision}, yet {seen} {effect}{order}"
    return _Finding("read-revision", write, read, text, details)


def _restarts_and_phases(trace: Iterable[TraceEvent]) -> tuple[dict[int, list[int]], list[tuple[int, str]]]:
    """Each node's restart times and the phases' start times, in order (a trace's times
    never go back)."""
    restarts: dict[int, list[int]] = {}
    phases: list[tuple[int, str]] = []
    for event in trace:
        if event.get("ev") == "restart" and type(event.get("node")) is int:
            restarts.setdefault(event["node"], []).append(event["t"])
        elif event.get("ev") == "phase":
            phases.append((event["t"], str(event.get("phase"))))
    return restarts, phases


def _with_phases(
    anomalies: list[dict[str, Any]],
    phases: list[tuple[int, str]] | None,
) -> list[dict[str, Any]]:
    """Each anomaly's phase is the one its cause completed in; a run starts in safety."""
    if phases is not None:
        starts = [start for start, _ in phases]
        for anomaly in anomalies:
            position = bisect.bisect_right(starts, anomaly["t"])
            anomaly["phase"] = phases[position - 1][1] if position else "safety"
    return anomalies


def _groups(
    done: list[_Done],
    findings: list[_Finding],
    restarts: dict[int, list[int]] | None,
) -> tuple[dict[int, int], dict[int, tuple[Any, ...]]]:
    """Group number (from 1, first cause first) of every cause, by completion line, and
    each group's episode: (kind, node or line, n, how it was cut, restarted_at_us or None)."""
    causes = {finding.cause.line for finding in findings}
    episode_of: dict[int, tuple[Any, ...]] = {}
    last_faulty: dict[int, bool] = {}
    episodes: dict[int, int] = {}
    for item in sorted(done, key=lambda item: item.completion.index):
        node, faulty = item.completion.node, item.line in causes
        if node is None:
            if faulty:
                episode_of[item.line] = ("operation", item.line, 0, "alone", None)
            continue
        if restarts is not None:
            if faulty:
                times = restarts.get(node, [])
                incarnation = bisect.bisect_right(times, item.completion.time)
                restarted = times[incarnation - 1] if incarnation else None
                episode_of[item.line] = ("node", node, incarnation, "trace", restarted)
            continue
        if faulty and not last_faulty.get(node, False):
            episodes[node] = episodes.get(node, 0) + 1
        last_faulty[node] = faulty
        if faulty:
            episode_of[item.line] = ("node", node, episodes[node], "row", None)
    numbers: dict[tuple[Any, ...], int] = {}
    for finding in findings:  # already in cause order, so groups number first-cause first
        numbers.setdefault(episode_of[finding.cause.line], len(numbers) + 1)
    return (
        {cause: numbers[episode] for cause, episode in episode_of.items()},
        {number: episode for episode, number in numbers.items()},
    )


def _group_records(
    findings: list[_Finding], group_of: dict[int, int], episodes: dict[int, tuple[Any, ...]]
) -> list[dict[str, Any]]:
    members: dict[int, list[_Finding]] = {}
    for finding in findings:
        members.setdefault(group_of[finding.cause.line], []).append(finding)
    records = []
    for number in sorted(members):
        group = members[number]
        first = group[0]
        causes = {finding.cause.line: finding.cause for finding in group}
        cause = first.message
        node = first.cause.completion.node
        cause += _episode_text(episodes[number], list(causes.values()))
        records.append(
            {
                "group": number,
                "cause": cause,
                "t": first.cause.completion.time,
                "line": first.cause.line,
                "count": len(group),
                "property": first.property,
                "node": node,
                "operations": len(causes),
            }
        )
    return records


def _episode_text(episode: tuple[Any, ...], causes: list[_Done]) -> str:
    """ " (node 4 since its restart at 46.12 s: the first of 55 faulty answers, the last at
    56.563 s)", or less where there is less to say."""
    kind, node, _, cut, restarted = episode
    if kind != "node":
        return ""
    parts = []
    if len(causes) > 1:
        last = max(causes, key=lambda item: item.completion.index)
        row = " in a row" if cut == "row" else ""
        parts.append(
            f"the first of {plural(len(causes), 'faulty answer')}{row}, the last at "
            f"{format_seconds(last.completion.time)}"
        )
    since = "" if restarted is None else f" since its restart at {format_seconds(restarted)}"
    if not parts and not since:
        return ""
    return f" (node {node}{since}{': ' if parts else ''}{', '.join(parts)})"


def _kept(findings: list[_Finding], group_of: dict[int, int]) -> list[dict[str, Any]]:
    """The first few of each property and the first of each kept group, in cause order."""
    kept: list[dict[str, Any]] = []
    per_property = dict.fromkeys(PROPERTIES + ETCD_PROPERTIES, 0)
    groups_seen: set[int] = set()
    for finding in findings:
        group = group_of[finding.cause.line]
        first_of_group = group not in groups_seen and group <= GROUPS_KEPT
        groups_seen.add(group)
        if per_property[finding.property] < ANOMALIES_KEPT or first_of_group:
            per_property[finding.property] += 1
            kept.append(finding.to_json(group))
    return kept
