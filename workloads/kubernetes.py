"""The Kubernetes workload: objects kept in etcd the way Kubernetes' API server keeps them.

Objects live under `/registry/pods/` (`keys` of them: `pod-0`, `pod-1`, ...). Each client
acts as an API server serving its callers, with etcd's operations (`workloads._etcd`):

- **create**: a txn that puts the object only if its `mod_revision` is 0 (absent), and
  reads it otherwise;
- **update**: a range of the object, then a txn that puts the new object only if its
  `mod_revision` is still the one read, reading it otherwise; on such a conflict the
  update is retried from what the failure branch read (up to three times), as the API
  server's guaranteed update does;
- **delete**: a range, then a txn that deletes only at the `mod_revision` read;
- **list**: a paginated range of the prefix, `limit` objects a page: the first page at the
  current revision, every next page from the key after the last one returned and at the
  first page's revision, so the pages make one snapshot (as the API server lists);
- **controller**: a list, then an update of one listed object guarded by the
  `mod_revision` the list showed: a reconcile loop working from a cache that may be stale;
- **compact**: a compaction at the latest revision this client saw, as the API server
  compacts etcd every few minutes (a list still paging at an older revision then fails).

Each step is one operation of the history; what a client saw drives its next step. A step
that got no definite answer ends its action (the next operation starts a new one).

Settings: `keys` (objects), and the weights `read` (list), `write` (create) and `cas`
(update) of the `[workload]` table; its own `delete`, `controller` and `compact` weights,
`page_size` (a list's, and an informer's), and the `watchers` and `informers` watching the
objects (`workloads._watch`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from raftcore.server import Response
from workloads import Operation, Option, Settings, Workload
from workloads import _etcd as etcd
from workloads import _watch as watch

PREFIX = "/registry/pods/"
DELETE = Option("delete", float, 0.1, "weight of a guarded delete", 0.0, 1.0)
CONTROLLER = Option("controller", float, 0.2, "weight of a controller's list-then-update", 0.0, 1.0)
PAGE_SIZE = Option("page_size", int, 2, "objects per page of a list", 1, 1000)
COMPACT = Option("compact", float, 0.01, "weight of a compaction at the latest revision seen", 0.0, 1.0)
CONFLICT_RETRIES = 3

Step = Callable[[Response], Operation | None]
"""What to do after a step's answer: the next operation, or None when the action is done."""


def object_key(index: int) -> str:
    return f"{PREFIX}pod-{index}"


def _guarded(key: str, mod_revision: int, success: tuple[str, dict[str, Any]]) -> Operation:
    """A txn that does `success` only if `key` is at `mod_revision`, else reads `key`."""
    body = etcd.txn_body(
        [etcd.compare(key, "MOD", "EQUAL", mod_revision)],
        [success],
        [("range", etcd.range_body(key))],
    )
    return etcd.operation("txn", body)


def _first_kv(response: dict[str, Any]) -> dict[str, Any] | None:
    """The object a range answer (or a txn's failure-branch range) shows."""
    kvs = response.get("kvs")
    if kvs is None:
        for inner in response.get("responses", ()):
            kvs = inner.get("response_range", {}).get("kvs")
    return kvs[0] if kvs else None


