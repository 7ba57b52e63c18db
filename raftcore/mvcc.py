"""A multi-version key-value store with etcd 3.4's v3 semantics.

Why multi-version: etcd answers a read at any revision not yet compacted, and a txn's
compares name revisions, so a checker of etcd's guarantees needs the store under test to
keep what etcd keeps: every change of every key, in one global revision order, until a
compaction drops what is older than its revision. A key deleted and written again starts a
new generation (version 1, a new create revision), as in etcd.

All the writes of one request (a put, a delete, a whole txn) share one revision; a request
that changes nothing (a delete of nothing, a txn that only reads) leaves it alone. Within a
revision, a key's changes keep the order they were made in, which is all that etcd's
sub-revisions decide for a reader.

The store is part of the replicated state: it is driven by `raftcore.kv.KVStore` from the
log, so everything here is deterministic and pure (no I/O, no clock, no randomness).
"""

from __future__ import annotations

import bisect
import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from raftcore import state_codec as codec
from raftcore.bugs import (
    COMPACT_DROPS_LATEST,
    DELETE_KEEPS_VERSION,
    LEASE_REVOKE_SPLIT,
    RANGE_MORE_OFF_BY_ONE,
    RANGE_PAST_READS_CURRENT,
)
from raftcore.etcd import (
    ALL_KEYS_FROM,
    COMPACTED,
    FUTURE_REVISION,
    KEY_NOT_FOUND,
    CompactionRequest,
    CompactionResponse,
    Compare,
    DeleteRangeRequest,
    DeleteRangeResponse,
    EtcdError,
    EtcdRequest,
    EtcdResponse,
    KeyValue,
    Limits,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestOp,
    ResponseOp,
    TxnRequest,
    TxnResponse,
    refusal,
)
from raftcore.lease import (
    LEASE_EXISTS,
    LEASE_NOT_FOUND,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseTable,
)

STORE_BUGS = (
    RANGE_PAST_READS_CURRENT,
    DELETE_KEEPS_VERSION,
    COMPACT_DROPS_LATEST,
    RANGE_MORE_OFF_BY_ONE,
    LEASE_REVOKE_SPLIT,
)
"""The planted bugs this store switches on itself."""


@dataclass(frozen=True, slots=True)
class Change:
    """One change of one key at revision `main`: `kv` written, or (`deleted`) the deletion
    of `kv`, the value it then held."""

    main: int
    kv: KeyValue
    deleted: bool = False
    sub: int = 0
    """Its place among the changes of its revision, from 0: the order a watch reports them in."""


def _main(change: Change) -> int:
    return change.main


def _revision_order(item: tuple[Change, KeyValue | None]) -> tuple[int, int]:
    return item[0].main, item[0].sub


@dataclass(frozen=True, slots=True)
class _Path:
    """Which branch a txn takes, and the paths of the txns nested in that branch, in order.
    etcd decides all of them against the state before the txn writes anything."""

    succeeded: bool
    nested: tuple[_Path, ...] = ()


class _Batch:
    """The changes of one request, all at revision `main`."""

    def __init__(self, begin: int, main: int | None = None) -> None:
        self.begin = begin
        self.main = begin + 1 if main is None else main
        self.changes = 0

    @property
    def revision(self) -> int:
        """The store's revision as a read inside the request sees it (etcd: its header)."""
        return self.main if self.changes else self.begin


