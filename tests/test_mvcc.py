"""The multi-version store against etcd 3.4's rules, one rule at a time (the differential
test holds it to a real etcd on drawn sequences)."""

from __future__ import annotations

from typing import Any

import pytest

from raftcore.etcd import (
    COMPACTED,
    DUPLICATE_KEY,
    EMPTY_KEY,
    FUTURE_REVISION,
    KEY_NOT_FOUND,
    REQUEST_HEADER_BYTES,
    REQUEST_TOO_LARGE,
    TOO_MANY_OPERATIONS,
    VALUE_PROVIDED,
    EtcdError,
    Limits,
    PutRequest,
    prefix_end,
    request_from_json,
    request_size,
    request_to_json,
    response_from_json,
    response_to_json,
)
from raftcore.mvcc import MVCCStore


def run(store: MVCCStore, kind: str, **body: Any) -> dict[str, Any]:
    """One request as the contract's JSON, answered as the contract's JSON."""
    return response_to_json(store.execute(request_from_json(kind, body)))


def refused(store: MVCCStore, kind: str, **body: Any) -> str:
    revision = store.revision
    with pytest.raises(EtcdError) as error:
        store.execute(request_from_json(kind, body))
    assert store.revision == revision, "a refused request changes nothing"
    return error.value.message


def put(key: str, value: str, **options: Any) -> dict[str, Any]:
    return {"request_put": {"key": key, "value": value, **options}}


def delete(key: str, range_end: str = "", **options: Any) -> dict[str, Any]:
    return {"request_delete_range": {"key": key, "range_end": range_end, **options}}


def get(key: str, range_end: str = "", **options: Any) -> dict[str, Any]:
    return {"request_range": {"key": key, "range_end": range_end, **options}}


def txn(compare: list[Any] | None = None, success: list[Any] | None = None, failure: list[Any] | None = None) -> Any:
    return {"request_txn": {"compare": compare or [], "success": success or [], "failure": failure or []}}


def keys(response: dict[str, Any]) -> list[str]:
    return [kv["key"] for kv in response["kvs"]]


def kv(key: str, value: str | None, create: int, mod: int, version: int) -> dict[str, Any]:
    found = {"key": key, "create_revision": create, "mod_revision": mod, "version": version}
    return found if value is None else {**found, "value": value}


def filled(*pairs: tuple[str, str]) -> MVCCStore:
    store = MVCCStore()
    for key, value in pairs:
        run(store, "put", key=key, value=value)
    return store


# ---- revisions and generations ----


def test_a_key_deleted_and_written_again_starts_a_new_generation() -> None:
    store = filled(("a", "1"), ("a", "2"))
    assert run(store, "range", key="a")["kvs"] == [kv("a", "2", 2, 3, 2)]
    assert run(store, "delete", key="a") == {"header": {"revision": 4}, "deleted": 1, "prev_kvs": []}
    run(store, "put", key="a", value="3")
    assert run(store, "range", key="a")["kvs"] == [kv("a", "3", 5, 5, 1)]


def test_reads_at_a_past_revision_see_the_store_as_it_was() -> None:
    store = filled(("a", "1"), ("b", "1"), ("a", "2"))
    run(store, "delete", key="b")
    at_three = run(store, "range", key="a", range_end="\0", revision=3)
    assert at_three == {
        "header": {"revision": 5},
        "kvs": [kv("a", "1", 2, 2, 1), kv("b", "1", 3, 3, 1)],
        "more": False,
        "count": 2,
    }
    assert keys(run(store, "range", key="a", range_end="\0", revision=5)) == ["a"]
    assert run(store, "range", key="a", revision=4)["kvs"] == [kv("a", "2", 2, 4, 2)]
    assert run(store, "range", key="a", range_end="\0", revision=1)["kvs"] == [], "revision 1 holds nothing"


def test_reads_beyond_the_revision_or_below_the_compaction_fail() -> None:
    store = filled(("a", "1"), ("a", "2"), ("a", "3"))
    assert refused(store, "range", key="a", revision=5) == FUTURE_REVISION
    run(store, "compact", revision=3)
    assert refused(store, "range", key="a", revision=2) == COMPACTED
    assert run(store, "range", key="a", revision=3)["kvs"] == [kv("a", "2", 2, 3, 2)], "the compacted revision reads"
    assert run(store, "range", key="a", revision=-1)["kvs"] == [kv("a", "3", 2, 4, 3)], "0 or less reads now"


