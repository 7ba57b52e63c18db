"""Explaining stuck operations: who served them, in which role and term, after which write;
on hand-made histories and traces and on a real run with a stale leader."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

from checkers.explain import explain_linearizability, format_seconds, plural
from checkers.history import Event, read_history_jsonl
from checkers.trace import read_trace_jsonl
from checkers.verdict import CheckerResult, Verdict
from raftsim import api
from scenarios import loader


def test_seconds_and_plurals() -> None:
    assert [format_seconds(us) for us in (0, 1_500_000, 12_030_000, 12_281_000, 47_865_969)] == [
        "0.00 s",
        "1.50 s",
        "12.03 s",
        "12.281 s",
        "47.866 s",
    ]
    assert [plural(1, "key"), plural(2, "key"), plural(1, "anomaly"), plural(3, "anomaly"), plural(2, "day")] == [
        "1 key",
        "2 keys",
        "1 anomaly",
        "3 anomalies",
        "2 days",
    ]
    assert plural(0, "index", "indexes") == "0 indexes"


def stale_leader() -> tuple[list[Event], list[dict[str, Any]]]:
    """Node 1 leads term 2; node 3 wins term 3 at 11.5 s while node 1, cut off, still
    believes it leads until 12.5 s. A write of 1000107 through node 3 completes at 12.281 s;
    then a read through node 1 returns the older 1000105."""
    history = [
        Event(0, 10_000_000, 0, "invoke", "write", "k0", 1000105, client=0),
        Event(1, 10_100_000, 0, "ok", "write", "k0", 1000105, revision=80, node=1),
        Event(2, 12_200_000, 1, "invoke", "write", "k0", 1000107, client=1),
        Event(3, 12_281_000, 1, "ok", "write", "k0", 1000107, revision=90, node=3),
        Event(4, 12_300_000, 0, "invoke", "read", "k0", None, client=0),
        Event(5, 12_310_000, 0, "ok", "read", "k0", 1000105, revision=81, node=1),
        Event(6, 12_400_000, 1, "invoke", "cas", "k0", (5, 6), client=1),
        Event(7, 12_410_000, 1, "fail", "cas", "k0", (5, 6), revision=90, node=3, error="compare-failed"),
    ]
    trace = [
        {"t": 0, "ev": "start", "scenario": "x", "seed": 1, "nodes": [1, 2, 3], "clients": 2},
        {"t": 1_000_000, "ev": "role", "node": 1, "role": "leader", "term": 2, "leader": 1},
        {"t": 1_000_000, "ev": "role", "node": 3, "role": "follower", "term": 2, "leader": 1},
        {"t": 11_400_000, "ev": "role", "node": 3, "role": "candidate", "term": 3, "leader": 0},
        {"t": 11_500_000, "ev": "role", "node": 3, "role": "leader", "term": 3, "leader": 3},
        {"t": 12_500_000, "ev": "role", "node": 1, "role": "follower", "term": 3, "leader": 3},
    ]
    return history, trace


def verdict_with(*operations: dict[str, Any]) -> CheckerResult:
    """A linearizability result with one failing partition holding `operations`."""
    return CheckerResult.from_json(verdict_json(*operations), "verdict.json", "linearizability")


def verdict_json(*operations: dict[str, Any]) -> dict[str, Any]:
    counterexample = {"operations": list(operations), "prefix": [], "state": "1000107"}
    return {
        "valid": False,
        "model": "cas-register",
        "ops": 4,
        "ms": 1.0,
        "partitions": [
            {
                "key": "k0",
                "valid": False,
                "ops": 4,
                "ms": 1.0,
                "cause": None,
                "explored": 3,
                "counterexample": counterexample,
            }
        ],
    }


def stuck(call: int, ret: int | None, **extra: Any) -> dict[str, Any]:
    return {
        "id": 9,
        "process": 0,
        "f": "read",
        "key": "k0",
        "call": call,
        "ret": ret,
        "status": "ok",
        "description": "read(k0)",
        "reason": None,
        **extra,
    }


def explained(lin: CheckerResult) -> list[dict[str, Any]]:
    return lin.partitions[0]["counterexample"]["operations"]


def test_a_stale_leader_s_read_names_the_node_its_term_and_the_write_it_missed() -> None:
    history, trace = stale_leader()
    lin = verdict_with(stuck(4, 5))
    original = copy.deepcopy(lin)
    (op,) = explained(explain_linearizability(lin, history, trace))
    assert lin == original, "the input is not modified"
    assert op["served"] == {
        "node": 1,
        "term": 2,
        "role": "leader",
        "deposed_at_us": 12_500_000,
        "revision": 81,
        "newer_leader": {"node": 3, "term": 3, "since_us": 11_500_000},
    }
    assert op["explanation"] == (
        "key k0: read -> 1000105 by node 1 (leader of term 2, deposed at 12.50 s; node 3 led term 3 from "
        "11.50 s) at revision 81 after write 1000107 completed at 12.281 s (line 4)"
    )


def test_a_leader_deposed_while_the_answer_travelled_is_still_named_leader() -> None:
    """The role event comes between the answer and its arrival: the term led is the one
    the answer came from."""
    history, trace = stale_leader()
    trace[-1]["t"] = 12_305_000
    (op,) = explained(explain_linearizability(verdict_with(stuck(4, 5)), history, trace))
    assert (op["served"]["role"], op["served"]["term"], op["served"]["deposed_at_us"]) == ("leader", 2, 12_305_000)
    trace[-1]["t"] = 12_290_000  # deposed before the read was even invoked
    (op,) = explained(explain_linearizability(verdict_with(stuck(4, 5)), history, trace))
    assert (op["served"]["role"], op["served"]["term"], op["served"]["deposed_at_us"]) == ("follower", 3, None)
    assert "by node 1 (follower in term 3; node 3 led term 3 from 11.50 s)" not in op["explanation"]
    assert "by node 1 (follower in term 3) at revision 81" in op["explanation"]
    trace.append({"t": 12_305_000, "ev": "crash", "node": 1})  # after answering as a follower
    (op,) = explained(explain_linearizability(verdict_with(stuck(4, 5)), history, trace))
    assert (op["served"]["role"], op["served"]["term"]) == ("follower", 3)


def test_the_write_named_is_one_that_certainly_overwrote_the_value_read() -> None:
    """Two later writes finished before the read: the last one is named, unless the
    checker's `ruled_out_by` names another."""
    history, trace = stale_leader()
    extra = [
        Event(8, 12_282_000, 2, "invoke", "write", "k0", 1000108, client=2),
        Event(9, 12_290_000, 2, "ok", "write", "k0", 1000108, revision=91, node=3),
        Event(10, 12_300_000, 0, "invoke", "read", "k0", None, client=0),
        Event(11, 12_310_000, 0, "ok", "read", "k0", 1000105, revision=81, node=1),
    ]
    events = history[:4] + [dataclasses.replace(event, index=event.index - 4) for event in extra]
    (op,) = explained(explain_linearizability(verdict_with(stuck(6, 7)), events, trace))
    assert op["explanation"].endswith("after write 1000108 completed at 12.29 s (line 6)")
    (op,) = explained(explain_linearizability(verdict_with(stuck(6, 7, ruled_out_by=[3])), events, trace))
    assert op["explanation"].endswith("after write 1000107 completed at 12.281 s (line 4)")