def _ordered_value(value: Any) -> str:
    """What a value compare and a sort by value order by: the string etcd holds. A value
    the older operations stored (a number, a list) is ordered by its JSON text."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


_SORT_KEYS: dict[str, Callable[[KeyValue], Any]] = {
    "KEY": lambda kv: kv.key,
    "VERSION": lambda kv: kv.version,
    "CREATE": lambda kv: kv.create_revision,
    "MOD": lambda kv: kv.mod_revision,
    "VALUE": lambda kv: _ordered_value(kv.value),
}


class MVCCStore:
    """Every revision of every key since the last compaction, and etcd's requests on them."""

    def __init__(
        self, limits: Limits | None = None, bugs: frozenset[str] = frozenset(), minimum_lease_ttl: int = 1
    ) -> None:
        """`limits` are etcd's `--max-txn-ops` and `--max-request-bytes` (its defaults if
        None); `bugs` the planted bugs to switch on (`raftcore.bugs`); `minimum_lease_ttl`
        the least TTL a grant gets, in seconds (`raftcore.lease`)."""
        self.limits = Limits() if limits is None else limits
        self.leases = LeaseTable(minimum_lease_ttl)
        """The leases and their keys (`raftcore.lease`): replicated like the keys."""
        self._lease_revoke_split = LEASE_REVOKE_SPLIT in bugs
        self.revision = 1
        """Bumped once by every request that changes something; 1 before the first, as in a
        fresh etcd (whose first write gets revision 2), so one checker judges both alike."""
        self.compacted = -1
        """Reads below it fail; a compaction must go above it. -1: nothing compacted (etcd's
        compactMainRev starts there), so a fresh store accepts a compaction at 0 or 1 as etcd
        does, and refuses a second one at 0 as compacted."""
        self._history: dict[str, list[Change]] = {}
        self._keys: list[str] = []
        """The keys of `_history`, sorted (code points order as UTF-8 bytes do, as etcd's)."""
        self._journal: list[str] | None = None
        """While `evaluate` runs: the key of every change made, to take them back."""
        self._range_past_reads_current = RANGE_PAST_READS_CURRENT in bugs
        self._delete_keeps_version = DELETE_KEEPS_VERSION in bugs
        self._compact_drops_latest = COMPACT_DROPS_LATEST in bugs
        self._range_more_off_by_one = RANGE_MORE_OFF_BY_ONE in bugs

    # --- Reading -----------------------------------------------------------------------

    def latest(self, key: str) -> KeyValue | None:
        """The key as it stands now; None if absent."""
        return self._at(key, None)

    def latest_all(self) -> list[KeyValue]:
        """Every key present now, in key order."""
        return self._live("", ALL_KEYS_FROM, None)

    def _at(self, key: str, revision: int | None) -> KeyValue | None:
        """The key as it stood at `revision` (None: now, the writes of a txn under way included)."""
        history = self._history.get(key)
        if not history:
            return None
        if revision is None:
            change = history[-1]
        else:
            index = bisect.bisect_right(history, revision, key=_main)
            if index == 0:
                return None
            change = history[index - 1]
        return None if change.deleted else change.kv

    def _keys_in(self, key: str, range_end: str) -> list[str]:
        """The keys with a history in `[key, range_end)`: `key` alone if `range_end` is
        empty, every key from `key` on if it is "\\0"."""
        if not range_end:
            return [key] if key in self._history else []
        start = bisect.bisect_left(self._keys, key)
        if range_end == ALL_KEYS_FROM:
            return self._keys[start:]
        stop = bisect.bisect_left(self._keys, range_end)
        return self._keys[start:stop]

    def _live(self, key: str, range_end: str, revision: int | None) -> list[KeyValue]:
        found = (self._at(name, revision) for name in self._keys_in(key, range_end))
        return [kv for kv in found if kv is not None]

    def _check_read_revision(self, revision: int) -> None:
        """etcd's order: a future revision first, then a compacted one; 0 or less reads now."""
        if revision > self.revision:
            raise EtcdError(FUTURE_REVISION)
        if 0 < revision < self.compacted:
            raise EtcdError(COMPACTED)

    def _range(self, request: RangeRequest, header: int) -> RangeResponse:
        """A range whose revision was checked. `header` is the store's revision as the
        request sees it: etcd answers that, not the revision read at."""
        at = None if request.revision <= 0 or self._range_past_reads_current else request.revision
        kvs = self._live(request.key, request.range_end, at)
        count = len(kvs)
        if request.count_only:
            return RangeResponse(header, (), False, count)
        order = request.sort_order
        if order == "NONE" and request.limit > 0:
            # etcd 3.4 reads one key beyond the limit, in key order, unless asked to sort...
            kvs = kvs[: request.limit + 1]
        if request.sort_target != "KEY" and order == "NONE":
            # ...and sorts ascending by default when the target is not the key: so with a
            # limit it sorts only the first keys (as etcd 3.4 does, though its docs do not say).
            order = "ASCEND"
        if order != "NONE":
            # Stable, ties kept in key order: what etcd's insertion sort gives up to 12 keys.
            kvs.sort(key=_SORT_KEYS[request.sort_target], reverse=order == "DESCEND")
        more = 0 < request.limit < len(kvs)
        if more:
            kvs = kvs[: request.limit]
        if self._range_more_off_by_one:
            # The planted bug: one key beyond the page is taken for none.
            more = 0 < request.limit + 1 < count
        if request.keys_only:
            kvs = [dataclasses.replace(kv, value=None) for kv in kvs]
        return RangeResponse(header, tuple(kvs), more, count)

    def changes_since(self, key: str, range_end: str, since: int) -> list[tuple[Change, KeyValue | None]]:
        """Every change of a key in `[key, range_end)` at revision `since` or later, in the
        order they were made (revision, then place within it), each with the key as it stood
        just before (None: absent, or its earlier state compacted away): what a watch
        catching up from `since` reports."""
        found: list[tuple[Change, KeyValue | None]] = []
        for name in self._keys_in(key, range_end):
            history = self._history[name]
            start = bisect.bisect_left(history, since, key=_main)
            for index in range(start, len(history)):
                before = history[index - 1] if index > 0 else None
                previous = None if before is None or before.deleted else before.kv
                found.append((history[index], previous))
        found.sort(key=_revision_order)
        return found

    # --- Writing -----------------------------------------------------------------------

    def _write(self, batch: _Batch, key: str, value: Any, lease: int = 0) -> None:
        history = self._history.get(key)
        previous = history[-1] if history else None
        live = previous is not None and not previous.deleted
        if previous is not None and live:
            # A put moves the key to its new lease, or detaches it when it names none.
            self.leases.detach(previous.kv.lease, key)
        self.leases.attach(lease, key)
        # A key deleted (or never written) starts a new generation.
        create_revision = previous.kv.create_revision if previous is not None and live else batch.main
        version = 1
        if previous is not None and (live or self._delete_keeps_version):
            version = previous.kv.version + 1
        kv = KeyValue(key, value, create_revision, batch.main, version, lease)
        self._append(batch, Change(batch.main, kv, sub=batch.changes))

    def _append(self, batch: _Batch, change: Change) -> None:
        key = change.kv.key
        history = self._history.get(key)
        if history is None:
            history = self._history[key] = []
            bisect.insort(self._keys, key)
        history.append(change)
        batch.changes += 1
        if self._journal is not None:
            self._journal.append(key)

    def _commit(self, batch: _Batch) -> None:
        if batch.changes:
            self.revision = batch.main

    def _put(self, request: PutRequest, batch: _Batch) -> PutResponse:
        current = self._at(request.key, None)
        if request.ignore_value and current is None:
            raise EtcdError(KEY_NOT_FOUND)
        if request.lease and request.lease not in self.leases:
            raise EtcdError(LEASE_NOT_FOUND)
        value = current.value if request.ignore_value and current is not None else request.value
        self._write(batch, request.key, value, request.lease)
        return PutResponse(batch.main, current if request.prev_kv else None)

    def _delete(self, request: DeleteRangeRequest, batch: _Batch) -> DeleteRangeResponse:
        kvs = self._live(request.key, request.range_end, None)
        for kv in kvs:
            self.leases.detach(kv.lease, kv.key)
            self._append(batch, Change(batch.main, kv, deleted=True, sub=batch.changes))
        return DeleteRangeResponse(batch.revision, len(kvs), tuple(kvs) if request.prev_kv else ())

    def put_value(self, key: str, value: Any, keep_revision: bool = False) -> None:
        """A plain write of any value, for `raftcore.kv`'s older operations. `keep_revision`
        writes at the current revision (the planted bug `overwrite-keeps-revision`)."""
        batch = _Batch(self.revision, self.revision if keep_revision else None)
        self._write(batch, key, value)
        self._commit(batch)

    def delete_key(self, key: str) -> KeyValue | None:
        """A plain delete of one key, for `raftcore.kv`; returns what it held."""
        batch = _Batch(self.revision)
        deleted = self._delete(DeleteRangeRequest(key, prev_kv=True), batch)
        self._commit(batch)
        return deleted.prev_kvs[0] if deleted.prev_kvs else None

    # --- Snapshots ---------------------------------------------------------------------

    def snapshot_state(self) -> dict[str, Any]:
        """The whole replicated state as JSON for a snapshot (`raftcore.kv`): the revision,
        the compaction, every change kept since the last compaction (a watch or a read at
        any revision not compacted works on a restored store as on this one) and the
        lease table. Keys in order, changes in the order they were made. Limits and
        planted bugs are configuration, not state, and stay out."""
        assert self._journal is None, "no snapshot in the middle of an evaluation"
        return {
            "revision": self.revision,
            "compacted": self.compacted,
            "history": [[key, [_encode_change(change) for change in self._history[key]]] for key in self._keys],
            "leases": self.leases.snapshot_state(),
        }

    def load_state(self, data: Any, where: str = "mvcc") -> None:
        """Replace the state with what `snapshot_state` wrote, keeping this object (a watch
        hub and a lease service hold it). Everything is read and checked before anything
        changes: a ValueError naming the field leaves the store as it was."""
        if type(data) is not dict or set(data) != {"revision", "compacted", "history", "leases"}:
            raise codec.fail(
                where, f"expected an object of revision, compacted, history and leases, got {codec.shown(data)}"
            )
        revision = codec.integer(data["revision"], f"{where}.revision", 1)
        compacted = codec.integer(data["compacted"], f"{where}.compacted", -1)
        if compacted > revision:
            raise codec.fail(f"{where}.compacted", f"{compacted} is beyond the revision {revision}")
        history: dict[str, list[Change]] = {}
        keys: list[str] = []
        for index, item in enumerate(codec.array(data["history"], f"{where}.history")):
            at = f"{where}.history[{index}]"
            key, changes = codec.array(item, at, 2)
            key = codec.string(key, f"{at}.key")
            if keys and key <= keys[-1]:
                raise codec.fail(
                    f"{at}.key", f"{key!r} is out of order (after {keys[-1]!r}): keys are sorted, each once"
                )
            decoded = [
                _decode_change(change, key, revision, f"{where}.history[{key!r}][{place}]")
                for place, change in enumerate(codec.array(changes, f"{at}.changes"))
            ]
            if not decoded:
                raise codec.fail(f"{at}.changes", "a key kept has at least one change")
            for place in range(1, len(decoded)):
                if decoded[place].main < decoded[place - 1].main:
                    raise codec.fail(f"{where}.history[{key!r}][{place}].main", "a key's changes go in revision order")
            history[key] = decoded
            keys.append(key)
        last_picked, leases = LeaseTable.decode_state(data["leases"], f"{where}.leases")
        self.revision, self.compacted = revision, compacted
        self._history, self._keys = history, keys
        self.leases.load_state(last_picked, leases)

    # --- Requests ----------------------------------------------------------------------

    def execute(self, request: EtcdRequest) -> EtcdResponse:
        """Apply one request; raises EtcdError, having changed nothing, where etcd refuses it."""
        refused = refusal(request, self.limits)
        if refused is not None:
            raise EtcdError(refused)
        if isinstance(request, RangeRequest):
            self._check_read_revision(request.revision)
            return self._range(request, self.revision)
        if isinstance(request, CompactionRequest):
            return self._compact(request)
        if isinstance(request, TxnRequest):
            return self._txn(request)
        if isinstance(request, LeaseGrantRequest):
            return self._grant(request)
        if isinstance(request, LeaseRevokeRequest):
            return self._revoke(request.lease_id)
        assert isinstance(request, PutRequest | DeleteRangeRequest), f"not a logged request: {request!r}"
        batch = _Batch(self.revision)
        response = self._put(request, batch) if isinstance(request, PutRequest) else self._delete(request, batch)
        self._commit(batch)
        return response

    def evaluate(self, request: EtcdRequest) -> EtcdResponse:
        """What `execute` would answer now, changing nothing (raises as it would). A
        compaction is only checked: its answer does not depend on what it drops."""
        if isinstance(request, CompactionRequest):
            self._check_compaction(request.revision)
            return CompactionResponse(self.revision)
        revision, self._journal = self.revision, []
        leases = self.leases.copy()
        try:
            return self.execute(request)
        finally:
            self.leases = leases
            journal, self._journal = self._journal, None
            for key in reversed(journal):
                self._history[key].pop()
                if not self._history[key]:
                    del self._history[key]
                    self._keys.remove(key)
            self.revision = revision

    def compares_hold(self, txn: TxnRequest) -> bool:
        """Whether every compare of `txn` holds now (its success branch would run)."""
        return all(self._holds(compare) for compare in txn.compare)

    # --- Txn ---------------------------------------------------------------------------

    def _txn(self, txn: TxnRequest) -> TxnResponse:
        path = self._path(txn)
        # etcd checks the branches taken against the state before the txn, all puts first.
        operations = list(_taken(txn, path))
        for operation in operations:
            if isinstance(operation, PutRequest) and operation.ignore_value and self.latest(operation.key) is None:
                raise EtcdError(KEY_NOT_FOUND)
        for operation in operations:
            if isinstance(operation, PutRequest) and operation.lease and operation.lease not in self.leases:
                raise EtcdError(LEASE_NOT_FOUND)
        for operation in operations:
            if isinstance(operation, RangeRequest):
                self._check_read_revision(operation.revision)
        batch = _Batch(self.revision)
        response = self._apply_txn(txn, path, batch)
        self._commit(batch)
        return dataclasses.replace(response, revision=batch.revision)

    def _path(self, txn: TxnRequest) -> _Path:
        succeeded = self.compares_hold(txn)
        branch = txn.success if succeeded else txn.failure
        return _Path(succeeded, tuple(self._path(nested) for nested in branch if isinstance(nested, TxnRequest)))

    def _holds(self, compare: Compare) -> bool:
        """etcd's rule: every key in the compare's range must satisfy it; an empty range is
        one key with version, create and mod revisions 0, except that a value compare on
        it fails whatever its result asks (etcd cannot tell an absent value from "")."""
        kvs = self._live(compare.key, compare.range_end, None)
        if not kvs:
            if compare.target == "VALUE":
                return False
            kvs = [KeyValue(compare.key, "", 0, 0, 0)]
        return all(_compare_holds(compare, kv) for kv in kvs)

    def _apply_txn(self, txn: TxnRequest, path: _Path, batch: _Batch) -> TxnResponse:
        """The branch `path` takes; a nested txn answers with revision 0, as etcd leaves
        its header empty."""
        nested = iter(path.nested)
        responses: list[ResponseOp] = []
        for operation in txn.success if path.succeeded else txn.failure:
            if isinstance(operation, RangeRequest):
                responses.append(self._range(operation, batch.revision))
            elif isinstance(operation, PutRequest):
                responses.append(self._put(operation, batch))
            elif isinstance(operation, DeleteRangeRequest):
                responses.append(self._delete(operation, batch))
            else:
                responses.append(self._apply_txn(operation, next(nested), batch))
        return TxnResponse(0, path.succeeded, tuple(responses))

    # --- Leases ------------------------------------------------------------------------

    def _grant(self, request: LeaseGrantRequest) -> LeaseGrantResponse:
        """A grant changes no key, so the revision stays (etcd's header reads the store's)."""
        try:
            lease_id, ttl = self.leases.grant(request)
        except KeyError:
            raise EtcdError(LEASE_EXISTS) from None
        return LeaseGrantResponse(self.revision, lease_id, ttl)

    def _revoke(self, lease_id: int) -> LeaseRevokeResponse:
        """Delete every key attached to the lease in one revision (none if it holds none),
        then forget the lease: a revoke by a client and one for expiry alike."""
        if lease_id not in self.leases:
            raise EtcdError(LEASE_NOT_FOUND)
        batch = _Batch(self.revision)
        for key in self.leases.keys_of(lease_id):
            kv = self.latest(key)
            assert kv is not None and kv.lease == lease_id, f"lease {lease_id} holds {key!r}, which is {kv}"
            self._append(batch, Change(batch.main, kv, deleted=True))
            if self._lease_revoke_split:
                # The planted bug: each key goes in a revision of its own.
                self._commit(batch)
                batch = _Batch(self.revision)
        self._commit(batch)
        self.leases.remove(lease_id)
        return LeaseRevokeResponse(self.revision)

    # --- Compaction --------------------------------------------------------------------

    def _check_compaction(self, revision: int) -> None:
        """etcd's order: a compacted revision first, then a future one."""
        if revision <= self.compacted:
            raise EtcdError(COMPACTED)
        if revision > self.revision:
            raise EtcdError(FUTURE_REVISION)

    def _compact(self, request: CompactionRequest) -> CompactionResponse:
        """Drop every change older than the key's state at `request.revision`, and that
        state too if it is a deletion. Physical or not, the same here: etcd's `physical`
        only makes the answer wait for the disk."""
        self._check_compaction(request.revision)
        self.compacted = request.revision
        for key in self._keys:
            history = self._history[key]
            index = bisect.bisect_right(history, request.revision, key=_main)
            if index == 0:
                continue
            dropped = history[index - 1].deleted or (self._compact_drops_latest and index == len(history))
            kept_from = index if dropped else index - 1
            del history[:kept_from]
            if not history:
                del self._history[key]
        self._keys = [key for key in self._keys if key in self._history]
        return CompactionResponse(self.revision)


