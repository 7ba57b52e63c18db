"""etcd's watch, served by one member from its own applied store.

A watch names a key, a range (`range_end`) or a prefix, and a start revision; the member
reports every change of those keys from that revision on, first out of its multi-version
store (catch-up: every revision not yet compacted is there), then as entries apply. It
serves from what it has applied, never from what it has heard of: a lagging member reports
late, and never anything the log does not hold. Watches live in the member's memory, so a
member that crashes loses them; the client must watch again elsewhere, from the revision
after the last it saw.

What etcd promises a watcher, and what this module keeps:

- events come in revision order, each once, all the events of one revision in one
  response (a response may hold several revisions, at most `MAX_EVENTS_PER_RESPONSE`
  events unless a single revision needs more: a revision is never split);
- a progress notification (a response without events, asked for by the client as etcd's
  `RequestProgress`) carries the member's revision: every event up to it was sent;
- a watch whose start revision is below the member's compaction is canceled at once, its
  response naming `compact_revision`, and the client must list again;
- a watch of an empty range (`range_end` at or below `key`) is created and canceled in one
  response, as etcd refuses it;
- `prev_kv` adds the key as it stood before each change; `filters` (`NOPUT`, `NODELETE`)
  leave out puts or deletions. A PUT event is a creation (`is_create`) exactly when its
  kv's create_revision equals its mod_revision; a DELETE event's kv is the tombstone: the
  key and the deleting revision, everything else zero, as etcd reports it.

Responses travel over a stream (a client's connection to the member); each carries the
stream and its place in it (`sequence`), as a byte stream would order them, so the client
can put them back in order and notice one lost. The JSON of a response is that of etcd's
v3 gateway (`/v3/watch`), with keys and values as plain strings.

The planted bugs here: `watch-split-drops-revision` (a response full in the middle of a
revision ends there, and the rest of that revision is never sent), and
`watch-start-repeats-last` (a watch starts one revision before the one asked for, so a
watcher resuming after the last revision it saw gets that revision again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raftcore.bugs import WATCH_SPLIT_DROPS_REVISION, WATCH_START_REPEATS_LAST
from raftcore.etcd import ALL_KEYS_FROM, KeyValue, kv_to_json
from raftcore.mvcc import Change, MVCCStore

FILTERS = ("NOPUT", "NODELETE")
MAX_EVENTS_PER_RESPONSE = 4
"""Small on purpose (etcd batches by size and by 1,000 revisions): catch-up and busy
revisions then span several responses, where a split can go wrong."""
PUT, DELETE = "PUT", "DELETE"


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """etcd's WatchCreateRequest: `key` alone, `[key, range_end)`, or every key from `key`
    on with `range_end` "\\0"; `start_revision` 0 or less watches from the next revision."""

    key: str
    range_end: str = ""
    start_revision: int = 0
    prev_kv: bool = False
    filters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a watch names a key")
        for name in self.filters:
            if name not in FILTERS:
                raise ValueError(f"unknown watch filter {name!r}; known: {', '.join(FILTERS)}")


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def is_create(self) -> bool:
        return self.type == PUT and self.kv.create_revision == self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class WatchResponse:
    """One message of a watch stream: to `client`'s stream `stream`, its `sequence`-th."""

    client: str
    stream: int
    sequence: int
    node: int
    watch_id: int
    revision: int
    events: tuple[WatchEvent, ...] = ()
    created: bool = False
    canceled: bool = False
    compact_revision: int = 0

    @property
    def progress(self) -> bool:
        """A progress notification: everything up to `revision` was sent."""
        return not self.events and not self.created and not self.canceled

    def to_json(self) -> dict[str, Any]:
        """etcd's gateway JSON of the response (`result`), fields at their default left out
        except the event type, written always."""
        result: dict[str, Any] = {"header": {"revision": self.revision}, "watch_id": self.watch_id}
        if self.created:
            result["created"] = True
        if self.canceled:
            result["canceled"] = True
        if self.compact_revision:
            result["compact_revision"] = self.compact_revision
        if self.events:
            result["events"] = [event_to_json(event) for event in self.events]
        return result


@dataclass(frozen=True, slots=True)
class WatchCreate:
    """A client's message asking `node` to open watch `watch_id` on its stream."""

    client: str
    stream: int
    watch_id: int
    request: WatchRequest


@dataclass(frozen=True, slots=True)
class ProgressRequest:
    """etcd's RequestProgress: a progress notification for every watch of the stream."""

    client: str
    stream: int