class KubernetesGenerator:
    def __init__(self, settings: Settings, slot: int, rng: random.Random) -> None:
        self._rng = rng
        self._keys = [object_key(i) for i in range(settings.keys)]
        self._actions: tuple[Callable[[], Operation], ...] = (
            self._list,
            self._create,
            self._update,
            self._delete,
            self._controller,
            self._compact,
        )
        self._weights = [
            settings.read,
            settings.write,
            settings.cas,
            float(DELETE.read(settings)),
            float(CONTROLLER.read(settings)),
            float(COMPACT.read(settings)),
        ]
        self._page_size = int(PAGE_SIZE.read(settings))
        self._slot = slot
        self._counter = 0
        self._then: Step | None = None
        self._latest_revision = 0
        self._answered = True
        self._last_response: Response | None = None

    def _fresh(self, key: str) -> str:
        self._counter += 1
        return f"{key.removeprefix(PREFIX)}@c{self._slot}-{self._counter}"

    def next_operation(self) -> Operation:
        if not self._answered:
            self._then = None  # the last step got no definite answer: its action ends here
        self._answered = False
        if self._then is not None:
            pending, self._then = self._then, None
            assert self._last_response is not None
            follow = pending(self._last_response)
            if follow is not None:
                return follow
        return self._rng.choices(self._actions, self._weights)[0]()

    def observe(self, operation: Operation, response: Response) -> None:
        self._answered = True
        self._last_response = response
        self._latest_revision = max(self._latest_revision, etcd.header_revision(response))
        if response.error is not None:
            self._then = None

    def final_operations(self) -> list[Operation]:
        return [etcd.operation("range", etcd.range_body(PREFIX, etcd.prefix_end(PREFIX)))]

    # Actions: each returns its first operation and sets what follows its answer.

    def _create(self) -> Operation:
        key = self._rng.choice(self._keys)
        return _guarded(key, 0, ("put", etcd.put_body(key, self._fresh(key))))

    def _update(self, retries: int = CONFLICT_RETRIES) -> Operation:
        key = self._rng.choice(self._keys)
        self._then = lambda answer: self._write_over(key, _first_kv(answer.value), retries)
        return etcd.operation("range", etcd.range_body(key))

    def _write_over(self, key: str, seen: dict[str, Any] | None, retries: int) -> Operation | None:
        """The guarded put of an update, from the object as last seen; retried on conflict."""
        if seen is None:
            return None  # nothing to update: the object does not exist
        put = etcd.put_body(key, self._fresh(key))

        def after(answer: Response) -> Operation | None:
            if answer.value.get("succeeded") or retries <= 0:
                return None
            return self._write_over(key, _first_kv(answer.value), retries - 1)

        self._then = after
        return _guarded(key, int(seen["mod_revision"]), ("put", put))

    def _delete(self) -> Operation:
        key = self._rng.choice(self._keys)

        def after(answer: Response) -> Operation | None:
            seen = _first_kv(answer.value)
            if seen is None:
                return None
            return _guarded(key, int(seen["mod_revision"]), ("delete", etcd.delete_body(key)))

        self._then = after
        return etcd.operation("range", etcd.range_body(key))

    def _list(self, then: Callable[[list[dict[str, Any]]], Operation | None] | None = None) -> Operation:
        """The first page at the current revision; each next page from the key after the
        last one returned, at the first page's revision. `then` gets every listed object."""
        end = etcd.prefix_end(PREFIX)
        listed: list[dict[str, Any]] = []

        def after_page(revision: int) -> Step:
            def after(answer: Response) -> Operation | None:
                kvs = answer.value.get("kvs", [])
                listed.extend(kvs)
                if not (answer.value.get("more") and kvs):
                    return None if then is None else then(listed)
                at = revision or etcd.header_revision(answer)
                self._then = after_page(at)
                body = etcd.range_body(kvs[-1]["key"] + "\x00", end, limit=self._page_size, revision=at)
                return etcd.operation("range", body)

            return after

        self._then = after_page(0)
        return etcd.operation("range", etcd.range_body(PREFIX, end, limit=self._page_size))

    def _compact(self) -> Operation:
        """As the API server compacts now and then: at the latest revision this client saw,
        so a list still paging at an older one may find it gone."""
        return etcd.operation("compact", {"revision": max(1, self._latest_revision)})

    def _controller(self) -> Operation:
        def reconcile(listed: list[dict[str, Any]]) -> Operation | None:
            if not listed:
                return None
            seen = self._rng.choice(listed)
            key = seen["key"]
            put = etcd.put_body(key, self._fresh(key))
            self._then = lambda answer: None
            return _guarded(key, int(seen["mod_revision"]), ("put", put))

        return self._list(reconcile)


def problems(settings: Settings) -> list[tuple[str, str]]:
    if settings.read + settings.write + settings.cas <= 0:
        return [("read", "read, write and cas weights are all zero")]
    return []


WORKLOAD = Workload(
    kind="kubernetes",
    functions=etcd.FUNCTIONS,
    generator=KubernetesGenerator,
    request=etcd.request,
    complete=etcd.complete,
    model="etcd",
    checkers=("linearizability", "raft-safety", "liveness", "revisions"),
    problems=problems,
    options=(COMPACT, CONTROLLER, DELETE, PAGE_SIZE, *watch.OPTIONS),
    watch_prefix=PREFIX,
)
