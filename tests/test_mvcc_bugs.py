"""The planted bugs of the etcd API change an answer, and only when planted.

Each test runs the same requests through a lone node's server with the bug off and on and
holds both answers: the correct one, and the one the slip gives. (The scenarios that find
them, `etcd-mix` and `kubernetes`, are hunted in tests/test_bug_hunt.py.)
"""

from __future__ import annotations

from typing import Any

from mvcc_support import ask, lone_leader, settle

from raftcore.bugs import (
    BUGS,
    COMPACT_DROPS_LATEST,
    DELETE_KEEPS_VERSION,
    RANGE_MORE_OFF_BY_ONE,
    RANGE_PAST_READS_CURRENT,
    TXN_COMPARE_AT_PROPOSE,
    validate_bugs,
)
from raftcore.server import KVServer, Request


def etcd(server: KVServer, request_id: str, kind: str, **body: Any) -> Any:
    response = ask(server, Request.etcd(request_id, "c1", kind, body))
    assert response.error is None, response
    return response.value


def kvs(answer: Any) -> list[tuple[str, str, int, int, int]]:
    return [(kv["key"], kv["value"], kv["create_revision"], kv["mod_revision"], kv["version"]) for kv in answer["kvs"]]


def test_the_etcd_bugs_are_known_names() -> None:
    etcd_bugs = {
        RANGE_PAST_READS_CURRENT,
        DELETE_KEEPS_VERSION,
        COMPACT_DROPS_LATEST,
        TXN_COMPARE_AT_PROPOSE,
        RANGE_MORE_OFF_BY_ONE,
    }
    assert etcd_bugs <= set(BUGS)
    assert validate_bugs(etcd_bugs) == etcd_bugs


def test_range_more_off_by_one() -> None:
    def pages(*bugs: str) -> list[Any]:
        server = lone_leader(*bugs)
        for number, key in enumerate(("a", "b", "c")):
            etcd(server, f"w{number}", "put", key=key, value=str(number))
        settle(server)
        return [etcd(server, f"r{limit}", "range", key="a", range_end="d", limit=limit) for limit in (1, 2)]

    right, wrong = pages(), pages(RANGE_MORE_OFF_BY_ONE)
    assert [page["more"] for page in right] == [True, True]
    # Two keys beyond the first page are still seen; one beyond the second is not.
    assert [page.get("more", False) for page in wrong] == [True, False]
    assert [kvs(page) for page in wrong] == [kvs(page) for page in right]


def past_read(*bugs: str) -> Any:
    server = lone_leader(*bugs)
    etcd(server, "r1", "put", key="a", value="1")
    etcd(server, "r2", "put", key="a", value="2")
    return etcd(server, "r3", "range", key="a", revision=2)


def test_range_past_reads_current() -> None:
    assert kvs(past_read()) == [("a", "1", 2, 2, 1)]
    assert kvs(past_read(RANGE_PAST_READS_CURRENT)) == [("a", "2", 2, 3, 2)]


def recreated(*bugs: str) -> Any:
    server = lone_leader(*bugs)
    etcd(server, "r1", "put", key="a", value="1")
    etcd(server, "r2", "put", key="a", value="2")
    etcd(server, "r3", "delete", key="a")
    etcd(server, "r4", "put", key="a", value="3")
    return etcd(server, "r5", "range", key="a")


def test_delete_keeps_version() -> None:
    assert kvs(recreated()) == [("a", "3", 5, 5, 1)]
    assert kvs(recreated(DELETE_KEEPS_VERSION)) == [("a", "3", 5, 5, 3)]


def compacted(*bugs: str) -> tuple[Any, Any]:
    server = lone_leader(*bugs)
    etcd(server, "r1", "put", key="a", value="1")
    etcd(server, "r2", "put", key="b", value="1")
    etcd(server, "r3", "put", key="b", value="2")
    etcd(server, "r4", "compact", revision=3)
    return etcd(server, "r5", "range", key="a", range_end="\0"), etcd(server, "r6", "range", key="a", revision=3)


def test_compact_drops_latest() -> None:
    now, at_compaction = compacted()
    assert kvs(now) == [("a", "1", 2, 2, 1), ("b", "2", 3, 4, 2)]
    assert kvs(at_compaction) == [("a", "1", 2, 2, 1)]
    now, at_compaction = compacted(COMPACT_DROPS_LATEST)
    assert kvs(now) == [("b", "2", 3, 4, 2)], "a's last change was at the compaction's revision"
    assert kvs(at_compaction) == []


def raced_txn(*bugs: str) -> tuple[Any, Any]:
    """A put and a txn whose compare it breaks, proposed together: the txn is proposed
    before the put is applied."""
    server = lone_leader(*bugs)
    etcd(server, "r1", "put", key="a", value="1")
    assert server.submit(Request.etcd("r2", "c1", "put", {"key": "a", "value": "2"})) is None
    txn = {
        "compare": [{"key": "a", "target": "VALUE", "result": "EQUAL", "value": "1"}],
        "success": [{"request_put": {"key": "b", "value": "saw 1"}}],
        "failure": [{"request_range": {"key": "a"}}],
    }
    assert server.submit(Request.etcd("r3", "c1", "txn", txn)) is None
    responses, _ = settle(server)
    answer = {response.request_id: response.value for response in responses}["r3"]
    return answer, etcd(server, "r4", "range", key="b")


def test_txn_compare_at_propose() -> None:
    answer, b = raced_txn()
    assert answer["succeeded"] is False, "a held 2 where the txn sits in the log"
    assert b["kvs"] == []
    answer, b = raced_txn(TXN_COMPARE_AT_PROPOSE)
    assert answer["succeeded"] is True
    assert kvs(b) == [("b", "saw 1", 4, 4, 1)]