WatchMessage = WatchCreate | ProgressRequest


def event_to_json(event: WatchEvent) -> dict[str, Any]:
    body: dict[str, Any] = {"type": event.type, "kv": kv_to_json(event.kv)}
    if event.prev_kv is not None:
        body["prev_kv"] = kv_to_json(event.prev_kv)
    return body


def request_from_json(body: Any) -> WatchRequest:
    """A `create_request` of the gateway's JSON; ValueError naming the field if malformed."""
    if not isinstance(body, Mapping):
        raise ValueError(f"create_request: expected an object, got {type(body).__name__}")
    known = ("key", "range_end", "start_revision", "prev_kv", "filters", "progress_notify", "watch_id")
    for name in body:
        if name not in known:
            raise ValueError(f"create_request: unknown field {name!r}")
    key, range_end = body.get("key", ""), body.get("range_end", "")
    if not isinstance(key, str) or not isinstance(range_end, str):
        raise ValueError("create_request.key and range_end: expected strings")
    start = body.get("start_revision", 0)
    if isinstance(start, str) and start.lstrip("-").isdigit():
        start = int(start)
    if isinstance(start, bool) or not isinstance(start, int):
        raise ValueError(f"create_request.start_revision: expected an integer, got {start!r}")
    prev_kv = body.get("prev_kv", False)
    if not isinstance(prev_kv, bool):
        raise ValueError(f"create_request.prev_kv: expected true or false, got {prev_kv!r}")
    filters = body.get("filters", [])
    if not isinstance(filters, list) or not all(isinstance(name, str) for name in filters):
        raise ValueError("create_request.filters: expected a list of NOPUT, NODELETE")
    return WatchRequest(key, range_end, start, prev_kv, tuple(filters))


def request_to_json(request: WatchRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"key": request.key}
    if request.range_end:
        body["range_end"] = request.range_end
    if request.start_revision:
        body["start_revision"] = request.start_revision
    if request.prev_kv:
        body["prev_kv"] = True
    if request.filters:
        body["filters"] = list(request.filters)
    return body


@dataclass
class _Watch:
    """An open watch: the next revision it owes its client."""

    client: str
    stream: int
    watch_id: int
    request: WatchRequest
    next_revision: int


