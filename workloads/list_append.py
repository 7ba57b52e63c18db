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
`[workload]` table; `cas` must be 0 (there is none). Its own: `max_appends`, how long a
list may grow (as a client's read shows it) before that client moves on to a fresh key
in its place (`k0`, then `k0.1`, `k0.2`, ...), as Jepsen's list-append bounds writes per
key: a read shows the whole list, so without a bound a long run's history grows with the
square of its appends (a 12,773-operation run on one key wrote 150 MB) and its checks
with it. Each client moves when it reads a full list, so clients still on the old key
append a few more there, which its later reads (and the final reads of the last two
keys in each place) still judge.
"""

from __future__ import annotations

import random

from checkers.models.list_append import APPEND, READ
from raftcore.server import Request, Response
from workloads import Completion, Operation, Option, Settings, Workload

FUNCTIONS = (APPEND, READ)
VALUES_PER_SLOT = 1_000_000
"""Client `slot` appends values slot * VALUES_PER_SLOT + 1, + 2, ...: unique across clients
while a client appends fewer than this many."""
MAX_APPENDS = Option(
    "max_appends", int, 128, "appends a key takes (as a read shows) before clients move to a fresh key", 1, 1_000_000
)


def append(key: str, value: int) -> Operation:
    return Operation(APPEND, key, value)


def read_list(key: str) -> Operation:
    return Operation(READ, key, None)


def key_name(place: int, generation: int) -> str:
    """The key in `place` after `generation` moves: the first is `k{place}`, as before keys moved."""
    return f"k{place}" if generation == 0 else f"k{place}.{generation}"


class ListAppendGenerator:
    def __init__(self, settings: Settings, slot: int, rng: random.Random) -> None:
        self._rng = rng
        self._places = range(settings.keys)
        self._generations = [0] * settings.keys
        self._max_appends = int(MAX_APPENDS.read(settings))
        self._weights = [settings.read, settings.write]
        self._slot = slot
        self._counter = 0

    def next_operation(self) -> Operation:
        f = self._rng.choices((READ, APPEND), self._weights)[0]
        place = self._rng.choice(self._places)  # draws as a choice among the key names did
        key = key_name(place, self._generations[place])
        if f == READ:
            return read_list(key)
        self._counter += 1
        assert self._counter < VALUES_PER_SLOT, "values would no longer be unique"
        return append(key, self._slot * VALUES_PER_SLOT + self._counter)

    def final_operations(self) -> list[Operation]:
        """The current key of each place, and the one before it, which clients that had
        not moved yet may have appended to last."""
        return [
            read_list(key_name(place, generation))
            for place in self._places
            for generation in range(max(0, self._generations[place] - 1), self._generations[place] + 1)
        ]

    def observe(self, operation: Operation, response: Response) -> None:
        """A read of the current key in a place showing a full list moves this client on."""
        if operation.f != READ or not isinstance(response.value, tuple) or len(response.value) < self._max_appends:
            return
        for place in self._places:
            if operation.key == key_name(place, self._generations[place]):
                self._generations[place] += 1


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
    options=(MAX_APPENDS,),
)
