"""The revision checker: etcd's revision guarantees across keys, on hand-built histories
that keep and that break each one, and on runs."""

from __future__ import annotations

import dataclasses
from typing import Any

from checkers.history import Event, read_history_jsonl
from checkers.revisions import check_revisions
from raftsim import api
from scenarios import loader


class History:
    """Events with consecutive indexes and times; `op` adds an invoke and its completion."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def invoke(self, process: int, f: str, key: str, value: Any = None) -> History:
        index = len(self.events)
        self.events.append(Event(index, index * 10, process, "invoke", f, key, value))
        return self

    def done(self, process: int, kind: str, f: str, key: str, value: Any, revision: int | None,
             error: str | None = None) -> History:
        index = len(self.events)
        self.events.append(Event(index, index * 10, process, kind, f, key, value, revision, 1, error))
        return self

    def op(self, process: int, f: str, key: str, value: Any, revision: int | None, kind: str = "ok",
           result: Any = None) -> History:
        self.invoke(process, f, key, None if f == "read" else value)
        return self.done(process, kind, f, key, result if f == "read" else value, revision,
                         "compare-failed" if kind == "fail" else None)


def properties(result: dict) -> set[str]:
    return {anomaly["property"] for anomaly in result["anomalies"]}


def test_a_consistent_history_across_keys() -> None:
    history = History().op(0, "write", "a", 1, 1).op(1, "write", "b", 2, 2).op(0, "read", "a", None, 2, result=1)
    history.op(1, "read", "b", None, 2, result=2).op(0, "cas", "a", (1, 3), 3).op(1, "read", "c", None, 3)
    history.op(0, "cas", "b", (9, 4), 3, kind="fail")
    result = check_revisions(history.events)
    assert result["valid"], result["anomalies"]
    assert result["stats"]["max_revision"] == 3


def test_two_writes_with_one_revision() -> None:
    history = History().op(0, "write", "a", 1, 1).op(1, "write", "b", 2, 1)
    assert properties(check_revisions(history.events)) >= {"revision-unique"}


def test_a_write_after_a_returned_operation_must_make_a_greater_revision() -> None:
    history = History().op(0, "write", "a", 1, 5).op(1, "write", "b", 2, 5)
    result = check_revisions(history.events)
    assert "revision-monotonic" in properties(result)
    assert "expected a revision above 5" in next(
        a["message"] for a in result["anomalies"] if a["property"] == "revision-monotonic")


def test_a_stale_read_on_another_key_goes_back_in_revision() -> None:
    """Per key the read fits (b was never written), but it saw the store before a write to
    a that had already returned: only the revision shows it."""
    history = History().op(0, "write", "a", 1, 1).op(1, "read", "b", None, 0)
    assert properties(check_revisions(history.events)) == {"revision-monotonic"}


def test_concurrent_operations_may_come_back_in_any_revision_order() -> None:
    history = History().invoke(0, "write", "a", 1).invoke(1, "read", "a")
    history.done(1, "ok", "read", "a", None, 0).done(0, "ok", "write", "a", 1, 1)
    assert check_revisions(history.events)["valid"]


def test_a_read_must_see_the_last_write_at_or_below_its_revision() -> None:
    overwritten = History().op(0, "write", "a", 1, 1).op(0, "write", "a", 2, 2)
    overwritten.invoke(1, "read", "a").done(1, "ok", "read", "a", 1, 2)
    assert "read-revision" in properties(check_revisions(overwritten.events))
    from_the_future = History().invoke(0, "write", "a", 7).invoke(1, "read", "a")
    from_the_future.done(1, "ok", "read", "a", 7, 0).done(0, "ok", "write", "a", 7, 1)
    assert properties(check_revisions(from_the_future.events)) == {"read-revision"}
    absent = History().invoke(0, "write", "a", 7).invoke(1, "read", "a")
    absent.done(0, "ok", "write", "a", 7, 1).done(1, "ok", "read", "a", None, 1)
    assert properties(check_revisions(absent.events)) == {"read-revision"}


def test_writes_of_unknown_outcome_are_not_held_against_reads() -> None:
    history = History().op(0, "write", "a", 1, 1)
    history.invoke(1, "write", "a", 2).done(1, "info", "write", "a", 2, None)
    history.op(0, "read", "a", None, 2, result=2)  # the unknown write took revision 2
    assert check_revisions(history.events)["valid"]


def test_runs_are_judged_and_a_planted_revision_bug_is_found(tmp_path) -> None:
    base = dataclasses.replace(loader.load("mixed"), duration_ms=4000, faults=())
    for bugs, valid in (((), True), (("overwrite-keeps-revision",), False)):
        folder = tmp_path / ("bug" if bugs else "clean")
        outcome = api.run(dataclasses.replace(base, seed=2, bugs=bugs), folder)
        assert outcome.verdict["checkers"]["revisions"]["valid"] is valid
        # Linearizability is per key and knows no revisions: this bug is invisible to it.
        assert outcome.verdict["checkers"]["linearizability"]["valid"] is True
        assert check_revisions(read_history_jsonl(folder / "history.jsonl"))["valid"] is valid
