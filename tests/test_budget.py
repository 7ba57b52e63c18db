"""The check's budget holds in every phase: reading, order facts, the search.

The histories are the benchmark's pathological ones (`benchmarks/budget_guard.py`),
scaled down: many concurrent writes, where every search step handles thousands of
candidates, and append logs whose gets reveal many order facts.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType

import pytest
from rich.console import Console

from checkers import linearizability
from checkers.budget import (
    CLOCK_EVERY_CALLS,
    Budget,
    MemoryGauge,
    OutOfBudget,
    resident_bytes,
)
from checkers.formats import read_operations
from checkers.history import Operation
from checkers.linearizability import check_operations, unknown_result
from checkers.models import get_model
from checkers.models.append_log import append_log_constraints
from checkers.verdict import Verdict
from reports.linearizability_view import format_result

SLACK_S = 0.1  # the promise itself is 10%; this is for the interpreter's own pauses (GC)

# Every budget here runs on CPU time (see the fixture), so another process's load on the
# machine neither stretches a check nor makes a bound fail.
pytestmark = pytest.mark.usefixtures("cpu_clock")
BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "budget_guard.py"


def guard_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("budget_guard", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spend_weighs_work_so_one_costly_step_reads_the_clock() -> None:
    budget = Budget(deadline=time.monotonic() - 1)  # already over
    budget.spend()  # one unit: the clock is not read yet
    with pytest.raises(OutOfBudget) as raised:
        budget.spend(work=CLOCK_EVERY_CALLS)
    assert raised.value.cause == "timeout"


def test_units_add_up_to_a_look_at_the_clock() -> None:
    budget = Budget(deadline=time.monotonic() - 1)
    for _ in range(CLOCK_EVERY_CALLS - 1):
        budget.spend()
    with pytest.raises(OutOfBudget):
        budget.spend()


def test_a_share_never_outlives_the_whole_budget() -> None:
    budget = Budget.starting_now(1.0)
    assert budget.until(budget.deadline + 100).deadline == budget.deadline
    assert budget.until(budget.deadline - 0.5).gauge is budget.gauge


def test_memory_over_the_guard_stops_at_once_when_much_was_stored() -> None:
    budget = Budget(gauge=MemoryGauge(limit_bytes=1))
    budget.spend(stored_bytes=100)  # little stored: memory is looked at every few steps
    with pytest.raises(OutOfBudget) as raised:
        budget.spend(stored_bytes=64 << 20)
    assert raised.value.cause == "memory"


def timed_check(
    path: Path, model_name: str, seconds: float, max_memory_bytes: int | None = None
) -> tuple[float, object]:
    """Read and check as `raftsim check` does, the budget starting before reading."""
    started = time.monotonic()
    budget = (
        Budget.starting_now(seconds) if max_memory_bytes is None else Budget.starting_now(seconds, max_memory_bytes)
    )
    model = get_model(model_name)
    try:
        result = check_operations(read_operations(path, None, model, budget=budget), model, budget=budget)
    except OutOfBudget as out:
        result = unknown_result(model_name, 0, out.cause, budget.elapsed_ms())
    return time.monotonic() - started, result


def concurrent_writes(writes: int) -> list[Operation]:
    """The benchmark's history, built in memory: `writes` overlapping writes, then reads
    of 1, 2 and 1 again."""
    ops = [
        Operation(
            number,
            number,
            None,
            "write",
            "x",
            number + 1,
            None,
            call=number,
            ret=writes + number,
            status="ok",
            line=number + 1,
        )
        for number in range(writes)
    ]
    for step, value in enumerate((1, 2, 1)):
        call = 2 * writes + 2 * step
        ops.append(
            Operation(
                writes + step,
                writes + step,
                None,
                "read",
                "x",
                None,
                value,
                call=call,
                ret=call + 1,
                status="ok",
                line=writes + step + 1,
            )
        )
    return ops


def test_many_concurrent_writes_are_searched_within_the_budget() -> None:
    # 4,000 overlapping writes: each search step sorts 4,000 candidates. A clock read
    # every thousand steps overshot a one-second budget several times over.
    started = time.monotonic()
    result = check_operations(concurrent_writes(4_000), get_model("cas-register"), budget_s=1.0)
    elapsed_s = time.monotonic() - started
    assert [p.cause for p in result.partitions] == ["timeout"]
    assert result.partitions[0].explored > 0  # it was the search that ran out
    assert elapsed_s < 1.1 + SLACK_S


def test_reading_included_the_answer_comes_within_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    guard_module().write_lines(path, guard_module().concurrent_writes_lines(3_000))
    elapsed_s, result = timed_check(path, "cas-register", 1.0)
    assert result.verdict is Verdict.UNKNOWN  # type: ignore[attr-defined]
    causes = [p.cause for p in result.partitions] or [result.cause]  # type: ignore[attr-defined]
    assert causes == ["timeout"]
    assert elapsed_s < 1.1 + SLACK_S


def test_the_concurrent_writes_history_is_not_linearizable_given_time(tmp_path: Path) -> None:
    # The generator's history is what it says: small, the search proves it broken.
    path = tmp_path / "history.jsonl"
    guard_module().write_lines(path, guard_module().concurrent_writes_lines(6))
    model = get_model("cas-register")
    result = check_operations(read_operations(path, None, model), model, budget_s=30)
    assert result.verdict is Verdict.INVALID
    example = result.partitions[0].counterexample
    assert example is not None and example.operations[0].output in (1, 2)


def many_overlapping_appends(appends: int) -> list[Operation]:
    """`appends` appends all open while as many gets return "", one after the other: the
    gets x appends facts "this append comes after that get" all hold, and are many."""
    ops: list[Operation] = []
    for number in range(appends):
        ops.append(
            Operation(
                number,
                number,
                None,
                "append",
                "k",
                f"<{number}>",
                None,
                call=number,
                ret=3 * appends + number,
                status="ok",
                line=number + 1,
            )
        )
    for number in range(appends):
        call = appends + 2 * number
        ops.append(
            Operation(
                appends + number,
                appends + number,
                None,
                "get",
                "k",
                None,
                "",
                call=call,
                ret=call + 1,
                status="ok",
                line=appends + number + 1,
            )
        )
    return ops


def test_order_facts_stop_at_the_memory_guard_before_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_search(*_: object) -> None:
        raise AssertionError("the search started: the facts were not guarded")

    monkeypatch.setattr(linearizability._Search, "run", no_search)
    limit = resident_bytes() + (48 << 20)  # 1,500 x 1,500 facts need well over that
    result = check_operations(many_overlapping_appends(1_500), get_model("kv"), max_memory_bytes=limit)
    assert result.verdict is Verdict.UNKNOWN
    assert [p.cause for p in result.partitions] == ["memory"]


def test_order_facts_stop_at_the_deadline_before_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_search(*_: object) -> None:
        raise AssertionError("the search started: the facts were not guarded")

    monkeypatch.setattr(linearizability._Search, "run", no_search)
    started = time.monotonic()
    result = check_operations(many_overlapping_appends(3_000), get_model("kv"), budget_s=0.3)
    elapsed_s = time.monotonic() - started
    assert [p.cause for p in result.partitions] == ["timeout"]
    assert elapsed_s < 0.33 + SLACK_S


def test_a_growing_log_is_checked_quickly_and_its_facts_stay_linear(tmp_path: Path) -> None:
    # 1,500 appends, each followed by a get of the whole log (2 MB of gets): the order
    # facts are one link per append, not gets x appends.
    path = tmp_path / "kv.txt"
    guard = guard_module()
    guard.write_lines(path, guard.append_log_lines(2_000_000, 3_000))
    ops = sorted(read_operations(path, None, get_model("kv")), key=lambda op: op.call)
    started = time.monotonic()
    before, outside = append_log_constraints(ops)
    assert time.monotonic() - started < 2.0
    assert len(before) <= 2 * len(ops) and not outside
    assert check_operations(ops, get_model("kv"), budget_s=30).verdict is Verdict.VALID


def test_a_check_that_ran_out_while_reading_says_so() -> None:
    result = unknown_result("kv", 12, "timeout", 1234.5)
    assert result.verdict is Verdict.UNKNOWN and result.partitions == ()
    assert result.to_json()["cause"] == "timeout" and result.to_json()["ops"] == 12
    console = Console(record=True, width=200, color_system=None)
    console.print(format_result(result))
    assert console.export_text().strip() == (
        "linearizability (kv): unknown (out of time before any key was checked), 1.234 s"
    )
    with pytest.raises(AssertionError):
        unknown_result("kv", 12, "cache-limit", 1.0)  # only time and memory run out early


def test_thousands_of_keys_each_get_enough_of_the_budget() -> None:
    # 10,000 keys with 10 s: an equal share is one millisecond, which the first key's
    # warm-up alone may take. Each key gets at least a few tens of milliseconds instead.
    ops: list[Operation] = []
    for key in range(10_000):
        ops.append(Operation(2 * key, 1, None, "put", f"k{key}", "a", None, call=4 * key, ret=4 * key + 1, status="ok"))
        ops.append(
            Operation(2 * key + 1, 2, None, "get", f"k{key}", None, "a", call=4 * key + 2, ret=4 * key + 3, status="ok")
        )
    result = check_operations(ops, get_model("kv"), budget_s=10)
    assert result.verdict is Verdict.VALID and len(result.partitions) == 10_000
