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

The history is our `history.jsonl` (`checkers.history.Event`); operations without a
revision (a `fail` that was not a compare, an `info`) take no part except as writes of
unknown revision.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from checkers.history import COMPARE_FAILED, Event

ANOMALIES_KEPT = 10
PROPERTIES = ("revision-unique", "revision-monotonic", "read-revision")


@dataclass(frozen=True, slots=True)
class _Done:
    """An operation that returned with a revision."""

    invoke: Event
    completion: Event

    @property
    def revision(self) -> int:
        assert self.completion.revision is not None
        return self.completion.revision

    @property
    def writes(self) -> bool:
        return self.completion.type == "ok" and self.invoke.f in ("write", "cas")

    @property
    def written(self) -> Any:
        value = self.invoke.value
        return value[1] if self.invoke.f == "cas" else value  # type: ignore[index]

    def describe(self) -> str:
        value = self.invoke.value if self.invoke.f != "read" else self.completion.value
        outcome = " (compare failed)" if self.completion.error == COMPARE_FAILED else ""
        return (f"{self.invoke.f} {self.invoke.key} {_show(value)}{outcome} by process {self.invoke.process} "
                f"at revision {self.revision} (history lines {self.invoke.index + 1}-{self.completion.index + 1})")


def _show(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(part) for part in value) + "]"
    return str(value)


class _Anomalies:
    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []
        self.counts = dict.fromkeys(PROPERTIES, 0)

    def add(self, property_name: str, t: int, message: str, **details: Any) -> None:
        assert "\n" not in message
        self.counts[property_name] += 1
        if sum(1 for anomaly in self.kept if anomaly["property"] == property_name) < ANOMALIES_KEPT:
            self.kept.append({"property": property_name, "t": t, "phase": None, "message": message, **details})


def check_revisions(events: Iterable[Event]) -> dict[str, Any]:
    """Returns `{"valid", "anomalies", "stats"}`, JSON-able, like the trace checkers; an
    anomaly has `property`, `t` (the later operation's invoke time), `message`."""
    done = _completed(events)
    anomalies = _Anomalies()
    _check_unique(done, anomalies)
    _check_monotonic(done, anomalies)
    _check_reads(done, anomalies)
    anomalies.kept.sort(key=lambda anomaly: (anomaly["t"], anomaly["property"]))
    return {
        "valid": not anomalies.kept,
        "anomalies": anomalies.kept,
        "stats": {
            "operations_with_revision": len(done),
            "max_revision": max((item.revision for item in done), default=0),
            "anomaly_counts": anomalies.counts,
        },
    }


def _completed(events: Iterable[Event]) -> list[_Done]:
    open_invokes: dict[int, Event] = {}
    done: list[_Done] = []
    for event in events:
        if event.type == "invoke":
            open_invokes[event.process] = event
            continue
        invoke = open_invokes.pop(event.process)
        if event.revision is not None and event.type in ("ok", "fail"):
            done.append(_Done(invoke, event))
    return done


def _check_unique(done: list[_Done], anomalies: _Anomalies) -> None:
    by_revision: dict[int, _Done] = {}
    for item in sorted((item for item in done if item.writes), key=lambda item: item.invoke.index):
        earlier = by_revision.setdefault(item.revision, item)
        if earlier is not item:
            anomalies.add("revision-unique", item.invoke.time,
                          f"two writes made revision {item.revision}: {earlier.describe()} and {item.describe()}",
                          revision=item.revision)


def _check_monotonic(done: list[_Done], anomalies: _Anomalies) -> None:
    """Sweep invokes in order, folding in every completion that came before each."""
    by_return = sorted(done, key=lambda item: item.completion.index)
    highest: _Done | None = None
    position = 0
    for item in sorted(done, key=lambda item: item.invoke.index):
        while position < len(by_return) and by_return[position].completion.index < item.invoke.index:
            candidate = by_return[position]
            if highest is None or candidate.revision > highest.revision:
                highest = candidate
            position += 1
        if highest is None:
            continue
        floor = highest.revision + 1 if item.writes else highest.revision
        if item.revision < floor:
            relation = "above" if item.writes else "at least"
            anomalies.add("revision-monotonic", item.invoke.time,
                          f"{item.describe()}, but {highest.describe()} returned before it was invoked "
                          f"(expected a revision {relation} {highest.revision})",
                          revision=item.revision, earlier_revision=highest.revision)


def _check_reads(done: list[_Done], anomalies: _Anomalies) -> None:
    writes_by_key: dict[str, list[tuple[int, Any]]] = {}
    revision_of_value: dict[tuple[str, Any], int] = {}
    for item in done:
        if item.writes:
            writes_by_key.setdefault(item.invoke.key, []).append((item.revision, item.written))
            revision_of_value[(item.invoke.key, item.written)] = item.revision
    for writes in writes_by_key.values():
        writes.sort(key=lambda pair: pair[0])
    for item in done:
        if item.invoke.f != "read" or item.completion.type != "ok":
            continue
        key, value = item.invoke.key, item.completion.value
        writes = writes_by_key.get(key, [])
        below = bisect.bisect_right(writes, item.revision, key=lambda pair: pair[0])
        latest = writes[below - 1] if below else None
        if value is None:
            if latest is not None:
                anomalies.add("read-revision", item.invoke.time,
                              f"{item.describe()} found {key} absent, but a write of {_show(latest[1])} to it "
                              f"made revision {latest[0]}", revision=item.revision)
            continue
        own = revision_of_value.get((key, value))
        if own is None:
            continue  # written by an operation whose revision is unknown
        if own > item.revision:
            anomalies.add("read-revision", item.invoke.time,
                          f"{item.describe()} read a value first written at the later revision {own}",
                          revision=item.revision, written_revision=own)
        elif latest is not None and latest[0] != own:
            anomalies.add("read-revision", item.invoke.time,
                          f"{item.describe()} read the value of revision {own}, but {key} was overwritten with "
                          f"{_show(latest[1])} at revision {latest[0]}", revision=item.revision,
                          written_revision=own, overwritten_revision=latest[0])
