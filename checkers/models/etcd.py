"""etcd's v3 data API (range, put, delete, txn, compact), judged as etcd's robustness tests
judge etcd: every request is a step of one store that must produce exactly the recorded
response.

- State (`Store`): the revision (starting at `initial`: 1 by default, as a fresh etcd and
  raftcore's store start), the compacted revision (starting at -1, nothing compacted, as
  etcd's compactMainRev: a compaction at 0, then at 1, is taken on a fresh store), and per
  key its value, create_revision, mod_revision and version. The keys sit in `BUCKETS`
  buckets by a fixed checksum of the key, each a sorted tuple, so a write copies one small
  bucket and the memo shares the rest between states.
- Every successful write request (a put, a delete that deleted something, a txn whose
  branch changed something) makes one new revision; its kvs get it as mod_revision (and
  create_revision when created), versions count puts since creation, and header.revision
  is the revision after it. A read (range, a txn changing nothing, a delete of nothing, a
  compact) reports the revision it found.
- A response must be exactly the one the store would give: kvs with their revisions and
  versions, count (every key of the range, whatever the limit), more, deleted, prev_kv(s),
  succeeded and the branch's responses in order, header.revision. A txn's compares are
  evaluated as etcd does (before any of its writes, nested txns' too; a VALUE compare of a
  missing key is false; other targets compare a missing key as 0); ranges inside it see
  its earlier writes. Sorting by a target other than KEY ties as etcd's unstable sort
  may: any order of equal targets is accepted. Nested headers are not judged.
- Errors (`fail` with one of `OBSERVED_ERRORS`, see `checkers.history`): a range or
  compact failing with "required revision has been compacted" observed a compacted
  revision above the range's revision (at or above the compact's); "required revision is
  a future revision" observed a store revision below it. Both are observations the search
  must place, like reads. Every other fail (duplicate key, too many operations, request
  too large, and these two on other requests) had no effect and is dropped: its cause is
  in the request alone, or, inside a txn, depends on a branch the error hides.
- Reads at a past revision (a range with 0 < revision < the store's): their header must
  be the store's revision and their revision must be neither compacted nor in the future,
  but their kvs are not judged here: the store keeps no past, because keeping it would
  make every state differ from every other and the memo useless. `checkers.revisions`
  judges them against what the writes established at that revision, as etcd's own
  robustness tests judge stale reads apart from the model.
- One partition: header.revision ties every key to every other (a stale read of one key
  shows in the revision), so the history is searched whole, as etcd's tests do. The
  revisions keep that search nearly linear: a returned write fits only where the store is
  one below its revision, a read only where the store is at its revision.
- Capabilities: `inert` (a pending read), `observes_only` (a returned request whose
  response shows no write), `why_refused` (the reasons), and `order_constraints`, which
  gives no order facts but reads what pending writes must fit (below). `state_test` and
  `effect` promise nothing: every write moves the revision, so none leaves one state from
  every state, and every request looks at the revision.
- Pending (info, or never completed): a range or a read-only txn is inert; a write may
  take effect at any point after its invoke, or never, but never with a revision a
  returned write reports (that write could not be placed after it), never above the
  highest revision a returned operation reports (no returned operation could use it), and
  only leaving the kvs that judged responses show with its revision as mod_revision (the
  write of that revision left them). `order_constraints` reads those facts before the
  search; each only refuses placements from which no legal completion exists, so the
  verdict is the one a search without them gives, and a 10,000-operation history with
  hundreds of pending writes is checked in seconds.
"""

from __future__ import annotations

import bisect
import collections
import re
import zlib
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from checkers.budget import Budget
from checkers.errors import one_line
from checkers.etcd_requests import (
    ALL_KEYS_END,
    ETCD_FUNCTIONS,
    CompactRequest,
    CompactResponse,
    Compare,
    DeleteRequest,
    DeleteResponse,
    ErrorResult,
    KeyValue,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseRequest,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    Request,
    Response,
    TxnRequest,
    TxnResponse,
    request_kind,
    shown_kvs,
)
from checkers.history import Argument, Operation
from checkers.models.base import Model, OrderFacts

FUNCTIONS = frozenset(ETCD_FUNCTIONS)
INITIAL_HELP = "the store's first revision, an integer >= 0 (default 1, as a fresh etcd and raftcore's store)"
BUCKETS = 64
NOTHING_COMPACTED = -1
"""The compacted revision of a store never compacted: etcd's compactMainRev starts there."""
_SHOWN_KEYS = 4
_SHOWN_CHARACTERS = 40