def test_a_write_of_nothing_keeps_the_revision() -> None:
    store = filled(("a", "1"))
    assert run(store, "delete", key="b", range_end="c") == {"header": {"revision": 2}, "deleted": 0, "prev_kvs": []}
    assert run(store, "txn", compare=[], success=[get("a")])["header"] == {"revision": 2}
    assert store.revision == 2


# ---- ranges ----


def test_ranges_of_one_key_a_span_every_key_from_and_a_prefix() -> None:
    store = filled(("a", "1"), ("ab", "2"), ("abc", "3"), ("b", "4"), ("c", "5"))
    assert keys(run(store, "range", key="ab")) == ["ab"]
    assert keys(run(store, "range", key="ab", range_end="b")) == ["ab", "abc"]
    assert keys(run(store, "range", key="ab", range_end="\0")) == ["ab", "abc", "b", "c"]
    assert keys(run(store, "range", key="a", range_end=prefix_end("a"))) == ["a", "ab", "abc"]
    assert keys(run(store, "range", key="b", range_end="a")) == [], "an end before the key holds nothing"
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\U0010ffff") == "\0"


def test_limit_keeps_the_count_of_every_key_and_says_more() -> None:
    store = filled(("a", "1"), ("b", "2"), ("c", "3"))
    limited = run(store, "range", key="a", range_end="\0", limit=2)
    assert (keys(limited), limited["more"], limited["count"]) == (["a", "b"], True, 3)
    exact = run(store, "range", key="a", range_end="\0", limit=3)
    assert (exact["more"], exact["count"]) == (False, 3)
    counted = run(store, "range", key="a", range_end="\0", limit=1, count_only=True)
    assert counted == {"header": {"revision": 4}, "kvs": [], "more": False, "count": 3}
    assert run(store, "range", key="a", keys_only=True)["kvs"] == [kv("a", None, 2, 2, 1)]


def test_sorting_follows_etcd_default_and_keeps_ties_in_key_order() -> None:
    store = filled(("a", "same"), ("b", "same"), ("c", "same"), ("d", "same"), ("b", "other"))
    span = {"key": "a", "range_end": "\0"}
    assert keys(run(store, "range", **span, sort_target="VERSION")) == ["a", "c", "d", "b"], "NONE sorts ascending"
    assert keys(run(store, "range", **span, sort_target="VERSION", sort_order="DESCEND")) == ["b", "a", "c", "d"]
    assert keys(run(store, "range", **span, sort_target="VALUE", sort_order="DESCEND")) == ["a", "c", "d", "b"]
    assert keys(run(store, "range", **span, sort_order="DESCEND")) == ["d", "c", "b", "a"]
    assert keys(run(store, "range", **span, sort_target="MOD", sort_order="DESCEND", limit=2)) == ["b", "d"]
    assert keys(run(store, "range", **span, sort_target="CREATE", sort_order="DESCEND", limit=1)) == ["d"]


def test_a_limit_without_a_sort_order_cuts_before_the_default_sort() -> None:
    """etcd 3.4 reads limit + 1 keys in key order, then sorts them by a target other than
    the key: the answer is not the first keys by that target."""
    store = filled(("c", "x"), ("b", "x"), ("a", "x"), ("ab", "x"))
    span = {"key": "a", "range_end": "\0", "limit": 2, "sort_target": "CREATE"}
    unordered = run(store, "range", **span)
    assert (keys(unordered), unordered["more"], unordered["count"]) == (["b", "a"], True, 4)
    assert keys(run(store, "range", **span, sort_order="ASCEND")) == ["c", "b"]


# ---- puts and deletes ----


def test_put_answers_the_previous_key_when_asked() -> None:
    store = filled(("a", "1"))
    assert run(store, "put", key="a", value="2", prev_kv=True) == {
        "header": {"revision": 3},
        "prev_kv": kv("a", "1", 2, 2, 1),
    }
    assert run(store, "put", key="b", value="2", prev_kv=True) == {"header": {"revision": 4}}


def test_ignore_value_keeps_the_value_and_needs_the_key() -> None:
    store = filled(("a", "1"))
    run(store, "put", key="a", ignore_value=True)
    assert run(store, "range", key="a")["kvs"] == [kv("a", "1", 2, 3, 2)]
    assert refused(store, "put", key="b", ignore_value=True) == KEY_NOT_FOUND
    assert refused(store, "put", key="a", value="2", ignore_value=True) == VALUE_PROVIDED


