"""The key-value state machine that committed log entries are applied to.

It follows etcd's model where the workloads can see it: one global revision that every
successful write increments; per key a value, `create_revision`, `mod_revision` and
`version`; every response carries the revision it observed. Requests carry an id, and the
state machine remembers the outcome of every id it applied, so that a request proposed twice
(a client resending after a lost reply, a duplicated network message) takes effect once and
both copies answer alike. That table is part of the replicated state: every replica builds
the same one from the same log.

Beyond etcd, `append` extends the list a key holds (an absent key holds the empty list, a
key holding a single value the list of that value) and answers the value appended; a get
of such a key reads the whole list. It is what the list-append workload runs on: a list
shows every append that took effect, in order, so an append applied twice or lost is
visible in any later read.

The state lives in a multi-version store (`raftcore.mvcc`), which also answers etcd's v3
requests (`raftcore.etcd`): a command of operation `etcd-range`, `etcd-put`,
`etcd-delete`, `etcd-txn` or `etcd-compact` carries the request as the contract's JSON in
its `value` and the key it names (empty for a txn or a compaction) as its `key`; its result
holds etcd's response, or etcd's error string as a definite failure. The older operations
and etcd's share one revision space, and the older ones answer exactly as before.

The store reports every command it executes (not the repeats it answers from its table)
to an observer, with the log index it was applying and the revision after: what a checker
needs to tell that a request took effect once on every replica, whatever its workload.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raftcore import state_codec as codec
from raftcore.etcd import (
    EtcdError,
    EtcdRequest,
    EtcdResponse,
    KeyValue,
    Limits,
    kind_of,
    request_from_json,
    request_to_json,
)
from raftcore.mvcc import STORE_BUGS, MVCCStore

ETCD_OPERATIONS = {
    "etcd-range": "range",
    "etcd-put": "put",
    "etcd-delete": "delete",
    "etcd-txn": "txn",
    "etcd-compact": "compact",
    "etcd-lease-grant": "lease-grant",
    "etcd-lease-revoke": "lease-revoke",
    "etcd-lease-keepalive": "lease-keepalive",
    "etcd-lease-timetolive": "lease-timetolive",
}
"""A command's operation for each of etcd's request kinds, to the contract's kind."""
OPERATIONS = ("get", "put", "delete", "cas", "append", *ETCD_OPERATIONS)
READ_OPERATIONS = ("get", "etcd-range")
"""Operations that never write: no acknowledgement of a write follows them."""


@dataclass(frozen=True, slots=True)
class Command:
    """One client request as it travels through the log."""

    request_id: str
    operation: str
    key: str
    value: Any = None
    expected: Any = None

    def __post_init__(self) -> None:
        # Commands are built from client requests: refuse a bad one with an exception that
        # `python -O` keeps, unlike an assertion.
        if self.operation not in OPERATIONS:
            raise ValueError(f"unknown operation {self.operation!r}; known: {', '.join(OPERATIONS)}")
        if not self.request_id:
            raise ValueError("every command carries a request id")

    @staticmethod
    def etcd(request_id: str, request: EtcdRequest) -> Command:
        """The command carrying an etcd request, in the contract's canonical JSON. Its `key`
        is a label (the request's key, "" for a txn or compaction) written to traces and
        effects as text, so it leaves out the zero bytes an etcd key may hold (a list's
        next page starts at the key after the last one read, which ends in one); the
        request itself, in `value`, keeps them."""
        kind = kind_of(request)
        label = getattr(request, "key", "").replace("\x00", "")
        return Command(request_id, f"etcd-{kind}", label, request_to_json(request))

    def etcd_request(self) -> EtcdRequest:
        """The etcd request an `etcd-*` command carries (ValueError if malformed)."""
        return request_from_json(ETCD_OPERATIONS[self.operation], self.value)

    def encode(self) -> str:
        """Canonical text for the log: identical commands give identical bytes."""
        return json.dumps(
            [self.request_id, self.operation, self.key, self.value, self.expected],
            separators=(",", ":"),
        )

    @staticmethod
    def decode(data: str) -> Command:
        shared = _decode_shareable(data)
        if shared is not None:
            return shared
        request_id, operation, key, value, expected = json.loads(data)
        return Command(request_id, operation, key, value, expected)


