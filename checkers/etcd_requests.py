"""etcd v3 requests and responses as histories carry them, read into frozen values.

The JSON shape is etcd's v3 JSON gateway's (`/v3/kv/range` and the rest, proto field names
in snake_case) with keys and values as plain strings and integers as JSON integers; an
integer written as a decimal string (the gateway's int64) is read too, and an absent field
is its default (false, 0, empty), as proto3 JSON omits defaults. The one exception is a
compare's operand: it is a `oneof`, which proto3 JSON always writes, so a compare without
the field its target names is refused.

Every value here is hashable and compared by value (the search groups operations by
input and output), and `to_json()` writes back the object it was read from, defaults left
out. Parsing raises `ShapeError(field, message)`, the field a dotted path inside the
history line's `value` (`compare.0.target`); `checkers.history` turns it into an
InputError naming the file and line. Nothing here knows the store: the model
(`checkers.models.etcd`) gives these values their meaning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

RANGE, PUT, DELETE, TXN, COMPACT = "range", "put", "delete", "txn", "compact"
LEASE_GRANT, LEASE_REVOKE = "lease-grant", "lease-revoke"
LEASE_KEEPALIVE, LEASE_TIMETOLIVE = "lease-keepalive", "lease-timetolive"
LEASE_FUNCTIONS = (LEASE_GRANT, LEASE_REVOKE, LEASE_KEEPALIVE, LEASE_TIMETOLIVE)
UNLOGGED_LEASE_FUNCTIONS = (LEASE_KEEPALIVE, LEASE_TIMETOLIVE)
"""Answered by the leader from its memory, not through the log (as etcd does): a deposed
leader may still answer them, so neither their header nor their answer is linearizable."""
ETCD_FUNCTIONS = (RANGE, PUT, DELETE, TXN, COMPACT, *LEASE_FUNCTIONS)
"""The history `f` of each request kind. A line of one of these whose `value` is an
object is read as an etcd request or response (kv's `put` carries a string, and stays
kv's). The lease kinds' JSON is the gateway's (`ID`, `TTL`, `grantedTTL`, `keys`)."""
OBSERVING_FUNCTIONS = (RANGE, COMPACT)

ERROR_COMPACTED = "etcdserver: mvcc: required revision has been compacted"
ERROR_FUTURE = "etcdserver: mvcc: required revision is a future revision"
OBSERVED_ERRORS = {ERROR_COMPACTED: "compacted", ERROR_FUTURE: "future"}
"""Errors that tell something about the store when a range or a compact returns them."""

SORT_ORDERS = ("NONE", "ASCEND", "DESCEND")
SORT_TARGETS = ("KEY", "VERSION", "CREATE", "MOD", "VALUE")
COMPARE_TARGETS = ("VERSION", "CREATE", "MOD", "VALUE")  # proto order: VERSION is the default
COMPARE_RESULTS = ("EQUAL", "GREATER", "LESS", "NOT_EQUAL")  # proto order: EQUAL is the default
OPERAND_FIELD = {"VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision", "VALUE": "value"}
ALL_KEYS_END = "\u0000"
"""A `range_end` of one NUL byte: every key at or after `key`."""


class ShapeError(ValueError):
    """A request or response that does not have the contract's shape."""

    def __init__(self, field_path: str | None, message: str) -> None:
        super().__init__(message)
        self.field_path = field_path
        self.message = message


# ---------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: str
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"key": self.key}
        if self.value:
            record["value"] = self.value
        record.update(create_revision=self.create_revision, mod_revision=self.mod_revision, version=self.version)
        if self.lease:
            record["lease"] = self.lease
        return record


