"""What the revisions of an etcd history say about its kvs, key by key (see
`checkers.revisions`, which calls this for the etcd operations of a history).

The writes whose outcome is known (returned puts, deletes that deleted, txns whose branch
wrote) establish, per key, what each revision left: a put at revision m leaves the key's
value with mod_revision m; a delete at m leaves it absent. Every kv a response shows
(ranges, prev_kv, prev_kvs) and every read of a range at a revision (its own, or its
header's when it read the current state) is held to them:

- kv-version: two kvs of one key with one mod_revision are the same kv; a kv's
  create_revision is at most its mod_revision, its version is 1 exactly when both are
  equal (created then); within a generation (one create_revision) a later mod_revision
  has a greater version, by at most the revisions between them and at least the known
  puts of the key between them; a kv whose mod_revision (or create_revision) is the
  revision of a known write must be what that write left (its value; a write of other
  keys only cannot have made it).
- read-revision: a read of the current state invoked after another returned shows no
  key with a smaller mod_revision than that one did; a range at revision r shows no kv
  with mod_revision above r; a kv it
  shows with mod_revision m is not overwritten by a known write of its key in (m, r]; and
  a key of its range that it does not show (it shows every key up to its last, in key
  order) was not left present at r by a known put that no write, known or possible,
  removed before r. A write is possible at every revision no returned write reports (a
  write of unknown outcome may have taken it) and at a delete of a range whose keys the
  response does not list.

Only facts the known writes prove are used, so a history with writes of unknown outcome
is never judged wrongly; a read at a past revision, which the `etcd` model does not judge
(it keeps no past), is judged here.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field

from checkers.etcd_requests import (
    ALL_KEYS_END,
    CompactRequest,
    DeleteRequest,
    DeleteResponse,
    KeyValue,
    PutRequest,
    RangeRequest,
    RangeResponse,
    Request,
    TxnRequest,
    TxnResponse,
    shown_kvs,
)
from checkers.models.etcd import request_words, writes


@dataclass(frozen=True, slots=True)
class Observed:
    """A finding before `checkers.revisions` files it: the property, the operation whose
    response is wrong (by position in the list given), the other one it conflicts with,
    and one line saying why."""

    property: str
    cause: int
    affected: int
    message: str


@dataclass(frozen=True, slots=True)
class EtcdCall:
    """A returned etcd operation: request, response, and where it stands."""

    request: Request
    response: object
    revision: int
    words: str = ""
    invoked: int = 0
    returned: int = 0
    """Positions of the invoke and the completion in the history (real time)."""


@dataclass
class _Writes:
    """What the known writes established: per key, (revision, value or None for a
    delete, the writer) sorted by revision; the revisions returned writes report; the
    keys each such revision wrote (None: some unknown); ranges deleted without their keys."""

    by_key: dict[str, list[tuple[int, str | None, int]]] = field(default_factory=dict)
    claimed: list[int] = field(default_factory=list)
    keys_at: dict[int, set[str] | None] = field(default_factory=dict)
    blind_deletes: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, key: str, revision: int, value: str | None, writer: int) -> None:
        self.by_key.setdefault(key, []).append((revision, value, writer))
        known = self.keys_at.setdefault(revision, set())
        if known is not None:
            known.add(key)

    def possible_write_between(self, key: str, low: int, high: int) -> bool:
        """Whether some write of unknown keys may have touched `key` in (low, high)."""
        inside = bisect.bisect_left(self.claimed, high) - bisect.bisect_right(self.claimed, low)
        if inside < high - low - 1:
            return True  # a revision no returned write reports: a pending write may hold it
        return any(low < revision < high and _in_span(key, start, end) for revision, start, end in self.blind_deletes)


def _in_span(key: str, start: str, end: str) -> bool:
    if not end:
        return key == start
    return key >= start and (end == ALL_KEYS_END or key < end)


def _established(calls: list[EtcdCall]) -> _Writes:
    found = _Writes()
    for number, call in enumerate(calls):
        if isinstance(call.request, CompactRequest) or not writes(call.request, call.response):
            continue  # a compact makes no revision
        found.claimed.append(call.revision)
        for key, value in _effects(call.request, call.response, call.revision, found):
            found.add(key, call.revision, value, number)
    found.claimed.sort()
    for entries in found.by_key.values():
        entries.sort(key=_revision_and_writer)
    return found


def _effects(request: Request, response: object, revision: int, found: _Writes) -> Iterator[tuple[str, str | None]]:
    """(key, value written, None for deleted) of one returned write; a delete of a range
    whose keys the response does not list is noted as blind."""
    if isinstance(request, PutRequest):
        if not request.ignore_value:
            yield request.key, request.value
        else:
            found.keys_at[revision] = None
    elif isinstance(request, DeleteRequest) and isinstance(response, DeleteResponse) and response.deleted:
        if not request.range_end and not response.prev_kvs:
            yield request.key, None
        elif len(response.prev_kvs) == response.deleted:
            for kv in response.prev_kvs:
                yield kv.key, None
        else:
            found.blind_deletes.append((revision, request.key, request.range_end))
            found.keys_at[revision] = None
    elif isinstance(request, TxnRequest) and isinstance(response, TxnResponse):
        branch = request.success if response.succeeded else request.failure
        for item, shown in zip(branch, response.responses, strict=False):
            yield from _effects(item, shown, revision, found)


def _kvs_shown(call: EtcdCall) -> Iterator[KeyValue]:
    yield from shown_kvs(call.request, call.response)


def check_etcd_kvs(calls: list[EtcdCall], stale_serializable: bool = False) -> list[Observed]:
    """Every kv-version and read-revision finding (see the module docstring)."""
    established = _established(calls)
    findings = _check_kv_versions(calls, established)
    for number, call in enumerate(calls):
        if isinstance(call.request, RangeRequest) and isinstance(call.response, RangeResponse):
            findings.extend(_check_range(number, call, calls, established))
    return findings + _check_mod_monotonic(calls, stale_serializable)


def _current_kvs(call: EtcdCall) -> list[KeyValue]:
    """The kvs a range of the current state (revision 0) shows."""
    current = isinstance(call.request, RangeRequest) and not call.request.revision
    return list(call.response.kvs) if current and isinstance(call.response, RangeResponse) else []


def _check_mod_monotonic(calls: list[EtcdCall], stale_serializable: bool = False) -> list[Observed]:
    """A read of the current state invoked after another returned shows no key with a
    smaller mod_revision than that one showed: a key's mod_revision never goes back (a
    key deleted and created again has a greater one). With `stale_serializable`, a
    serializable range is not held to it (it may come from a lagging member), though what
    it showed did exist and counts against later reads."""
    findings: list[Observed] = []
    by_return = sorted(range(len(calls)), key=lambda number: calls[number].returned)
    highest: dict[str, tuple[int, int]] = {}  # key -> (mod_revision, the read showing it)
    folded = 0
    for number in sorted(range(len(calls)), key=lambda number: calls[number].invoked):
        call = calls[number]
        while folded < len(by_return) and calls[by_return[folded]].returned < call.invoked:
            earlier = by_return[folded]
            for kv in _current_kvs(calls[earlier]):
                if kv.mod_revision > highest.get(kv.key, (0, 0))[0]:
                    highest[kv.key] = (kv.mod_revision, earlier)
            folded += 1
        if stale_serializable and isinstance(call.request, RangeRequest) and call.request.serializable:
            continue
        for kv in _current_kvs(call):
            seen = highest.get(kv.key)
            if seen is not None and kv.mod_revision < seen[0]:
                message = (
                    f"{call.words} showed {_kv_words(kv)}, but {calls[seen[1]].words}, which returned "
                    f"before it was invoked, had shown {kv.key} with mod_revision {seen[0]}"
                )
                findings.append(Observed("read-revision", number, seen[1], message))
    return findings


def _kv_words(kv: KeyValue) -> str:
    return f"{kv.key}={kv.value!r} (create {kv.create_revision}, mod {kv.mod_revision}, version {kv.version})"


def _check_kv_versions(calls: list[EtcdCall], established: _Writes) -> list[Observed]:
    findings: list[Observed] = []
    first_seen: dict[tuple[str, int], tuple[KeyValue, int]] = {}
    by_key: dict[str, dict[int, tuple[KeyValue, int]]] = {}
    for number, call in enumerate(calls):
        for kv in _kvs_shown(call):
            why = _kv_alone(kv)
            if why is not None:
                findings.append(Observed("kv-version", number, number, f"{call.words} showed {_kv_words(kv)}: {why}"))
                continue
            seen = first_seen.setdefault((kv.key, kv.mod_revision), (kv, number))
            if seen[0] != kv:
                message = (
                    f"{call.words} showed {_kv_words(kv)}, but {calls[seen[1]].words} showed "
                    f"{_kv_words(seen[0])} for the same mod_revision"
                )
                findings.append(Observed("kv-version", number, seen[1], message))
                continue
            by_key.setdefault(kv.key, {})[kv.mod_revision] = (kv, number)
            findings.extend(_against_writes(kv, number, calls, established))
    for key, kvs in by_key.items():
        findings.extend(_generation_findings(key, kvs, calls, established))
    return findings


def _kv_alone(kv: KeyValue) -> str | None:
    if kv.create_revision > kv.mod_revision:
        return "created after its last modification"
    if (kv.create_revision == kv.mod_revision) != (kv.version == 1):
        return "version 1 is the version of a key's creation, and only of it"
    return None


def _against_writes(kv: KeyValue, number: int, calls: list[EtcdCall], established: _Writes) -> list[Observed]:
    """A kv against the known writes at its mod_revision and create_revision."""
    findings: list[Observed] = []
    for revision, what in ((kv.mod_revision, "mod_revision"), (kv.create_revision, "create_revision")):
        if revision not in established.keys_at:
            continue
        keys = established.keys_at[revision]
        writer = next((w for r, _, w in established.by_key.get(kv.key, []) if r == revision), None)
        if keys is not None and kv.key not in keys:
            other = next(w for entries in established.by_key.values() for r, _, w in entries if r == revision)
            message = (
                f"{calls[number].words} showed {_kv_words(kv)}, but revision {revision} ({what}) was "
                f"made by {calls[other].words}, which did not write {kv.key}"
            )
            findings.append(Observed("kv-version", number, other, message))
            continue
        if what == "mod_revision" and writer is not None:
            value = next(v for r, v, w in established.by_key[kv.key] if r == revision)
            if value is None or value != kv.value:
                left = "deleted it" if value is None else f"wrote {value!r}"
                message = (
                    f"{calls[number].words} showed {_kv_words(kv)}, but {calls[writer].words} {left} "
                    f"at revision {revision}"
                )
                findings.append(Observed("kv-version", number, writer, message))
    return findings


def _generation_findings(
    key: str, kvs: dict[int, tuple[KeyValue, int]], calls: list[EtcdCall], established: _Writes
) -> list[Observed]:
    findings: list[Observed] = []
    previous: tuple[KeyValue, int] | None = None
    puts = [revision for revision, value, _ in established.by_key.get(key, []) if value is not None]
    for mod in sorted(kvs):
        kv, number = kvs[mod]
        if previous is not None and previous[0].create_revision == kv.create_revision:
            earlier = previous[0]
            most = kv.mod_revision - earlier.mod_revision
            least = bisect.bisect_right(puts, kv.mod_revision) - bisect.bisect_right(puts, earlier.mod_revision)
            grown = kv.version - earlier.version
            if not least <= grown <= most or grown < 1:
                message = (
                    f"{calls[number].words} showed {_kv_words(kv)}, after {_kv_words(earlier)} of the same "
                    f"generation: its version grew by {grown}, but {least} known puts and at most {most} "
                    "writes came between them"
                )
                findings.append(Observed("kv-version", number, previous[1], message))
        previous = (kv, number)
    return findings


def _check_range(number: int, call: EtcdCall, calls: list[EtcdCall], established: _Writes) -> list[Observed]:
    request, response = call.request, call.response
    assert isinstance(request, RangeRequest)
    assert isinstance(response, RangeResponse)
    read_at = request.revision or call.revision
    findings: list[Observed] = []
    shown = {kv.key: kv for kv in response.kvs}
    for kv in response.kvs:
        if kv.mod_revision > read_at:
            message = f"{call.words} read at revision {read_at} and showed {_kv_words(kv)}, modified later"
            findings.append(Observed("read-revision", number, number, message))
            continue
        entries = established.by_key.get(kv.key, [])
        later = [entry for entry in entries if kv.mod_revision < entry[0] <= read_at]
        if later:
            revision, value, writer = later[0]
            did = "deleted it" if value is None else f"wrote {value!r}"
            message = (
                f"{call.words} read at revision {read_at} and showed {_kv_words(kv)}, but "
                f"{calls[writer].words} {did} at revision {revision}"
            )
            findings.append(Observed("read-revision", number, writer, message))
    if request.count_only or request.sort_target != "KEY" or request.sort_order == "DESCEND":
        return findings
    last = max(shown) if response.more and shown else None
    if response.more and last is None:
        return findings
    for key, entries in established.by_key.items():
        if key in shown or not _in_span(key, request.key, request.range_end) or (last is not None and key > last):
            continue
        below = bisect.bisect_right(entries, read_at, key=_revision_of_entry)
        if not below:
            continue
        revision, value, writer = entries[below - 1]
        if value is None or established.possible_write_between(key, revision, read_at + 1):
            continue
        message = (
            f"{call.words} read at revision {read_at} and did not show {key}, which "
            f"{calls[writer].words} wrote at revision {revision}"
        )
        findings.append(Observed("read-revision", number, writer, message))
    return findings


def _revision_and_writer(entry: tuple[int, str | None, int]) -> tuple[int, int]:
    return entry[0], entry[2]


def _revision_of_entry(entry: tuple[int, str | None, int]) -> int:
    return entry[0]


def describe(request: Request, revision: int) -> str:
    return f"{request_words(request)} @{revision}"
