"""etcd's requests through the log: a lone node's server takes them from clients, applies
them in log order beside the older operations, and answers etcd's JSON or its errors."""

from __future__ import annotations

from typing import Any

import pytest
from mvcc_support import ask, lone_leader, settle

from raftcore.etcd import FUTURE_REVISION, TOO_MANY_OPERATIONS, Limits
from raftcore.kv import Command, KVStore
from raftcore.server import Request, Response


def etcd(request_id: str, kind: str, **body: Any) -> Request:
    return Request.etcd(request_id, "c1", kind, body)


def test_etcd_writes_are_logged_reads_read_and_both_answered_as_etcd_json() -> None:
    server = lone_leader()
    put = ask(server, etcd("r1", "put", key="a", value="1"))
    assert (put.succeeded, put.error, put.revision, put.value) == (True, None, 2, {"header": {"revision": 2}})
    ranged = ask(server, etcd("r2", "range", key="a", range_end="\0"))
    assert ranged.value == {
        "header": {"revision": 2},
        "kvs": [{"key": "a", "value": "1", "create_revision": 2, "mod_revision": 2, "version": 1}],
        "more": False,
        "count": 1,
    }
    assert ranged.index == 0, "a range is served outside the log, at a read index"
    assert server.node.last_index == put.index, "the range left nothing in the log"
    ranged.value["kvs"].clear()
    assert ask(server, etcd("r3", "range", key="a")).value["count"] == 1, "each answer is a fresh object"


def test_an_etcd_refusal_is_a_definite_failure_with_etcd_words() -> None:
    server = lone_leader()
    failed = ask(server, etcd("r1", "range", key="a", revision=5))
    assert (failed.succeeded, failed.error, failed.value) == (False, FUTURE_REVISION, None)
    compare = {"key": "a", "target": "VERSION", "result": "EQUAL"}
    too_many = ask(server, etcd("r2", "txn", compare=[compare] * 129))
    assert too_many.error == TOO_MANY_OPERATIONS, "etcd's default limit of 128"


def test_a_repeated_etcd_request_is_answered_from_the_table() -> None:
    server = lone_leader()
    first = ask(server, etcd("r1", "txn", success=[{"request_put": {"key": "a", "value": "1"}}]))
    ask(server, etcd("r2", "put", key="a", value="2"))
    again = server.submit(etcd("r1", "txn", success=[{"request_put": {"key": "a", "value": "1"}}]))
    assert isinstance(again, Response)
    assert (again.value, again.revision) == (first.value, 2)
    assert ask(server, etcd("r3", "range", key="a")).value["kvs"][0]["value"] == "2", "no second effect"


def test_writes_are_acknowledged_and_ranges_are_not() -> None:
    server = lone_leader()
    server.submit(etcd("r1", "put", key="a", value="1"))
    server.submit(etcd("r2", "range", key="a"))
    server.submit(etcd("r3", "delete", key="b"))
    responses, acknowledgements = settle(server)
    assert len(responses) == 3
    assert [ack.request_id for ack in acknowledgements] == ["r1", "r3"]


def test_the_older_operations_share_the_revisions_of_etcd_requests() -> None:
    server = lone_leader()
    assert ask(server, Request("r1", "c1", "put", "a", 7)).revision == 2
    assert ask(server, etcd("r2", "put", key="b", value="x")).revision == 3
    assert ask(server, Request("r3", "c1", "cas", "a", 8, expected=7)).revision == 4
    ranged = ask(server, etcd("r4", "range", key="a", range_end="c", revision=3))
    assert [(kv["key"], kv["value"], kv["version"]) for kv in ranged.value["kvs"]] == [("a", 7, 1), ("b", "x", 1)]
    assert ask(server, Request("r5", "c1", "get", "b")).value == "x"


def test_requests_log_canonical_bytes_whatever_the_client_wrote() -> None:
    spelled = Request("r1", "c1", "etcd-range", "a", {"revision": "0", "key": "a"}).command()
    canonical = Request.etcd("r1", "c1", "range", {"key": "a"}).command()
    assert spelled.encode() == canonical.encode()
    assert Command.decode(canonical.encode()).etcd_request() == canonical.etcd_request()


def test_a_malformed_etcd_request_is_refused_before_the_log() -> None:
    with pytest.raises(ValueError, match="unknown etcd request kind"):
        Request.etcd("r1", "c1", "watch", {"key": "a"})
    with pytest.raises(ValueError, match=r"put\.value: expected a string"):
        Request.etcd("r1", "c1", "put", {"key": "a", "value": 1})


def test_the_store_takes_limits() -> None:
    store = KVStore(limits=Limits(max_txn_ops=1))
    compare = {"key": "a", "target": "MOD", "result": "LESS"}
    allowed = store.apply(1, Request.etcd("r1", "c1", "txn", {"compare": [compare]}).command())
    assert allowed is not None
    assert allowed.succeeded
    refused = store.apply(2, Request.etcd("r2", "c1", "txn", {"compare": [compare] * 2}).command())
    assert refused is not None
    assert (refused.succeeded, refused.error) == (False, TOO_MANY_OPERATIONS)