class _ShownAsJson:
    """A request shows as the JSON the history holds it in: what a timeline label, an
    explanation or a terminal line prints of it, in the user's own vocabulary."""

    __slots__ = ()

    def __str__(self) -> str:
        return json.dumps(_any_request_json(self), separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class RangeRequest(_ShownAsJson):
    key: str
    range_end: str = ""
    limit: int = 0
    revision: int = 0
    sort_order: str = "NONE"
    sort_target: str = "KEY"
    keys_only: bool = False
    count_only: bool = False
    serializable: bool = False
    """Served from the member's own state: judged as any read unless the check is told
    that serializable reads may be stale."""


@dataclass(frozen=True, slots=True)
class PutRequest(_ShownAsJson):
    key: str
    value: str = ""
    prev_kv: bool = False
    ignore_value: bool = False
    lease: int = 0


@dataclass(frozen=True, slots=True)
class DeleteRequest(_ShownAsJson):
    key: str
    range_end: str = ""
    prev_kv: bool = False


@dataclass(frozen=True, slots=True)
class Compare:
    key: str
    target: str
    result: str
    operand: str | int
    range_end: str = ""

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"key": self.key}
        if self.range_end:
            record["range_end"] = self.range_end
        record.update(target=self.target, result=self.result)
        record[OPERAND_FIELD[self.target]] = self.operand
        return record


@dataclass(frozen=True, slots=True)
class TxnRequest(_ShownAsJson):
    compare: tuple[Compare, ...] = ()
    success: tuple[Request, ...] = ()
    failure: tuple[Request, ...] = ()

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {}
        if self.compare:
            record["compare"] = [item.to_json() for item in self.compare]
        for name in ("success", "failure"):
            branch: tuple[Request, ...] = getattr(self, name)
            if branch:
                record[name] = [{_NESTED_REQUEST_NAMES[type(item)]: request_json(item)} for item in branch]
        return record


@dataclass(frozen=True, slots=True)
class CompactRequest(_ShownAsJson):
    revision: int
    physical: bool = False


@dataclass(frozen=True, slots=True)
class LeaseGrantRequest(_ShownAsJson):
    """`lease_id` 0: the server picks the id (its response names it)."""

    ttl: int
    lease_id: int = 0


@dataclass(frozen=True, slots=True)
class LeaseRevokeRequest(_ShownAsJson):
    lease_id: int


@dataclass(frozen=True, slots=True)
class LeaseKeepAliveRequest(_ShownAsJson):
    lease_id: int


@dataclass(frozen=True, slots=True)
class LeaseTimeToLiveRequest(_ShownAsJson):
    lease_id: int
    keys: bool = False


LeaseRequest = LeaseGrantRequest | LeaseRevokeRequest | LeaseKeepAliveRequest | LeaseTimeToLiveRequest
Request = RangeRequest | PutRequest | DeleteRequest | TxnRequest | CompactRequest | LeaseRequest


@dataclass(frozen=True, slots=True)
class RangeResponse:
    revision: int | None
    shown_header: int | None = field(default=None, compare=False, kw_only=True)
    kvs: tuple[KeyValue, ...] = ()
    more: bool = False
    count: int = 0


@dataclass(frozen=True, slots=True)
class PutResponse:
    revision: int | None
    shown_header: int | None = field(default=None, compare=False, kw_only=True)
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class DeleteResponse:
    revision: int | None
    shown_header: int | None = field(default=None, compare=False, kw_only=True)
    deleted: int = 0
    prev_kvs: tuple[KeyValue, ...] = ()


@dataclass(frozen=True, slots=True)
class TxnResponse:
    revision: int | None
    shown_header: int | None = field(default=None, compare=False, kw_only=True)
    succeeded: bool = False
    responses: tuple[Response, ...] = ()


