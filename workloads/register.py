"""The register workload: read, write and compare-and-set a few keys, each a register.

Operations, in the history as the generator makes them:

- `read(key)`: value null on invoke; on ok, the value read (null: the key is absent);
- `write(key, value)`: value the integer written;
- `cas(key, [expected, new])`: set the key to `new` if it holds `expected` (null: only if
  absent); a fail with error `compare-failed` certainly changed nothing.

Written values are unique (client slot and a counter), which makes every read point at
exactly one write and keeps the linearizability search narrow; a cas expects the value
this client last saw for the key, so that a fair share of them succeed. The server's
`get`, `put` and `cas` perform them; a cas request names `expected` and the new `value` by
field, so the pair is never reordered on its way. Judged as a `cas-register` per key.

Settings: `keys` and the `read`, `write`, `cas` weights of the `[workload]` table, which
every scenario file writes, and its own `serializable`: the share of reads sent as etcd's
serializable reads, served by the client's member from its own state without a read index.
They may be stale, and the history's linearizability check flags them when they are: a
scenario that turns them on asks to see that.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from raftcore.server import Request, Response
from workloads import Completion, Generator, Operation, Option, Settings, Workload

FUNCTIONS = ("read", "write", "cas")
COMPARE_FAILED = "compare-failed"
SERIALIZABLE = Option("serializable", float, 0.0, "share of reads served from the member's own state", 0.0, 1.0)
VALUES_PER_SLOT = 1_000_000
"""Client `slot` writes values slot * VALUES_PER_SLOT + 1, + 2, ...: unique across clients
while a client writes fewer than this many."""


def read(key: str) -> Operation:
    return Operation("read", key, None)


def write(key: str, value: int) -> Operation:
    return Operation("write", key, value)


def cas(key: str, expected: int | None, new: int) -> Operation:
    return Operation("cas", key, (expected, new))


class RegisterGenerator:
    def __init__(self, settings: Settings, slot: int, rng: random.Random) -> None:
        self._rng = rng
        self._keys = [f"k{i}" for i in range(settings.keys)]
        self._weights = [settings.read, settings.write, settings.cas]
        self._slot = slot
        self._counter = 0
        self._seen: dict[str, Any] = {}
        self._serializable = float(SERIALIZABLE.read(settings))

    def next_operation(self) -> Operation:
        f = self._rng.choices(FUNCTIONS, self._weights)[0]
        key = self._rng.choice(self._keys)
        if f == "read":
            # No draw when the share is 0, so runs without serializable reads keep their dice.
            serializable = self._serializable > 0 and self._rng.random() < self._serializable
            return Operation("read", key, None, serializable)
        self._counter += 1
        fresh = self._slot * VALUES_PER_SLOT + self._counter
        if f == "write":
            return write(key, fresh)
        return cas(key, self._seen.get(key), fresh)

    def final_operations(self) -> list[Operation]:
        return [read(key) for key in self._keys]

    def observe(self, operation: Operation, response: Response) -> None:
        """Remember what this client last saw the key hold, to aim its next cas."""
        self._seen[operation.key] = response.value


class AboveRestored:
    """A register generator whose written values are moved up by `offset`, past every value
    a store restored from a backup holds (`[restore]`): values still name one write each,
    across the restored keys too, as the checkers rely on. Reads and the values a cas
    expects (what the client saw) are left as they are."""

    def __init__(self, inner: Generator, offset: int) -> None:
        assert offset >= 0, offset
        self._inner = inner
        self._offset = offset

    def next_operation(self) -> Operation:
        operation = self._inner.next_operation()
        if operation.f == "write":
            return dataclasses.replace(operation, value=operation.value + self._offset)
        if operation.f == "cas":
            expected, new = operation.value
            return dataclasses.replace(operation, value=(expected, new + self._offset))
        return operation

    def final_operations(self) -> list[Operation]:
        return self._inner.final_operations()

    def observe(self, operation: Operation, response: Response) -> None:
        self._inner.observe(operation, response)


def offset_above(restored_values: list[int]) -> int:
    """The offset that moves every value a client writes (from 1 on) above the restored
    ones: a whole number of client slots' worth, so that a value still shows its slot."""
    highest = max(restored_values, default=0)
    return 0 if highest <= 0 else (highest // VALUES_PER_SLOT + 1) * VALUES_PER_SLOT


def request(operation: Operation, request_id: str, client: str) -> Request:
    f, key = operation.f, operation.key
    if f == "read":
        return Request(request_id, client, "get", key, serializable=operation.serializable)
    if f == "write":
        return Request(request_id, client, "put", key, value=operation.value)
    assert f == "cas", f
    expected, new = operation.value
    return Request(request_id, client, "cas", key, value=new, expected=expected)


def complete(operation: Operation, response: Response) -> Completion:
    """A read records the value read; a write or cas repeats its invoke's value."""
    if response.error == COMPARE_FAILED:
        assert operation.f == "cas", (operation, response)
        return Completion("fail", operation.value, COMPARE_FAILED)
    assert response.error is None, response
    assert response.succeeded, response
    return Completion("ok", response.value if operation.f == "read" else operation.value)


def problems(settings: Settings) -> list[tuple[str, str]]:
    if settings.read + settings.write + settings.cas <= 0:
        return [("read", "read, write and cas weights are all zero")]
    return []


WORKLOAD = Workload(
    kind="register",
    functions=FUNCTIONS,
    generator=RegisterGenerator,
    request=request,
    complete=complete,
    model="cas-register",
    checkers=("linearizability", "raft-safety", "liveness", "revisions"),
    problems=problems,
    options=(SERIALIZABLE,),
)