def test_delete_range_counts_and_returns_what_it_deleted() -> None:
    store = filled(("a", "1"), ("ab", "2"), ("b", "3"))
    deleted = run(store, "delete", key="a", range_end="b", prev_kv=True)
    assert deleted == {
        "header": {"revision": 5},
        "deleted": 2,
        "prev_kvs": [kv("a", "1", 2, 2, 1), kv("ab", "2", 3, 3, 1)],
    }


def test_an_empty_key_is_refused() -> None:
    store = MVCCStore()
    assert refused(store, "put", key="", value="1") == EMPTY_KEY
    assert refused(store, "range", key="") == EMPTY_KEY
    assert refused(store, "txn", compare=[{"key": "", "target": "VERSION", "result": "EQUAL"}]) == EMPTY_KEY


# ---- txn ----


def test_a_txn_writes_at_one_revision_and_its_reads_see_its_earlier_writes() -> None:
    store = filled(("a", "1"))
    answer = run(store, "txn", success=[put("b", "2"), get("b"), delete("a"), get("a", "\0")])
    assert answer["header"] == {"revision": 3}
    responses = answer["responses"]
    assert responses[0] == {"response_put": {"header": {"revision": 3}}}
    assert responses[1]["response_range"]["kvs"] == [kv("b", "2", 3, 3, 1)]
    assert responses[1]["response_range"]["header"] == {"revision": 3}
    assert keys(responses[3]["response_range"]) == ["b"]
    assert run(store, "range", key="a", revision=2)["kvs"] == [kv("a", "1", 2, 2, 1)]


def test_compares_over_ranges_and_absent_keys() -> None:
    store = filled(("p/a", "x"), ("p/b", "x"), ("q", "y"))

    def holds(**compare: Any) -> bool:
        return bool(run(store, "txn", compare=[compare])["succeeded"])

    assert holds(key="p/", range_end="p0", target="VALUE", result="EQUAL", value="x")
    assert not holds(key="p/", range_end="\0", target="VALUE", result="EQUAL", value="x"), "q holds y"
    assert holds(key="p/", range_end="\0", target="VERSION", result="GREATER", version=0)
    assert holds(key="absent", target="VERSION", result="EQUAL", version=0)
    assert holds(key="absent", target="MOD", result="LESS", mod_revision=1)
    assert holds(key="absent", target="CREATE", result="EQUAL", create_revision=0)
    assert not holds(key="absent", target="VALUE", result="NOT_EQUAL", value="x"), "a value compare on nothing fails"
    assert not holds(key="absent", target="VALUE", result="EQUAL", value="")
    assert holds(key="q", target="MOD", result="EQUAL", mod_revision=4)
    assert holds(key="q", target="VERSION", result="GREATER", value="ignored"), "the target's own field, 0 if absent"


def test_nested_txns_decide_their_compares_before_the_txn_writes() -> None:
    store = MVCCStore()
    nested = txn([{"key": "a", "target": "VERSION", "result": "EQUAL", "version": 0}], [get("a")], [put("z", "1")])
    answer = run(store, "txn", success=[put("a", "1"), nested])
    inner = answer["responses"][1]["response_txn"]
    assert inner["succeeded"], "a was absent when the txn began"
    assert inner["header"] == {"revision": 0}, "etcd leaves a nested txn's header empty"
    assert inner["responses"][0]["response_range"]["kvs"] == [kv("a", "1", 2, 2, 1)]
    failed = run(store, "txn", compare=[{"key": "a", "target": "VALUE", "result": "EQUAL", "value": "2"}])
    assert failed == {"header": {"revision": 2}, "succeeded": False, "responses": []}


@pytest.mark.parametrize(
    ("branch", "duplicate"),
    [
        ([put("a", "1"), put("a", "2")], True),
        ([delete("a"), put("a", "1")], True),
        ([put("a", "1"), delete("a")], True),
        ([delete("a", "c"), put("b", "1")], True),
        ([delete("a", "\0"), put("b", "1")], False),  # etcd 3.4 takes [a, "\0") for an empty span
        ([delete("a"), delete("a", "b")], False),
        ([put("a", "1"), txn(success=[put("a", "2")])], True),
        ([txn(success=[delete("a")]), put("a", "1")], True),
        ([txn(success=[put("a", "1")], failure=[put("a", "2")])], False),
        ([txn(success=[put("a", "1")]), txn(success=[delete("a")])], False),
        ([txn(success=[delete("a")]), txn(success=[put("a", "1")])], True),
        ([txn(success=[put("a", "1")]), txn(failure=[put("a", "2")])], True),
        ([txn(success=[put("a", "1")], failure=[delete("a")])], False),
    ],
)
def test_a_txn_may_not_write_a_key_twice_by_etcd_rules(branch: list[Any], duplicate: bool) -> None:
    for side in ("success", "failure"):
        store = filled(("a", "0"))
        body = {"compare": [], "success": [], "failure": []} | {side: branch}
        if duplicate:
            assert refused(store, "txn", **body) == DUPLICATE_KEY
        else:
            run(store, "txn", **body)


