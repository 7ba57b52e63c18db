"""The etcd model on hand-written histories: good ones valid, one bad history per class of
mistake invalid with a reason that names it; and the history reader's shape checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from etcd_histories import COMPACTED, FUTURE, Recorder, kv
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.errors import InputError
from checkers.etcd_requests import ShapeError, parse_value, value_json
from checkers.formats import read_operations
from checkers.linearizability import LinearizabilityResult, check_history_file, check_operations
from checkers.models import get_model
from checkers.verdict import Verdict

PODS = "/registry/pods/"
PODS_END = "/registry/pods0"


def check(tmp_path: Path, recorder: Recorder) -> LinearizabilityResult:
    return check_history_file(recorder.write(tmp_path / "history.jsonl"), "etcd")


def reasons(result: LinearizabilityResult) -> list[str]:
    found: list[str] = []
    for partition in result.partitions:
        if partition.counterexample is not None:
            found.extend(partition.counterexample.reasons)
    return found


def assert_invalid(result: LinearizabilityResult, *phrases: str) -> None:
    assert result.verdict is Verdict.INVALID, result.to_json()
    text = " | ".join(reasons(result))
    for phrase in phrases:
        assert phrase in text, text


def put(recorder: Recorder, process: int, key: str, value: str, revision: int, **extra: object) -> None:
    response: dict[str, object] = {"header": {"revision": revision}}
    response.update(extra)
    recorder.call(process, "put", {"key": key, "value": value}, response)


def get(recorder: Recorder, process: int, key: str, revision: int, *kvs: dict[str, object]) -> None:
    response: dict[str, object] = {"header": {"revision": revision}}
    if kvs:
        response["kvs"] = list(kvs)
        response["count"] = len(kvs)
    recorder.call(process, "range", {"key": key}, response)


# ---------------------------------------------------------------------------------------
# Good histories


def test_a_sequential_history_of_every_request_is_valid(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    get(history, 1, "a", 2, kv("a", "1", 2, 2, 1))
    history.call(
        0,
        "txn",
        {
            "compare": [{"key": "a", "target": "MOD", "result": "EQUAL", "mod_revision": 2}],
            "success": [{"request_put": {"key": "a", "value": "2", "prev_kv": True}}, {"request_range": {"key": "a"}}],
        },
        {
            "header": {"revision": 3},
            "succeeded": True,
            "responses": [
                {"response_put": {"header": {"revision": 3}, "prev_kv": kv("a", "1", 2, 2, 1)}},
                {"response_range": {"kvs": [kv("a", "2", 2, 3, 2)], "count": 1}},
            ],
        },
    )
    put(history, 1, "b", "x", 4)
    history.call(
        2,
        "delete",
        {"key": "a", "prev_kv": True},
        {"header": {"revision": 5}, "deleted": 1, "prev_kvs": [kv("a", "2", 2, 3, 2)]},
    )
    history.call(2, "delete", {"key": "a"}, {"header": {"revision": 5}})
    put(history, 0, "a", "3", 6)
    get(history, 1, "a", 6, kv("a", "3", 6, 6, 1))
    history.call(0, "compact", {"revision": 4}, {"header": {"revision": 6}})
    history.call(1, "range", {"key": "a", "revision": 5}, {"header": {"revision": 6}})
    history.invoke(1, "range", {"key": "a", "revision": 3})
    history.fail(1, "range", COMPACTED)
    history.invoke(1, "range", {"key": "a", "revision": 9})
    history.fail(1, "range", FUTURE)
    history.invoke(0, "compact", {"revision": 4})
    history.fail(0, "compact", COMPACTED)
    result = check(tmp_path, history)
    assert result.verdict is Verdict.VALID, result.to_json()
    assert result.ops == 13


def test_a_list_with_limit_more_and_count_is_valid(tmp_path: Path) -> None:
    history = Recorder()
    for number, name in enumerate(["p1", "p2", "p3"]):
        put(history, 0, PODS + name, name, 2 + number)
    history.call(
        1,
        "range",
        {"key": PODS, "range_end": PODS_END, "limit": 2},
        {
            "header": {"revision": 4},
            "kvs": [kv(PODS + "p1", "p1", 2, 2, 1), kv(PODS + "p2", "p2", 3, 3, 1)],
            "more": True,
            "count": 3,
        },
    )
    history.call(
        1, "range", {"key": PODS, "range_end": PODS_END, "count_only": True}, {"header": {"revision": 4}, "count": 3}
    )
    history.call(
        1,
        "range",
        {
            "key": PODS,
            "range_end": PODS_END,
            "limit": 1,
            "sort_order": "DESCEND",
            "sort_target": "MOD",
            "keys_only": True,
        },
        {
            "header": {"revision": 4},
            "kvs": [{"key": PODS + "p3", "create_revision": 4, "mod_revision": 4, "version": 1}],
            "more": True,
            "count": 3,
        },
    )
    result = check(tmp_path, history)
    assert result.verdict is Verdict.VALID, result.to_json()


def test_concurrent_writes_are_ordered_by_their_revisions(tmp_path: Path) -> None:
    history = Recorder()
    history.invoke(0, "put", {"key": "a", "value": "0"})
    history.invoke(1, "put", {"key": "a", "value": "1"})
    history.invoke(2, "range", {"key": "a"})
    history.ok(1, "put", {"header": {"revision": 2}})
    history.ok(0, "put", {"header": {"revision": 3}})
    history.ok(2, "range", {"header": {"revision": 2}, "kvs": [kv("a", "1", 2, 2, 1)], "count": 1})
    get(history, 2, "a", 3, kv("a", "0", 2, 3, 2))
    assert check(tmp_path, history).verdict is Verdict.VALID


def test_a_pending_put_may_have_happened_or_not(tmp_path: Path) -> None:
    history = Recorder()
    history.invoke(0, "put", {"key": "a", "value": "lost?"})
    history.info(0, "put")
    history.invoke(1, "put", {"key": "b", "value": "never"})
    history.info(1, "put")
    put(history, 2, "c", "1", 3)  # revision 2 went to the first pending put
    get(history, 2, "a", 3, kv("a", "lost?", 2, 2, 1))
    get(history, 2, "b", 3)
    assert check(tmp_path, history).verdict is Verdict.VALID


# ---------------------------------------------------------------------------------------
# Bad histories, one per class


def test_a_stale_read_is_invalid(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    put(history, 0, "a", "2", 3)
    get(history, 1, "a", 2, kv("a", "1", 2, 2, 1))
    assert_invalid(check(tmp_path, history), "header.revision 2, but the store is at revision 3")


def test_a_lost_write_is_invalid(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    get(history, 1, "a", 2)  # the store's revision counts the put, its key lost it
    assert_invalid(check(tmp_path, history), "it returned count 0, but 1 keys of its range exist here")


def test_a_txn_whose_compare_contradicts_the_state_is_invalid(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    history.call(
        1,
        "txn",
        {
            "compare": [{"key": "a", "target": "MOD", "result": "EQUAL", "mod_revision": 0}],
            "success": [{"request_put": {"key": "a", "value": "created"}}],
        },
        {"header": {"revision": 3}, "succeeded": True, "responses": [{"response_put": {}}]},
    )
    assert_invalid(check(tmp_path, history), "succeeded=true, but its compares mod(a) == 0 do not all hold")


def test_a_wrong_version_after_delete_and_recreate_is_invalid(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    put(history, 0, "a", "2", 3)
    history.call(0, "delete", {"key": "a"}, {"header": {"revision": 4}, "deleted": 1})
    put(history, 0, "a", "3", 5)
    get(history, 1, "a", 5, kv("a", "3", 2, 5, 3))  # the old generation's create and version
    assert_invalid(check(tmp_path, history), 'where the store gives a="3" (create 5, mod 5, version 1)')


def test_a_read_at_a_compacted_revision_that_succeeded_is_invalid(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    put(history, 0, "a", "2", 3)
    history.call(0, "compact", {"revision": 3}, {"header": {"revision": 3}})
    history.call(
        1, "range", {"key": "a", "revision": 2}, {"header": {"revision": 3}, "kvs": [kv("a", "1", 2, 2, 1)], "count": 1}
    )
    assert_invalid(check(tmp_path, history), "it succeeded, but here its revision is compacted")


def test_a_compacted_error_before_any_compact_is_invalid(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    history.invoke(1, "range", {"key": "a", "revision": 1})
    history.fail(1, "range", COMPACTED)
    assert_invalid(check(tmp_path, history), "it failed as compacted (revision 1), but here revision 1 is neither")


def test_a_revision_that_goes_backwards_is_invalid(tmp_path: Path) -> None:
    history = Recorder()
    history.invoke(0, "put", {"key": "a", "value": "1"})
    get(history, 1, "b", 2)  # the put took effect already: revision 2
    get(history, 1, "b", 1)  # and this later read is back at 1
    history.ok(0, "put", {"header": {"revision": 2}})
    assert_invalid(check(tmp_path, history), "header.revision 1, but the store is at revision 2")


def test_a_pending_put_that_must_have_happened_too_late_is_invalid(tmp_path: Path) -> None:
    history = Recorder()
    get(history, 1, "a", 2, kv("a", "late", 2, 2, 1))
    history.invoke(0, "put", {"key": "a", "value": "late"})  # invoked after the read returned
    history.info(0, "put")
    assert_invalid(check(tmp_path, history), "header.revision 2, but the store is at revision 1")


def test_a_pending_put_that_would_need_a_claimed_revision_is_invalid(tmp_path: Path) -> None:
    history = Recorder()
    history.invoke(0, "put", {"key": "b", "value": "pending"})
    history.info(0, "put")
    put(history, 1, "a", "1", 2)
    # b with mod_revision 2: only the pending put could have made b, and revision 2 is a's
    get(history, 1, "b", 2, kv("b", "pending", 2, 2, 1))
    assert_invalid(check(tmp_path, history), "it returned count 1, but 0 keys of its range exist here")


def test_pagination_inconsistent_with_the_state_is_invalid(tmp_path: Path) -> None:
    history = Recorder()
    for number, name in enumerate(["p1", "p2", "p3"]):
        put(history, 0, PODS + name, name, 2 + number)
    history.call(
        1,
        "range",
        {"key": PODS, "range_end": PODS_END, "limit": 2},
        {
            "header": {"revision": 4},
            "kvs": [kv(PODS + "p1", "p1", 2, 2, 1), kv(PODS + "p2", "p2", 3, 3, 1)],
            "count": 3,
        },
    )
    assert_invalid(check(tmp_path, history), "it returned more=false, but with limit 2 and 3 keys more is true")


def test_a_count_that_counts_only_the_page_is_invalid(tmp_path: Path) -> None:
    history = Recorder()
    for number, name in enumerate(["p1", "p2", "p3"]):
        put(history, 0, PODS + name, name, 2 + number)
    history.call(
        1,
        "range",
        {"key": PODS, "range_end": PODS_END, "limit": 2},
        {
            "header": {"revision": 4},
            "kvs": [kv(PODS + "p1", "p1", 2, 2, 1), kv(PODS + "p2", "p2", 3, 3, 1)],
            "more": True,
            "count": 2,
        },
    )
    assert_invalid(check(tmp_path, history), "it returned count 2, but 3 keys of its range exist here")


# ---------------------------------------------------------------------------------------
# Reading: malformed requests and responses are one-line input errors


def _one_line(tmp_path: Path, kind: str, f: str, value: object) -> Path:
    history = Recorder()
    if kind == "ok":
        history.invoke(0, f, {"key": "a"} if f != "compact" else {"revision": 1})
    history._add(0, kind, f, value)
    return history.write(tmp_path / "bad.jsonl")


@pytest.mark.parametrize(
    ("kind", "f", "value", "field", "words"),
    [
        (
            "invoke",
            "txn",
            {"compare": [{"key": "a", "target": "SIZE", "version": 1}]},
            "value.compare.0.target",
            "unknown compare target",
        ),
        (
            "invoke",
            "txn",
            {"compare": [{"key": "a", "target": "MOD", "result": "ABOUT", "mod_revision": 1}]},
            "value.compare.0.result",
            "unknown compare result",
        ),
        (
            "invoke",
            "txn",
            {"compare": [{"key": "a", "target": "MOD", "result": "EQUAL"}]},
            "value.compare.0.mod_revision",
            "missing",
        ),
        (
            "invoke",
            "txn",
            {"compare": [{"key": "a", "target": "MOD", "version": 2}]},
            "value.compare.0.version",
            "compares mod_revision",
        ),
        (
            "invoke",
            "txn",
            {"success": [{"request_lease": {}}]},
            "value.success.0.request_lease",
            "unknown txn operation",
        ),
        ("invoke", "range", {"key": "a", "revision": -1}, "value.revision", "must not be negative"),
        ("invoke", "range", {"key": "a", "limit": "ten"}, "value.limit", "must be an integer"),
        ("invoke", "range", {"range_end": "b"}, "value.key", "missing"),
        ("invoke", "range", {"key": "a", "sort_order": "UP"}, "value.sort_order", "unknown sort order"),
        ("invoke", "put", {"key": "a", "value": 5}, "value.value", "must be a string"),
        ("invoke", "put", {"key": "a", "colour": "red"}, "value.colour", "unknown field"),
        ("invoke", "compact", {"physical": True}, "value.revision", "missing"),
        ("ok", "range", {"kvs": []}, "value.header", "missing"),
        (
            "ok",
            "range",
            {"header": {"revision": 2}, "kvs": [{"key": "a", "value": "1", "version": 1}]},
            "value.kvs.0.create_revision",
            "missing",
        ),
        ("ok", "range", {"header": {"revision": "-2"}}, "value.header.revision", "must not be negative"),
        ("ok", "range", {"header": {"revision": 2.5}}, "value.header.revision", "must be an integer"),
        ("ok", "range", {"header": {"revision": 2}, "more": "yes"}, "value.more", "true or false"),
    ],
)
def test_malformed_requests_and_responses_name_their_field(
    tmp_path: Path, kind: str, f: str, value: object, field: str, words: str
) -> None:
    with pytest.raises(InputError) as raised:
        check_history_file(_one_line(tmp_path, kind, f, value), "etcd")
    assert raised.value.field == field, str(raised.value)
    assert words in str(raised.value)
    assert "\n" not in str(raised.value)


def test_integers_as_decimal_strings_are_read(tmp_path: Path) -> None:
    history = Recorder()
    history.call(0, "put", {"key": "a", "value": "1"}, {"header": {"revision": "2"}})
    history.call(
        1,
        "range",
        {"key": "a", "limit": "5"},
        {"header": {"revision": "2"}, "kvs": [kv("a", "1", "2", "2", "1")], "count": "1"},
    )  # type: ignore[arg-type]
    assert check(tmp_path, history).verdict is Verdict.VALID


def test_a_register_value_is_refused_by_the_etcd_model(tmp_path: Path) -> None:
    history = Recorder()
    history.invoke(0, "put", "a string")  # type: ignore[arg-type]
    with pytest.raises(InputError) as raised:
        check_history_file(history.write(tmp_path / "h.jsonl"), "etcd")
    assert "carries its request as a JSON object" in str(raised.value)


# ---------------------------------------------------------------------------------------
# Hostile values never escape as anything but a shape error


_NAMES = st.sampled_from(
    [
        "key",
        "range_end",
        "limit",
        "revision",
        "value",
        "prev_kv",
        "compare",
        "success",
        "failure",
        "target",
        "result",
        "version",
        "mod_revision",
        "create_revision",
        "request_put",
        "request_range",
        "request_txn",
        "request_delete_range",
        "header",
        "kvs",
        "count",
        "more",
        "succeeded",
        "responses",
        "response_put",
        "response_range",
        "deleted",
        "prev_kvs",
        "sort_order",
        "physical",
        "x",
    ]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=5) | st.sampled_from(["0", "-1", "12"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_NAMES, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.sampled_from(["range", "put", "delete", "txn", "compact"]), st.sampled_from(["invoke", "ok"]), _JSON)
def test_any_json_value_is_read_or_refused_as_a_shape_error(f: str, kind: str, value: object) -> None:
    try:
        parsed = parse_value(f, kind, value)
    except ShapeError as error:
        assert "\n" not in error.message
        return
    assert parsed is not None
    hash(parsed)  # the search groups operations by their values
    again = parse_value(f, kind, value_json(parsed))
    assert again == parsed


def test_json_and_report_of_an_invalid_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from raftsim.cli import main

    history = Recorder()
    put(history, 0, "a", "1", 2)
    get(history, 1, "a", 1)
    path = history.write(tmp_path / "history.jsonl")
    with pytest.raises(SystemExit) as exited:
        main(["check", str(path), "--model", "etcd", "--json", "--report", str(tmp_path / "report.html")])
    assert exited.value.code == 1
    result = json.loads(capsys.readouterr().out)
    (stuck,) = result["partitions"][0]["counterexample"]["operations"]
    assert stuck["input"] == {"key": "a"}
    assert stuck["output"] == {"header": {"revision": 1}}
    assert "header.revision 1, but the store is at revision 2" in stuck["reason"]
    assert "range(a)" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_the_default_first_revision_is_one_as_a_fresh_etcd_and_raftcores_store(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "1", 2)
    get(history, 1, "a", 2, kv("a", "1", 2, 2, 1))
    path = history.write(tmp_path / "history.jsonl")
    assert check_history_file(path, "etcd").verdict is Verdict.VALID
    assert check_history_file(path, "etcd", initial=0).verdict is Verdict.INVALID


def test_a_limited_range_sorted_by_another_target_without_order_sorts_the_first_keys_only(tmp_path: Path) -> None:
    history = Recorder()
    put(history, 0, "a", "x", 2)
    put(history, 0, "b", "x", 3)
    put(history, 0, "c", "x", 4)
    put(history, 0, "a", "y", 5)  # a: mod 5, b: 3, c: 4
    request = {"key": "a", "range_end": "\u0000", "limit": 1, "sort_target": "MOD"}
    # etcd 3.4 reads a and b (limit + 1, in key order), sorts them by mod: b first
    answer = {"header": {"revision": 5}, "kvs": [kv("b", "x", 3, 3, 1)], "more": True, "count": 3}
    history.call(1, "range", request, answer)
    assert check(tmp_path, history).verdict is Verdict.VALID


def test_a_fresh_store_takes_a_compaction_at_0_then_at_1_once_each_as_etcd(tmp_path: Path) -> None:
    """etcd 3.4's answers to these four compactions on a fresh store (nothing compacted:
    its compactMainRev is -1)."""
    history = Recorder()
    for revision in (0, 1):
        history.call(0, "compact", {"revision": revision}, {"header": {"revision": 1}})
        history.invoke(0, "compact", {"revision": revision})
        history.fail(0, "compact", COMPACTED)
    assert check(tmp_path, history).verdict is Verdict.VALID
    refused_at_once = Recorder()
    refused_at_once.invoke(0, "compact", {"revision": 0})
    refused_at_once.fail(0, "compact", COMPACTED)
    assert_invalid(check(tmp_path, refused_at_once), "it failed as compacted (revision 0)")


# ---------------------------------------------------------------------------------------
# Pending writes of values no response shows


def _lost_puts(history: Recorder, count: int) -> None:
    """`count` puts of key a, each of a value nobody reads, whose answers were lost."""
    for number in range(count):
        history.invoke(10 + number, "put", {"key": "a", "value": f"lost-{number}", "prev_kv": True})
    for number in range(count):
        history.info(10 + number, "put")


def _check_within(tmp_path: Path, history: Recorder) -> LinearizabilityResult:
    return check_history_file(history.write(tmp_path / "history.jsonl"), "etcd", budget_s=20)


def _assert_found_within(tmp_path: Path, history: Recorder, configurations: int) -> None:
    """Invalid, decided within the budget and within that many configurations."""
    result = _check_within(tmp_path, history)
    assert_invalid(result)
    assert result.partitions[0].explored < configurations, result.partitions[0].explored


def test_pending_puts_of_unshown_values_filling_revisions_are_valid(tmp_path: Path) -> None:
    history = Recorder()
    _lost_puts(history, 30)
    get(history, 0, "a", 17, kv("a", "lost-29", 2, 17, 16))
    get(history, 0, "b", 17)
    assert _check_within(tmp_path, history).verdict is Verdict.VALID


def test_a_read_no_pending_put_can_explain_is_found_among_unshown_ones_at_once(tmp_path: Path) -> None:
    """Sixteen of thirty lost puts would have to make revisions 2-17, the last leaving a
    value none wrote. To refuse that, a search stepping each put with its own value weighs
    every subset and order of them (it had not finished in 10 s, nor in minutes); as
    look-alikes they are one put taken up to thirty times."""
    history = Recorder()
    _lost_puts(history, 30)
    get(history, 0, "a", 17, kv("a", "never-written", 2, 17, 16))
    _assert_found_within(tmp_path, history, 1000)


def test_a_version_the_lost_puts_cannot_reach_is_found_at_once(tmp_path: Path) -> None:
    """The stand-ins still count: sixteen puts cannot leave version 17."""
    history = Recorder()
    _lost_puts(history, 16)
    get(history, 0, "a", 17, kv("a", "lost-15", 2, 17, 17))
    _assert_found_within(tmp_path, history, 1000)


def test_a_compare_ordering_values_keeps_every_value_its_own(tmp_path: Path) -> None:
    """A lost put of "9" explains a txn finding the value greater than "5"; a stand-in for
    "9" would not sort as "9" does, so none is used."""
    history = Recorder()
    history.invoke(1, "put", {"key": "a", "value": "9"})
    history.info(1, "put")
    history.call(
        0,
        "txn",
        {
            "compare": [{"key": "a", "target": "VALUE", "result": "GREATER", "value": "5"}],
            "success": [{"request_put": {"key": "b", "value": "x"}}],
        },
        {"header": {"revision": 3}, "succeeded": True, "responses": [{"response_put": {}}]},
    )
    assert check(tmp_path, history).verdict is Verdict.VALID


def _sorted_by_value(recorder: Recorder, revision: int, shown: dict[str, object], count: int) -> None:
    recorder.call(
        0,
        "range",
        {"key": "a", "range_end": "c", "limit": 1, "sort_order": "ASCEND", "sort_target": "VALUE"},
        {"header": {"revision": revision}, "kvs": [shown], "more": True, "count": count},
    )


def test_a_range_sorted_by_value_that_may_see_a_pending_value_keeps_it_its_own(tmp_path: Path) -> None:
    """The lost put of "9" (revision 2) explains why the first value in order is b's "5":
    a stand-in would sort before "5"."""
    history = Recorder()
    history.invoke(1, "put", {"key": "a", "value": "9"})
    history.info(1, "put")
    put(history, 0, "b", "5", 3)
    _sorted_by_value(history, 3, kv("b", "5", 3, 3, 1), 2)
    assert check(tmp_path, history).verdict is Verdict.VALID


def test_a_range_sorted_by_value_after_the_key_was_written_again_lets_the_pending_value_go(tmp_path: Path) -> None:
    """Whatever the lost put left at revision 2, a's "1" replaced it at revision 3, before
    the sorted range looked: the lost value is stood in for, and the verdict holds both ways."""
    model = get_model("etcd")
    history = Recorder()
    history.invoke(1, "put", {"key": "a", "value": "0"})
    history.info(1, "put")
    put(history, 0, "a", "1", 3)
    put(history, 0, "b", "5", 4)
    _sorted_by_value(history, 4, kv("a", "1", 2, 3, 2), 2)
    path = history.write(tmp_path / "history.jsonl")
    assert check_operations(read_operations(path, None, model), model).verdict is Verdict.VALID
    assert [str(request) for request in model.stand_ins.values()] == [
        '{"key":"a","value":"(a value no response shows)"}'
    ]
    history.lines[-1]["value"]["kvs"] = [kv("a", "1", 2, 3, 3)]  # one version too many
    assert check(tmp_path, history).verdict is Verdict.INVALID


# ---------------------------------------------------------------------------------------
# Generations: what later kvs show of the writes that made the first revisions


def _first_revisions_lost(history: Recorder, version_of_c: int) -> None:
    """Revisions 2-13 made by 32 lost puts of four keys (their last values read later);
    a range at revision 13 shows each key's create_revision, mod_revision and version."""
    for number in range(32):
        key = "abcd"[number % 4]
        history.invoke(10 + number, "put", {"key": key, "value": f"{key}{number // 4}"})
    for number in range(32):
        history.info(10 + number, "put")
    history.call(
        0,
        "range",
        {"key": "a", "range_end": "e"},
        {
            "header": {"revision": 13},
            "kvs": [
                kv("a", "a7", 2, 11, 4),
                kv("b", "b7", 3, 12, 3),
                kv("c", "c7", 4, 13, version_of_c),
                kv("d", "d7", 5, 10, 2),
            ],
            "count": 4,
        },
    )


def test_writes_of_unknown_outcome_that_made_the_first_revisions_are_placed_by_what_later_kvs_show(
    tmp_path: Path,
) -> None:
    history = Recorder()
    _first_revisions_lost(history, 3)
    assert _check_within(tmp_path, history).verdict is Verdict.VALID


def test_a_version_more_than_the_lost_writes_can_make_is_found_within_the_budget(tmp_path: Path) -> None:
    """Thirteen puts in twelve revisions: a store is refused as soon as a key falls behind
    what its shown version needs (without that, the search had not finished in 20 s)."""
    history = Recorder()
    _first_revisions_lost(history, 4)
    _assert_found_within(tmp_path, history, 10_000)