_CHANGE_FIELDS = ("main", "sub", "deleted", "value", "create_revision", "mod_revision", "version", "lease")
"""A change in a snapshot: one list of these, its key being the history's."""


def _encode_change(change: Change) -> list[Any]:
    kv = change.kv
    value = codec.encode_value(kv.value)
    return [change.main, change.sub, change.deleted, value, kv.create_revision, kv.mod_revision, kv.version, kv.lease]


def _decode_change(data: Any, key: str, revision: int, where: str) -> Change:
    if type(data) is list and len(data) == len(_CHANGE_FIELDS):
        main, sub, deleted, value, create, mod, version, lease = data
        if (
            type(main) is int
            and type(sub) is int
            and type(deleted) is bool
            and type(value) is str
            and type(create) is int
            and type(mod) is int
            and type(version) is int
            and type(lease) is int
            and 1 <= main <= revision
            and min(sub, create, mod, version, lease) >= 0
        ):
            # The common case, checked whole at once; anything else takes the long way,
            # which names the field at fault.
            return Change(main, KeyValue(key, value, create, mod, version, lease), deleted, sub)
    main, sub, deleted, value, create, mod, version, lease = codec.array(data, where, len(_CHANGE_FIELDS))
    main = codec.integer(main, f"{where}.main", 1)
    if main > revision:
        raise codec.fail(f"{where}.main", f"{main} is beyond the store's revision {revision}")
    kv = KeyValue(
        key,
        codec.decode_value(value, f"{where}.value"),
        codec.integer(create, f"{where}.create_revision", 0),
        codec.integer(mod, f"{where}.mod_revision", 0),
        codec.integer(version, f"{where}.version", 0),
        codec.integer(lease, f"{where}.lease", 0),
    )
    return Change(main, kv, codec.boolean(deleted, f"{where}.deleted"), codec.integer(sub, f"{where}.sub", 0))


def _taken(txn: TxnRequest, path: _Path) -> Iterator[RequestOp]:
    """The operations other than txns on the branches `path` takes, in order."""
    nested = iter(path.nested)
    for operation in txn.success if path.succeeded else txn.failure:
        if isinstance(operation, TxnRequest):
            yield from _taken(operation, next(nested))
        else:
            yield operation


def _compare_holds(compare: Compare, kv: KeyValue) -> bool:
    left: Any
    right: Any
    if compare.target == "VALUE":
        left, right = _ordered_value(kv.value), compare.value
    elif compare.target == "VERSION":
        left, right = kv.version, compare.version
    elif compare.target == "CREATE":
        left, right = kv.create_revision, compare.create_revision
    else:
        left, right = kv.mod_revision, compare.mod_revision
    if compare.result == "EQUAL":
        return bool(left == right)
    if compare.result == "NOT_EQUAL":
        return bool(left != right)
    if compare.result == "LESS":
        return bool(left < right)
    return bool(left > right)
