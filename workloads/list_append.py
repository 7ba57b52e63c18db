"""The list-append workload, after Jepsen's: append unique values to a few lists, read them.

Operations, in the history as the generator makes them:

- `append(key, value)`: value the integer appended (unique: client slot and a counter);
  its ok repeats it;
- `read-list(key)`: value null on invoke; on ok, the key's whole list (`[]` when nothing
  was appended yet). Named `read-list`, not `read`: the `history.jsonl` schema fixes a
  read's result to an integer or null.

The server's `append` (an extension of the etcd-like store, `raftcore.kv`) and `get`
perform them. A read shows every append that took effect before it, in order, so an
append applied twice shows as a value read twice, a lost one as a value missing from a
later read, and two orders of appends as two reads neither of which extends the other:
what a register, where a second write of one value looks like the first, cannot show.
Judged as a `list-append` model per key, by the `list-append` checker (the same anomalies
named directly, in linear time) and by every run's checkers.

Settings: `keys`, and the mix weights `read` (read-list) and `write` (append) of the
`[workload]` table; `cas` must be 0 (there is none). No settings of its own.
"""

from __future__ import annotations

import random

from checkers.models.list_append import APPEND, READ
from raftcore.server import Request, Response
from workloads import Completion, Operation, Settings, Workload

FUNCTIONS = (APPEND, READ)
VALUES_PER_SLOT = 1_000_000
"""Client `slot` appends values slot * VALUES_PER_SLOT + 1, + 2, ...: unique across clients
while a client appends fewer than this many."""


def append(key: str, value: int) -> Operation:
    return Operation(APPEND, key, value)


def read_list(key: str) -> Operation:
    return Operation(READ, key, None)


class ListAppendGenerator:
    def __init__(self, settings: Settings, slot: int, rng: random.Random) -> None:
        self._rng = rng
        self._keys = [f"k{i}" for i in range(settings.keys)]
        self._weights = [settings.read, settings.write]
        self._slot = slot
        self._counter = 0

    def next_operation(self) -> Operation:
        f = self._rng.choices((READ, APPEND), self._weights)[0]
        key = self._rng.choice(self._keys)
        if f == READ:
            return read_list(key)
        self._counter += 1
        assert self._counter < VALUES_PER_SLOT, "values would no longer be unique"
        return append(key, self._slot * VALUES_PER_SLOT + self._counter)

    def final_operations(self) -> list[Operation]:
        return [read_list(key) for key in self._keys]

    def observe(self, operation: Operation, response: Response) -> None:
        """Nothing to aim: an append needs no value read first."""


def request(operation: Operation, request_id: str, client: str) -> Request:
    if operation.f == READ:
        return Request(request_id, client, "get", operation.key)
    assert operation.f == APPEND, operation.f
    return Request(request_id, client, "append", operation.key, value=operation.value)


def complete(operation: Operation, response: Response) -> Completion:
    """A read records the whole list; an append repeats its value."""
    assert response.error is None, response
    assert response.succeeded, response
    if operation.f == APPEND:
        return Completion("ok", operation.value)
    held = response.value
    assert held is None or isinstance(held, tuple), f"key {operation.key} holds {held!r}, not a list"
    return Completion("ok", [] if held is None else list(held))


def problems(settings: Settings) -> list[tuple[str, str]]:
    found = []
    if settings.cas:
        found.append(("cas", "list-append has no cas; set cas = 0"))
    if settings.read + settings.write <= 0:
        found.append(("read", "read and write weights are both zero"))
    return found


WORKLOAD = Workload(
    kind="list-append",
    functions=FUNCTIONS,
    generator=ListAppendGenerator,
    request=request,
    complete=complete,
    model="list-append",
    checkers=("linearizability", "list-append", "raft-safety", "liveness", "revisions"),
    problems=problems,
)
