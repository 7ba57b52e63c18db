"""The revision checker: etcd's revision guarantees across keys, on hand-built histories
that keep and that break each one, and on runs."""

from __future__ import annotations

import dataclasses
from typing import Any

from checkers.history import Event, read_history_jsonl
from checkers.revisions import check_revisions
from checkers.verdict import Verdict
from raftsim import api
from scenarios import loader

STEP_US = 100_000
"""Event i happens at i * 0.1 s, so line i + 1 completes at a time messages show."""


class History:
    """Events with consecutive indexes and times; `op` adds an invoke and its completion."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @property
    def line(self) -> int:
        """The history line of the last event."""
        return len(self.events)

    def invoke(self, process: int, f: str, key: str, value: Any = None) -> History:
        index = len(self.events)
        self.events.append(Event(index, index * STEP_US, process, "invoke", f, key, value))
        return self

    def done(
        self,
        process: int,
        kind: str,
        f: str,
        key: str,
        value: Any,
        revision: int | None,
        error: str | None = None,
        node: int | None = 1,
    ) -> History:
        index = len(self.events)
        self.events.append(Event(index, index * STEP_US, process, kind, f, key, value, revision, node, error))
        return self

    def op(
        self,
        process: int,
        f: str,
        key: str,
        value: Any,
        revision: int | None,
        kind: str = "ok",
        result: Any = None,
        node: int | None = 1,
    ) -> History:
        self.invoke(process, f, key, None if f == "read" else value)
        return self.done(
            process,
            kind,
            f,
            key,
            result if f == "read" else value,
            revision,
            "compare-failed" if kind == "fail" else None,
            node,
        )


def properties(result: dict) -> set[str]:
    return {anomaly["property"] for anomaly in result.found}


def test_a_consistent_history_across_keys() -> None:
    history = History().op(0, "write", "a", 1, 1).op(1, "write", "b", 2, 2).op(0, "read", "a", None, 2, result=1)
    history.op(1, "read", "b", None, 2, result=2).op(0, "cas", "a", (1, 3), 3).op(1, "read", "c", None, 3)
    history.op(0, "cas", "b", (9, 4), 3, kind="fail")
    result = check_revisions(history.events)
    assert result.verdict is Verdict.VALID, result.found
    assert result.stats["max_revision"] == 3


def test_two_writes_with_one_revision() -> None:
    history = History().op(0, "write", "a", 1, 1).op(1, "write", "b", 2, 1)
    assert properties(check_revisions(history.events)) >= {"revision-unique"}


def test_a_write_after_a_returned_operation_must_make_a_greater_revision() -> None:
    history = History().op(0, "write", "a", 1, 5).op(1, "write", "b", 2, 5)
    result = check_revisions(history.events)
    assert "revision-monotonic" in properties(result)
    assert "expected a revision above 5" in next(
        a["message"] for a in result.found if a["property"] == "revision-monotonic"
    )


def test_a_stale_read_on_another_key_goes_back_in_revision() -> None:
    """Per key the read fits (b was never written), but it saw the store before a write to
    a that had already returned: only the revision shows it."""
    history = History().op(0, "write", "a", 1, 1).op(1, "read", "b", None, 0)
    assert properties(check_revisions(history.events)) == {"revision-monotonic"}


def test_concurrent_operations_may_come_back_in_any_revision_order() -> None:
    history = History().invoke(0, "write", "a", 1).invoke(1, "read", "a")
    history.done(1, "ok", "read", "a", None, 0).done(0, "ok", "write", "a", 1, 1)
    assert check_revisions(history.events).verdict is Verdict.VALID


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
    assert check_revisions(history.events).verdict is Verdict.VALID


def test_runs_are_judged_and_a_planted_revision_bug_is_found(tmp_path) -> None:
    base = dataclasses.replace(loader.load("mixed"), duration_ms=4000, faults=())
    for bugs, valid in (((), True), (("overwrite-keeps-revision",), False)):
        folder = tmp_path / ("bug" if bugs else "clean")
        outcome = api.run(dataclasses.replace(base, seed=2, bugs=bugs), folder)
        assert outcome.verdict.checkers["revisions"].verdict is Verdict.holds(valid)
        # Linearizability is per key and knows no revisions: this bug is invisible to it.
        assert outcome.verdict.checkers["linearizability"].verdict is Verdict.VALID
        assert check_revisions(read_history_jsonl(folder / "history.jsonl")).verdict is Verdict.holds(valid)


# -- each anomaly sits on its cause, and causes are grouped ---------------------------------


def by_property(result: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for anomaly in result.found:
        found.setdefault(anomaly["property"], []).append(anomaly)
    return found


def test_a_late_write_reusing_a_revision_is_the_cause_not_the_old_read_it_makes_look_stale() -> None:
    """The restart-skips-apply shape: node 2's store forgot its revisions and, long after,
    reports revision 2 again; the read at revision 2 returned before that write was even
    invoked, so the write is wrong, not the read."""
    history = History().op(0, "write", "a", 1, 1).op(1, "write", "b", 2, 2)
    history.op(0, "read", "a", None, 2, result=1)
    read_line = history.line
    history.op(1, "write", "b", 3, 3).op(1, "write", "b", 4, 4)
    early_write_line = 4
    history.op(0, "write", "a", 9, 2, node=2)
    late_line = history.line
    result = check_revisions(history.events)
    found = by_property(result)
    assert set(found) == {"revision-unique", "revision-monotonic", "read-revision"}
    for anomalies in found.values():
        (anomaly,) = anomalies
        assert anomaly["line"] == late_line and anomaly["t"] == (late_line - 1) * STEP_US
        assert anomaly["group"] == 1
    assert found["revision-unique"][0]["affected_line"] == early_write_line
    assert found["read-revision"][0]["affected_line"] == read_line
    assert found["revision-unique"][0]["message"] == (
        f"write a 9 by node 2 at 1.10 s (line {late_line}) reported revision 2, already reported by "
        f"write b 2 by node 1 at 0.30 s (line {early_write_line}): revision reused"
    )
    assert "and returned before this write was invoked" in found["read-revision"][0]["message"]
    (group,) = result.groups
    assert group == {
        "group": 1,
        "cause": found["revision-unique"][0]["message"],
        "t": 11 * STEP_US,
        "line": late_line,
        "count": 3,
        "property": "revision-unique",
        "node": 2,
        "operations": 1,
    }


def test_a_read_that_missed_a_returned_write_is_its_own_cause() -> None:
    history = History().op(0, "write", "a", 1, 1).op(0, "write", "a", 2, 2)
    history.invoke(1, "read", "a").done(1, "ok", "read", "a", 1, 2)
    result = check_revisions(history.events)
    (anomaly,) = result.found
    assert anomaly["property"] == "read-revision"
    assert (anomaly["line"], anomaly["affected_line"]) == (6, 4)
    assert anomaly["message"] == (
        "read a -> 1 by node 1 at 0.50 s (line 6) at revision 2 returned the value "
        "of revision 1, but write a 2 by node 1 at 0.30 s (line 4) had overwritten "
        "a at revision 2"
    )


def test_the_operation_that_went_backwards_is_the_cause_of_a_monotonic_anomaly() -> None:
    history = History().op(0, "write", "a", 1, 5).op(1, "read", "b", None, 3, node=4)
    (anomaly,) = check_revisions(history.events).found
    assert anomaly["property"] == "revision-monotonic"
    assert (anomaly["line"], anomaly["affected_line"], anomaly["t"]) == (4, 2, 3 * STEP_US)
    assert anomaly["message"].startswith("read b -> nil by node 4 at 0.30 s (line 4) reported revision 3")


def test_the_later_of_two_writes_with_one_revision_is_the_cause() -> None:
    """Concurrent, so no order says which is wrong: the one that returned second reused it."""
    history = History().invoke(0, "write", "a", 1).invoke(1, "write", "b", 2)
    history.done(1, "ok", "write", "b", 2, 1).done(0, "ok", "write", "a", 1, 1)
    (anomaly,) = check_revisions(history.events).found
    assert (anomaly["property"], anomaly["line"], anomaly["affected_line"]) == ("revision-unique", 4, 3)


def stale_node_history() -> History:
    """Node 2 answers three reads from a store stuck at revision 1, then one sound read,
    then a stale read again; node 1 answers the rest soundly."""
    history = History().op(0, "write", "a", 1, 1).op(0, "write", "a", 2, 2)
    for _ in range(3):
        history.op(1, "read", "b", None, 1, node=2)
    history.op(1, "read", "a", None, 2, result=2, node=2)
    history.op(0, "write", "a", 3, 3).op(1, "read", "b", None, 1, node=2)
    return history


def test_one_node_s_faulty_answers_in_a_row_are_one_group() -> None:
    result = check_revisions(stale_node_history().events)
    assert result.stats["anomaly_counts"]["revision-monotonic"] == 4
    assert [(group["group"], group["count"], group["operations"], group["node"]) for group in result.groups] == [
        (1, 3, 3, 2),
        (2, 1, 1, 2),
    ]
    assert result.groups[0]["cause"].endswith("(node 2: the first of 3 faulty answers in a row, the last at 0.90 s)")
    assert [anomaly["group"] for anomaly in result.found] == [1, 1, 1, 2]


def test_with_the_trace_a_node_s_faulty_answers_are_grouped_by_incarnation() -> None:
    """The sound answer between them no longer splits them; a restart does."""
    history = stale_node_history()
    one_life = check_revisions(history.events, [{"t": 0, "ev": "restart", "node": 2}])
    assert [(group["count"], group["node"]) for group in one_life.groups] == [(4, 2)]
    assert (
        "(node 2 since its restart at 0.00 s: the first of 4 faulty answers, the last at 1.50 s)"
        in one_life.groups[0]["cause"]
    )
    assert {anomaly["phase"] for anomaly in one_life.found} == {"safety"}
    assert {anomaly["phase"] for anomaly in check_revisions(history.events).found} == {None}
    phased = check_revisions(
        history.events, [{"t": 0, "ev": "phase", "phase": "safety"}, {"t": 1_000_000, "ev": "phase", "phase": "heal"}]
    )
    assert [anomaly["phase"] for anomaly in phased.found] == ["safety", "safety", "safety", "heal"]
    two_lives = check_revisions(history.events, [{"t": 1_200_000, "ev": "restart", "node": 2}])
    assert [group["count"] for group in two_lives.groups] == [3, 1]
    assert two_lives.groups[1]["cause"].endswith("(node 2 since its restart at 1.20 s)")


def test_operations_naming_no_node_are_groups_of_their_own() -> None:
    history = History().op(0, "write", "a", 1, 5, node=None)
    history.op(1, "read", "b", None, 3, node=None).op(1, "read", "b", None, 3, node=None)
    result = check_revisions(history.events)
    assert [(group["count"], group["node"]) for group in result.groups] == [(1, None), (1, None)]
    assert all("(node" not in group["cause"] for group in result.groups)


def test_many_anomalies_are_counted_and_every_kept_group_shows_its_first() -> None:
    history = History().op(0, "write", "a", 1, 1000)
    for number in range(30):
        history.op(1, "read", "b", None, 3, node=number % 3 + 2)  # three stale nodes, interleaved
    result = check_revisions(history.events)
    assert result.stats["anomaly_counts"]["revision-monotonic"] == 30
    assert len(result.found) == 10
    assert sum(group["count"] for group in result.groups) == 30
    assert {anomaly["group"] for anomaly in result.found} == {1, 2, 3}
    assert all("\n" not in anomaly["message"] for anomaly in result.found)


def test_clean_histories_have_no_groups() -> None:
    result = check_revisions(History().op(0, "write", "a", 1, 1).op(1, "read", "a", None, 1, result=1).events)
    assert result.verdict is Verdict.VALID and result.groups == () and result.stats["groups_total"] == 0