def test_a_txn_put_then_deleted_in_nested_txns_is_gone_at_its_revision() -> None:
    store = filled(("a", "0"))
    run(store, "txn", success=[txn(success=[put("a", "1")]), txn(success=[delete("a", prev_kv=True)])])
    assert run(store, "range", key="a")["kvs"] == []
    run(store, "put", key="a", value="2")
    assert run(store, "range", key="a")["kvs"] == [kv("a", "2", 4, 4, 1)]


def test_a_txn_checks_the_branch_it_takes_against_the_state_before_it() -> None:
    store = filled(("a", "0"))
    assert refused(store, "txn", success=[put("b", "", ignore_value=True)]) == KEY_NOT_FOUND
    assert refused(store, "txn", success=[get("a", revision=9)]) == FUTURE_REVISION
    run(store, "txn", failure=[get("a", revision=9), put("b", "", ignore_value=True)])
    nested_put_then_ignore = [txn(success=[put("b", "1")]), txn(success=[put("c", "", ignore_value=True)])]
    assert refused(store, "txn", success=nested_put_then_ignore) == KEY_NOT_FOUND


# ---- compaction ----


def test_compaction_drops_older_revisions_only() -> None:
    store = filled(("a", "1"), ("b", "1"), ("a", "2"))
    run(store, "delete", key="b")
    run(store, "put", key="c", value="1")
    assert run(store, "compact", revision=5) == {"header": {"revision": 6}}
    assert refused(store, "range", key="a", revision=4) == COMPACTED
    at_five = run(store, "range", key="a", range_end="\0", revision=5)
    assert at_five["kvs"] == [kv("a", "2", 2, 4, 2)]
    assert keys(run(store, "range", key="a", range_end="\0")) == ["a", "c"]
    assert refused(store, "compact", revision=5) == COMPACTED
    assert refused(store, "compact", revision=7) == FUTURE_REVISION
    run(store, "compact", revision=6, physical=True)
    assert run(store, "range", key="a", range_end="\0", revision=6)["count"] == 2


def test_a_fresh_store_starts_at_revision_1_and_compacts_there_as_etcd() -> None:
    """etcd's first revision is 1 and its first write gets 2; nothing is compacted
    (compactMainRev -1), so a compaction at 0, then at 1, is accepted, once each."""
    store = MVCCStore()
    assert (store.revision, store.compacted) == (1, -1)
    assert run(store, "range", key="a", range_end="\0", revision=1) == {
        "header": {"revision": 1},
        "kvs": [],
        "more": False,
        "count": 0,
    }
    assert refused(store, "compact", revision=-1) == COMPACTED
    assert refused(store, "compact", revision=2) == FUTURE_REVISION
    assert run(store, "compact", revision=0) == {"header": {"revision": 1}}
    assert refused(store, "compact", revision=0) == COMPACTED
    assert run(store, "compact", revision=1) == {"header": {"revision": 1}}
    assert refused(store, "compact", revision=1) == COMPACTED
    assert store.compacted == 1
    assert run(store, "put", key="a", value="1") == {"header": {"revision": 2}}
    assert run(store, "range", key="a")["kvs"] == [kv("a", "1", 2, 2, 1)]


# ---- limits ----


def test_too_many_operations_count_the_longest_list_and_nesting_eats_the_budget() -> None:
    store = MVCCStore(Limits(max_txn_ops=3))
    compare = {"key": "a", "target": "VERSION", "result": "EQUAL"}
    assert refused(store, "txn", compare=[compare] * 4) == TOO_MANY_OPERATIONS
    run(store, "txn", compare=[compare] * 3, success=[put("a", "1"), put("b", "1"), put("c", "1")])
    assert refused(store, "txn", success=[put("a", "1"), put("b", "1"), txn(success=[put("c", "1")])]) == (
        TOO_MANY_OPERATIONS
    )
    run(store, "txn", success=[put("a", "1"), txn(success=[put("c", "1")])])