class WatchHub:
    """The watches one member serves, over its store. Not replicated state: each member
    has its own, gone with it in a crash."""

    def __init__(self, node: int, store: MVCCStore, bugs: frozenset[str] = frozenset()) -> None:
        self._node = node
        self._store = store
        self._watches: dict[tuple[str, int, int], _Watch] = {}
        """By (client, stream, watch id); dicts keep insertion order, so delivery order is fixed."""
        self._sequences: dict[tuple[str, int], int] = {}
        self._outbox: list[WatchResponse] = []
        self._asked: set[tuple[str, int, int]] = set()
        """Every watch ever asked for here (looked up only: its order matters nowhere)."""
        """Responses settled before a compaction, sent with the next `after_apply`."""
        self._split_drops_revision = WATCH_SPLIT_DROPS_REVISION in bugs
        self._start_repeats_last = WATCH_START_REPEATS_LAST in bugs

    def __len__(self) -> int:
        return len(self._watches)

    def _response(self, watch: _Watch, revision: int, **fields: Any) -> WatchResponse:
        place = (watch.client, watch.stream)
        sequence = self._sequences.get(place, 0)
        self._sequences[place] = sequence + 1
        return WatchResponse(watch.client, watch.stream, sequence, self._node, watch.watch_id, revision, **fields)

    def create(self, message: WatchCreate) -> list[WatchResponse]:
        """Open a watch: its `created` response, then what it owes from its start revision
        (or a cancellation if that revision is compacted)."""
        place = (message.client, message.stream, message.watch_id)
        if place in self._asked:
            return []  # a copy of a request already served: a stream delivers each once
        self._asked.add(place)
        request = message.request
        store = self._store
        start = request.start_revision if request.start_revision > 0 else store.revision + 1
        if self._start_repeats_last and request.start_revision > 1:
            start -= 1  # the planted bug: one revision too early
        watch = _Watch(message.client, message.stream, message.watch_id, request, start)
        if request.range_end not in ("", ALL_KEYS_FROM) and request.range_end <= request.key:
            # An empty range: etcd refuses the watch in the response that creates it.
            return [self._response(watch, store.revision, created=True, canceled=True)]
        created = self._response(watch, store.revision, created=True)
        if 0 < request.start_revision < store.compacted:
            canceled = self._response(watch, store.revision, canceled=True, compact_revision=store.compacted)
            return [created, canceled]
        self._watches[(message.client, message.stream, message.watch_id)] = watch
        return [created, *self._catch_up(watch)]

    def progress(self, message: ProgressRequest) -> list[WatchResponse]:
        """One progress notification per watch of the stream, at the store's revision: every
        watch is synced (it is sent what it owes whenever entries apply)."""
        revision = self._store.revision
        return [
            self._response(watch, revision)
            for watch in self._watches.values()
            if (watch.client, watch.stream) == (message.client, message.stream)
        ]

    def before_compaction(self) -> None:
        """Settle every watch before a compaction applies: a batch of entries may hold
        writes and then a compaction that drops them, and a watch owed those writes must
        have them first (etcd notifies its synced watchers as each write ends)."""
        for watch in self._watches.values():
            if watch.next_revision <= self._store.revision:
                self._outbox.extend(self._catch_up(watch))

    def restored(self) -> None:
        """The store's state was replaced by a snapshot (`KVStore.load_snapshot`), as on a
        member too far behind for the log to reach. A watch owed a revision the snapshot's
        compaction dropped cannot be served and is canceled naming that compaction, as etcd
        cancels a watcher restored below its compacted revision; every other watch catches
        up from the restored history as usual. The cancellations go out with the next
        `after_apply`, in the order the watches opened."""
        store = self._store
        for place, watch in list(self._watches.items()):
            if watch.next_revision < store.compacted:
                self._outbox.append(
                    self._response(watch, store.revision, canceled=True, compact_revision=store.compacted)
                )
                del self._watches[place]

    def after_apply(self) -> list[WatchResponse]:
        """What every watch is owed after entries applied, in the order the watches opened
        (what was settled before a compaction first)."""
        out, self._outbox = self._outbox, []
        for watch in self._watches.values():
            if watch.next_revision <= self._store.revision:
                out.extend(self._catch_up(watch))
        return out

    def _catch_up(self, watch: _Watch) -> list[WatchResponse]:
        """Every change from the watch's next revision to the store's, in responses of whole
        revisions: a revision joins the response being filled if the two fit in
        `MAX_EVENTS_PER_RESPONSE` events, else starts the next (alone, a revision may need more)."""
        responses: list[WatchResponse] = []
        batch: list[WatchEvent] = []
        for revision, group in self._owed(watch):
            if batch and len(batch) + len(group) > MAX_EVENTS_PER_RESPONSE:
                if self._split_drops_revision and len(batch) < MAX_EVENTS_PER_RESPONSE:
                    # The planted bug: the response is filled up from this revision and ends
                    # there, and the rest of the revision is taken as sent.
                    batch += group[: MAX_EVENTS_PER_RESPONSE - len(batch)]
                    group = []
                responses.append(self._response(watch, batch[-1].kv.mod_revision, events=tuple(batch)))
                batch = []
            if not group:
                continue
            if self._split_drops_revision and len(group) > MAX_EVENTS_PER_RESPONSE:
                group = group[:MAX_EVENTS_PER_RESPONSE]
            batch += group
            assert all(event.kv.mod_revision == revision for event in group)
        if batch:
            responses.append(self._response(watch, batch[-1].kv.mod_revision, events=tuple(batch)))
        # A watch from a revision this member has not reached yet keeps waiting for it.
        watch.next_revision = max(watch.next_revision, self._store.revision + 1)
        return responses

    def _owed(self, watch: _Watch) -> list[tuple[int, list[WatchEvent]]]:
        """The events the watch is owed, by revision, in order, its filters applied."""
        request = watch.request
        groups: list[tuple[int, list[WatchEvent]]] = []
        for change, before in self._store.changes_since(request.key, request.range_end, watch.next_revision):
            event = _event(change, before, request.prev_kv)
            if _filtered(event, request.filters):
                continue
            if not groups or groups[-1][0] != change.main:
                groups.append((change.main, []))
            groups[-1][1].append(event)
        return groups


def _event(change: Change, before: KeyValue | None, prev_kv: bool) -> WatchEvent:
    previous = before if prev_kv else None
    if change.deleted:
        return WatchEvent(DELETE, KeyValue(change.kv.key, "", 0, change.main, 0), previous)
    return WatchEvent(PUT, change.kv, previous)


def _filtered(event: WatchEvent, filters: tuple[str, ...]) -> bool:
    return ("NOPUT" in filters and event.type == PUT) or ("NODELETE" in filters and event.type == DELETE)