@dataclass(frozen=True, slots=True)
class CompactResponse:
    revision: int | None
    shown_header: int | None = field(default=None, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class ErrorResult:
    """A range or compact that failed with one of `OBSERVED_ERRORS`: `kind` is
    "compacted" or "future". Carried as the operation's result (see `checkers.history`)."""

    kind: str
    message: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class LeaseGrantResponse:
    """`ttl` is the server's (it may raise what was asked to its minimum), not compared."""

    revision: int | None
    lease_id: int = 0
    ttl: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class LeaseRevokeResponse:
    revision: int | None


@dataclass(frozen=True, slots=True)
class LeaseKeepAliveResponse:
    """`ttl` 0: the lease was not found."""

    revision: int | None
    lease_id: int = 0
    ttl: int = 0


@dataclass(frozen=True, slots=True)
class LeaseTimeToLiveResponse:
    """`ttl` -1: the lease was not found."""

    revision: int | None
    lease_id: int = 0
    ttl: int = 0
    granted_ttl: int = 0
    keys: tuple[str, ...] = ()


LeaseResponse = LeaseGrantResponse | LeaseRevokeResponse | LeaseKeepAliveResponse | LeaseTimeToLiveResponse
Response = RangeResponse | PutResponse | DeleteResponse | TxnResponse | CompactResponse | LeaseResponse
"""`revision` is header.revision; None inside a txn, whose nested headers the model does
not judge (the txn's own header says its revision): a nested header read from a file is
kept in `shown_header`, which comparisons ignore, only to be written back."""

_REQUEST_TYPES: dict[str, type] = {
    RANGE: RangeRequest,
    PUT: PutRequest,
    DELETE: DeleteRequest,
    TXN: TxnRequest,
    COMPACT: CompactRequest,
    LEASE_GRANT: LeaseGrantRequest,
    LEASE_REVOKE: LeaseRevokeRequest,
    LEASE_KEEPALIVE: LeaseKeepAliveRequest,
    LEASE_TIMETOLIVE: LeaseTimeToLiveRequest,
}
_LEASE_RESPONSE_TYPES = (LeaseGrantResponse, LeaseRevokeResponse, LeaseKeepAliveResponse, LeaseTimeToLiveResponse)
_NESTED_REQUEST_NAMES: dict[type, str] = {
    RangeRequest: "request_range",
    PutRequest: "request_put",
    DeleteRequest: "request_delete_range",
    TxnRequest: "request_txn",
}
_NESTED_REQUESTS = {name: kind for kind, name in _NESTED_REQUEST_NAMES.items()}
_NESTED_RESPONSE_NAMES: dict[type, str] = {
    RangeResponse: "response_range",
    PutResponse: "response_put",
    DeleteResponse: "response_delete_range",
    TxnResponse: "response_txn",
}
_NESTED_RESPONSES = {name: kind for kind, name in _NESTED_RESPONSE_NAMES.items()}
_KIND_OF_REQUEST = {kind: f for f, kind in _REQUEST_TYPES.items()}


def request_kind(request: Request) -> str:
    """The `f` of a request."""
    return _KIND_OF_REQUEST[type(request)]


# ---------------------------------------------------------------------------------------
# Writing back


def _any_request_json(request: Any) -> dict[str, Any]:
    return request_json(request)


def request_json(request: Request) -> dict[str, Any]:
    """The request as the contract writes it, defaults left out."""
    if isinstance(request, TxnRequest):
        return request.to_json()
    if isinstance(request, LeaseGrantRequest):
        return {"TTL": request.ttl, "ID": request.lease_id}
    if isinstance(request, LeaseTimeToLiveRequest):
        return {"ID": request.lease_id, "keys": request.keys}
    if isinstance(request, LeaseRevokeRequest | LeaseKeepAliveRequest):
        return {"ID": request.lease_id}
    return _plain_json(request)


def _plain_json(value: Any) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name in type(value).__slots__:
        item = getattr(value, name)
        default = _DEFAULTS.get(name)
        always = name == "key" or (name == "revision" and isinstance(value, CompactRequest))
        if always or (item != default and item is not None):
            record[name] = item
    return record


_DEFAULTS: dict[str, object] = {
    "range_end": "",
    "limit": 0,
    "revision": 0,
    "sort_order": "NONE",
    "sort_target": "KEY",
    "keys_only": False,
    "count_only": False,
    "serializable": False,
    "value": "",
    "prev_kv": False,
    "ignore_value": False,
    "physical": False,
    "lease": 0,
}


def response_json(response: Response | ErrorResult) -> dict[str, Any] | None:
    """The response as the contract writes it (a header only where it has a revision)."""
    if isinstance(response, ErrorResult):
        return None
    if isinstance(response, _LEASE_RESPONSE_TYPES):
        return _lease_response_json(response)
    record: dict[str, Any] = {}
    header = response.revision if response.revision is not None else response.shown_header
    if header is not None:
        record["header"] = {"revision": header}
    if isinstance(response, RangeResponse):
        if response.kvs:
            record["kvs"] = [kv.to_json() for kv in response.kvs]
        if response.more:
            record["more"] = True
        if response.count:
            record["count"] = response.count
    elif isinstance(response, PutResponse):
        if response.prev_kv is not None:
            record["prev_kv"] = response.prev_kv.to_json()
    elif isinstance(response, DeleteResponse):
        if response.deleted:
            record["deleted"] = response.deleted
        if response.prev_kvs:
            record["prev_kvs"] = [kv.to_json() for kv in response.prev_kvs]
    elif isinstance(response, TxnResponse):
        if response.succeeded:
            record["succeeded"] = True
        if response.responses:
            record["responses"] = [
                {_NESTED_RESPONSE_NAMES[type(item)]: response_json(item)} for item in response.responses
            ]
    return record


def _lease_response_json(response: LeaseResponse) -> dict[str, Any]:
    header = {"header": {"revision": response.revision}}
    if isinstance(response, LeaseGrantResponse):
        return {**header, "ID": response.lease_id, "TTL": response.ttl}
    if isinstance(response, LeaseKeepAliveResponse):
        return {"result": {**header, "ID": response.lease_id, "TTL": response.ttl}}
    if isinstance(response, LeaseTimeToLiveResponse):
        return {
            **header,
            "ID": response.lease_id,
            "TTL": response.ttl,
            "grantedTTL": response.granted_ttl,
            "keys": list(response.keys),
        }
    return header


def value_json(value: object) -> object:
    """A request, a response, an error result (`{"error": message}`) or anything else
    (written as it is) in its JSON form."""
    if type(value) in _KIND_OF_REQUEST:
        return request_json(value)  # type: ignore[arg-type]
    if isinstance(value, (RangeResponse, PutResponse, DeleteResponse, TxnResponse, CompactResponse)):
        return response_json(value)
    if isinstance(value, _LEASE_RESPONSE_TYPES):
        return _lease_response_json(value)
    if isinstance(value, ErrorResult):
        return {"error": value.message or value.kind}
    return value


# ---------------------------------------------------------------------------------------
# Reading


_DECIMAL = re.compile(r"-?[0-9]{1,19}")
MAX_TXN_DEPTH = 16
"""Nested txns deeper than this are refused (the line's own nesting limit is wider)."""


class _Fields:
    """One JSON object being read: each field is taken once; what is left is unknown."""

    def __init__(self, value: object, path: str | None, what: str) -> None:
        if not isinstance(value, dict):
            raise ShapeError(path, f"{what} must be a JSON object, got {_shown(value)}")
        self.record: dict[str, Any] = dict(value)
        self.path = path
        self.what = what

    def at(self, name: str) -> str:
        return name if self.path is None else f"{self.path}.{name}"

    def has(self, name: str) -> bool:
        return name in self.record

    def text(self, name: str, *, required: bool = False) -> str:
        if name not in self.record:
            if required:
                raise ShapeError(self.at(name), f"missing (a {self.what} names it)")
            return ""
        item = self.record.pop(name)
        if not isinstance(item, str):
            raise ShapeError(self.at(name), f"must be a string, got {_shown(item)}")
        return item

    def integer(self, name: str) -> int:
        """A signed integer (a lease's TTL may be -1), 0 when absent."""
        item = self.record.pop(name, 0)
        if isinstance(item, str) and _DECIMAL.fullmatch(item):
            item = int(item)
        if type(item) is not int or not -(1 << 63) <= item < 1 << 63:
            raise ShapeError(self.at(name), f"must be an integer (or its decimal string), got {_shown(item)}")
        return item

    def natural(self, name: str, *, required: bool = False) -> int:
        if name not in self.record:
            if required:
                raise ShapeError(self.at(name), f"missing (a {self.what} names it)")
            return 0
        item = self.record.pop(name)
        if isinstance(item, str) and _DECIMAL.fullmatch(item):
            item = int(item)
        if type(item) is not int:
            raise ShapeError(self.at(name), f"must be an integer (or its decimal string), got {_shown(item)}")
        if item < 0:
            raise ShapeError(self.at(name), f"must not be negative, got {item}")
        if item >= 1 << 63:
            raise ShapeError(self.at(name), f"is beyond etcd's int64, got {item}")
        return item

    def flag(self, name: str) -> bool:
        item = self.record.pop(name, False)
        if type(item) is not bool:
            raise ShapeError(self.at(name), f"must be true or false, got {_shown(item)}")
        return item

    def choice(self, name: str, choices: tuple[str, ...], what: str) -> str:
        item = self.record.pop(name, choices[0])
        if item not in choices:
            raise ShapeError(self.at(name), f"unknown {what} {_shown(item)} (known: {', '.join(choices)})")
        return str(item)

    def array(self, name: str) -> list[Any]:
        item = self.record.pop(name, [])
        if not isinstance(item, list):
            raise ShapeError(self.at(name), f"must be an array, got {_shown(item)}")
        return item

    def done(self) -> None:
        if self.record:
            name = sorted(self.record)[0]
            raise ShapeError(self.at(name), f"unknown field of a {self.what}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}…{text[-10:]}"


def _join(path: str | None, name: str | int) -> str:
    return str(name) if path is None else f"{path}.{name}"


def parse_request(kind: str, value: object, path: str | None = None, depth: int = 0) -> Request:
    """The request of an invoke whose `f` is `kind`; ShapeError when malformed."""
    if depth > MAX_TXN_DEPTH:
        raise ShapeError(path, f"txns nested more than {MAX_TXN_DEPTH} deep")
    fields = _Fields(value, path, f"{kind} request")
    request: Request
    if kind in LEASE_FUNCTIONS:
        request = _parse_lease_request(kind, fields)
    elif kind == RANGE:
        request = RangeRequest(
            key=fields.text("key", required=True),
            range_end=fields.text("range_end"),
            limit=fields.natural("limit"),
            revision=fields.natural("revision"),
            sort_order=fields.choice("sort_order", SORT_ORDERS, "sort order"),
            sort_target=fields.choice("sort_target", SORT_TARGETS, "sort target"),
            keys_only=fields.flag("keys_only"),
            count_only=fields.flag("count_only"),
            serializable=fields.flag("serializable"),
        )
    elif kind == PUT:
        request = PutRequest(
            key=fields.text("key", required=True),
            value=fields.text("value"),
            prev_kv=fields.flag("prev_kv"),
            ignore_value=fields.flag("ignore_value"),
            lease=fields.natural("lease"),
        )
    elif kind == DELETE:
        request = DeleteRequest(
            key=fields.text("key", required=True), range_end=fields.text("range_end"), prev_kv=fields.flag("prev_kv")
        )
    elif kind == TXN:
        compares = tuple(
            _parse_compare(item, _join(fields.at("compare"), n)) for n, item in enumerate(fields.array("compare"))
        )
        branches = [
            tuple(
                _parse_nested_request(item, _join(fields.at(name), n), depth)
                for n, item in enumerate(fields.array(name))
            )
            for name in ("success", "failure")
        ]
        request = TxnRequest(compares, branches[0], branches[1])
    else:
        assert kind == COMPACT, kind
        request = CompactRequest(fields.natural("revision", required=True), fields.flag("physical"))
    fields.done()
    return request


def _parse_lease_request(kind: str, fields: _Fields) -> LeaseRequest:
    if kind == LEASE_GRANT:
        ttl = fields.integer("TTL")
        return LeaseGrantRequest(ttl, fields.natural("ID"))
    lease_id = fields.natural("ID")
    if kind == LEASE_REVOKE:
        return LeaseRevokeRequest(lease_id)
    if kind == LEASE_KEEPALIVE:
        return LeaseKeepAliveRequest(lease_id)
    return LeaseTimeToLiveRequest(lease_id, fields.flag("keys"))


def _parse_lease_response(kind: str, fields: _Fields) -> LeaseResponse:
    if kind == LEASE_KEEPALIVE:
        fields = _Fields(fields.record.pop("result", {}), fields.at("result"), "keep-alive result")
    revision = _header(fields, required=True)
    response: LeaseResponse
    if kind == LEASE_GRANT:
        response = LeaseGrantResponse(revision, fields.natural("ID"), fields.integer("TTL"))
    elif kind == LEASE_KEEPALIVE:
        response = LeaseKeepAliveResponse(revision, fields.natural("ID"), fields.integer("TTL"))
    elif kind == LEASE_TIMETOLIVE:
        keys = fields.array("keys")
        for number, key in enumerate(keys):
            if not isinstance(key, str):
                raise ShapeError(_join(fields.at("keys"), number), f"must be a string, got {_shown(key)}")
        response = LeaseTimeToLiveResponse(
            revision, fields.natural("ID"), fields.integer("TTL"), fields.integer("grantedTTL"), tuple(keys)
        )
    else:
        response = LeaseRevokeResponse(revision)
    fields.done()
    return response


def _parse_compare(value: object, path: str) -> Compare:
    fields = _Fields(value, path, "compare")
    key = fields.text("key", required=True)
    range_end = fields.text("range_end")
    target = fields.choice("target", COMPARE_TARGETS, "compare target")
    result = fields.choice("result", COMPARE_RESULTS, "compare result")
    operand_name = OPERAND_FIELD[target]
    others = [name for name in OPERAND_FIELD.values() if name != operand_name and fields.has(name)]
    if others:
        raise ShapeError(fields.at(others[0]), f"a compare of target {target} compares {operand_name}, not {others[0]}")
    if not fields.has(operand_name):
        raise ShapeError(fields.at(operand_name), f"missing: a compare of target {target} names its {operand_name}")
    operand: str | int = fields.text(operand_name) if target == "VALUE" else fields.natural(operand_name)
    fields.done()
    return Compare(key, target, result, operand, range_end)


def _single(value: object, path: str, names: dict[str, type], what: str) -> tuple[str, object]:
    if not isinstance(value, dict) or len(value) != 1:
        raise ShapeError(path, f"a {what} is an object of one field ({', '.join(names)}), got {_shown(value)}")
    ((name, body),) = value.items()
    if name not in names:
        raise ShapeError(_join(path, name), f"unknown {what} (known: {', '.join(names)})")
    return name, body


def _parse_nested_request(value: object, path: str, depth: int) -> Request:
    name, body = _single(value, path, _NESTED_REQUESTS, "txn operation")
    kind = _KIND_OF_REQUEST[_NESTED_REQUESTS[name]]
    return parse_request(kind, body, _join(path, name), depth + 1)


def parse_response(kind: str, value: object, path: str | None = None, depth: int = 0) -> Response:
    """The response of an ok whose `f` is `kind`; ShapeError when malformed. A nested
    response (`depth` > 0) may leave its header out."""
    if depth > MAX_TXN_DEPTH:
        raise ShapeError(path, f"txns nested more than {MAX_TXN_DEPTH} deep")
    fields = _Fields(value, path, f"{kind} response")
    if kind in LEASE_FUNCTIONS:
        return _parse_lease_response(kind, fields)
    header = _header(fields, required=depth == 0)
    revision = header if depth == 0 else None
    response: Response
    if kind == RANGE:
        kvs = tuple(_parse_kv(item, _join(fields.at("kvs"), n)) for n, item in enumerate(fields.array("kvs")))
        response = RangeResponse(revision, kvs, fields.flag("more"), fields.natural("count"))
    elif kind == PUT:
        previous = fields.record.pop("prev_kv", None)
        response = PutResponse(revision, None if previous is None else _parse_kv(previous, fields.at("prev_kv")))
    elif kind == DELETE:
        deleted = fields.natural("deleted")
        previous_kvs = tuple(
            _parse_kv(item, _join(fields.at("prev_kvs"), n)) for n, item in enumerate(fields.array("prev_kvs"))
        )
        response = DeleteResponse(revision, deleted, previous_kvs)
    elif kind == TXN:
        succeeded = fields.flag("succeeded")
        nested = tuple(
            _parse_nested_response(item, _join(fields.at("responses"), n), depth)
            for n, item in enumerate(fields.array("responses"))
        )
        response = TxnResponse(revision, succeeded, nested)
    else:
        assert kind == COMPACT, kind
        response = CompactResponse(revision)
    fields.done()
    if depth and header is not None:
        object.__setattr__(response, "shown_header", header)
    return response


def _header(fields: _Fields, required: bool) -> int | None:
    if not fields.has("header"):
        if required:
            raise ShapeError(fields.at("header"), "missing: a response carries header.revision")
        return None
    header = _Fields(fields.record.pop("header"), fields.at("header"), "response header")
    for ignored in ("cluster_id", "member_id", "raft_term"):
        header.record.pop(ignored, None)  # the gateway writes them; they say nothing of the data
    if not header.has("revision"):
        if not required:
            header.done()
            return None  # a nested header proto3 left empty
        raise ShapeError(header.at("revision"), "missing: a response header carries its revision")
    revision = header.natural("revision")
    header.done()
    return revision


def _parse_nested_response(value: object, path: str, depth: int) -> Response:
    name, body = _single(value, path, _NESTED_RESPONSES, "txn response")
    kind = _KIND_OF_REQUEST[_NESTED_REQUESTS["request" + name.removeprefix("response")]]
    return parse_response(kind, body, _join(path, name), depth + 1)


_KV_FIELDS = frozenset({"key", "value", "create_revision", "mod_revision", "version"})


def _parse_kv(value: object, path: str) -> KeyValue:
    if isinstance(value, dict) and value.keys() <= _KV_FIELDS and len(value) >= 4:
        # the common kv, every field as the contract writes it: read at once
        key, text = value.get("key"), value.get("value", "")
        numbers = (value.get("create_revision"), value.get("mod_revision"), value.get("version"))
        if type(key) is str and type(text) is str and all(type(n) is int and 0 <= n < 1 << 63 for n in numbers):
            return KeyValue(key, text, *numbers)  # type: ignore[arg-type]
    fields = _Fields(value, path, "kv")
    key = fields.text("key", required=True)
    text = fields.text("value")
    revisions = [fields.natural(name, required=True) for name in ("create_revision", "mod_revision", "version")]
    lease = fields.natural("lease")
    fields.done()
    create_revision, mod_revision, version = revisions  # their relations are the checkers' to judge
    return KeyValue(key, text, create_revision, mod_revision, version, lease)


def parse_value(kind: str, event_type: str, value: object, error: str | None = None) -> object:
    """An etcd event's `value` read for its type: an invoke carries the request, an ok
    the response, a fail or info null (or the request again, which is read and not kept).
    ShapeError when malformed."""
    if event_type == "invoke":
        return parse_request(kind, value)
    if event_type == "ok":
        return parse_response(kind, value)
    if value is not None:
        parse_request(kind, value)
    return None


def shown_kvs(request: Request, response: object, past_reads: bool = True) -> Iterator[KeyValue]:
    """The kvs a response shows whole: a range's (not a keys_only one's, whose kvs carry no
    value; a read of the past only if `past_reads`), a put's prev_kv, a delete's prev_kvs,
    and the same inside the branch a txn took."""
    if isinstance(response, RangeResponse):
        if isinstance(request, RangeRequest) and (request.keys_only or (request.revision and not past_reads)):
            return
        yield from response.kvs
    elif isinstance(response, PutResponse) and response.prev_kv is not None:
        yield response.prev_kv
    elif isinstance(response, DeleteResponse):
        yield from response.prev_kvs
    elif isinstance(response, TxnResponse) and isinstance(request, TxnRequest):
        branch = request.success if response.succeeded else request.failure
        for item, shown in zip(branch, response.responses, strict=False):
            yield from shown_kvs(item, shown, past_reads)