def test_a_request_too_large_to_log_is_refused_but_not_a_read() -> None:
    store = MVCCStore(Limits(max_request_bytes=100))
    assert refused(store, "put", key="a", value="v" * 100) == REQUEST_TOO_LARGE
    assert refused(store, "txn", success=[put("a", "v" * 100)]) == REQUEST_TOO_LARGE
    assert run(store, "range", key="k" * 200)["count"] == 0, "etcd does not log a range"
    assert run(store, "txn", success=[get("k" * 200)])["succeeded"]
    run(store, "put", key="a", value="v" * 60)


def test_request_size_is_the_protobuf_encoding_etcd_logs() -> None:
    # PutRequest{key "a", value "vv"}: 3 + 4 bytes, in field 4 of the raft request: 2 more.
    assert request_size(PutRequest("a", "vv")) == REQUEST_HEADER_BYTES + 9
    # A value of 200 bytes takes a two-byte length.
    assert request_size(PutRequest("a", "v" * 200)) == REQUEST_HEADER_BYTES + 2 + 3 + 203 + 1


# ---- JSON ----


def test_json_is_read_leniently_and_written_canonically() -> None:
    lenient = request_from_json("range", {"key": "a", "limit": "2", "revision": "0", "serializable": False})
    assert request_to_json(lenient) == {
        "key": "a",
        "range_end": "",
        "limit": 2,
        "revision": 0,
        "sort_order": "NONE",
        "sort_target": "KEY",
        "keys_only": False,
        "count_only": False,
    }
    nested = {
        "compare": [{"key": "a", "target": "MOD", "result": "LESS", "mod_revision": "3"}],
        "success": [txn(success=[put("a", "1")])],
    }
    written = request_to_json(request_from_json("txn", nested))
    assert written["compare"] == [{"key": "a", "range_end": "", "target": "MOD", "result": "LESS", "mod_revision": 3}]
    assert request_to_json(request_from_json("txn", written)) == written


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        ("range", {"key": "a", "limit": 1.5}, "range.limit: expected an integer"),
        ("range", {"key": "a", "revision": "--5"}, "range.revision: expected an integer"),
        ("range", {"key": "a", "sort_order": "UP"}, "range.sort_order: expected one of NONE"),
        ("put", {"key": "a", "ignore_lease": True}, "put.ignore_lease: raftcore does not implement ignore_lease"),
        ("put", {"key": "a", "valu": "x"}, "put: unknown field 'valu'"),
        ("txn", {"success": [{}]}, r"txn.success\[0\]: a txn operation holds exactly one"),
        ("txn", {"compare": [{"key": "a", "target": "LEASE"}]}, r"txn.compare\[0\].target"),
        ("watch", {}, "unknown etcd request kind 'watch'"),
    ],
)
def test_a_malformed_request_is_refused_naming_its_field(kind: str, body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        request_from_json(kind, body)


def test_responses_read_back_from_their_json_and_from_etcd_gateway_strings() -> None:
    store = filled(("a", "1"))
    response = store.execute(
        request_from_json("txn", {"success": [put("a", "2", prev_kv=True), get("a"), delete("b")]})
    )
    assert response_from_json("txn", response_to_json(response)) == response
    gateway = {
        "header": {"revision": "7", "raft_term": "2"},
        "kvs": [{"key": "a", "mod_revision": "7", "version": "1"}],
    }
    read = response_to_json(response_from_json("range", gateway))
    assert read == {"header": {"revision": 7}, "kvs": [kv("a", "", 0, 7, 1)], "more": False, "count": 0}


def test_evaluate_answers_as_execute_would_and_changes_nothing() -> None:
    store = filled(("a", "1"), ("b", "1"))
    requests = [
        request_from_json("txn", {"success": [put("c", "1"), delete("a", "\0", prev_kv=True), get("a", "\0")]}),
        request_from_json("put", {"key": "a", "value": "2", "prev_kv": True}),
        request_from_json("compact", {"revision": 3}),
    ]
    for request in requests:
        before = run(store, "range", key="a", range_end="\0", revision=2), run(store, "range", key="a", range_end="\0")
        evaluated = store.evaluate(request)
        after = run(store, "range", key="a", range_end="\0", revision=2), run(store, "range", key="a", range_end="\0")
        assert (before, store.revision, store.compacted) == (after, 3, -1)
        twin = filled(("a", "1"), ("b", "1"))
        assert evaluated == twin.execute(request)
    with pytest.raises(EtcdError, match="compacted"):
        store.evaluate(request_from_json("compact", {"revision": -1}))
    with pytest.raises(EtcdError, match="future"):
        store.evaluate(request_from_json("compact", {"revision": 4}))
