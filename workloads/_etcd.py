"""Requests of etcd's v3 data API as the history records them, for the etcd workloads.

Both etcd workloads (`etcd`, `kubernetes`) speak the same operations, in the `etcd` model's
vocabulary: `f` is `range`, `put`, `delete`, `txn` or `compact`, the invoke's value is the
request and the ok's value the response, each a JSON object in the shape of etcd's v3 JSON
gateway with keys and values as plain strings (the README's history schema). This module
builds those objects, turns an operation into the server's request and a server's answer
into a completion. A request only names the fields it sets: an absent field is its default,
as etcd's JSON leaves defaults out.
"""

from __future__ import annotations

from typing import Any

from raftcore.server import Request, Response
from workloads import Completion, Operation

FUNCTIONS = ("range", "put", "delete", "txn", "compact")
BRANCH_REQUESTS = {
    "range": "request_range",
    "put": "request_put",
    "delete": "request_delete_range",
    "txn": "request_txn",
}
"""How a txn branch names each request kind (etcd's RequestOp)."""


def prefix_end(prefix: str) -> str:
    """The `range_end` that makes a range cover every key starting with `prefix`: the
    prefix with its last character incremented (keys here are ASCII, where a character is a
    byte, so this is etcd's rule)."""
    assert prefix, "an empty prefix is every key: a range_end of one zero byte"
    assert prefix.isascii(), prefix
    assert ord(prefix[-1]) < 0x7F, prefix
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _set(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """`body` with the fields that are not their default (False, 0, "", None)."""
    body.update((name, value) for name, value in fields.items() if value)
    return body


def range_body(
    key: str,
    range_end: str = "",
    limit: int = 0,
    revision: int = 0,
    keys_only: bool = False,
    count_only: bool = False,
    sort_order: str = "",
    sort_target: str = "",
    serializable: bool = False,
) -> dict[str, Any]:
    return _set(
        {"key": key},
        range_end=range_end,
        limit=limit,
        revision=revision,
        keys_only=keys_only,
        count_only=count_only,
        sort_order=sort_order,
        sort_target=sort_target,
        serializable=serializable,
    )


def put_body(key: str, value: str, prev_kv: bool = False) -> dict[str, Any]:
    return _set({"key": key, "value": value}, prev_kv=prev_kv)


def delete_body(key: str, range_end: str = "", prev_kv: bool = False) -> dict[str, Any]:
    return _set({"key": key}, range_end=range_end, prev_kv=prev_kv)


def compare(key: str, target: str, result: str, against: Any) -> dict[str, Any]:
    """A txn compare of one key: `target` VALUE, VERSION, CREATE or MOD, `result` EQUAL,
    NOT_EQUAL, LESS or GREATER, `against` the value or number compared with."""
    field = {"VALUE": "value", "VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision"}[target]
    return {"key": key, "target": target, "result": result, field: against}


def txn_body(
    compares: list[dict[str, Any]],
    success: list[tuple[str, dict[str, Any]]],
    failure: list[tuple[str, dict[str, Any]]],
) -> dict[str, Any]:
    """A txn; each branch a list of (kind, body), kind one of BRANCH_REQUESTS."""
    return {
        "compare": compares,
        "success": [{BRANCH_REQUESTS[kind]: body} for kind, body in success],
        "failure": [{BRANCH_REQUESTS[kind]: body} for kind, body in failure],
    }


def operation(f: str, body: dict[str, Any]) -> Operation:
    """The operation performing `body`; its history key is the key it starts from (a txn:
    its first compare's key), which the report groups operations by."""
    assert f in FUNCTIONS, f
    if f == "txn":
        compares = body["compare"]
        key = compares[0]["key"] if compares else ""
    elif f == "compact":
        key = ""
    else:
        key = body["key"]
    # The history's `key` is a label, text without control characters: a page of a list
    # starts from the key after the last one read, which ends in a zero byte.
    return Operation(f, key.replace("\x00", ""), body)


def request(operation: Operation, request_id: str, client: str) -> Request:
    return Request.etcd(request_id, client, operation.f, operation.value)


def complete(operation: Operation, response: Response) -> Completion:
    """An answer is the response object; an etcd error (compacted or future revision, a txn
    etcd refuses) is a fail with etcd's message: the request had no effect."""
    if response.error is not None:
        return Completion("fail", operation.value, response.error)
    assert response.succeeded, response
    assert isinstance(response.value, dict), response
    return Completion("ok", response.value)


def header_revision(response: Response) -> int:
    value = response.value
    if response.error is not None or not isinstance(value, dict):
        return 0
    return int(value.get("header", {}).get("revision", 0))
