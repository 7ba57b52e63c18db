"""The etcd workload: etcd's v3 data API over a few keys under one prefix.

Operations (the `etcd` model's, `workloads._etcd`): `range` of one key, sometimes at a
revision this client saw earlier (a read of the past, which compaction may refuse), and of
the whole prefix with a small `limit`, a sort order, `keys_only` or `count_only`; `put`
(sometimes asking `prev_kv`); `delete` of a key or of the prefix; `txn` comparing a key's
`mod_revision`, `version` or value with what this client last saw, putting on success and
reading on failure, sometimes with a nested txn; `compact` to a revision this client saw
a while ago. Values are unique (client slot and counter), which keeps the search narrow.

Settings: `keys` and the weights `read` (range of one key), `write` (put) and `cas` (txn)
of the `[workload]` table, its own weights `delete`, `list` (a range of the prefix) and
`compact`, and `serializable`: the share of one-key ranges sent with etcd's `serializable`
flag, served by the member from its own state (their invokes say so in the history).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from raftcore.server import Response
from workloads import Operation, Option, Settings, Workload
from workloads import _etcd as etcd

PREFIX = "/e/"
DELETE = Option("delete", float, 0.1, "weight of a delete (one key, or now and then the whole prefix)", 0.0, 1.0)
LIST = Option("list", float, 0.1, "weight of a range over the whole prefix", 0.0, 1.0)
COMPACT = Option("compact", float, 0.01, "weight of a compaction to a revision seen a while ago", 0.0, 1.0)
SERIALIZABLE = Option("serializable", float, 0.0, "share of one-key ranges sent serializable", 0.0, 1.0)
REMEMBERED_REVISIONS = 32
"""How many revisions a client keeps to read at or compact to later."""


def key_name(index: int) -> str:
    return f"{PREFIX}k{index}"


class EtcdGenerator:
    def __init__(self, settings: Settings, slot: int, rng: random.Random) -> None:
        self._rng = rng
        self._keys = [key_name(i) for i in range(settings.keys)]
        self._kinds = ("read", "write", "txn", "delete", "list", "compact")
        self._weights = [
            settings.read,
            settings.write,
            settings.cas,
            float(DELETE.read(settings)),
            float(LIST.read(settings)),
            float(COMPACT.read(settings)),
        ]
        self._slot = slot
        self._counter = 0
        self._seen: dict[str, dict[str, Any]] = {}
        """Per key, the last kv this client saw (absent: seen deleted or never seen)."""
        self._revisions: list[int] = []
        self._serializable = float(SERIALIZABLE.read(settings))

    def _fresh(self) -> str:
        self._counter += 1
        return f"c{self._slot}-{self._counter}"

    def next_operation(self) -> Operation:
        kind = self._rng.choices(self._kinds, self._weights)[0]
        key = self._rng.choice(self._keys)
        if kind == "read":
            past = self._revisions and self._rng.random() < 0.2
            revision = self._rng.choice(self._revisions) if past else 0
            # No draw when the share is 0, so runs without serializable reads keep their dice.
            if self._serializable > 0 and self._rng.random() < self._serializable:
                body = etcd.range_body(key, revision=revision, serializable=True)
                return dataclasses.replace(etcd.operation("range", body), serializable=True)
            return etcd.operation("range", etcd.range_body(key, revision=revision))
        if kind == "write":
            return etcd.operation("put", etcd.put_body(key, self._fresh(), prev_kv=self._rng.random() < 0.3))
        if kind == "txn":
            return self._txn(key)
        if kind == "delete":
            if self._rng.random() < 0.1:
                return etcd.operation("delete", etcd.delete_body(PREFIX, etcd.prefix_end(PREFIX), prev_kv=True))
            return etcd.operation("delete", etcd.delete_body(key, prev_kv=self._rng.random() < 0.5))
        if kind == "list":
            return self._list()
        # Compact to the oldest revision this client remembers, so most reads of the past
        # still work, or (as often) to the latest it saw, so that keys whose last change is
        # that old have every older revision compacted away.
        revision = self._rng.choice((self._revisions[0], self._revisions[-1])) if self._revisions else 1
        return etcd.operation("compact", {"revision": revision})

    def _list(self) -> Operation:
        shape = self._rng.random()
        limit = self._rng.choice((0, 1, 2, 3))
        end = etcd.prefix_end(PREFIX)
        if shape < 0.1:
            return etcd.operation("range", etcd.range_body(PREFIX, end, count_only=True))
        if shape < 0.2:
            return etcd.operation("range", etcd.range_body(PREFIX, end, limit=limit, keys_only=True))
        if shape < 0.4:
            order = self._rng.choice(("ASCEND", "DESCEND"))
            target = self._rng.choice(("KEY", "VERSION", "CREATE", "MOD", "VALUE"))
            body = etcd.range_body(PREFIX, end, limit=limit, sort_order=order, sort_target=target)
            return etcd.operation("range", body)
        return etcd.operation("range", etcd.range_body(PREFIX, end, limit=limit))

    def _txn(self, key: str) -> Operation:
        """Compare what this client last saw of `key`; put on success, read on failure."""
        seen = self._seen.get(key)
        which = self._rng.random()
        if which < 0.6:
            guard = etcd.compare(key, "MOD", "EQUAL", 0 if seen is None else seen["mod_revision"])
        elif which < 0.8:
            guard = etcd.compare(key, "VERSION", self._rng.choice(("EQUAL", "GREATER", "LESS")), self._version(seen))
        else:
            guard = etcd.compare(key, "VALUE", self._rng.choice(("EQUAL", "NOT_EQUAL")), self._value(seen))
        success: list[tuple[str, dict[str, Any]]] = [("put", etcd.put_body(key, self._fresh()))]
        if self._rng.random() < 0.2:
            other = self._rng.choice([name for name in self._keys if name != key] or [key])
            if other != key:
                nested = etcd.txn_body(
                    [etcd.compare(other, "VERSION", "GREATER", 0)],
                    [("put", etcd.put_body(other, self._fresh()))],
                    [("range", etcd.range_body(other))],
                )
                success.append(("txn", nested))
        return etcd.operation("txn", etcd.txn_body([guard], success, [("range", etcd.range_body(key))]))

    @staticmethod
    def _version(seen: dict[str, Any] | None) -> int:
        return 0 if seen is None else int(seen["version"])

    @staticmethod
    def _value(seen: dict[str, Any] | None) -> str:
        return "" if seen is None else str(seen.get("value", ""))

    def final_operations(self) -> list[Operation]:
        reads = [etcd.operation("range", etcd.range_body(key)) for key in self._keys]
        return [*reads, etcd.operation("range", etcd.range_body(PREFIX, etcd.prefix_end(PREFIX)))]

    def observe(self, operation: Operation, response: Response) -> None:
        """Remember the revision and what the answer showed of each key, to aim the next
        compares, reads of the past and compactions."""
        revision = etcd.header_revision(response)
        if revision and (not self._revisions or revision > self._revisions[-1]):
            self._revisions = [*self._revisions[-(REMEMBERED_REVISIONS - 1) :], revision]
        if response.error is None and isinstance(response.value, dict):
            for kv in _kvs_in(response.value):
                self._seen[kv["key"]] = kv
            one_key_now = not operation.value.get("revision") and not operation.value.get("range_end")
            if operation.f == "range" and one_key_now and not response.value.get("kvs"):
                self._seen.pop(operation.key, None)  # seen absent


def _kvs_in(response: dict[str, Any]) -> list[dict[str, Any]]:
    """Every key-value a response shows with its revisions (range results, prev_kv, and the
    same inside a txn's responses)."""
    found = [kv for kv in response.get("kvs", ()) if "mod_revision" in kv and "value" in kv]
    for inner in response.get("responses", ()):
        for body in inner.values():
            found.extend(_kvs_in(body))
    return found


def problems(settings: Settings) -> list[tuple[str, str]]:
    if settings.read + settings.write + settings.cas <= 0:
        return [("read", "read, write and cas weights are all zero")]
    return []


WORKLOAD = Workload(
    kind="etcd",
    functions=etcd.FUNCTIONS,
    generator=EtcdGenerator,
    request=etcd.request,
    complete=etcd.complete,
    model="etcd",
    checkers=("linearizability", "raft-safety", "liveness", "revisions"),
    problems=problems,
    options=(DELETE, LIST, COMPACT, SERIALIZABLE),
)