@lru_cache(maxsize=1 << 16)
def _bucket(key: str) -> int:
    """A fixed checksum, not `hash()`: the layout must not change from run to run."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % BUCKETS


class Store:
    """An immutable etcd store (see the module docstring), hashed once when built."""

    __slots__ = ("_hash", "_held", "bucket_hashes", "bucket_leases", "buckets", "compacted", "revision", "revoked")

    def __init__(
        self,
        revision: int,
        compacted: int,
        buckets: tuple[tuple[KeyValue, ...], ...],
        bucket_hashes: tuple[int, ...],
        revoked: frozenset[int] = frozenset(),
        bucket_leases: tuple[frozenset[int], ...] | None = None,
    ) -> None:
        self.revision = revision
        self.compacted = compacted
        self.buckets = buckets
        self.bucket_hashes = bucket_hashes
        self.revoked = revoked
        """The leases revoked so far (by a client or by expiry): no put may name them."""
        self._hash = hash((revision, compacted, bucket_hashes, revoked))
        self._held: frozenset[int] | None = None
        if bucket_leases is None:
            bucket_leases = tuple(_leases_in(bucket) for bucket in buckets)
        self.bucket_leases = bucket_leases
        """Per bucket: the leases its keys hold, kept as buckets change, so that finding a
        lease's keys (a revoke, pending ones tried at every step) skips the buckets
        without it rather than scanning every key."""

    @classmethod
    def empty(cls, revision: int) -> Store:
        return cls(revision, NOTHING_COMPACTED, ((),) * BUCKETS, (hash(()),) * BUCKETS)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Store) or self._hash != other._hash:
            return False
        return (self.revision, self.compacted, self.bucket_hashes, self.buckets, self.revoked) == (
            other.revision,
            other.compacted,
            other.bucket_hashes,
            other.buckets,
            other.revoked,
        )

    def get(self, key: str) -> KeyValue | None:
        for kv in self.buckets[_bucket(key)]:
            if kv.key == key:
                return kv
        return None

    def in_range(self, key: str, range_end: str) -> list[KeyValue]:
        """The kvs of [key, range_end) in key order (the one key when range_end is empty)."""
        if not range_end:
            found = self.get(key)
            return [] if found is None else [found]
        every = range_end == ALL_KEYS_END
        return sorted(
            (kv for bucket in self.buckets for kv in bucket if kv.key >= key and (every or kv.key < range_end)),
            key=_key_of,
        )

    def keys(self) -> int:
        return sum(len(bucket) for bucket in self.buckets)

    def leases_held(self) -> frozenset[int]:
        """The leases some key is attached to (computed once per store)."""
        if self._held is None:
            self._held = frozenset().union(*self.bucket_leases)
        return self._held

    def holding(self, lease: int) -> list[KeyValue]:
        """The kvs attached to `lease`."""
        return [
            kv
            for bucket, leases in zip(self.buckets, self.bucket_leases, strict=True)
            if lease in leases
            for kv in bucket
            if kv.lease == lease
        ]

    def with_revoked(self, revoked: frozenset[int]) -> Store:
        return Store(self.revision, self.compacted, self.buckets, self.bucket_hashes, revoked, self.bucket_leases)

    def changed(self, changes: dict[str, KeyValue | None], revision: int, compacted: int) -> Store:
        """The store with `changes` (None: deleted) applied, at `revision`."""
        buckets, hashes, leases = list(self.buckets), list(self.bucket_hashes), list(self.bucket_leases)
        for number in sorted({_bucket(key) for key in changes}):
            kept = {kv.key: kv for kv in buckets[number]}
            for key, kv in changes.items():
                if _bucket(key) != number:
                    continue
                if kv is None:
                    kept.pop(key, None)
                else:
                    kept[key] = kv
            bucket = tuple(sorted(kept.values(), key=_key_of))
            buckets[number], hashes[number], leases[number] = bucket, hash(bucket), _leases_in(bucket)
        return Store(revision, compacted, tuple(buckets), tuple(hashes), self.revoked, tuple(leases))


def _leases_in(bucket: tuple[KeyValue, ...]) -> frozenset[int]:
    return frozenset(kv.lease for kv in bucket if kv.lease)


def _key_of(kv: KeyValue) -> str:
    return kv.key


@dataclass(frozen=True, slots=True)
class Granted:
    """A lease grant: it changes no key, so only its header (the store's revision) and,
    where the request named one, its lease id are judged; the TTL is the server's."""

    revision: int
    lease_id: int


@dataclass(frozen=True, slots=True)
class Unjudged:
    """A range at a past revision: its kvs are `checkers.revisions`' to judge; the header
    (None inside a txn) must still be the store's revision."""

    revision: int | None


Expected = Response | ErrorResult | Unjudged | Granted


class _Txn:
    """The working view of one request: the store, the changes made so far, and the
    revision those changes get."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.changes: dict[str, KeyValue | None] = {}
        self.revision = store.revision + 1

    def get(self, key: str) -> KeyValue | None:
        if key in self.changes:
            return self.changes[key]
        return self.store.get(key)

    def in_range(self, key: str, range_end: str) -> list[KeyValue]:
        found = self.store.in_range(key, range_end)
        if not self.changes:
            return found
        if not range_end:
            kv = self.get(key)
            return [] if kv is None else [kv]
        merged = {kv.key: kv for kv in found}
        every = range_end == ALL_KEYS_END
        for changed_key, kv in self.changes.items():
            if changed_key >= key and (every or changed_key < range_end):
                if kv is None:
                    merged.pop(changed_key, None)
                else:
                    merged[changed_key] = kv
        return [merged[name] for name in sorted(merged)]

    def result(self) -> Store:
        if not self.changes:
            return self.store
        return self.store.changed(self.changes, self.revision, self.store.compacted)


def _sort_key(target: str) -> Any:
    return {
        "VERSION": lambda kv: kv.version,
        "CREATE": lambda kv: kv.create_revision,
        "MOD": lambda kv: kv.mod_revision,
        "VALUE": lambda kv: kv.value,
    }[target]


def execute(store: Store, request: Request) -> tuple[Store, Expected]:
    """The store after `request` and the response it gives (an `ErrorResult` for the
    errors the model knows: compacted, future revision, key not found)."""
    if isinstance(request, CompactRequest):
        if request.revision <= store.compacted:
            return store, ErrorResult("compacted")
        if request.revision > store.revision:
            return store, ErrorResult("future")
        return Store(
            store.revision, request.revision, store.buckets, store.bucket_hashes, store.revoked, store.bucket_leases
        ), CompactResponse(store.revision)
    if isinstance(request, RangeRequest) and request.revision:
        error = _revision_error(store, request.revision)
        if error is not None:
            return store, error
    if isinstance(request, LeaseGrantRequest | LeaseKeepAliveRequest | LeaseTimeToLiveRequest):
        return store, Granted(store.revision, request.lease_id if isinstance(request, LeaseGrantRequest) else 0)
    txn = _Txn(store)
    if isinstance(request, LeaseRevokeRequest):
        if request.lease_id in store.revoked:
            return store, ErrorResult("lease-not-found")
        for kv in store.holding(request.lease_id):
            txn.changes[kv.key] = None
        answer = LeaseRevokeResponse(txn.revision if txn.changes else store.revision)
        return txn.result().with_revoked(store.revoked | {request.lease_id}), answer
    if isinstance(request, TxnRequest):
        error = _txn_revision_error(store, request)
        if error is not None:
            return store, error
    response = _apply(txn, request, nested=False)
    if isinstance(response, ErrorResult):
        return store, response
    return txn.result(), response


def _revision_error(store: Store, revision: int) -> ErrorResult | None:
    if revision < store.compacted:
        return ErrorResult("compacted")
    if revision > store.revision:
        return ErrorResult("future")
    return None


def _txn_revision_error(store: Store, request: TxnRequest) -> ErrorResult | None:
    """A range of the branch taken at a compacted or future revision fails the whole txn."""
    branch = request.success if _compares_hold(store, request.compare) else request.failure
    for item in branch:
        if isinstance(item, RangeRequest) and item.revision:
            error = _revision_error(store, item.revision)
            if error is not None:
                return error
        if isinstance(item, TxnRequest):
            error = _txn_revision_error(store, item)
            if error is not None:
                return error
    return None


def _apply(txn: _Txn, request: Request, nested: bool) -> Expected:
    header = None if nested else txn.store.revision
    if isinstance(request, RangeRequest):
        return _range(txn, request, header)
    if isinstance(request, PutRequest):
        previous = txn.get(request.key)
        if request.ignore_value and previous is None:
            return ErrorResult("key-not-found")
        if request.lease in txn.store.revoked:
            return ErrorResult("lease-not-found")
        value = previous.value if request.ignore_value and previous is not None else request.value
        lease = request.lease
        if previous is None:
            txn.changes[request.key] = KeyValue(request.key, value, txn.revision, txn.revision, 1, lease)
        else:
            created = previous.create_revision
            txn.changes[request.key] = KeyValue(request.key, value, created, txn.revision, previous.version + 1, lease)
        shown = previous if request.prev_kv else None
        return PutResponse(None if nested else txn.revision, shown)
    if isinstance(request, DeleteRequest):
        found = txn.in_range(request.key, request.range_end)
        for kv in found:
            txn.changes[kv.key] = None
        revision = None if nested else (txn.revision if found else txn.store.revision)
        return DeleteResponse(revision, len(found), tuple(found) if request.prev_kv else ())
    assert isinstance(request, TxnRequest), request
    succeeded = _compares_hold(txn.store, request.compare)
    responses: list[Response] = []
    for item in request.success if succeeded else request.failure:
        response = _apply(txn, item, nested=True)
        if isinstance(response, ErrorResult):
            return response
        responses.append(response)  # type: ignore[arg-type]
    revision = None if nested else (txn.revision if txn.changes else txn.store.revision)
    return TxnResponse(revision, succeeded, tuple(responses))


def _range(txn: _Txn, request: RangeRequest, header: int | None) -> Expected:
    if request.revision and request.revision < txn.store.revision:
        return Unjudged(header)
    found = txn.in_range(request.key, request.range_end)
    count = len(found)
    if request.count_only:
        return RangeResponse(header, (), False, count)
    order = request.sort_order
    if request.sort_target != "KEY":
        if order == "NONE" and request.limit:
            del found[request.limit + 1 :]  # etcd 3.4 reads limit + 1 keys in key order, then sorts those
        found.sort(key=_sort_key(request.sort_target), reverse=order == "DESCEND")
    elif order == "DESCEND":
        found.reverse()
    more = 0 < request.limit < count
    if more:
        del found[request.limit :]
    if request.keys_only:
        found = [KeyValue(kv.key, "", kv.create_revision, kv.mod_revision, kv.version, kv.lease) for kv in found]
    return RangeResponse(header, tuple(found), more, count)


def _compares_hold(store: Store, compares: Iterable[Compare]) -> bool:
    return all(_compare_holds(store, compare) for compare in compares)


def _compare_holds(store: Store, compare: Compare) -> bool:
    found = store.in_range(compare.key, compare.range_end)
    if not found:
        if compare.target == "VALUE":
            return False
        return _compared(0, compare)
    return all(_compared(_target_of(kv, compare.target), compare) for kv in found)


def _target_of(kv: KeyValue, target: str) -> str | int:
    if target == "VALUE":
        return kv.value
    return {"VERSION": kv.version, "CREATE": kv.create_revision, "MOD": kv.mod_revision}[target]


def _compared(actual: str | int, compare: Compare) -> bool:
    operand = compare.operand
    if compare.result == "EQUAL":
        return actual == operand
    if compare.result == "NOT_EQUAL":
        return actual != operand
    if compare.result == "GREATER":
        return actual > operand  # type: ignore[operator]
    return actual < operand  # type: ignore[operator]


# ---------------------------------------------------------------------------------------
# Comparing a response with the expected one


def difference(expected: Expected, recorded: object, request: Request) -> str | None:
    """Why `recorded` is not a response the store could give where it gives `expected`
    (one phrase), or None when it is: exactly equal, or equal but for what etcd leaves
    open (ties of a sort, a past read's kvs, nested headers)."""
    if expected == recorded:
        return None
    if isinstance(expected, Granted):
        return _granted_difference(expected, recorded)
    if isinstance(expected, ErrorResult) or isinstance(recorded, ErrorResult):
        return _error_difference(expected, recorded, request)
    if isinstance(expected, Unjudged):
        if not isinstance(recorded, RangeResponse):
            return "it is a range but its response is not"
        if expected.revision is not None and recorded.revision != expected.revision:
            return _header_words(recorded.revision, expected.revision, write=False)
        return None
    assert not isinstance(recorded, Unjudged)
    if type(recorded) is not type(expected):
        return f"its response is a {type(recorded).__name__}, not a {type(expected).__name__}"
    assert isinstance(
        recorded, (RangeResponse, PutResponse, DeleteResponse, TxnResponse, CompactResponse, LeaseRevokeResponse)
    )
    flipped = isinstance(expected, TxnResponse) and expected.succeeded != getattr(recorded, "succeeded", None)
    if flipped and isinstance(request, TxnRequest):  # the cause; a header that differs follows from it
        return _txn_difference(expected, recorded, request)  # type: ignore[arg-type]
    if expected.revision != recorded.revision:
        made = writes(request, expected)
        return _header_words(recorded.revision, expected.revision, write=made)
    return _body_difference(expected, recorded, request)


def _granted_difference(expected: Granted, recorded: object) -> str | None:
    if not isinstance(recorded, LeaseGrantResponse):
        return "it is a lease grant but its response is not"
    if recorded.revision != expected.revision:
        return _header_words(recorded.revision, expected.revision, write=False)
    if expected.lease_id and recorded.lease_id != expected.lease_id:
        return f"it granted lease {recorded.lease_id}, but it asked for lease {expected.lease_id}"
    return None


def _header_words(recorded: int | None, expected: int | None, write: bool) -> str:
    if write:
        return f"it reports header.revision {recorded}, but made here it would make revision {expected}"
    return f"it reports header.revision {recorded}, but the store is at revision {expected} here"


def _error_difference(expected: Expected, recorded: object, request: Request) -> str:
    asked = request.revision if isinstance(request, (RangeRequest, CompactRequest)) else None
    if isinstance(recorded, ErrorResult):
        if isinstance(expected, ErrorResult):
            return f"it failed with revision {recorded.kind}, but here the revision is {expected.kind}"
        return (
            f"it failed as {recorded.kind} (revision {asked}), but here revision {asked} is "
            "neither compacted nor in the future"
        )
    assert isinstance(expected, ErrorResult)
    if expected.kind == "lease-not-found":
        return "it succeeded, but its lease was revoked (or expired) here: etcd fails it (lease not found)"
    if expected.kind == "key-not-found":
        return "it put with ignore_value a key that does not exist here (etcd fails it: key not found)"
    return f"it succeeded, but here its revision is {expected.kind}: etcd fails it"


def _body_difference(expected: Response, recorded: Response, request: Request) -> str | None:
    if isinstance(expected, RangeResponse):
        assert isinstance(recorded, RangeResponse)
        assert isinstance(request, RangeRequest)
        return _range_difference(expected, recorded, request)
    if isinstance(expected, PutResponse):
        assert isinstance(recorded, PutResponse)
        return f"it returned prev_kv {_kv_words(recorded.prev_kv)}, but the key held {_kv_words(expected.prev_kv)}"
    if isinstance(expected, DeleteResponse):
        assert isinstance(recorded, DeleteResponse)
        if expected.deleted != recorded.deleted:
            return f"it deleted {recorded.deleted}, but {expected.deleted} keys of its range exist here"
        return (
            f"it returned prev_kvs {_kvs_words(recorded.prev_kvs)}, but they are {_kvs_words(expected.prev_kvs)} here"
        )
    if isinstance(expected, TxnResponse):
        assert isinstance(recorded, TxnResponse)
        assert isinstance(request, TxnRequest)
        return _txn_difference(expected, recorded, request)
    return None


def _range_difference(expected: RangeResponse, recorded: RangeResponse, request: RangeRequest) -> str | None:
    if expected.count != recorded.count:
        return f"it returned count {recorded.count}, but {expected.count} keys of its range exist here"
    if expected.more != recorded.more:
        return (
            f"it returned more={str(recorded.more).lower()}, but with limit {request.limit} "
            f"and {expected.count} keys more is {str(expected.more).lower()}"
        )
    if len(expected.kvs) != len(recorded.kvs):
        return (
            f"it returned {len(recorded.kvs)} kvs, but {len(expected.kvs)} are due here "
            f"(count {expected.count}, limit {request.limit})"
        )
    if request.sort_target != "KEY" and _ties_only(expected.kvs, recorded.kvs, request.sort_target):
        return None
    for shown, due in zip(recorded.kvs, expected.kvs, strict=True):
        if shown != due:
            return f"it returned {_kv_words(shown)} where the store gives {_kv_words(due)}"
    return None


def _ties_only(expected: tuple[KeyValue, ...], recorded: tuple[KeyValue, ...], target: str) -> bool:
    """Whether `recorded` differs from `expected` only in the order, or the choice at the
    limit, of kvs whose sort target ties: what an unstable sort may give."""
    by_target = _sort_key(target)
    if [by_target(kv) for kv in expected] != [by_target(kv) for kv in recorded]:
        return False
    if len({kv.key for kv in recorded}) != len(recorded):
        return False
    due = {kv.key: kv for kv in expected}
    return all(due.get(kv.key, kv) == kv for kv in recorded)


def _txn_difference(expected: TxnResponse, recorded: TxnResponse, request: TxnRequest) -> str | None:
    if expected.succeeded != recorded.succeeded:
        held = "hold" if expected.succeeded else "do not all hold"
        return (
            f"it reports succeeded={str(recorded.succeeded).lower()}, but its compares "
            f"{_compares_words(request.compare)} {held} here"
        )
    branch = request.success if expected.succeeded else request.failure
    if len(expected.responses) != len(recorded.responses):
        return f"it returned {len(recorded.responses)} responses for a branch of {len(branch)} operations"
    for number, (due, shown, item) in enumerate(zip(expected.responses, recorded.responses, branch, strict=True)):
        why = difference(due, shown, item) if not isinstance(due, Unjudged) else None
        if why is not None:
            return f"its response {number} ({request_kind(item)}): {why}"
    return None


def _compares_words(compares: tuple[Compare, ...]) -> str:
    if not compares:
        return "(none)"
    shown = [_compare_words(compare) for compare in compares[:3]]
    return ", ".join(shown) + (f" and {len(compares) - 3} more" if len(compares) > 3 else "")


_RESULT_SIGNS = {"EQUAL": "==", "NOT_EQUAL": "!=", "LESS": "<", "GREATER": ">"}


def _compare_words(compare: Compare) -> str:
    where = _span(compare.key, compare.range_end)
    operand = _quoted(compare.operand) if isinstance(compare.operand, str) else compare.operand
    return f"{compare.target.lower()}({where}) {_RESULT_SIGNS[compare.result]} {operand}"


def _quoted(text: str) -> str:
    if len(text) > _SHOWN_CHARACTERS:
        text = f"{text[: _SHOWN_CHARACTERS // 2]}…{text[-_SHOWN_CHARACTERS // 2 :]}"
    return '"' + one_line(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def _span(key: str, range_end: str) -> str:
    """A key, or a range of keys, as one printable phrase (NUL written `\\x00`)."""
    if not range_end:
        return one_line(key)
    if range_end == ALL_KEYS_END:
        return f"{one_line(key)}.."
    return f"{one_line(key)}..{one_line(range_end)}"


def _kv_words(kv: KeyValue | None) -> str:
    if kv is None:
        return "nothing"
    revisions = f"create {kv.create_revision}, mod {kv.mod_revision}, version {kv.version}"
    return f"{one_line(kv.key)}={_quoted(kv.value)} ({revisions})"


def _kvs_words(kvs: tuple[KeyValue, ...]) -> str:
    if not kvs:
        return "none"
    return "; ".join(_kv_words(kv) for kv in kvs[:3]) + (f" and {len(kvs) - 3} more" if len(kvs) > 3 else "")


# ---------------------------------------------------------------------------------------
# What a recorded response shows


def writes(request: Request, response: object) -> bool:
    """Whether a request that returned `response` changed the store (and so made a
    revision): a put, a delete that deleted something, a txn whose branch did either.
    True when the response does not fit the request: such an operation is never legal,
    and calling it a writer promises nothing wrong. A lease revoke is not counted: its
    response does not say whether it deleted keys (made a revision) or not, so it claims
    no revision (`observes_only` still takes it for a write)."""
    if isinstance(response, ErrorResult):
        return False
    if isinstance(request, LeaseRequest):
        return False
    if isinstance(request, PutRequest):
        return True
    if isinstance(request, DeleteRequest):
        return not isinstance(response, DeleteResponse) or response.deleted > 0
    if isinstance(request, TxnRequest):
        if not isinstance(response, TxnResponse):
            return True
        branch = request.success if response.succeeded else request.failure
        if len(branch) != len(response.responses):
            return True
        return any(writes(item, shown) for item, shown in zip(branch, response.responses, strict=True))
    return isinstance(request, CompactRequest)


def may_write(request: Request) -> bool:
    """Whether the request can change the store in some state."""
    if isinstance(request, (PutRequest, DeleteRequest, CompactRequest, LeaseRevokeRequest)):
        return True
    if isinstance(request, TxnRequest):
        return any(may_write(item) for item in (*request.success, *request.failure))
    return False


def _puts_of(request: Request, found: dict[str, set[str | None]]) -> dict[str, set[str | None]]:
    """The keys a request may put, in any branch, with the values (None: its own)."""
    if isinstance(request, PutRequest):
        found.setdefault(request.key, set()).add(None if request.ignore_value else request.value)
    elif isinstance(request, TxnRequest):
        for item in (*request.success, *request.failure):
            _puts_of(item, found)
    return found


def _may_put(puts: dict[str, set[str | None]], kv: KeyValue) -> bool:
    values = puts.get(kv.key)
    return values is not None and (kv.value in values or None in values)


def _revision_of(response: object) -> int | None:
    return getattr(response, "revision", None)


@dataclass(frozen=True, slots=True)
class _Forgetting:
    """Which values a history can tell apart, and the one that stands for all the others.

    A value is told apart where a judged response shows it on its key (a range's kvs, a
    prev_kv, inside a txn's branch; reads of the past too) or a compare names it (on any
    key: a compare may span a range). Any other value written to a key is never shown,
    and every compare that looks at it asks for equality with a value named, which it is
    not: stores that differ only in which of those values a key holds answer every
    request of the history alike. Replacing them by one stand-in lets the memo see them as
    one store and the search try one of their pending writers. The stand-in is a string
    no request of the history names, so it is told apart from each named value as the
    value it stands for is.

    Requests that order values are the exception: a compare of a value other than for
    (in)equality, and a range sorted by value that shows less than every value of its
    span (a limit, or keys only). The stand-in would not sort where the value it stands
    for does, so a key such a request spans keeps its values' own texts, unless no value
    a pending write leaves can be there when it looks: a pending write takes a revision
    no returned write reports, and if the key was written again by a returned write
    after every such revision up to the one the ordering request reports, the pending
    write's value was gone by then."""

    shown: frozenset[tuple[str, str]]
    compared: frozenset[str]
    exposed: frozenset[str]
    """The keys whose values an ordering request that returned may see a pending write's
    value among."""
    ordered: tuple[tuple[str, str], ...]
    """The spans of the ordering requests whose revision is not known (pending ones)."""
    stand_in: str

    @classmethod
    def read(cls, ops: Sequence[Operation], budget: Budget, claimed: set[int], first: int, highest: int) -> _Forgetting:
        """The values of `ops`, whose returned writes claim `claimed`, from revision `first`
        to `highest`."""
        shown: set[tuple[str, str]] = set()
        compared: set[str] = set()
        written: set[str] = set()
        ordering: list[tuple[str, str, int | None]] = []
        overwrites: dict[str, list[int]] = {}
        for number, op in enumerate(ops):
            if number % 256 == 255:
                budget.spend(work=256)
            found: set[tuple[str, str]] = set()
            _values_of(op.input, compared, written, found)
            revision = _revision_of(op.output) if op.ret is not None else None
            ordering.extend((key, end, revision) for key, end in sorted(found))
            if op.ret is not None:
                shown.update((kv.key, kv.value) for kv in shown_kvs(op.input, op.output))
                if revision is not None:
                    for key in _overwritten(op.input, op.output):
                        overwrites.setdefault(key, []).append(revision)
        stand_in = STAND_IN
        named = compared | written | {value for _, value in shown}
        while stand_in in named:
            stand_in += "'"
        claimed_in_order = sorted(claimed)
        keys = {key for op in ops if op.ret is None for key in _puts_of(op.input, {})}
        exposed: set[str] = set()
        for key in sorted(keys):
            revisions = sorted(overwrites.get(key, ()))
            for start, end, revision in ordering:
                if revision is None or not _spans(start, end, key):
                    continue
                if _open_before(revisions, claimed_in_order, first, min(revision, highest)):
                    exposed.add(key)
                    break
        pending_spans = tuple(sorted((start, end) for start, end, revision in ordering if revision is None))
        return cls(frozenset(shown), frozenset(compared), frozenset(exposed), pending_spans, stand_in)

    def forget(self, request: Request) -> Request:
        """`request` with the values nobody can tell apart replaced, and no prev_kv."""
        if isinstance(request, PutRequest):
            told = (
                request.ignore_value
                or (request.key, request.value) in self.shown
                or request.value in self.compared
                or request.key in self.exposed
                or any(_spans(key, end, request.key) for key, end in self.ordered)
            )
            value = request.value if told else self.stand_in
            return PutRequest(request.key, value, False, request.ignore_value, request.lease)
        if isinstance(request, DeleteRequest):
            return DeleteRequest(request.key, request.range_end, False)
        if isinstance(request, TxnRequest):
            return TxnRequest(
                request.compare,
                tuple(self.forget(item) for item in request.success),
                tuple(self.forget(item) for item in request.failure),
            )
        return request


def _unclaimed(claimed: list[int], low: int, high: int) -> int:
    """How many revisions in (low, high] no returned write reports (`claimed`, in order)."""
    if high <= low:
        return 0
    return high - low - (bisect.bisect_right(claimed, high) - bisect.bisect_right(claimed, low))


def _open_before(overwrites: list[int], claimed: list[int], first: int, revision: int) -> bool:
    """Whether a revision no returned write reports lies after the last returned overwrite
    of a key before `revision` (and after the first revision) and at or before `revision`:
    a pending write could then have left the key's value for a request reporting `revision`."""
    last = bisect.bisect_left(overwrites, revision) - 1
    after = max(overwrites[last] if last >= 0 else first, first)
    return _unclaimed(claimed, after, revision) > 0


def _done(request: Request, response: object) -> Iterator[tuple[Request, object]]:
    """The requests a returned one carried out, each with its response: itself, or those
    of the branch a txn took (nested txns opened too), as its response shows them."""
    if isinstance(request, TxnRequest) and isinstance(response, TxnResponse):
        branch = request.success if response.succeeded else request.failure
        if len(branch) == len(response.responses):
            for item, shown in zip(branch, response.responses, strict=True):
                yield from _done(item, shown)
    else:
        yield request, response


def _leases_named(request: Request, response: object) -> Iterator[int]:
    """The lease ids a request (or a grant's response) names, puts in txns included."""
    if isinstance(request, PutRequest) and request.lease:
        yield request.lease
    elif isinstance(request, LeaseGrantRequest | LeaseRevokeRequest):
        named = request.lease_id or getattr(response, "lease_id", 0)
        if named:
            yield named
    elif isinstance(request, TxnRequest):
        for item in (*request.success, *request.failure):
            yield from _leases_named(item, None)


def _leases_seen(request: Request, response: object) -> Iterator[int]:
    """The leases a returned request shows alive: those of the kvs its response shows, and
    that of a put it made (a put names only a lease that exists)."""
    for kv in shown_kvs(request, response):
        if kv.lease:
            yield kv.lease
    for item, shown in _done(request, response):
        if isinstance(item, PutRequest) and isinstance(shown, PutResponse) and item.lease:
            yield item.lease


def _put_keys(request: Request, response: object) -> Iterator[str]:
    """The keys a returned write put, by what its response shows."""
    for item, shown in _done(request, response):
        if isinstance(item, PutRequest) and isinstance(shown, PutResponse):
            yield item.key


def _overwritten(request: Request, response: object) -> Iterator[str]:
    """The keys a returned write surely set or removed: those it put, and those of the
    one-key deletes that deleted."""
    yield from _put_keys(request, response)
    for item, shown in _done(request, response):
        if not isinstance(item, DeleteRequest) or item.range_end:
            continue  # a put (above), or a range delete, whose keys the response may not show
        if isinstance(shown, DeleteResponse) and shown.deleted:
            yield item.key


@dataclass(frozen=True, slots=True)
class _Generations:
    """What judged responses show of one key's generations, for pending writes to fit
    before the search reaches the responses that show it.

    A kv shown with create_revision c, mod_revision m and version v says that the write
    at revision c created the key, that no write deleted it up to m, and that v puts of it
    were made in [c, m]. Every legal linearization keeps these facts (reads of the past
    excepted: the model does not judge their kvs), so a store at revision r with c <= r < m
    can still lead to that response only if it holds the key with create_revision c, and
    its version plus the puts returned writes of the key report in (r, m] is at most v and,
    with one more for each revision in (r, m] no returned write reports, at least v. A
    pending write that leaves a store failing this is refused at once, not when the search
    reaches the response, many guesses later (a history whose first revisions were all
    made by writes of unknown outcome needed exponential time without it)."""

    key: str
    shown: tuple[tuple[int, int, int], ...]
    """(mod_revision, create_revision, version) of each kv shown, in order."""
    mods: tuple[int, ...]
    puts: tuple[int, ...]
    """The revisions returned writes report that put the key (by their responses), in order."""

    @classmethod
    def read(cls, ops: Sequence[Operation], budget: Budget) -> dict[str, _Generations]:
        shown: dict[str, set[tuple[int, int, int]]] = {}
        puts: dict[str, list[int]] = {}
        for number, op in enumerate(ops):
            if number % 256 == 255:
                budget.spend(work=256)
            if op.ret is None:
                continue
            for kv in shown_kvs(op.input, op.output, past_reads=False):
                shown.setdefault(kv.key, set()).add((kv.mod_revision, kv.create_revision, kv.version))
            revision = _revision_of(op.output)
            if revision is not None:
                for key in _put_keys(op.input, op.output):
                    puts.setdefault(key, []).append(revision)
        generations: dict[str, _Generations] = {}
        for key in sorted(shown):
            facts = tuple(sorted(shown[key]))
            generations[key] = cls(key, facts, tuple(mod for mod, _, _ in facts), tuple(sorted(puts.get(key, ()))))
        return generations

    def binds(self, revision: int) -> bool:
        """Whether a store at `revision` is constrained by this key's next kv shown: one
        shown after it, of a generation created by then (`owed` answers (0, 0) otherwise)."""
        place = bisect.bisect_right(self.mods, revision)
        return place < len(self.mods) and self.shown[place][1] <= revision

    def owed(self, store: Store, claimed: list[int]) -> tuple[int, int] | None:
        """How many puts of the key pending writes owe before the next kv of it shown after
        the store's revision, and that kv's mod_revision: (0, 0) when none is owed or
        nothing is known; None when `store` cannot lead to that kv."""
        revision = store.revision
        place = bisect.bisect_right(self.mods, revision)
        if place == len(self.mods):
            return 0, 0
        mod, created, version = self.shown[place]
        if revision < created:
            return 0, 0
        kv = store.get(self.key)
        if kv is None or kv.create_revision != created:
            return None
        returned = bisect.bisect_right(self.puts, mod) - bisect.bisect_right(self.puts, revision)
        owed = version - kv.version - returned
        if not 0 <= owed <= _unclaimed(claimed, revision, mod):
            return None
        return owed, mod


STAND_IN = "(a value no response shows)"
"""The stand-in's text (with primes added until no request names it), as counterexamples
print it in a store."""


def _spans(key: str, range_end: str, probe: str) -> bool:
    """Whether the span [key, range_end) (the one key when range_end is empty) holds `probe`."""
    if not range_end:
        return probe == key
    return probe >= key and (range_end == ALL_KEYS_END or probe < range_end)


def _values_of(request: Request, compared: set[str], written: set[str], ordered: set[tuple[str, str]]) -> None:
    """Add the values `request` compares and writes, and the spans where it orders values."""
    if isinstance(request, PutRequest):
        written.add(request.value)
    elif isinstance(request, RangeRequest):
        if request.sort_target == "VALUE" and (request.limit or request.keys_only) and not request.count_only:
            ordered.add((request.key, request.range_end))
    elif isinstance(request, TxnRequest):
        for compare in request.compare:
            if compare.target == "VALUE":
                if compare.result in ("EQUAL", "NOT_EQUAL"):
                    compared.add(str(compare.operand))
                else:
                    ordered.add((compare.key, compare.range_end))
        for item in (*request.success, *request.failure):
            _values_of(item, compared, written, ordered)


# ---------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True, slots=True)
class EtcdModel(Model):
    """The etcd store; see the module docstring for each rule."""

    initial_revision: int = 1
    name: str = "etcd"
    functions: frozenset[str] = FUNCTIONS
    claimed: set[int] = field(default_factory=set, compare=False, hash=False)
    """Revisions that returned writes report, read by `order_constraints` before the search
    (empty until then, which only spares less work)."""
    observed: dict[int, dict[str, KeyValue]] = field(default_factory=dict, compare=False, hash=False)
    """For a revision no returned write reports: the kvs judged responses show with that
    mod_revision, which its writer (a pending one) must have left."""
    highest: list[int] = field(default_factory=lambda: [1 << 63], compare=False, hash=False)
    """The highest revision a returned operation reports (one item; unbounded until read)."""
    pending_puts: dict[int, dict[str, set[str | None]]] = field(default_factory=dict, compare=False, hash=False)
    """Per pending operation (by id): the keys it may put, with the values (None: any)."""
    acting: dict[int, frozenset[int]] = field(default_factory=dict, compare=False, hash=False)
    """Per revision a pending write may take: the pending operations (by id) that may
    take it (see `pending_acting`), filled as the search asks."""
    claimed_in_order: list[int] = field(default_factory=list, compare=False, hash=False)
    """`claimed`, in order."""
    generations: dict[str, _Generations] = field(default_factory=dict, compare=False, hash=False)
    """Per key: what judged responses show of its generations (see `_Generations`)."""
    binding: dict[int, tuple[_Generations, ...]] = field(default_factory=dict, compare=False, hash=False)
    """Per store revision: the generations that constrain a store there (`_Generations.binds`),
    filled as the search asks. Histories with many short-lived keys (TTL keys, one per
    lease) show hundreds of keys, of which a few bind at any one revision."""
    wide_puts: list[frozenset[str]] = field(default_factory=list, compare=False, hash=False)
    """The keys of each pending write that may put more than one."""
    compacts: list[frozenset[int]] = field(default_factory=lambda: [frozenset()], compare=False, hash=False)
    """The pending compactions (by id; one item), which may act at any revision."""
    revoking: dict[int, int] = field(default_factory=dict, compare=False, hash=False)
    """Per pending lease revoke (by id, an expiry the model implies or a client's): its lease.
    A revoke acts only where some key holds its lease (`pending_acting`)."""
    revokes_of: dict[int, frozenset[int]] = field(default_factory=dict, compare=False, hash=False)
    """`revoking` turned around: per lease, its pending revokes."""
    revokes: list[frozenset[int]] = field(default_factory=lambda: [frozenset()], compare=False, hash=False)
    """`revoking`'s operations (one item)."""
    pending_ids: list[frozenset[int]] = field(default_factory=lambda: [frozenset()], compare=False, hash=False)
    """Every pending operation (by id; one item)."""
    without_idle_revokes: dict[tuple[Hashable, frozenset[int]], frozenset[int]] = field(
        default_factory=dict, compare=False, hash=False
    )
    """`pending_acting`'s answers less the revokes of leases no key holds, by (answer, held)."""
    stand_ins: dict[int, Request] = field(default_factory=dict, compare=False, hash=False)
    """Per pending write (by id): the request it is stepped as, with every value no
    operation can tell apart from another replaced by one stand-in value (see `_Forgetting`)."""

    def init(self) -> Store:
        return Store.empty(self.initial_revision)

    def partition(self, op: Operation) -> Hashable:
        return None

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        assert isinstance(state, Store)
        request = op.input
        if op.ret is None:
            return self._pending_step(state, op)
        recorded = op.output
        revision = _revision_of(recorded)
        if revision is not None and not state.revision <= revision <= state.revision + 1:
            return False, state  # no request moves the revision by more than one
        after, expected = execute(state, request)
        if expected == recorded:
            return True, after
        return difference(expected, recorded, request) is None, after

    def _pending_step(self, state: Store, op: Operation) -> tuple[bool, Hashable]:
        """A pending write may take the next revision only if no returned write reports
        it and some returned operation reports a revision at least as high (a write
        beyond them all helps none of them take effect), and only leaving the kvs that
        judged responses show with that mod_revision
        (a pending operation that would change nothing is refused too: the search skips
        it either way). Both are read before stepping, from what the request may put."""
        request = op.input
        if isinstance(request, CompactRequest):
            return True, execute(state, request)[0]
        following = state.revision + 1
        if following in self.claimed or following > self.highest[0]:
            return False, state  # its revision is another's, or beyond all that returned ones need
        shown = self.observed.get(following)
        puts = self.pending_puts.get(op.id)
        if shown and puts is not None and not all(_may_put(puts, kv) for kv in shown.values()):
            return False, state
        stand_in = self.stand_ins.get(op.id)
        after, _ = execute(state, request if stand_in is None else stand_in)
        if after.revision == state.revision:
            return False, state
        if shown and any(after.get(key) != kv for key, kv in shown.items()):
            return False, state
        if self.generations and not self._may_still_show(after):
            return False, state
        return True, after

    def _may_still_show(self, store: Store) -> bool:
        """Whether `store` can still lead to the kvs later responses show (`_Generations`):
        each key on its own, and all together, as the puts owed by each deadline (the
        mod_revision shown) must fit the revisions left for pending writes up to it: one
        key a revision, but for the pending writes that may put several (`wide_puts`),
        each used at most once."""
        claimed = self.claimed_in_order
        owed: list[tuple[int, int, str]] = []
        binding = self.binding.get(store.revision)
        if binding is None:
            binding = tuple(g for g in self.generations.values() if g.binds(store.revision))
            self.binding[store.revision] = binding
        for generations in binding:
            found = generations.owed(store, claimed)
            if found is None:
                return False
            if found[0]:
                owed.append((found[1], found[0], generations.key))
        if len(owed) < 2:
            return True
        owed.sort()
        total = 0
        keys: set[str] = set()
        for deadline, count, key in owed:
            total += count
            keys.add(key)
            free = _unclaimed(claimed, store.revision, deadline)
            # A revision puts one of these keys, or more where a pending write puts several.
            extra = sum(len(keys & wide) - 1 for wide in self.wide_puts if len(keys & wide) > 1)
            if total > free + extra:
                return False
        return True

    def why_refused(self, state: Hashable, op: Operation) -> str | None:
        """Which response the store cannot give in `state`, and why."""
        assert isinstance(state, Store)
        if op.ret is None:
            return None
        _, expected = execute(state, op.input)
        return difference(expected, op.output, op.input)

    def inert(self, op: Operation) -> bool:
        """A pending read (or grant: it changes no key), and every keep-alive and
        time-to-live: the leader answers those from memory, outside the log, so their
        answers are not linearizable and are `checkers.leases`' to judge."""
        if isinstance(op.input, LeaseKeepAliveRequest | LeaseTimeToLiveRequest):
            return True
        return op.ret is None and not may_write(op.input)

    def pending_acting(self, state: Hashable) -> frozenset[int] | None:
        """The pending writes `_pending_step` may let take the next revision (see
        `_acting_by_revision`), less the lease revokes of leases no key holds: those
        change nothing (the model keeps no lease table, only the keys' leases)."""
        assert isinstance(state, Store)
        acting = self._acting_by_revision(state)
        if not self.revoking:
            return acting
        held = state.leases_held()
        cached = self.without_idle_revokes.get((acting, held))
        if cached is None:
            busy = frozenset().union(*(self.revokes_of.get(lease, ()) for lease in held))
            idle = self.revokes[0] - busy
            cached = (self.pending_ids[0] if acting is None else acting) - idle
            self.without_idle_revokes[(acting, held)] = cached
        return cached

    def _acting_by_revision(self, state: Store) -> frozenset[int] | None:
        """The pending writes `_pending_step` may let take the next revision, read from
        the same facts before stepping: none (but compactions) when a returned write
        claims it or it is beyond every revision reported, those that may put what
        judged responses show with it when they show any, and otherwise any."""
        following = state.revision + 1
        if following in self.claimed or following > self.highest[0]:
            return self.compacts[0]
        shown = self.observed.get(following)
        if not shown:
            return None
        acting = self.acting.get(following)
        if acting is None:
            acting = self.acting[following] = self.compacts[0] | frozenset(
                number for number, puts in self.pending_puts.items() if all(_may_put(puts, kv) for kv in shown.values())
            )
        return acting

    def pending_room(self, state: Hashable) -> int | None:
        """Each pending write that takes effect takes a revision above the store's that no
        returned write reports, up to the highest reported; compactions take none."""
        assert isinstance(state, Store)
        free = _unclaimed(self.claimed_in_order, state.revision, self.highest[0])
        return free + len(self.compacts[0])

    def look(self, op: Operation) -> Hashable:
        """A pending write looks like its stand-in: two pending puts of values nobody can
        see are one write twice, to be tried once (the earliest called), and the stores
        they leave are one store, which the memo then meets again."""
        stand_in = self.stand_ins.get(op.id) if op.ret is None else None
        if stand_in is None:
            return Model.look(self, op)
        return (op.f, op.key, stand_in, None, op.status, True)

    def observes_only(self, op: Operation) -> bool:
        if isinstance(op.input, LeaseRevokeRequest):
            return False  # it may have deleted keys: its response does not say
        return op.ret is not None and not writes(op.input, op.output)

    def implied(self, ops: Sequence[Operation]) -> list[Operation]:
        """A lease may expire at any moment, caused by no client: each grant (and each lease
        a put names that no grant in the history names) brings a revoke that the system may
        perform once, at any point after the grant's invoke (or the first invoke naming the
        lease), or never: a pending revoke, deleting the lease's keys in one revision.

        A lease granted once in the history cannot expire before a returned put attached a
        key to it, nor before a returned response showed a key holding it (in a correct
        store no key joins a revoked lease, and its revoke deletes every key it holds): its
        revoke is called at the latest of those invokes. That keeps the search from trying
        the expiry of every lease with keys at every revision no returned write reports."""
        first_call: dict[int, int] = {}
        seen_call: dict[int, int] = {}
        granted: list[tuple[int, int]] = []
        for op in ops:
            for lease_id in _leases_named(op.input, op.output):
                first_call.setdefault(lease_id, op.call)
            if isinstance(op.input, LeaseGrantRequest):
                lease_id = op.input.lease_id or getattr(op.output, "lease_id", 0)
                if lease_id:
                    granted.append((lease_id, op.call))
            if op.ret is not None:
                for lease_id in _leases_seen(op.input, op.output):
                    seen_call[lease_id] = max(seen_call.get(lease_id, op.call), op.call)
        grants = collections.Counter(lease_id for lease_id, _ in granted)
        granted = [
            (lease_id, max(call, seen_call.get(lease_id, call)) if grants[lease_id] == 1 else call)
            for lease_id, call in granted
        ]
        expiries = granted + [(lease_id, call) for lease_id, call in first_call.items() if lease_id not in grants]
        next_id = max((op.id for op in ops), default=0) + 1
        return [
            Operation(
                next_id + number, -1, None, "lease-revoke", None, LeaseRevokeRequest(lease_id), None, call, None, "info"
            )
            for number, (lease_id, call) in enumerate(sorted(expiries, key=lambda item: (item[1], item[0])))
        ]

    def order_constraints(self, ops: Sequence[Operation], budget: Budget) -> OrderFacts | None:
        """No order facts; reads what pending writes must fit (see `_pending_step`): the
        revisions returned writes claim, the kvs judged responses show at the others, and
        what each pending operation may put."""
        self.claimed.clear()
        self.observed.clear()
        self.pending_puts.clear()
        self.stand_ins.clear()
        self.acting.clear()
        self.revoking.clear()
        self.without_idle_revokes.clear()
        self.pending_ids[0] = frozenset(op.id for op in ops if op.ret is None)
        for op in ops:
            if op.ret is None and isinstance(op.input, LeaseRevokeRequest):
                self.revoking[op.id] = op.input.lease_id
        by_lease: dict[int, set[int]] = {}
        for number, lease in self.revoking.items():
            by_lease.setdefault(lease, set()).add(number)
        self.revokes_of.clear()
        self.revokes_of.update((lease, frozenset(numbers)) for lease, numbers in by_lease.items())
        self.revokes[0] = frozenset(self.revoking)
        reported = [revision for op in ops if (revision := _revision_of(op.output)) is not None]
        self.highest[0] = max(reported, default=self.initial_revision)
        compacts: set[int] = set()
        for number, op in enumerate(ops):
            if number % 256 == 255:
                budget.spend(work=256)
            if op.ret is None:
                self.pending_puts[op.id] = _puts_of(op.input, {})
                if isinstance(op.input, CompactRequest):
                    compacts.add(op.id)
            elif writes(op.input, op.output) and not isinstance(op.input, CompactRequest):
                revision = _revision_of(op.output)
                if revision is not None:
                    self.claimed.add(revision)
        for number, op in enumerate(ops):
            if number % 256 == 255:
                budget.spend(work=256)
            if op.ret is not None:
                for kv in shown_kvs(op.input, op.output, past_reads=False):  # a past read's are the revisions checker's
                    if kv.mod_revision not in self.claimed:
                        self.observed.setdefault(kv.mod_revision, {}).setdefault(kv.key, kv)
        self.compacts[0] = frozenset(compacts)
        self.claimed_in_order[:] = sorted(self.claimed)
        self.generations.clear()
        self.generations.update(_Generations.read(ops, budget))
        self.binding.clear()
        self.wide_puts[:] = [frozenset(puts) for puts in self.pending_puts.values() if len(puts) > 1]
        self._stand_in(ops, budget)
        return None

    def _stand_in(self, ops: Sequence[Operation], budget: Budget) -> None:
        """Fill `stand_ins`: each pending write's request with the values no operation can
        tell apart replaced by one stand-in (see `_Forgetting`). A pending request's
        response is never judged, so its `prev_kv` flags go too."""
        seen = _Forgetting.read(ops, budget, self.claimed, self.initial_revision, self.highest[0])
        for number, op in enumerate(ops):
            if number % 256 == 255:
                budget.spend(work=256)
            if op.ret is None and may_write(op.input):
                self.stand_ins[op.id] = seen.forget(op.input)

    def call_problem(self, f: str, key: str | None, argument: Argument) -> tuple[str, str] | None:
        if f not in FUNCTIONS:
            return "f", f"model etcd has no {f!r} operation (it has {', '.join(ETCD_FUNCTIONS)})"
        if not isinstance(
            argument, (RangeRequest, PutRequest, DeleteRequest, TxnRequest, CompactRequest, LeaseRequest)
        ):
            return "value", f"an etcd {f} carries its request as a JSON object, got {argument!r}"
        if request_kind(argument) != f:
            return "value", f"an etcd {f} carries a {f} request, not a {request_kind(argument)} request"
        return None

    def result_problem(self, f: str, result: Argument) -> tuple[str, str] | None:
        if isinstance(result, ErrorResult):
            return None
        kinds = {
            "range": RangeResponse,
            "put": PutResponse,
            "delete": DeleteResponse,
            "txn": TxnResponse,
            "compact": CompactResponse,
            "lease-grant": LeaseGrantResponse,
            "lease-revoke": LeaseRevokeResponse,
            "lease-keepalive": LeaseKeepAliveResponse,
            "lease-timetolive": LeaseTimeToLiveResponse,
        }
        if not isinstance(result, kinds[f]):
            return "value", f"an etcd {f} returns its response as a JSON object, got {result!r}"
        return None

    def describe_op(self, op: Operation) -> str:
        return f"{request_words(op.input)} -> {_response_words(op)}"

    def describe_state(self, state: Hashable) -> str:
        assert isinstance(state, Store)
        kvs = state.in_range("", ALL_KEYS_END)
        shown = ", ".join(
            f"{one_line(kv.key)}={_quoted(kv.value)} (c{kv.create_revision} m{kv.mod_revision} v{kv.version})"
            for kv in kvs[:_SHOWN_KEYS]
        )
        more = f" and {len(kvs) - _SHOWN_KEYS} more" if len(kvs) > _SHOWN_KEYS else ""
        compacted = f", compacted {state.compacted}" if state.compacted != NOTHING_COMPACTED else ""
        return f"revision {state.revision}{compacted}, {len(kvs)} keys" + (f": {shown}{more}" if kvs else "")


def request_words(request: Request) -> str:
    if isinstance(request, RangeRequest):
        options = [f"limit {request.limit}"] if request.limit else []
        if request.revision:
            options.append(f"at revision {request.revision}")
        if request.count_only:
            options.append("count only")
        if request.sort_order != "NONE" or request.sort_target != "KEY":
            options.append(f"sort {request.sort_target.lower()} {request.sort_order.lower()}")
        return f"range({_span(request.key, request.range_end)}{''.join(', ' + o for o in options)})"
    if isinstance(request, PutRequest):
        return f"put({request.key}, {_quoted(request.value)})"
    if isinstance(request, DeleteRequest):
        return f"delete({_span(request.key, request.range_end)})"
    if isinstance(request, CompactRequest):
        return f"compact({request.revision})"
    if isinstance(request, LeaseGrantRequest):
        return f"lease-grant(TTL {request.ttl}, ID {request.lease_id})"
    if isinstance(request, LeaseRevokeRequest | LeaseKeepAliveRequest | LeaseTimeToLiveRequest):
        return f"{request_kind(request)}({request.lease_id})"
    success = "; ".join(request_words(item) for item in request.success[:2]) + (
        "; …" if len(request.success) > 2 else ""
    )
    failure = "; ".join(request_words(item) for item in request.failure[:2]) + (
        "; …" if len(request.failure) > 2 else ""
    )
    return f"txn(if {_compares_words(request.compare)} then {success or 'nothing'} else {failure or 'nothing'})"


def _response_words(op: Operation) -> str:
    if op.ret is None:
        return "?"
    result = op.output
    if isinstance(result, ErrorResult):
        return f"error: revision {result.kind}"
    parts = [] if result.revision is None else [f"@{result.revision}"]
    if isinstance(result, RangeResponse):
        parts.insert(0, _kvs_words(result.kvs) if result.kvs else "no kvs")
        if result.count != len(result.kvs):
            parts.append(f"count {result.count}")
        if result.more:
            parts.append("more")
    elif isinstance(result, DeleteResponse):
        parts.insert(0, f"deleted {result.deleted}")
    elif isinstance(result, TxnResponse):
        parts.insert(0, "succeeded" if result.succeeded else "failed")
    return " ".join(parts)


def build(initial: object) -> EtcdModel:
    if initial is None:
        return EtcdModel()
    if type(initial) is not int or not 0 <= initial < 1 << 63:
        raise ValueError(f"the etcd model's initial revision must be an integer >= 0, got {initial!r}")
    return EtcdModel(initial)


def parse_initial(text: str) -> int:
    if re.fullmatch(r"[0-9]{1,19}", text.strip()) is None:
        raise ValueError(f"cannot read {text!r} as a revision")
    return int(text.strip())