def test_without_a_ruling_write_the_checker_s_reason_is_given() -> None:
    history, trace = stale_leader()
    cas = dict(stuck(6, 7), f="cas", status="compare-failed", reason="no order of the operations can produce it")
    (op,) = explained(explain_linearizability(verdict_with(cas), history, trace))
    assert op["explanation"] == (
        "key k0: cas [5, 6] (compare failed) by node 3 (leader of term 3) at revision 90: "
        "no order of the operations can produce it"
    )
    cas["reason"] = None
    (op,) = explained(explain_linearizability(verdict_with(cas), history, trace))
    assert op["explanation"] == "key k0: cas [5, 6] (compare failed) by node 3 (leader of term 3) at revision 90"


def test_an_answer_naming_no_node_or_a_pending_operation() -> None:
    history, trace = stale_leader()
    history[5] = dataclasses.replace(history[5], node=None)
    (op,) = explained(explain_linearizability(verdict_with(stuck(4, 5)), history, trace))
    assert op["served"] is None
    assert op["explanation"] == "key k0: read -> 1000105 after write 1000107 completed at 12.281 s (line 4)"
    history = history[:5]  # the read never returned
    pending = dict(stuck(4, None), status="info", reason="it must take effect before x")
    (op,) = explained(explain_linearizability(verdict_with(pending), history, trace))
    assert op["served"] is None and op["explanation"] == "key k0: read (outcome unknown): it must take effect before x"


def test_a_node_without_roles_in_the_trace_and_a_hostile_result_are_handled() -> None:
    history, _ = stale_leader()
    (op,) = explained(explain_linearizability(verdict_with(stuck(4, 5)), history, []))
    assert op["served"]["role"] is None and "by node 1 (role unknown) at revision 81" in op["explanation"]
    for odd in (
        {"valid": False},
        {"valid": False, "partitions": "x"},
        {"valid": False, "partitions": [None, {"counterexample": {"operations": [1, {}]}}]},
        verdict_json(stuck("4", [5]), stuck(99, 100)),
    ):
        result = CheckerResult.from_json(odd, "verdict.json", "linearizability")
        assert explain_linearizability(result, history, []) == result
    reason = dict(stuck(6, None), reason="a\nb  c")
    (op,) = explained(explain_linearizability(verdict_with(reason), history[:7], []))
    assert "\n" not in op["explanation"]


def test_a_real_stale_leader_read_is_explained(tmp_path: Path) -> None:
    base = loader.load("leader-lease")
    scenario = dataclasses.replace(base, duration_ms=9000, faults=base.faults[:2], seed=1, bugs=("stale-local-read",))
    folder = tmp_path / "run"
    outcome = api.run(scenario, folder)
    lin = outcome.verdict.checkers["linearizability"]
    assert lin.verdict is Verdict.INVALID
    result = explain_linearizability(
        lin, read_history_jsonl(folder / "history.jsonl"), read_trace_jsonl(folder / "trace.jsonl")
    )
    json.dumps(result.to_json())
    ops = [
        op
        for partition in result.partitions
        if partition["counterexample"]
        for op in partition["counterexample"]["operations"]
    ]
    assert ops
    for op in ops:
        served = op["served"]
        assert served["role"] == "leader" and served["revision"] is not None
        assert served["newer_leader"]["term"] > served["term"], "a successor was elected before the answer"
        assert op["explanation"].startswith(f"key {op['key']}: read -> ")
        assert f"by node {served['node']} (leader of term {served['term']}" in op["explanation"]
        assert " after write " in op["explanation"] or " after cas " in op["explanation"]
