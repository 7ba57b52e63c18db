"""Judge what watchers were sent (`watch.jsonl`) by etcd's watch guarantees.

The events are held to each other and to the revision history that the clients'
responses establish (`checkers.etcd_revisions.known_writes`: the returned writes, their
revisions, keys and values). A watch that saw a change is a witness too: the events of all
watches together are the reference beside the known writes, and two of them disagreeing on
a key's change at a revision is itself an anomaly. Only facts are used: a revision no
returned write reports and no watch saw is never held against anyone.

Properties (etcd's own robustness tests name most of them):

- ordered: within a watch, each response's events come after the previous response's,
  and a response's events go up in revision;
- unique: a watcher takes no event (key, revision) twice, over all its watches: a watch
  resumed after the last revision seen must not repeat it;
- atomic: every event of a revision that a watch takes is in one response, and that
  response holds every change of the revision on the watched keys that anyone knows of;
- bookmarkable: no event after a progress notification is at or below its revision;
- reliable: between where a watch starts (its start revision, or after the revision its
  creation named) and the last revision it was told it has (its last event or progress
  notification), it took every revision at which a known change touched its keys;
- resumable: a watch from a start revision reports nothing below it;
- in-range: every event is of a watched key and of a type its filters let through;
- matches-history: an event agrees with the known write at its revision (the write's keys
  and value, put or delete) and with every other watch's event of that key and revision;
- prev-kv: with `prev_kv` asked for, an event's prev_kv is the key as it stood before the
  change: an earlier revision of the same key, with no change of the key known in between,
  one version lower in the same generation for a put; absent only where the key was
  absent or its earlier state compacted away; never sent to a watch that did not ask;
- is-create: a PUT event's kv is a creation (create_revision equal to mod_revision)
  exactly when its version is 1 and exactly when the key was absent before it (no
  prev_kv); a DELETE event's kv is a tombstone (create_revision and version 0);
- informer-cache: an informer's cache (its list, then the events after it) agrees at
  each revision it reaches with what is known of that revision: a key's last known change
  at or below it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from checkers.etcd_requests import CompactRequest, KeyValue, RangeRequest
from checkers.etcd_requests import Request as EtcdRequest
from checkers.etcd_revisions import EtcdCall, KnownWrites, known_writes
from checkers.history import Event
from checkers.trace import TraceEvent
from checkers.verdict import CheckerResult, Verdict
from checkers.watch_file import Watch, WatchEvent, WatchFile

PROPERTIES = (
    "ordered",
    "unique",
    "atomic",
    "bookmarkable",
    "reliable",
    "resumable",
    "in-range",
    "matches-history",
    "prev-kv",
    "is-create",
    "informer-cache",
)
ANOMALIES_KEPT_PER_PROPERTY = 10
ETCD_REQUESTS = (RangeRequest, CompactRequest)

Fact = tuple[int, str, str | None, str]
"""(revision, key, value or None for a deletion, who says so) of the reference."""


class _Anomalies:
    def __init__(self, phases: list[tuple[int, str]]) -> None:
        self.counts = dict.fromkeys(PROPERTIES, 0)
        self.kept: list[dict[str, Any]] = []
        self._times = [t for t, _ in phases]
        self._phases = [phase for _, phase in phases]

    def add(self, name: str, t: int, line: int, watcher: int, message: str) -> None:
        assert name in self.counts, name
        assert "\n" not in message
        self.counts[name] += 1
        if self.counts[name] > ANOMALIES_KEPT_PER_PROPERTY:
            return
        position = bisect.bisect_right(self._times, t) - 1
        phase = self._phases[position] if position >= 0 else "safety"
        self.kept.append(
            {
                "property": name,
                "t": t,
                "phase": phase,
                "file": "watch.jsonl",
                "watch_line": line,
                "watcher": watcher,
                "message": message,
            }
        )


@dataclass
class _Reference:
    """What is known of the revision history: per key, its known changes by revision."""

    changes: dict[str, dict[int, tuple[str | None, str]]]
    keys_at: dict[int, set[str] | None]
    compacted_up_to: int
    compactions: frozenset[int] = frozenset()
    """The revisions compactions were asked for (returned or of unknown outcome)."""

    def last_at_or_below(self, key: str, revision: int) -> tuple[int, str | None, str] | None:
        known = self.changes.get(key)
        if not known:
            return None
        revisions = sorted(known)
        index = bisect.bisect_right(revisions, revision)
        if index == 0:
            return None
        found = revisions[index - 1]
        return found, *known[found]

    def changed_between(self, key: str, low: int, high: int) -> int | None:
        """A known change of `key` strictly between the two revisions, if any."""
        return next((r for r in sorted(self.changes.get(key, {})) if low < r < high), None)


def check_watch(file: WatchFile, history: Iterable[Event], trace: Iterable[TraceEvent] | None = None) -> CheckerResult:
    phases = [(event["t"], event["phase"]) for event in trace or () if event.get("ev") == "phase"]
    anomalies = _Anomalies(phases)
    reference = _reference(file, history, anomalies)
    for watch in file.watches:
        _judge_watch(watch, reference, anomalies)
    _judge_unique(file, anomalies)
    _judge_informers(file, reference, anomalies)
    events = sum(len(r.events) for watch in file.watches for r in watch.responses)
    stats = {
        "watches": len(file.watches),
        "responses": sum(len(watch.responses) for watch in file.watches),
        "events": events,
        "lists": len(file.lists),
        "anomaly_counts": anomalies.counts,
    }
    return CheckerResult(
        Verdict.holds(not any(anomalies.counts.values())), anomalies=tuple(anomalies.kept), stats=stats
    )


# --- the reference ---------------------------------------------------------------------


def _calls(history: Iterable[Event]) -> tuple[list[EtcdCall], set[int]]:
    """The returned etcd operations, and the revisions compactions may have had (ones that
    returned, or whose outcome is unknown)."""
    invokes: dict[int, Event] = {}
    calls: list[EtcdCall] = []
    compactions: set[int] = set()
    for event in history:
        if event.type == "invoke":
            invokes[event.process] = event
            if isinstance(event.value, CompactRequest):
                compactions.add(event.value.revision)
            continue
        invoke = invokes.pop(event.process, None)
        request = None if invoke is None else invoke.value
        if invoke is None or event.type != "ok" or not isinstance(request, EtcdRequest):
            continue
        revision = event.revision if event.revision is not None else getattr(event.value, "revision", None)
        if isinstance(revision, int):
            words = f"{invoke.f} of history line {invoke.index + 1} at revision {revision}"
            calls.append(EtcdCall(request, event.value, revision, words, invoke.index, event.index))
    return calls, compactions


def _reference(file: WatchFile, history: Iterable[Event], anomalies: _Anomalies) -> _Reference:
    calls, compactions = _calls(history)
    known: KnownWrites = known_writes(calls)
    changes: dict[str, dict[int, tuple[str | None, str]]] = {}
    for key, entries in known.by_key.items():
        for revision, value, writer in entries:
            changes.setdefault(key, {})[revision] = (value, calls[writer].words)
    keys_at = dict(known.keys_at)
    for watch in file.watches:
        for response in watch.responses:
            for event in response.events:
                _witness(watch, response.line, event, changes, keys_at, anomalies, response.t)
    return _Reference(changes, keys_at, max(compactions, default=0), frozenset(compactions))


def _witness(
    watch: Watch,
    line: int,
    event: WatchEvent,
    changes: dict[str, dict[int, tuple[str | None, str]]],
    keys_at: dict[int, set[str] | None],
    anomalies: _Anomalies,
    t: int,
) -> None:
    """File one event as a fact, or report that it contradicts one already filed."""
    key, revision = event.kv.key, event.kv.mod_revision
    value = None if event.type == "DELETE" else event.kv.value
    said = f"{watch.words} at watch.jsonl line {line}"
    written = keys_at.get(revision)
    if written is not None and key not in written and revision in keys_at:
        anomalies.add(
            "matches-history",
            t,
            line,
            watch.watcher,
            f"{said} reported {event.type} {key} at revision {revision}, which known writes made without {key}",
        )
        return
    earlier = changes.setdefault(key, {}).get(revision)
    if earlier is None:
        changes[key][revision] = (value, said)
        return
    if earlier[0] != value:
        shown = "a deletion" if value is None else repr(value)
        other = "a deletion" if earlier[0] is None else repr(earlier[0])
        anomalies.add(
            "matches-history",
            t,
            line,
            watch.watcher,
            f"{said} reported {shown} of {key} at revision {revision}, but {earlier[1]} says {other}",
        )


# --- one watch -------------------------------------------------------------------------


def _judge_watch(watch: Watch, reference: _Reference, anomalies: _Anomalies) -> None:
    last = 0
    low = watch.start_revision
    high = 0
    response_of: dict[int, int] = {}
    progress_at = 0
    delivered: set[int] = set()
    for response in watch.responses:
        if response.created and low <= 0:
            low = response.revision + 1
        if response.canceled:
            break
        if response.progress:
            progress_at = max(progress_at, response.revision)
            high = max(high, response.revision)
            continue
        previous_in_response = 0
        for event in response.events:
            revision = event.kv.mod_revision
            where = (response.t, response.line, watch.watcher)
            if revision < previous_in_response:
                anomalies.add(
                    "ordered",
                    *where,
                    f"{watch.words} took revision {revision} after {previous_in_response} in one response",
                )
            elif revision <= last and response_of.get(revision) != response.line:
                name = "atomic" if revision == last and revision in response_of else "ordered"
                anomalies.add(
                    name,
                    *where,
                    f"{watch.words} took revision {revision} at watch.jsonl line {response.line} "
                    f"after revision {last} (line {response_of.get(last)})",
                )
            if revision <= progress_at:
                anomalies.add(
                    "bookmarkable",
                    *where,
                    f"{watch.words} took revision {revision} after a progress notification at {progress_at}",
                )
            if watch.start_revision > 0 and revision < watch.start_revision:
                anomalies.add(
                    "resumable", *where, f"{watch.words} from revision {watch.start_revision} took revision {revision}"
                )
            if not watch.covers(event.kv.key) or not watch.wants(event.type):
                anomalies.add(
                    "in-range", *where, f"{watch.words} took {event.type} {event.kv.key}, which it does not watch"
                )
            _judge_event(watch, response.line, response.t, event, reference, anomalies)
            previous_in_response = max(previous_in_response, revision)
            last = max(last, revision)
            response_of.setdefault(revision, response.line)
            delivered.add(revision)
            high = max(high, revision)
        for revision in {event.kv.mod_revision for event in response.events}:
            _judge_whole(watch, response.line, response.t, revision, response.events, reference, anomalies)
    _judge_reliable(watch, low, high, delivered, reference, anomalies)


def _judge_whole(
    watch: Watch,
    line: int,
    t: int,
    revision: int,
    events: tuple[WatchEvent, ...],
    reference: _Reference,
    anomalies: _Anomalies,
) -> None:
    """atomic: the response holds every known change of the watched keys at `revision`."""
    taken = {event.kv.key for event in events if event.kv.mod_revision == revision}
    for key, known in reference.changes.items():
        if key in taken or revision not in known or not watch.covers(key):
            continue
        value, who = known[revision]
        if watch.wants("DELETE" if value is None else "PUT"):
            anomalies.add(
                "atomic",
                t,
                line,
                watch.watcher,
                f"{watch.words} took revision {revision} at watch.jsonl line {line} "
                f"without its change of {key}, which {who} shows",
            )


def _judge_reliable(
    watch: Watch, low: int, high: int, delivered: set[int], reference: _Reference, anomalies: _Anomalies
) -> None:
    if low <= 0 or high < low:
        return
    missed: dict[int, tuple[str, str]] = {}
    for key, known in reference.changes.items():
        if not watch.covers(key):
            continue
        for revision, (value, who) in known.items():
            if (
                low <= revision <= high
                and revision not in delivered
                and watch.wants("DELETE" if value is None else "PUT")
                and not _tombstone_compacted(watch, revision, value, reference)
            ):
                missed.setdefault(revision, (key, who))
    for revision in sorted(missed):
        key, who = missed[revision]
        last_line = watch.responses[-1].line if watch.responses else watch.line
        anomalies.add(
            "reliable",
            watch.responses[-1].t if watch.responses else watch.t,
            last_line,
            watch.watcher,
            f"{watch.words} covered revisions {low} to {high} but never took revision {revision}, "
            f"where {who} shows a change of {key}",
        )


def _tombstone_compacted(watch: Watch, revision: int, value: str | None, reference: _Reference) -> bool:
    """A delete at the very revision a watch starts from, where a compaction was asked for:
    etcd's compaction at revision r keeps each key's last state at or below r except a
    deletion (a key that ends deleted keeps nothing), so a watch from r, which the
    compaction still allows, cannot deliver that deletion. It is not a gap."""
    return value is None and revision == watch.start_revision and revision in reference.compactions


def _judge_event(
    watch: Watch, line: int, t: int, event: WatchEvent, reference: _Reference, anomalies: _Anomalies
) -> None:
    kv, prev = event.kv, event.prev_kv
    said = f"{watch.words} took {event.type} {kv.key} at revision {kv.mod_revision} (watch.jsonl line {line})"
    if event.type == "DELETE":
        if kv.create_revision or kv.version:
            anomalies.add(
                "is-create", t, line, watch.watcher, f"{said}: a deletion's kv has create_revision and version 0"
            )
    elif (kv.create_revision == kv.mod_revision) != (kv.version == 1) or (
        kv.create_revision == kv.mod_revision and prev is not None
    ):
        anomalies.add(
            "is-create",
            t,
            line,
            watch.watcher,
            f"{said}: create_revision {kv.create_revision}, version {kv.version}, "
            f"prev_kv {'present' if prev else 'absent'} disagree on whether it is a creation",
        )
    if not watch.prev_kv:
        if prev is not None:
            anomalies.add("prev-kv", t, line, watch.watcher, f"{said} with a prev_kv the watch did not ask for")
        return
    if prev is None:
        # A deletion, or a put that is no creation, had a live key before it: only a
        # compaction at or above its revision can have taken that state away.
        creation = event.type == "PUT" and kv.create_revision == kv.mod_revision
        if not creation and reference.compacted_up_to < kv.mod_revision:
            anomalies.add(
                "prev-kv",
                t,
                line,
                watch.watcher,
                f"{said} without prev_kv, though the key existed before it and nothing compacted that",
            )
        return
    problem = _prev_problem(event, reference)
    if problem is not None:
        anomalies.add(
            "prev-kv", t, line, watch.watcher, f"{said} with prev_kv {prev.key}@{prev.mod_revision}: {problem}"
        )


def _prev_problem(event: WatchEvent, reference: _Reference) -> str | None:
    kv, prev = event.kv, event.prev_kv
    assert prev is not None
    if prev.key != kv.key or prev.mod_revision >= kv.mod_revision:
        return "not an earlier state of the same key"
    if event.type == "PUT" and (prev.create_revision != kv.create_revision or prev.version + 1 != kv.version):
        return f"not the previous version of the generation created at {kv.create_revision}"
    known = reference.changes.get(kv.key, {}).get(prev.mod_revision)
    if known is not None and known[0] != prev.value:
        return f"{known[1]} shows {'a deletion' if known[0] is None else repr(known[0])} then"
    between = reference.changed_between(kv.key, prev.mod_revision, kv.mod_revision)
    if between is not None:
        return f"the key changed in between, at revision {between} ({reference.changes[kv.key][between][1]})"
    return None


# --- across a watcher's watches --------------------------------------------------------


def _judge_unique(file: WatchFile, anomalies: _Anomalies) -> None:
    by_watcher: dict[int, dict[tuple[str, int], int]] = {}
    for watch in file.watches:
        taken = by_watcher.setdefault(watch.watcher, {})
        for response in watch.responses:
            for event in response.events:
                mark = (event.kv.key, event.kv.mod_revision)
                if mark in taken:
                    anomalies.add(
                        "unique",
                        response.t,
                        response.line,
                        watch.watcher,
                        f"{watch.words} took {event.type} {mark[0]} at revision {mark[1]} again "
                        f"(first at watch.jsonl line {taken[mark]})",
                    )
                else:
                    taken[mark] = response.line


def _judge_informers(file: WatchFile, reference: _Reference, anomalies: _Anomalies) -> None:
    """Replay each informer's cache: a list replaces it, the events of the watches after
    the list change it; at each revision it reaches, it must agree with the reference."""
    for watcher, steps in file.steps.items():
        cache: dict[str, KeyValue] | None = None
        for kind, index in steps:
            if kind == "list":
                listed = file.lists[index]
                cache = {kv.key: kv for kv in listed.kvs}
                _judge_cache(
                    cache,
                    listed.revision,
                    listed.line,
                    listed.t,
                    watcher,
                    f"the list at watch.jsonl line {listed.line}",
                    reference,
                    anomalies,
                )
                continue
            if cache is None:
                continue  # a plain watcher keeps no cache
            watch = file.watches[index]
            for response in watch.responses:
                for event in response.events:
                    if event.type == "PUT":
                        cache[event.kv.key] = event.kv
                    else:
                        cache.pop(event.kv.key, None)
                if response.events:
                    revision = max(event.kv.mod_revision for event in response.events)
                    _judge_cache(
                        cache,
                        revision,
                        response.line,
                        response.t,
                        watcher,
                        f"the cache after watch.jsonl line {response.line}",
                        reference,
                        anomalies,
                    )


def _judge_cache(
    cache: dict[str, KeyValue],
    revision: int,
    line: int,
    t: int,
    watcher: int,
    what: str,
    reference: _Reference,
    anomalies: _Anomalies,
) -> None:
    keys = sorted(set(cache) | set(reference.changes))
    for key in keys:
        held = cache.get(key)
        last = reference.last_at_or_below(key, revision)
        if last is None:
            continue
        changed_at, value, who = last
        if value is None:
            wrong = held is not None and held.mod_revision <= changed_at
            shown = "absent"
        else:
            wrong = (
                held is None
                or held.mod_revision < changed_at
                or (held.mod_revision == changed_at and held.value != value)
            )
            shown = f"{value!r}"
        if wrong:
            holds = "nothing" if held is None else f"{held.value!r}@{held.mod_revision}"
            anomalies.add(
                "informer-cache",
                t,
                line,
                watcher,
                f"informer {watcher}: {what} holds {holds} for {key} at revision {revision}, "
                f"but {who} shows it {shown} since revision {changed_at}",
            )