@functools.lru_cache(maxsize=1024)
def _decode_shareable(data: str) -> Command | None:
    """Every replica decodes every entry. A command of scalars is an immutable value, so
    the replicas may share one decoding; one holding a list or an object is not (a store
    could keep and change it), and each replica gets its own (None here)."""
    request_id, operation, key, value, expected = json.loads(data)
    if isinstance(value, (list, dict)) or isinstance(expected, (list, dict)):
        return None
    return Command(request_id, operation, key, value, expected)


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of applying a command. `succeeded` is False for a cas whose compare did
    not hold and for an etcd request etcd refuses (`error`: etcd's message); `value` is what
    a get read (None: the key is absent), or an etcd request's response (`raftcore.etcd`)."""

    succeeded: bool
    value: Any
    revision: int
    error: str | None = None


SNAPSHOT_FORMAT = "raftcore-kv"
SNAPSHOT_VERSION = 1
"""What a snapshot's data says it is; a store reads this version only."""


def _encode_result(request_id: str, result: Result) -> list[Any]:
    return [request_id, result.succeeded, codec.encode_value(result.value), result.revision, result.error]


def _decode_result(data: Any, where: str) -> tuple[str, Result]:
    if type(data) is list and len(data) == 5:
        request_id, succeeded, value, revision, error = data
        if (
            type(request_id) is str
            and request_id
            and type(succeeded) is bool
            and type(revision) is int
            and revision >= 0
            and (error is None or type(error) is str)
        ):
            # The common case: only the value is read the long way.
            return request_id, Result(succeeded, codec.decode_value(value, f"{where}.value"), revision, error)
    request_id, succeeded, value, revision, error = codec.array(data, where, 5)
    request_id = codec.string(request_id, f"{where}.request_id")
    if not request_id:
        raise codec.fail(f"{where}.request_id", "every command carries a request id")
    if error is not None:
        error = codec.string(error, f"{where}.error")
    return request_id, Result(
        codec.boolean(succeeded, f"{where}.succeeded"),
        codec.decode_value(value, f"{where}.value"),
        codec.integer(revision, f"{where}.revision", 0),
        error,
    )


ExecutionObserver = Callable[[int, Command, int], None]
"""Told of each command the store executes: the index being applied, the command and the
revision after it."""


class KVStore:
    """The in-memory store. Rebuilt from the log on restart, hence no persistence here."""

    def __init__(
        self,
        applied_index: int = 0,
        overwrite_keeps_revision: bool = False,
        on_execute: ExecutionObserver | None = None,
        limits: Limits | None = None,
        bugs: frozenset[str] = frozenset(),
        minimum_lease_ttl: int = 1,
    ) -> None:
        """`applied_index` is where applying resumes: 0 for a store built from the whole log
        (always, for a correct node; the planted bug `restart-skips-apply` passes more).
        `overwrite_keeps_revision` is the planted bug of that name. `on_execute` hears of
        every command executed (see the module docstring). `limits` are etcd's size limits
        (its defaults if None); `bugs` may name the planted bugs of the multi-version store;
        `minimum_lease_ttl` is the least TTL a lease is granted, in seconds."""
        assert applied_index >= 0
        self._overwrite_keeps_revision = overwrite_keeps_revision
        self._on_execute = on_execute
        self.applied_index = applied_index
        store_bugs = bugs & set(STORE_BUGS)
        self.mvcc = MVCCStore(limits, frozenset(store_bugs), minimum_lease_ttl)
        self._results: dict[str, Result] = {}

    @property
    def revision(self) -> int:
        return self.mvcc.revision

    def get(self, key: str) -> KeyValue | None:
        return self.mvcc.latest(key)

    def result_of(self, request_id: str) -> Result | None:
        return self._results.get(request_id)

    def apply(self, index: int, command: Command | None) -> Result | None:
        """Apply the entry at `index`; None marks an entry with no command (a new leader's
        empty entry). Returns the command's result, the remembered one for a repeat."""
        assert index == self.applied_index + 1, f"apply out of order: {index} after {self.applied_index}"
        self.applied_index = index
        if command is None:
            return None
        earlier = self._results.get(command.request_id)
        if earlier is not None:
            return earlier
        result = self._execute(command)
        self._results[command.request_id] = result
        return result

    def snapshot_data(self) -> str:
        """The whole replicated state as canonical JSON: what a Raft snapshot carries
        (`raftcore.types.Snapshot.data`). It holds the multi-version store with every
        change kept since the last compaction, the revision and the compaction, the lease
        table (ids, granted TTLs, attached keys, the last id picked), the result of every
        request id applied and `applied_index`. Everything is sorted and written with
        fixed separators, so equal states give equal text, whatever order they were built
        in and whatever the hash seed. Left out, as configuration rather than state: the
        limits, the planted bugs, the least lease TTL and the observer; left out as no
        part of the replicated state: the leader's lease deadlines (`raftcore.lease`)."""
        with codec.collector_paused():
            state = {
                "format": SNAPSHOT_FORMAT,
                "version": SNAPSHOT_VERSION,
                "applied_index": self.applied_index,
                "mvcc": self.mvcc.snapshot_state(),
                "results": [_encode_result(request_id, result) for request_id, result in sorted(self._results.items())],
            }
            return json.dumps(state, sort_keys=True, separators=(",", ":"))

    def load_snapshot(self, data: str) -> None:
        """Replace the whole state with what `snapshot_data` wrote, in place: this store and
        its `mvcc` stay the objects a watch hub and a lease service hold. Malformed data is
        refused with a one-line ValueError naming the field, and then nothing has changed.
        Whoever keeps state derived from the store follows with its own hook
        (`WatchHub.restored`, `LeaseService.restored`)."""
        with codec.collector_paused():
            self._load_snapshot(data)

    def _load_snapshot(self, data: str) -> None:
        try:
            state = json.loads(data)
        except (TypeError, ValueError) as error:
            raise codec.fail("(whole)", f"not JSON: {error}") from None
        if type(state) is not dict:
            raise codec.fail("(whole)", f"expected an object, got {codec.shown(state)}")
        fields = ("applied_index", "format", "mvcc", "results", "version")
        for name in fields:
            if name not in state:
                raise codec.fail(name, "missing")
        for name in sorted(state):
            if name not in fields:
                raise codec.fail(name, "unknown field")
        if state["format"] != SNAPSHOT_FORMAT:
            raise codec.fail("format", f"expected {SNAPSHOT_FORMAT!r}, got {codec.shown(state['format'])}")
        if state["version"] != SNAPSHOT_VERSION:
            raise codec.fail("version", f"expected {SNAPSHOT_VERSION}, got {codec.shown(state['version'])}")
        applied_index = codec.integer(state["applied_index"], "applied_index", 0)
        results: dict[str, Result] = {}
        previous = None
        for index, item in enumerate(codec.array(state["results"], "results")):
            request_id, result = _decode_result(item, f"results[{index}]")
            if previous is not None and request_id <= previous:
                raise codec.fail(
                    f"results[{index}].request_id", f"{request_id!r} is out of order: ids are sorted, each once"
                )
            results[request_id] = result
            previous = request_id
        self.mvcc.load_state(state["mvcc"])  # checks all before it changes anything
        self._results = results
        self.applied_index = applied_index

    def forget_results(self) -> None:
        """Drop the table of request results: a store restored from a backup serves new
        clients, whose request ids would otherwise be taken for retries of the backed-up
        cluster's requests (`raftcore.restore`)."""
        self._results = {}

    def evaluate(self, command: Command) -> Result:
        """What `command` would return against the current state, changing nothing. Only the
        planted bug `retry-answered-afresh` asks this: a correct server answers a repeat with
        the result the command had where it sits in the log."""
        if command.operation in ETCD_OPERATIONS:
            return self._etcd(command, self.mvcc.evaluate)
        current = self.mvcc.latest(command.key)
        held = None if current is None else current.value
        if command.operation == "get":
            return Result(True, held, self.revision)
        if command.operation == "cas" and held != command.expected:
            return Result(False, held, self.revision)
        if command.operation == "delete":
            return Result(True, held, self.revision)
        return Result(True, command.value, self.revision)

    def read_local(self, key: str) -> Result:
        """A read of this replica's current state, outside the log."""
        current = self.mvcc.latest(key)
        return Result(True, None if current is None else current.value, self.revision)

    def _execute(self, command: Command) -> Result:
        """Run a command against the state. Every path that executes one comes here, so
        the observer hears of each execution, inside the log or (a bug) outside it."""
        result = self._perform(command)
        if self._on_execute is not None:
            self._on_execute(self.applied_index, command, self.revision)
        return result

    def _perform(self, command: Command) -> Result:
        if command.operation in ETCD_OPERATIONS:
            return self._etcd(command, self.mvcc.execute)
        current = self.mvcc.latest(command.key)
        if command.operation == "get":
            return Result(True, None if current is None else current.value, self.revision)
        if command.operation == "cas":
            held = None if current is None else current.value
            if held != command.expected:
                return Result(False, held, self.revision)
            return self._put(command.key, command.value, current)
        if command.operation == "put":
            return self._put(command.key, command.value, current)
        if command.operation == "append":
            return self._append(command.key, command.value, current)
        assert command.operation == "delete"
        deleted = self.mvcc.delete_key(command.key)
        return Result(True, None if deleted is None else deleted.value, self.revision)

    def _etcd(self, command: Command, run: Callable[[EtcdRequest], EtcdResponse]) -> Result:
        """An etcd request: its response, or etcd's refusal as a definite failure."""
        try:
            response = run(command.etcd_request())
        except EtcdError as error:
            return Result(False, None, self.revision, error.message)
        return Result(True, response, response.revision)

    def _put(self, key: str, value: Any, current: KeyValue | None) -> Result:
        keep_revision = current is not None and self._overwrite_keeps_revision
        self.mvcc.put_value(key, value, keep_revision)
        return Result(True, value, self.revision)

    def _append(self, key: str, value: Any, current: KeyValue | None) -> Result:
        """The list the key holds, with `value` at its end; a tuple, so that no reader of a
        result can change the stored list."""
        if current is None:
            held: tuple[Any, ...] = ()
        elif isinstance(current.value, tuple):
            held = current.value
        else:
            held = (current.value,)
        self._put(key, (*held, value), current)
        return Result(True, value, self.revision)
