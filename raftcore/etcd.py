"""etcd's v3 data API as values: requests, responses, the errors etcd 3.4 answers, and JSON.

The JSON is the shape of etcd's v3 JSON gateway (proto field names in snake_case) with two
changes that make histories readable: keys and values are plain strings, not base64, and
integers are JSON integers. The checkers agree on this shape only (they never import
raftcore), so readers here are lenient where etcd's own JSON is: an integer may come as a
decimal string (as the gateway writes int64), and an absent field is its default (proto3
omits defaults). Writers are canonical: equal values give equal JSON, hence equal log bytes.

The checks etcd makes before a request reaches its log (an empty key, too many operations
in a txn, a key written twice by a txn, a request too large to log) need no state, so they
live here (`refusal`); the store (`raftcore.mvcc`) makes the ones that need it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from raftcore.json_fields import integer as _integer
from raftcore.lease import (
    LEASE_ERRORS,
    LEASE_KINDS,
    LEASE_RESPONSES,
    LEASE_TTL_TOO_LARGE,
    MAX_LEASE_TTL_SECONDS,
    LeaseGrantRequest,
    LeaseRequest,
    LeaseResponse,
    LeaseRevokeRequest,
    lease_request_from_json,
    lease_request_to_json,
    lease_response_from_json,
    lease_response_to_json,
)

SORT_ORDERS = ("NONE", "ASCEND", "DESCEND")
SORT_TARGETS = ("KEY", "VERSION", "CREATE", "MOD", "VALUE")
# In the order of etcd's protobuf enums: their numbers count towards a request's size.
COMPARE_TARGETS = ("VERSION", "CREATE", "MOD", "VALUE")
COMPARE_RESULTS = ("EQUAL", "GREATER", "LESS", "NOT_EQUAL")
COMPARE_OPERANDS = {"VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision", "VALUE": "value"}
"""The field of a compare that holds its operand, by target."""

ALL_KEYS_FROM = "\0"
"""A `range_end` meaning every key from `key` on, as in etcd."""

COMPACTED = "etcdserver: mvcc: required revision has been compacted"
FUTURE_REVISION = "etcdserver: mvcc: required revision is a future revision"
DUPLICATE_KEY = "etcdserver: duplicate key given in txn request"
TOO_MANY_OPERATIONS = "etcdserver: too many operations in txn request"
REQUEST_TOO_LARGE = "etcdserver: request is too large"
KEY_NOT_FOUND = "etcdserver: key not found"
"""A put with `ignore_value` of a key that does not exist (etcd 3.4's words)."""
EMPTY_KEY = "etcdserver: key is not provided"
VALUE_PROVIDED = "etcdserver: value is provided"
"""A put with `ignore_value` that carries a value all the same."""

ERRORS = (
    COMPACTED,
    FUTURE_REVISION,
    DUPLICATE_KEY,
    TOO_MANY_OPERATIONS,
    REQUEST_TOO_LARGE,
    KEY_NOT_FOUND,
    EMPTY_KEY,
    VALUE_PROVIDED,
    *LEASE_ERRORS,
)


class EtcdError(Exception):
    """A request etcd refuses as a whole: it had no effect. `message` is etcd's error string."""

    def __init__(self, message: str) -> None:
        assert message in ERRORS, message
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Limits:
    """etcd's size limits, as its flags set them; tests pass small ones."""

    max_txn_ops: int = 128
    """`--max-txn-ops`: compares, and operations of either branch, per txn (nesting eats into it)."""
    max_request_bytes: int = 1_572_864
    """`--max-request-bytes`: the size of a request as etcd logs it (see `request_size`)."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key as a read sees it at some revision. `value` is None where a read asked for
    keys only. Requests of this API store strings; the older operations of `raftcore.kv`
    share the store and may hold any JSON value."""

    key: str
    value: Any
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0
    """The lease the key is attached to; 0: none (and then absent from its JSON)."""


@dataclass(frozen=True, slots=True)
class RangeRequest:
    key: str
    range_end: str = ""
    limit: int = 0
    revision: int = 0
    sort_order: str = "NONE"
    sort_target: str = "KEY"
    keys_only: bool = False
    count_only: bool = False
    serializable: bool = False
    """Served from the receiving member's state, without a read index: it may be stale."""

    def __post_init__(self) -> None:
        if self.sort_order not in SORT_ORDERS:
            raise ValueError(f"unknown sort_order {self.sort_order!r}; known: {', '.join(SORT_ORDERS)}")
        if self.sort_target not in SORT_TARGETS:
            raise ValueError(f"unknown sort_target {self.sort_target!r}; known: {', '.join(SORT_TARGETS)}")


@dataclass(frozen=True, slots=True)
class PutRequest:
    key: str
    value: str = ""
    prev_kv: bool = False
    ignore_value: bool = False
    lease: int = 0
    """Attach the key to this lease (which must exist); 0 detaches it from any."""


@dataclass(frozen=True, slots=True)
class DeleteRangeRequest:
    key: str
    range_end: str = ""
    prev_kv: bool = False


@dataclass(frozen=True, slots=True)
class Compare:
    """A txn's condition on every key of `[key, range_end)` (or on `key` alone). The operand
    is the field named by the target; etcd reads any other as its default."""

    key: str
    target: str
    result: str
    range_end: str = ""
    value: str = ""
    version: int = 0
    create_revision: int = 0
    mod_revision: int = 0

    def __post_init__(self) -> None:
        if self.target not in COMPARE_TARGETS:
            raise ValueError(f"unknown compare target {self.target!r}; known: {', '.join(COMPARE_TARGETS)}")
        if self.result not in COMPARE_RESULTS:
            raise ValueError(f"unknown compare result {self.result!r}; known: {', '.join(COMPARE_RESULTS)}")

    @property
    def operand(self) -> str | int:
        value: str | int = getattr(self, COMPARE_OPERANDS[self.target])
        return value


@dataclass(frozen=True, slots=True)
class TxnRequest:
    compare: tuple[Compare, ...] = ()
    success: tuple[RequestOp, ...] = ()
    failure: tuple[RequestOp, ...] = ()


@dataclass(frozen=True, slots=True)
class CompactionRequest:
    revision: int
    physical: bool = False


RequestOp = RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest
"""What a txn branch holds."""
EtcdRequest = RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest | CompactionRequest | LeaseRequest


@dataclass(frozen=True, slots=True)
class RangeResponse:
    """`revision` is the header's: the store's revision, not the one read at. `count`
    counts every key in the range, beyond `limit` too."""

    revision: int
    kvs: tuple[KeyValue, ...] = ()
    more: bool = False
    count: int = 0


@dataclass(frozen=True, slots=True)
class PutResponse:
    revision: int
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class DeleteRangeResponse:
    revision: int
    deleted: int = 0
    prev_kvs: tuple[KeyValue, ...] = ()


@dataclass(frozen=True, slots=True)
class TxnResponse:
    """`revision` of a txn nested in a txn is 0, as etcd leaves its header empty."""

    revision: int
    succeeded: bool = False
    responses: tuple[ResponseOp, ...] = ()


@dataclass(frozen=True, slots=True)
class CompactionResponse:
    revision: int


ResponseOp = RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse
EtcdResponse = RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse | CompactionResponse | LeaseResponse

KINDS: dict[str, type] = {
    "range": RangeRequest,
    "put": PutRequest,
    "delete": DeleteRangeRequest,
    "txn": TxnRequest,
    "compact": CompactionRequest,
    **LEASE_KINDS,
}
"""The contract's request kinds (`f` in a history) and their requests."""
_RESPONSES: dict[str, type] = {
    "range": RangeResponse,
    "put": PutResponse,
    "delete": DeleteRangeResponse,
    "txn": TxnResponse,
    "compact": CompactionResponse,
    **LEASE_RESPONSES,
}
# A txn operation's JSON wrapper, for requests and for responses.
_OPERATION_FIELDS = {
    "range": "request_range",
    "put": "request_put",
    "delete": "request_delete_range",
    "txn": "request_txn",
}
_RESPONSE_FIELDS = {
    "range": "response_range",
    "put": "response_put",
    "delete": "response_delete_range",
    "txn": "response_txn",
}


def kind_of(request: EtcdRequest | EtcdResponse) -> str:
    """The contract's kind of a request or a response."""
    for kind, cls in (*KINDS.items(), *_RESPONSES.items()):
        if type(request) is cls:
            return kind
    raise AssertionError(f"not an etcd request or response: {request!r}")


def is_response(value: object) -> bool:
    """Whether `value` is one of etcd's responses (a command's result may hold anything)."""
    return isinstance(value, RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse | CompactionResponse) or (
        type(value) in LEASE_RESPONSES.values()
    )


def prefix_end(prefix: str) -> str:
    """The `range_end` that makes a range cover every key starting with `prefix` (etcd's
    `GetPrefixRangeEnd`), on code points, which order as UTF-8 bytes do."""
    characters = list(prefix)
    while characters and characters[-1] == chr(0x10FFFF):
        characters.pop()
    if not characters:
        return ALL_KEYS_FROM
    following = ord(characters[-1]) + 1
    # Surrogates are no characters of a UTF-8 key: the next one is past them.
    characters[-1] = chr(0xE000 if 0xD800 <= following <= 0xDFFF else following)
    return "".join(characters)


# --- What etcd refuses before its log -------------------------------------------------------

REQUEST_HEADER_BYTES = 14
"""What etcd adds to a request before measuring it: a header holding a request id whose
encoding takes 8 to 10 bytes depending on the member's id. The most it can take, so raftcore
refuses a request no later than any etcd would, and at most 3 bytes earlier."""


def refusal(request: EtcdRequest, limits: Limits) -> str | None:
    """etcd's error for a request it refuses before logging it, whatever the store holds;
    None if it would log it. In etcd's order: the key and operation checks of its gRPC
    layer, the duplicate-key check, then the size of what would be logged. A range or a txn
    of ranges only is never logged by etcd (it is read at a read index), so never too large."""
    if kind_of(request) in LEASE_KINDS:
        # etcd refuses a TTL beyond its maximum before logging the grant.
        too_large = isinstance(request, LeaseGrantRequest) and request.ttl_seconds > MAX_LEASE_TTL_SECONDS
        return LEASE_TTL_TOO_LARGE if too_large else None
    try:
        if isinstance(request, TxnRequest):
            _check_txn_shape(request, limits.max_txn_ops)
            _check_intervals(request.success)
            _check_intervals(request.failure)
        elif isinstance(request, RangeRequest | PutRequest | DeleteRangeRequest):
            _check_operation(request)
    except EtcdError as error:
        return error.message
    if is_read_only(request):
        return None
    if request_size(request) > limits.max_request_bytes:
        return REQUEST_TOO_LARGE
    return None


def is_read_only(request: EtcdRequest) -> bool:
    """A range, or a txn whose branches hold ranges only (a nested txn counts as a write,
    as in etcd, even if it writes nothing)."""
    if isinstance(request, RangeRequest):
        return True
    if not isinstance(request, TxnRequest):
        return False
    return all(isinstance(operation, RangeRequest) for operation in (*request.success, *request.failure))


def _check_txn_shape(txn: TxnRequest, max_operations: int) -> None:
    """etcd's `checkTxnRequest`: the longest of compares, success and failure counts, and a
    nested txn gets only what its parent left."""
    operations = max(len(txn.compare), len(txn.success), len(txn.failure))
    if operations > max_operations:
        raise EtcdError(TOO_MANY_OPERATIONS)
    for compare in txn.compare:
        if not compare.key:
            raise EtcdError(EMPTY_KEY)
    for operation in (*txn.success, *txn.failure):
        if isinstance(operation, TxnRequest):
            _check_txn_shape(operation, max_operations - operations)
        else:
            _check_operation(operation)


def _check_operation(operation: RangeRequest | PutRequest | DeleteRangeRequest) -> None:
    if not operation.key:
        raise EtcdError(EMPTY_KEY)
    if isinstance(operation, PutRequest) and operation.ignore_value and operation.value:
        raise EtcdError(VALUE_PROVIDED)


def _check_intervals(operations: tuple[RequestOp, ...]) -> tuple[set[str], list[tuple[str, str]]]:
    """etcd 3.4's `checkIntervals`: no key is put twice, nor put where a delete of the same
    branch (at this level, or in a nested txn earlier in the branch) reaches. Two deletes may
    overlap, the two branches of a nested txn may put the same key, and a put in a nested txn
    followed by a delete in a later one passes. Returns the keys put and the deleted spans,
    `[start, end)`, for the level above.

    As in etcd 3.4, a delete whose `range_end` is "\\0" (every key from `key` on) is taken as
    the span `[key, "\\0")`, which holds no key, so it never counts against a put."""
    deleted = [
        (operation.key, operation.range_end or operation.key + "\0")
        for operation in operations
        if isinstance(operation, DeleteRangeRequest)
    ]
    put: set[str] = set()
    for operation in operations:
        if not isinstance(operation, TxnRequest):
            continue
        put_then, deleted_then = _check_intervals(operation.success)
        put_else, deleted_else = _check_intervals(operation.failure)
        for key in sorted(put_then):
            if key in put or _reaches(deleted, key):
                raise EtcdError(DUPLICATE_KEY)
            put.add(key)
        for key in sorted(put_else):
            # Only one branch runs: a key both branches put is no duplicate.
            if key in put and key not in put_then:
                raise EtcdError(DUPLICATE_KEY)
            if _reaches(deleted, key):
                raise EtcdError(DUPLICATE_KEY)
            put.add(key)
        deleted += deleted_then + deleted_else
    for operation in operations:
        if isinstance(operation, PutRequest):
            if operation.key in put or _reaches(deleted, operation.key):
                raise EtcdError(DUPLICATE_KEY)
            put.add(operation.key)
    return put, deleted


def _reaches(spans: list[tuple[str, str]], key: str) -> bool:
    return any(start <= key < end for start, end in spans)


def request_size(request: EtcdRequest) -> int:
    """The bytes etcd would log for `request`: its protobuf encoding inside etcd's
    `InternalRaftRequest` (field 3 range, 4 put, 5 delete, 6 txn, 7 compaction) plus the
    header (`REQUEST_HEADER_BYTES`). Strings count as UTF-8 bytes."""
    numbers = {"range": 3, "put": 4, "delete": 5, "txn": 6, "compact": 7, "lease-grant": 8, "lease-revoke": 9}
    return REQUEST_HEADER_BYTES + _message_field(numbers[kind_of(request)], _message_size(request))


def _message_size(message: EtcdRequest | Compare) -> int:
    if isinstance(message, LeaseGrantRequest):
        return _integer_field(1, message.ttl_seconds) + _integer_field(2, message.lease_id)
    if isinstance(message, LeaseRevokeRequest):
        return _integer_field(1, message.lease_id)
    if isinstance(message, RangeRequest):
        return (
            _bytes_field(1, message.key)
            + _bytes_field(2, message.range_end)
            + _integer_field(3, message.limit)
            + _integer_field(4, message.revision)
            + _integer_field(5, SORT_ORDERS.index(message.sort_order))
            + _integer_field(6, SORT_TARGETS.index(message.sort_target))
            + _integer_field(7, int(message.serializable))
            + _integer_field(8, int(message.keys_only))
            + _integer_field(9, int(message.count_only))
        )
    if isinstance(message, PutRequest):
        return (
            _bytes_field(1, message.key)
            + _bytes_field(2, message.value)
            + _integer_field(3, message.lease)
            + _integer_field(4, int(message.prev_kv))
            + _integer_field(5, int(message.ignore_value))
        )
    if isinstance(message, DeleteRangeRequest):
        return (
            _bytes_field(1, message.key) + _bytes_field(2, message.range_end) + _integer_field(3, int(message.prev_kv))
        )
    if isinstance(message, Compare):
        return _compare_size(message)
    if isinstance(message, TxnRequest):
        return (
            sum(_message_field(1, _compare_size(compare)) for compare in message.compare)
            + sum(_message_field(2, _operation_size(operation)) for operation in message.success)
            + sum(_message_field(3, _operation_size(operation)) for operation in message.failure)
        )
    assert isinstance(message, CompactionRequest), f"never logged: {message!r}"
    return _integer_field(1, message.revision) + _integer_field(2, int(message.physical))


def _compare_size(compare: Compare) -> int:
    """A compare's operand is one of a oneof, encoded even when it is the default."""
    operand = compare.operand
    # Fields 4 to 7: version, create_revision, mod_revision, value, in the targets' order.
    number = 4 + COMPARE_TARGETS.index(compare.target)
    operand_size = (
        _message_field(number, len(operand.encode()))
        if isinstance(operand, str)
        else _varint_size(number << 3) + _varint_size(operand)
    )
    return (
        _integer_field(1, COMPARE_RESULTS.index(compare.result))
        + _integer_field(2, COMPARE_TARGETS.index(compare.target))
        + _bytes_field(3, compare.key)
        + operand_size
        + _bytes_field(64, compare.range_end)
    )


def _operation_size(operation: RequestOp) -> int:
    """A `RequestOp`: a oneof of the four, numbered 1 (range) to 4 (txn)."""
    numbers = {"range": 1, "put": 2, "delete": 3, "txn": 4}
    return _message_field(numbers[kind_of(operation)], _message_size(operation))


def _varint_size(number: int) -> int:
    if number < 0:
        return 10
    size = 1
    while number >= 0x80:
        number >>= 7
        size += 1
    return size


def _message_field(number: int, size: int) -> int:
    return _varint_size(number << 3) + _varint_size(size) + size


def _bytes_field(number: int, text: str) -> int:
    """proto3 leaves an empty field out."""
    return _message_field(number, len(text.encode())) if text else 0


def _integer_field(number: int, value: int) -> int:
    return _varint_size(number << 3) + _varint_size(value) if value else 0


# --- JSON -----------------------------------------------------------------------------------

# Fields of etcd's messages that raftcore does not implement: read only at their defaults.
_UNSUPPORTED = {
    "range": ("min_mod_revision", "max_mod_revision", "min_create_revision", "max_create_revision"),
    "put": ("ignore_lease",),
    "compare": ("lease",),
}


def request_from_json(kind: str, body: Any) -> EtcdRequest:
    """Read a request of the contract's `kind` (range, put, delete, txn, compact). Raises
    ValueError naming the field at fault: a malformed request is the client's mistake."""
    if kind not in KINDS:
        raise ValueError(f"unknown etcd request kind {kind!r}; known: {', '.join(KINDS)}")
    if kind in LEASE_KINDS:
        return lease_request_from_json(kind, body)
    if kind == "compact":
        fields = _object(body, kind, ("revision", "physical"))
        return CompactionRequest(_integer(fields, "revision", kind), _boolean(fields, "physical", kind))
    return _operation_from_json(kind, body, kind)


def _operation_from_json(kind: str, body: Any, where: str) -> RequestOp:
    if kind == "range":
        fields = _object(body, where, tuple(field.name for field in dataclasses.fields(RangeRequest)))
        return RangeRequest(
            _string(fields, "key", where),
            _string(fields, "range_end", where),
            _integer(fields, "limit", where),
            _integer(fields, "revision", where),
            _choice(fields, "sort_order", where, SORT_ORDERS),
            _choice(fields, "sort_target", where, SORT_TARGETS),
            _boolean(fields, "keys_only", where),
            _boolean(fields, "count_only", where),
            _boolean(fields, "serializable", where),
        )
    if kind == "put":
        fields = _object(body, where, ("key", "value", "prev_kv", "ignore_value", "lease"))
        lease = _integer(fields, "lease", where)
        if lease < 0:
            raise ValueError(f"{where}.lease: a lease id is not negative, got {lease}")
        return PutRequest(
            _string(fields, "key", where),
            _string(fields, "value", where),
            _boolean(fields, "prev_kv", where),
            _boolean(fields, "ignore_value", where),
            lease,
        )
    if kind == "delete":
        fields = _object(body, where, ("key", "range_end", "prev_kv"))
        return DeleteRangeRequest(
            _string(fields, "key", where), _string(fields, "range_end", where), _boolean(fields, "prev_kv", where)
        )
    assert kind == "txn", kind
    fields = _object(body, where, ("compare", "success", "failure"))
    return TxnRequest(
        tuple(
            _compare_from_json(item, f"{where}.compare[{i}]") for i, item in enumerate(_list(fields, "compare", where))
        ),
        _branch_from_json(_list(fields, "success", where), f"{where}.success"),
        _branch_from_json(_list(fields, "failure", where), f"{where}.failure"),
    )


def _branch_from_json(items: list[Any], where: str) -> tuple[RequestOp, ...]:
    operations = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        fields = _object(item, at, tuple(_OPERATION_FIELDS.values()), unsupported=False)
        if len(fields) != 1:
            raise ValueError(f"{at}: a txn operation holds exactly one of {', '.join(_OPERATION_FIELDS.values())}")
        ((name, body),) = fields.items()
        kind = next(kind for kind, field in _OPERATION_FIELDS.items() if field == name)
        operations.append(_operation_from_json(kind, body, f"{at}.{name}"))
    return tuple(operations)


def _compare_from_json(body: Any, where: str) -> Compare:
    fields = _object(body, where, ("key", "range_end", "target", "result", *COMPARE_OPERANDS.values()), "compare")
    target = _choice(fields, "target", where, COMPARE_TARGETS)
    operand = COMPARE_OPERANDS[target]

    def integer(name: str) -> int:
        # etcd compares with the field its target names; another one set counts as its default.
        return _integer(fields, name, where) if operand == name else 0

    return Compare(
        _string(fields, "key", where),
        target,
        _choice(fields, "result", where, COMPARE_RESULTS),
        _string(fields, "range_end", where),
        value=_string(fields, "value", where) if operand == "value" else "",
        version=integer("version"),
        create_revision=integer("create_revision"),
        mod_revision=integer("mod_revision"),
    )


def request_to_json(request: EtcdRequest) -> dict[str, Any]:
    """The canonical JSON of a request: every field written, a compare's operand only under
    the name its target reads."""
    if isinstance(request, Compare):
        raise TypeError("a compare is part of a txn, not a request")
    if kind_of(request) in LEASE_KINDS:
        return lease_request_to_json(request)  # type: ignore[arg-type]
    if isinstance(request, PutRequest) and not request.lease:
        # A put without a lease logs the bytes it logged before leases existed.
        return {name: getattr(request, name) for name in ("key", "value", "prev_kv", "ignore_value")}
    if isinstance(request, RangeRequest) and not request.serializable:
        # Likewise a range that is not serializable: the bytes it had before the flag.
        return {field.name: getattr(request, field.name) for field in dataclasses.fields(request)[:-1]}
    if isinstance(request, TxnRequest):
        return {
            "compare": [_compare_to_json(compare) for compare in request.compare],
            "success": [_operation_to_json(operation) for operation in request.success],
            "failure": [_operation_to_json(operation) for operation in request.failure],
        }
    return {field.name: getattr(request, field.name) for field in dataclasses.fields(request)}


def _operation_to_json(operation: RequestOp) -> dict[str, Any]:
    return {_OPERATION_FIELDS[kind_of(operation)]: request_to_json(operation)}


def _compare_to_json(compare: Compare) -> dict[str, Any]:
    operand = COMPARE_OPERANDS[compare.target]
    return {
        "key": compare.key,
        "range_end": compare.range_end,
        "target": compare.target,
        "result": compare.result,
        operand: compare.operand,
    }


def response_to_json(response: EtcdResponse) -> dict[str, Any]:
    """The contract's JSON of a response: a fresh object each call, so a reader may keep or
    change it without touching the store's answer."""
    if kind_of(response) in LEASE_RESPONSES:
        return lease_response_to_json(response)  # type: ignore[arg-type]
    header = {"header": {"revision": response.revision}}
    if isinstance(response, RangeResponse):
        return {
            **header,
            "kvs": [kv_to_json(kv) for kv in response.kvs],
            "more": response.more,
            "count": response.count,
        }
    if isinstance(response, PutResponse):
        return header if response.prev_kv is None else {**header, "prev_kv": kv_to_json(response.prev_kv)}
    if isinstance(response, DeleteRangeResponse):
        return {**header, "deleted": response.deleted, "prev_kvs": [kv_to_json(kv) for kv in response.prev_kvs]}
    if isinstance(response, TxnResponse):
        return {
            **header,
            "succeeded": response.succeeded,
            "responses": [{_RESPONSE_FIELDS[kind_of(item)]: response_to_json(item)} for item in response.responses],
        }
    return header


def kv_to_json(kv: KeyValue) -> dict[str, Any]:
    """A key's JSON; no `value` where the read asked for keys only."""
    value = {} if kv.value is None else {"value": kv.value}
    return {
        "key": kv.key,
        **value,
        "create_revision": kv.create_revision,
        "mod_revision": kv.mod_revision,
        "version": kv.version,
        **({"lease": kv.lease} if kv.lease else {}),
    }


def response_from_json(kind: str, body: Any) -> EtcdResponse:
    """Read a response of the contract's `kind`, leniently as etcd's own JSON needs: integers
    may be decimal strings, absent fields are defaults, and a header may hold more than the
    revision (etcd's cluster and member ids, its Raft term)."""
    if kind not in _RESPONSES:
        raise ValueError(f"unknown etcd response kind {kind!r}; known: {', '.join(_RESPONSES)}")
    if kind in LEASE_RESPONSES:
        return lease_response_from_json(kind, body)
    fields = _object(
        body, kind, ("header", "kvs", "more", "count", "prev_kv", "deleted", "prev_kvs", "succeeded", "responses")
    )
    header = _object(fields.get("header", {}), f"{kind}.header", None)
    revision = _integer(header, "revision", f"{kind}.header")
    if kind == "range":
        kvs = tuple(_kv_from_json(item, f"range.kvs[{i}]") for i, item in enumerate(_list(fields, "kvs", kind)))
        return RangeResponse(revision, kvs, _boolean(fields, "more", kind), _integer(fields, "count", kind))
    if kind == "put":
        prev = fields.get("prev_kv")
        return PutResponse(revision, None if prev is None else _kv_from_json(prev, "put.prev_kv"))
    if kind == "delete":
        prev_kvs = tuple(
            _kv_from_json(item, f"delete.prev_kvs[{i}]") for i, item in enumerate(_list(fields, "prev_kvs", kind))
        )
        return DeleteRangeResponse(revision, _integer(fields, "deleted", kind), prev_kvs)
    if kind == "txn":
        responses: list[ResponseOp] = []
        for index, item in enumerate(_list(fields, "responses", kind)):
            at = f"txn.responses[{index}]"
            wrapper = _object(item, at, tuple(_RESPONSE_FIELDS.values()), unsupported=False)
            if len(wrapper) != 1:
                raise ValueError(f"{at}: a txn response holds exactly one of {', '.join(_RESPONSE_FIELDS.values())}")
            ((name, inner),) = wrapper.items()
            inner_kind = next(key for key, field in _RESPONSE_FIELDS.items() if field == name)
            inner_response = response_from_json(inner_kind, inner)
            assert isinstance(inner_response, RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse), (
                "a txn holds ranges, puts, deletes and txns only"
            )
            responses.append(inner_response)
        return TxnResponse(revision, _boolean(fields, "succeeded", kind), tuple(responses))
    return CompactionResponse(revision)


def _kv_from_json(body: Any, where: str) -> KeyValue:
    fields = _object(body, where, ("key", "value", "create_revision", "mod_revision", "version", "lease"), False)
    # An absent value is the empty string (proto3 leaves it out), as after a keys-only read.
    return KeyValue(
        _string(fields, "key", where),
        fields.get("value", ""),
        _integer(fields, "create_revision", where),
        _integer(fields, "mod_revision", where),
        _integer(fields, "version", where),
        _integer(fields, "lease", where),
    )


def _object(body: Any, where: str, known: tuple[str, ...] | None, unsupported: str | bool = True) -> Mapping[str, Any]:
    """`body` as an object of `known` fields (None: any). Fields etcd has and raftcore does not
    implement (`_UNSUPPORTED` under `unsupported`, by default `where`'s kind) pass at their
    default only."""
    if not isinstance(body, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(body).__name__}")
    group = where if unsupported is True else unsupported if isinstance(unsupported, str) else ""
    ignored = _UNSUPPORTED.get(group, ())
    for name, value in body.items():
        if name in ignored:
            if value not in (0, "0", False, "", None):
                raise ValueError(f"{where}.{name}: raftcore does not implement {name}")
        elif known is not None and name not in known:
            raise ValueError(f"{where}: unknown field {name!r}")
    return {name: value for name, value in body.items() if name not in ignored}


def _string(fields: Mapping[str, Any], name: str, where: str) -> str:
    value = fields.get(name, "")
    if not isinstance(value, str):
        raise ValueError(f"{where}.{name}: expected a string, got {type(value).__name__}")
    return value


def _boolean(fields: Mapping[str, Any], name: str, where: str) -> bool:
    value = fields.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"{where}.{name}: expected true or false, got {value!r}")
    return value


def _choice(fields: Mapping[str, Any], name: str, where: str, choices: tuple[str, ...]) -> str:
    value = fields.get(name, choices[0])
    if value not in choices:
        raise ValueError(f"{where}.{name}: expected one of {', '.join(choices)}, got {value!r}")
    assert isinstance(value, str)
    return value


def _list(fields: Mapping[str, Any], name: str, where: str) -> list[Any]:
    value = fields.get(name, [])
    if not isinstance(value, list):
        raise ValueError(f"{where}.{name}: expected a list, got {type(value).__name__}")
    return value
