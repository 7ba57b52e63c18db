"""The WGL search: hand-made good and bad histories, a brute-force twin compared on random
histories, budgets, early exit, counterexamples and the terminal view."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import os
import random
import time
import tracemalloc
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from checkers import linearizability
from checkers.budget import Budget
from checkers.errors import InputError
from checkers.history import (
    COMPARE_FAILED,
    Event,
    Operation,
    operations_from_events,
    validate_events,
    write_history_jsonl,
)
from checkers.linearizability import (
    CAUSE_CACHE_LIMIT,
    CAUSE_MEMORY,
    CAUSE_NOT_CHECKED,
    CAUSE_TIMEOUT,
    LinearizabilityResult,
    check_history_file,
    check_operations,
)
from checkers.models import Model, State, get_model
from checkers.models.append_log import append_log_constraints
from checkers.verdict import Verdict
from reports.linearizability_view import format_result

# ---------------------------------------------------------------------------------------
# A small language for hand-written histories: one tuple per event, in history order.
#   (process, "invoke", f, value[, key])   (process, "ok", f, value[, key])
#   (process, "fail", "cas", value)  -> a compare-failed cas
#   (process, "info", f, value)      -> outcome unknown


def events(*steps: tuple) -> list[Event]:
    built: list[Event] = []
    for index, step in enumerate(steps):
        process, type_, f, value, *rest = step
        key = rest[0] if rest else "x"
        error = {"fail": COMPARE_FAILED, "info": "timeout"}.get(type_)
        if f == "read" and type_ != "ok":
            value = None
        built.append(Event(index, 100 * index, process, type_, f, key, value, error=error))
    validate_events(built)
    return built


def check(*steps: tuple, model: str = "cas-register", initial=None, **options):
    return check_operations(operations_from_events(events(*steps)), get_model(model, initial), **options)


def sequential(*calls: tuple) -> list[tuple]:
    """Each (process, outcome, f, value[, key]) as an invoke immediately completed."""
    steps: list[tuple] = []
    for process, outcome, f, value, *rest in calls:
        steps.append((process, "invoke", f, value, *rest))
        steps.append((process, outcome, f, value, *rest))
    return steps


# ---------------------------------------------------------------------------------------
# Hand-written histories


def test_empty_history_is_linearizable() -> None:
    result = check()
    assert result.verdict is Verdict.VALID and result.partitions == () and result.ops == 0


def test_sequential_good_history() -> None:
    result = check(
        *sequential(
            (1, "ok", "write", 1),
            (2, "ok", "read", 1),
            (1, "ok", "cas", (1, 2)),
            (2, "ok", "read", 2),
            (1, "fail", "cas", (1, 3)),
            (2, "ok", "read", 2),
        )
    )
    assert result.verdict is Verdict.VALID
    assert [p.verdict for p in result.partitions] == [Verdict.VALID]


def test_stale_read_is_caught_with_a_counterexample() -> None:
    result = check(*sequential((1, "ok", "write", 1), (1, "ok", "write", 2), (2, "ok", "read", 1)))
    assert result.verdict is Verdict.INVALID
    example = result.partitions[0].counterexample
    assert example is not None
    assert [op.f for op in example.prefix] == ["write", "write"]
    assert [(op.f, op.output) for op in example.operations] == [("read", 1)]
    assert example.state == "2"
    assert example.descriptions == ("read(x) -> 1",)


def test_lost_write_read_of_null_after_a_write() -> None:
    result = check(*sequential((1, "ok", "write", 1), (2, "ok", "read", None)))
    assert result.verdict is Verdict.INVALID
    example = result.partitions[0].counterexample
    assert example is not None and example.state == "1"
    assert example.descriptions == ("read(x) -> absent",)


def test_read_of_null_concurrent_with_the_first_write_is_fine() -> None:
    assert (
        check(
            (1, "invoke", "write", 1), (2, "invoke", "read", None), (1, "ok", "write", 1), (2, "ok", "read", None)
        ).verdict
        is Verdict.VALID
    )


def test_knossos_nil_read_quirk_is_not_copied() -> None:
    # With an initial value, a null read saw "absent", which the register never was.
    assert check(*sequential((2, "ok", "read", None)), initial=0).verdict is Verdict.INVALID
    assert check(*sequential((2, "ok", "read", 0)), initial=0).verdict is Verdict.VALID


def test_concurrent_write_explains_the_old_value() -> None:
    assert (
        check(
            *sequential((0, "ok", "write", 0)),
            (1, "invoke", "write", 1),
            (2, "invoke", "read", None),
            (1, "ok", "write", 1),
            (2, "ok", "read", 0),
        ).verdict
        is Verdict.VALID
    )


def test_two_cas_from_absent_cannot_both_apply() -> None:
    result = check(*sequential((1, "ok", "cas", (None, 1)), (2, "ok", "cas", (None, 2))))
    assert result.verdict is Verdict.INVALID
    example = result.partitions[0].counterexample
    assert example is not None and example.descriptions == ("cas(x, absent -> 2)",)


def test_compare_failed_needs_a_differing_value() -> None:
    # Alone after write 1, cas(1 -> 2) cannot have failed its compare.
    assert check(*sequential((1, "ok", "write", 1), (2, "fail", "cas", (1, 2)))).verdict is Verdict.INVALID
    # A concurrent write of 5 explains the failed compare.
    assert (
        check(
            *sequential((1, "ok", "write", 1)),
            (3, "invoke", "write", 5),
            (2, "invoke", "cas", (1, 2)),
            (2, "fail", "cas", (1, 2)),
            (3, "ok", "write", 5),
        ).verdict
        is Verdict.VALID
    )


def test_cas_applied_then_read_of_old_value_is_illegal() -> None:
    result = check(*sequential((1, "ok", "write", 1), (1, "ok", "cas", (1, 2)), (2, "ok", "read", 1)))
    assert result.verdict is Verdict.INVALID


def test_write_of_the_current_value_still_has_to_be_placed() -> None:
    # Writing 1 over 1 changes nothing now, but it must still precede the write of 2
    # that returns after it; only the order write 1, write 2 explains the read of 2.
    assert (
        check(
            *sequential((1, "ok", "write", 1)),
            (1, "invoke", "write", 1),
            (2, "invoke", "write", 2),
            (1, "ok", "write", 1),
            (2, "ok", "write", 2),
            *sequential((3, "ok", "read", 2)),
        ).verdict
        is Verdict.VALID
    )


def test_pending_write_explains_a_later_read() -> None:
    assert (
        check((1, "invoke", "write", 7), (1, "info", "write", 7), *sequential((2, "ok", "read", 7))).verdict
        is Verdict.VALID
    )
    # Never completed at all: the same.
    assert check((1, "invoke", "write", 7), *sequential((2, "ok", "read", 7))).verdict is Verdict.VALID


def test_a_pending_write_saved_for_later_is_not_confused_with_one_spent() -> None:
    # write 1 || write 0, then cas(1 -> 0) || a pending write of 1, then read 1. The search
    # first reaches {both writes} in state 1 by spending the pending write, and fails; it
    # must still explore the same returned set and state reached *without* spending it
    # (write 0, write 1), where the pending write is left to explain the final read.
    steps = [
        (0, "invoke", "write", 1),
        (1, "invoke", "write", 0),
        (0, "ok", "write", 1),
        (1, "ok", "write", 0),
        (2, "invoke", "cas", (1, 0)),
        (3, "invoke", "write", 1),
        (3, "info", "write", 1),
        (2, "ok", "cas", (1, 0)),
        *sequential((2, "ok", "read", 1)),
    ]
    assert check(*steps).verdict is Verdict.VALID


def test_pending_write_cannot_act_before_its_call() -> None:
    result = check(*sequential((2, "ok", "read", 7)), (1, "invoke", "write", 7), (1, "info", "write", 7))
    assert result.verdict is Verdict.INVALID


def test_info_write_may_never_happen() -> None:
    assert (
        check(
            (1, "invoke", "write", 7),
            (1, "info", "write", 7),
            *sequential((2, "ok", "read", None), (3, "ok", "read", None)),
        ).verdict
        is Verdict.VALID
    )
    # ... but once observed it stays (it took effect once, at one point).
    assert (
        check(
            (1, "invoke", "write", 7),
            (1, "info", "write", 7),
            *sequential((2, "ok", "read", 7), (3, "ok", "read", None)),
        ).verdict
        is Verdict.INVALID
    )


def test_pending_cas_applies_only_if_its_compare_holds() -> None:
    assert (
        check(
            *sequential((1, "ok", "write", 1)), (2, "invoke", "cas", (1, 9)), *sequential((3, "ok", "read", 9))
        ).verdict
        is Verdict.VALID
    )
    assert (
        check(
            *sequential((1, "ok", "write", 1)), (2, "invoke", "cas", (4, 9)), *sequential((3, "ok", "read", 9))
        ).verdict
        is Verdict.INVALID
    )


def test_failed_operations_are_dropped() -> None:
    # A write that failed (not-leader) certainly had no effect: reading its value is illegal.
    built = [
        Event(0, 0, 1, "invoke", "write", "x", 7),
        Event(1, 1, 1, "fail", "write", "x", 7, error="not-leader"),
        Event(2, 2, 2, "invoke", "read", "x"),
        Event(3, 3, 2, "ok", "read", "x", 7),
    ]
    ops = operations_from_events(built)
    assert [op.f for op in ops] == ["read"]
    assert check_operations(ops, get_model("register")).verdict is Verdict.INVALID


def test_concurrent_read_blamed_not_the_later_one() -> None:
    # Knossos's rethink-fail-minimal: value 0, then write 4 concurrent with a read of 3.
    # The read of 3 is the culprit; a later read of 4 must not be reported.
    result = check(
        *sequential((0, "ok", "write", 0)),
        (1, "invoke", "read", None),
        (2, "invoke", "write", 4),
        (1, "ok", "read", 3),
        (2, "ok", "write", 4),
        *sequential((3, "ok", "read", 4)),
    )
    example = result.partitions[0].counterexample
    assert result.verdict is Verdict.INVALID and example is not None
    assert example.descriptions == ("read(x) -> 3",)
    assert [op.process for op in example.operations] == [1]


def test_keys_are_judged_separately() -> None:
    result = check(
        *sequential(
            (1, "ok", "write", 1, "a"),
            (2, "ok", "read", None, "b"),
            (2, "ok", "read", 1, "a"),
            (1, "ok", "read", 2, "b"),
        )
    )
    assert result.verdict is Verdict.INVALID
    assert [(p.key, p.verdict, p.ops) for p in result.partitions] == [
        ("a", Verdict.VALID, 2),
        ("b", Verdict.INVALID, 2),
    ]


def test_register_model_refuses_cas() -> None:
    with pytest.raises(ValueError, match="'cas'"):
        check(*sequential((1, "ok", "cas", (None, 1))), model="register")


def test_first_stops_at_the_first_illegal_partition() -> None:
    bad_b = sequential((1, "ok", "write", 1, "b"), (1, "ok", "read", 2, "b"))
    bad_c = sequential(*[(1, "ok", "write", v, "c") for v in range(2)], (1, "ok", "read", 5, "c"))
    good_a = sequential((1, "ok", "write", 3, "a"))
    steps = good_a + bad_b + bad_c
    everything = check(*steps)
    assert [(p.key, p.verdict) for p in everything.partitions] == [
        ("a", Verdict.VALID),
        ("b", Verdict.INVALID),
        ("c", Verdict.INVALID),
    ]
    early = check(*steps, first=True)
    assert early.verdict is Verdict.INVALID
    assert [(p.key, p.verdict, p.cause) for p in early.partitions] == [
        ("a", Verdict.VALID, None),
        ("b", Verdict.INVALID, None),
        ("c", Verdict.UNKNOWN, CAUSE_NOT_CHECKED),
    ]
    assert early.partitions[2].ops == 3


# ---------------------------------------------------------------------------------------
# Budgets: they end in "unknown", never in a guess.


def hard_history(writers: int = 24) -> list[Operation]:
    """Many concurrent writes of distinct values, then a read of a value nobody wrote:
    illegal, but only after trying every order of the writes (n * 2^n configurations)."""
    steps = [(p, "invoke", "write", p) for p in range(writers)]
    steps += [(p, "ok", "write", p) for p in range(writers)]
    steps += sequential((writers, "ok", "read", -1))
    return operations_from_events(events(*steps))


@pytest.mark.usefixtures("cpu_clock")  # the bound is on work done, not on the machine's load
def test_tiny_budget_ends_in_unknown() -> None:
    started = time.monotonic()
    result = check_operations(hard_history(), get_model("cas-register"), budget_s=0.05)
    assert time.monotonic() - started < 5
    assert result.verdict is Verdict.UNKNOWN
    assert result.partitions[0].cause == CAUSE_TIMEOUT
    assert result.partitions[0].counterexample is None


def test_cache_bound_ends_in_unknown() -> None:
    result = check_operations(hard_history(), get_model("cas-register"), max_cache_entries=500)
    assert result.verdict is Verdict.UNKNOWN
    partition = result.partitions[0]
    assert (partition.cause, partition.explored) == (CAUSE_CACHE_LIMIT, 500)


def test_same_hard_history_small_enough_is_decided() -> None:
    result = check_operations(hard_history(writers=6), get_model("cas-register"))
    assert result.verdict is Verdict.INVALID


def test_pending_writes_are_not_enumerated_subset_by_subset() -> None:
    # 40 writes that never return and a read nobody could have seen: every subset of the
    # writes is a possible past, but only the smallest one per value needs exploring.
    steps = [(p, "invoke", "write", p) for p in range(40)]
    steps += sequential((40, "ok", "read", -1))
    result = check_operations(operations_from_events(events(*steps)), get_model("register"))
    assert result.verdict is Verdict.INVALID
    assert result.partitions[0].explored <= 41


def test_budget_spent_before_a_partition_starts_leaves_it_unknown() -> None:
    ops = operations_from_events(events(*sequential((1, "ok", "write", 1, "a"), (1, "ok", "write", 1, "b"))))
    result = check_operations(ops, get_model("cas-register"), budget_s=0.0)
    assert result.verdict is Verdict.UNKNOWN
    assert {p.cause for p in result.partitions} == {CAUSE_TIMEOUT}


# ---------------------------------------------------------------------------------------
# The brute-force twin: every order of every allowed subset, no cleverness at all.

TWIN_EXAMPLES = int(os.environ.get("RAFTSIM_TWIN_EXAMPLES", "200"))
"""Random histories per twin test; raise it (thousands) after changing the search."""


def twin_linearizable(ops: Sequence[Operation], initial: int | None) -> bool:
    returned = [op for op in ops if op.ret is not None]
    pending = [op for op in ops if op.ret is None]
    for size in range(len(pending) + 1):
        for chosen in itertools.combinations(pending, size):
            for order in itertools.permutations(returned + list(chosen)):
                if twin_respects_real_time(order) and twin_legal(order, initial):
                    return True
    return False


def twin_respects_real_time(order: Sequence[Operation]) -> bool:
    return not any(
        later.ret is not None and later.ret < earlier.call
        for position, earlier in enumerate(order)
        for later in order[position + 1 :]
    )


def twin_legal(order: Sequence[Operation], initial: int | None) -> bool:
    values: dict[str | None, int | None] = {}
    for op in order:
        current = values.get(op.key, initial)
        if op.f == "read":
            if op.ret is not None and op.output != current:
                return False
        elif op.f == "write":
            values[op.key] = op.input  # type: ignore[assignment]
        else:
            expected, new = op.input  # type: ignore[misc]
            if op.status == COMPARE_FAILED:
                if current == expected:
                    return False
            elif current == expected:
                values[op.key] = new
            elif op.ret is not None:
                return False
    return True


@st.composite
def random_histories(
    draw: st.DrawFn,
    functions: tuple[str, ...],
    max_operations: int = 6,
    keys: tuple[str, ...] = ("a", "b"),
    info_share: int = 1,
) -> list[Event]:
    """Up to 6 operations over 3 clients and 2 keys; outcomes and read values at random,
    so both linearizable and broken histories come up. `info_share` weighs outcome
    `info` against two shares of `ok`."""
    values = st.sampled_from([None, 0, 1, 2])
    process_of = {client: client for client in range(3)}
    open_invoke: dict[int, Event] = {}
    built: list[Event] = []
    invokes = 0
    for _ in range(draw(st.integers(0, 3 * max_operations))):
        client = draw(st.integers(0, 2))
        process = process_of[client]
        time_us = 10 * len(built)
        if process not in open_invoke:
            if invokes == max_operations:
                continue
            f = draw(st.sampled_from(functions))
            key = draw(st.sampled_from(keys))
            value = (
                None
                if f == "read"
                else draw(st.integers(0, 2))
                if f == "write"
                else (draw(values), draw(st.integers(0, 2)))
            )
            event = Event(len(built), time_us, process, "invoke", f, key, value, client=client)
            open_invoke[process] = event
            invokes += 1
        else:
            invoke = open_invoke.pop(process)
            outcomes = ["ok", "ok"] + ["info"] * info_share + (["fail"] if invoke.f == "cas" else [])
            outcome = draw(st.sampled_from(outcomes))
            value = draw(values) if invoke.f == "read" and outcome == "ok" else invoke.value
            error = {"fail": COMPARE_FAILED, "info": "timeout"}.get(outcome)
            event = Event(
                len(built), time_us, process, outcome, invoke.f, invoke.key, value, error=error, client=client
            )
            if outcome == "info":
                process_of[client] = process + 3
        built.append(event)
    validate_events(built)
    return built


@pytest.mark.parametrize(
    ("model_name", "keys", "info_share"),
    [
        ("register", ("a", "b"), 1),
        ("cas-register", ("a", "b"), 1),
        # One key and mostly unknown outcomes: chains of pending operations that matter.
        ("cas-register", ("a",), 4),
    ],
)
@settings(max_examples=TWIN_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_search_agrees_with_the_brute_force_twin(
    model_name: str,
    keys: tuple[str, ...],
    info_share: int,
    data: st.DataObject,
) -> None:
    functions = ("read", "write") if model_name == "register" else ("read", "write", "cas")
    history = data.draw(random_histories(functions, keys=keys, info_share=info_share))
    initial = data.draw(st.sampled_from([None, 0]))
    ops = operations_from_events(history)
    result = check_operations(ops, get_model(model_name, initial))
    assert result.verdict is Verdict.holds(twin_linearizable(ops, initial))
    assert check_operations(ops, RegisterWithStateTests(model_name, initial)).verdict is result.verdict
    for partition in result.partitions:
        if partition.counterexample is not None:
            assert_counterexample_is_honest(
                partition.counterexample.prefix, partition.counterexample.operations, initial
            )


class RegisterWithStateTests:
    """The register model with a `state_test`: writes are blind; reads and cas depend on
    the state only through whether it equals the value read or expected."""

    def __init__(self, name: str, initial: int | None) -> None:
        self.model = get_model(name, initial)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def state_test(self, op: Operation) -> tuple | None:
        if op.f == "write":
            return ()
        if op.f == "read":
            return (op.output,) if op.ret is not None else ()
        return (op.input[0],)  # type: ignore[index]


def assert_counterexample_is_honest(
    prefix: Sequence[Operation], stuck: Sequence[Operation], initial: int | None
) -> None:
    """The prefix is a legal order respecting real time; each stuck op, appended, is not."""
    assert twin_respects_real_time(prefix) and twin_legal(prefix, initial)
    assert stuck and all(op.ret is not None for op in stuck)
    for op in stuck:
        assert op not in prefix
        assert not twin_legal([*prefix, op], initial)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), processes=st.integers(1, 6), info_rate=st.sampled_from([0.0, 0.05, 0.3]))
def test_histories_from_a_real_register_are_linearizable(
    seed: int,
    processes: int,
    info_rate: float,
) -> None:
    ops = operations_from_events(linearizable_events(seed, 40, processes, keys=2, info_rate=info_rate))
    assert check_operations(ops, get_model("cas-register")).verdict is Verdict.VALID


# ---------------------------------------------------------------------------------------
# Histories produced by an atomic register, for properties and speed.


def linearizable_events(
    seed: int, operations: int, processes: int, keys: int = 1, values: int = 5, info_rate: float = 0.05
) -> list[Event]:
    """Each client runs operations one after another; each takes effect atomically at a
    random instant inside its interval, so the history is linearizable by construction."""
    rng = random.Random(seed)
    plans: list[dict] = []
    for client in range(processes):
        now = rng.randrange(10)
        for _ in range(operations // processes):
            call = now + rng.randrange(1, 20)
            ret = call + rng.randrange(1, 60)
            f = rng.choice(["read", "write", "cas"])
            argument = (
                None
                if f == "read"
                else rng.randrange(values)
                if f == "write"
                else (rng.choice([None, *range(values)]), rng.randrange(values))
            )
            info = rng.random() < info_rate
            plans.append(
                {
                    "client": client,
                    "call": call,
                    "ret": ret,
                    "f": f,
                    "key": f"k{rng.randrange(keys)}",
                    "argument": argument,
                    "at": rng.uniform(call, ret),
                    "info": info,
                    "effective": not info or rng.random() < 0.5,
                }
            )
            now = ret
    apply_atomically(plans)
    return events_of_plans(plans, processes)


def apply_atomically(plans: list[dict]) -> None:
    register: dict[str, int | None] = {}
    for plan in sorted((p for p in plans if p["effective"]), key=lambda p: p["at"]):
        current = register.get(plan["key"])
        if plan["f"] == "read":
            plan["result"] = current
        elif plan["f"] == "write":
            register[plan["key"]] = plan["argument"]
        else:
            plan["result"] = current == plan["argument"][0]
            if plan["result"]:
                register[plan["key"]] = plan["argument"][1]


def events_of_plans(plans: list[dict], processes: int) -> list[Event]:
    moments = sorted([(p["call"], 0, n) for n, p in enumerate(plans)] + [(p["ret"], 1, n) for n, p in enumerate(plans)])
    process_of_client = list(range(processes))
    process_of_plan: dict[int, int] = {}
    built: list[Event] = []
    for moment, is_return, number in moments:
        plan = plans[number]
        value = None if plan["f"] == "read" else plan["argument"]
        common = {"key": plan["key"], "client": plan["client"], "f": plan["f"]}
        if not is_return:
            process_of_plan[number] = process_of_client[plan["client"]]
            built.append(Event(len(built), moment, process_of_plan[number], "invoke", value=value, **common))
        elif plan["info"]:
            built.append(
                Event(len(built), moment, process_of_plan[number], "info", value=value, error="timeout", **common)
            )
            process_of_client[plan["client"]] += processes
        elif plan["f"] == "cas" and not plan["result"]:
            built.append(
                Event(len(built), moment, process_of_plan[number], "fail", value=value, error=COMPARE_FAILED, **common)
            )
        else:
            result = plan["result"] if plan["f"] == "read" else value
            built.append(Event(len(built), moment, process_of_plan[number], "ok", value=result, **common))
    validate_events(built)
    return built


def test_a_thousand_operations_are_searched_in_about_as_many_steps() -> None:
    # How fast is benchmarks/checker_speed.py's to say; what a test can hold is that the
    # search stays near-linear on a linearizable history (about 1,200 configurations for
    # 1,000 operations), where a lost cut would make it explore many times more.
    ops = operations_from_events(linearizable_events(7, 1000, 8))
    result = check_operations(ops, get_model("cas-register"), budget_s=600)
    assert result.verdict is Verdict.VALID
    assert result.ops == 1000
    explored = sum(partition.explored for partition in result.partitions)
    assert explored <= 2 * len(ops), f"{explored} configurations for {len(ops)} operations"


def test_corrupting_one_read_of_a_long_history_is_caught() -> None:
    built = linearizable_events(11, 300, 4)
    position = max(n for n, e in enumerate(built) if e.type == "ok" and e.f == "read")
    original = built[position]
    built[position] = Event(
        original.index, original.time, original.process, "ok", "read", original.key, 99, client=original.client
    )
    result = check_operations(operations_from_events(built), get_model("cas-register"))
    assert result.verdict is Verdict.INVALID
    example = result.partitions[0].counterexample
    assert example is not None and example.descriptions[-1].endswith("-> 99")


# ---------------------------------------------------------------------------------------
# Files, results as JSON, and the view for people


def test_check_history_file(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    write_history_jsonl(path, events(*sequential((1, "ok", "write", 1), (2, "ok", "read", 2))))
    result = check_history_file(path, "cas-register")
    assert isinstance(result, LinearizabilityResult) and result.verdict is Verdict.INVALID
    assert check_history_file(path, "register").verdict is Verdict.INVALID
    write_history_jsonl(path, events(*sequential((1, "ok", "cas", (None, 1)))))
    with pytest.raises(InputError) as caught:
        check_history_file(path, "register")
    assert caught.value.field == "f" and str(path) in str(caught.value)
    with pytest.raises(ValueError, match="unknown model"):
        check_history_file(path, "queue")


def test_results_are_deterministic_json() -> None:
    steps = sequential((1, "ok", "write", 1), (1, "ok", "write", 2), (2, "ok", "read", 1))
    first, second = check(*steps).to_json(), check(*steps).to_json()
    for document in (first, second):
        document["ms"] = 0
        for partition in document["partitions"]:
            partition["ms"] = 0
    assert first == second
    example = first["partitions"][0]["counterexample"]
    assert example["state"] == "2"
    assert [op["description"] for op in example["prefix"]] == ["write(x, 1)", "write(x, 2)"]
    assert example["operations"][0]["output"] == 1


def test_format_result_shows_verdicts_and_the_counterexample() -> None:
    result = check(*sequential((1, "ok", "write", 1, "a"), (1, "ok", "write", 2, "b"), (2, "ok", "read", 1, "b")))
    console = Console(record=True, width=120, color_system=None)
    console.print(format_result(result))
    text = console.export_text()
    assert text.count("NOT linearizable") == 3  # the history, key b's row, its counterexample
    assert "ILLEGAL" not in text and " ok " not in text and "linearizable" in text
    assert "3 operations, 2 keys" in text
    assert "read(b) -> 1" in text and "state: 2" in text and "write(b, 2)" in text
    assert "cannot be placed" in text
    assert result.partitions[1].counterexample.reasons == (  # type: ignore[union-attr]
        "read(b) -> 1 cannot be placed: it read 1, but no operation before it could have left 1",
    )


# ---------------------------------------------------------------------------------------
# Public histories with known verdicts: Knossos's EDN files and Porcupine's etcd logs.

HISTORIES = Path(__file__).parent / "testdata" / "histories"


def corpus(which: str, model: str) -> list:
    table = HISTORIES / which / "expected-verdicts.tsv"
    with open(table, encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    return [
        pytest.param(row["file"], row["expected"] == "linearizable", id=row["file"])
        for row in rows
        if row["model"] == model
    ]


def check_public_history(which: str, name: str, expected: bool, initial: int | None) -> None:
    path = HISTORIES / which / name
    result = check_history_file(path, "cas-register", initial=initial, budget_s=30)
    assert result.verdict is Verdict.holds(expected), f"{name}: {result.verdict}"
    for partition in result.partitions:
        if partition.counterexample is not None:
            assert_counterexample_is_honest(
                partition.counterexample.prefix, partition.counterexample.operations, initial
            )


@pytest.mark.parametrize(("name", "expected"), corpus("knossos", "cas-register"))
def test_knossos_cas_register_histories(name: str, expected: bool) -> None:
    # core_test/test-examples checks these with (cas-register 0).
    check_public_history("knossos", name, expected, initial=0)


@pytest.mark.parametrize(("name", "expected"), corpus("porcupine", "etcd-register"))
def test_porcupine_etcd_logs(name: str, expected: bool) -> None:
    # Porcupine's etcd model starts with the key absent.
    check_public_history("porcupine", name, expected, initial=None)


def test_knossos_rethink_fail_minimal_blames_the_concurrent_read() -> None:
    path = HISTORIES / "knossos" / "cas-register" / "bad" / "rethink-fail-minimal.edn"
    result = check_history_file(path, "cas-register")
    example = result.partitions[0].counterexample
    assert result.verdict is Verdict.INVALID and example is not None
    assert [(op.process, op.f, op.output) for op in example.operations] == [(1, "read", 3)]
    assert example.state == "4"
    assert [op.f for op in example.prefix] == ["write", "write"]


def test_format_result_lists_only_the_interesting_partitions_of_many() -> None:
    steps = [step for key in range(25) for step in sequential((1, "ok", "write", 1, f"k{key:02}"))]
    steps += sequential((2, "ok", "read", 7, "k03"))
    console = Console(record=True, width=120, color_system=None)
    console.print(format_result(check(*steps)))
    text = console.export_text()
    assert "k03" in text and "NOT linearizable" in text and "24 more keys" in text
    assert "k04" not in text
    pending = check((1, "invoke", "write", 4), *sequential((2, "ok", "read", 5)))
    console = Console(record=True, width=120, color_system=None)
    console.print(format_result(pending))
    text = console.export_text()
    assert "1 key," in text and "2 operations" in text
    assert "0.0001 s" in text and " us " not in text  # times in seconds


# ---------------------------------------------------------------------------------------
# Order facts read off results (`order_constraints`), on an append log: Porcupine's kv
# model, one string per key. The reference model here is deliberately the plainest one.


@dataclass(frozen=True, slots=True)
class AppendLog(Model):
    """get returns the whole string; put replaces it; append extends it. With `facts`,
    the model offers `append_log_constraints` to the search."""

    facts: bool = True
    name: str = "append-log"
    functions: frozenset[str] = frozenset({"get", "put", "append"})

    def init(self) -> str:
        return ""

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        if op.f == "get":
            return op.ret is None or op.output == state, state
        return True, (op.input if op.f == "put" else f"{state}{op.input}")

    def partition(self, op: Operation) -> Hashable:
        return op.key

    def inert(self, op: Operation) -> bool:
        return op.f == "get" and op.ret is None

    def observes_only(self, op: Operation) -> bool:
        return op.f == "get" and op.ret is not None

    def describe_op(self, op: Operation) -> str:
        if op.f == "get":
            return f"get({op.key}) -> {'?' if op.ret is None else repr(op.output)}"
        return f"{op.f}({op.key}, {op.input!r})"

    def describe_state(self, state: State) -> str:
        return repr(state)

    def order_constraints(self, ops: Sequence[Operation], budget: Budget | None = None) -> tuple[list, list]:
        return append_log_constraints(ops, budget=budget) if self.facts else ([], [])

    def state_test(self, op: Operation) -> tuple | None:
        if op.f == "put":
            return ()
        return (op.output,) if op.f == "get" and op.ret is not None else None


def log_op(
    number: int, process: int, f: str, value: str | None, call: int, ret: int | None, key: str = "k"
) -> Operation:
    """An append-log operation; `value` is the argument, or a get's result."""
    is_get = f == "get"
    return Operation(
        id=number,
        process=process,
        client=None,
        f=f,
        key=key,
        input=None if is_get else value,  # type: ignore[arg-type]
        output=value if is_get and ret is not None else None,  # type: ignore[arg-type]
        call=call,
        ret=ret,
        status="ok" if ret is not None else "info",
    )


def log_history(*steps: tuple) -> list[Operation]:
    """(process, "invoke"|"ok"|"info", f, value) per event, in history order; a get's
    value is given on its "ok"."""
    open_calls: dict[int, tuple[int, str, str | None]] = {}
    ops: list[Operation] = []
    for position, (process, kind, f, value) in enumerate(steps):
        if kind == "invoke":
            open_calls[process] = (position, f, value)
            continue
        call, f_called, argument = open_calls.pop(process)
        assert f_called == f
        ret = position if kind == "ok" else None
        ops.append(log_op(len(ops), process, f, value if f == "get" else argument, call, ret))
    ops.extend(log_op(len(ops), process, f, value, call, None) for process, (call, f, value) in open_calls.items())
    ops.sort(key=lambda op: op.call)
    return ops


def disagreeing_reads() -> list[Operation]:
    """append a || append b, then a read of "ab" and a read of "ba"."""
    return log_history(
        (1, "invoke", "append", "a"),
        (2, "invoke", "append", "b"),
        (1, "ok", "append", "a"),
        (2, "ok", "append", "b"),
        (3, "invoke", "get", None),
        (3, "ok", "get", "ab"),
        (3, "invoke", "get", None),
        (3, "ok", "get", "ba"),
    )


def test_two_reads_disagreeing_on_the_order_of_appends_are_caught() -> None:
    ops = disagreeing_reads()
    assert check_operations(ops, AppendLog(facts=False)).verdict is Verdict.INVALID
    result = check_operations(ops, AppendLog())
    assert result.verdict is Verdict.INVALID
    # The short search without facts found the deeper counterexample.
    example = result.partitions[0].counterexample
    assert example is not None and example.state == "'ab'"
    assert example.descriptions == ("get(k) -> 'ba'",)
    assert example.reason(0) == (
        "get(k) -> 'ba' cannot be placed: the state after the longest prefix the search could "
        "linearize is 'ab', left by append(k, 'b') at event #1, and the model refuses it there"
    )
    assert [op.input or op.output for op in example.prefix] == ["a", "b", "ab"]


def test_without_the_retry_the_facts_explain_the_dead_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linearizability, "COUNTEREXAMPLE_RETRY_CONFIGURATIONS", 0)
    result = check_operations(disagreeing_reads(), AppendLog())
    example = result.partitions[0].counterexample
    assert result.verdict is Verdict.INVALID and example is not None
    # The facts form a cycle (a before b, b before a): nothing can go first.
    assert example.prefix == () and example.state == "''"
    assert example.descriptions == ("append(k, 'a')", "append(k, 'b')")
    assert example.reasons == (
        "append(k, 'a') cannot be placed: append(k, 'b') at event #1 must take effect before "
        "it, as get(k) -> 'ba' at event #6 shows",
        "append(k, 'b') cannot be placed: append(k, 'a') at event #0 must take effect before "
        "it, as get(k) -> 'ab' at event #4 shows",
    )
    console = Console(record=True, width=200, color_system=None)
    console.print(format_result(result))
    assert "as get(k) -> 'ab' at event #4 shows" in console.export_text()
    assert result.to_json()["partitions"][0]["counterexample"]["operations"][0]["reason"] == (example.reasons[0])


@dataclass(frozen=True, slots=True)
class RegisterWithFacts:
    """The register model, with order facts handed in by the test (by operation id)."""

    facts: tuple[tuple[int, int, int], ...]
    name: str = "register"
    functions: frozenset[str] = frozenset({"read", "write"})

    def __getattr__(self, name: str) -> Any:
        return getattr(get_model("register", 0), name)

    def order_constraints(self, ops: Sequence[Operation], budget: Budget | None = None) -> tuple[list, list]:
        number_of = {op.id: number for number, op in enumerate(ops)}
        return [tuple(number_of[n] for n in fact) for fact in self.facts], []


def test_a_legal_read_that_a_fact_forbids_is_a_dead_end(monkeypatch: pytest.MonkeyPatch) -> None:
    # write 1, then read 1, then a read of 7, which nothing wrote: no linearization exists,
    # so "read 7 precedes read 1" holds in all of them (vacuously). Read 1 is legal after
    # the write, but the fact forbids it there: since a read changes nothing, no later
    # place could suit it better, so the search stops at once and blames it.
    monkeypatch.setattr(linearizability, "COUNTEREXAMPLE_RETRY_CONFIGURATIONS", 0)
    ops = operations_from_events(events(*sequential((1, "ok", "write", 1), (2, "ok", "read", 1), (3, "ok", "read", 7))))
    result = check_operations(ops, RegisterWithFacts(((2, 1, 2),)))
    example = result.partitions[0].counterexample
    assert result.verdict is Verdict.INVALID and example is not None
    assert example.descriptions == ("read(x) -> 1",) and example.state == "1"
    assert example.reasons == (
        "read(x) -> 1 cannot be placed: read(x) -> 7 at event #4 must take effect before it, "
        "as that operation's result shows",
    )
    assert result.partitions[0].explored == 1


def test_append_log_facts_of_a_simple_history() -> None:
    ops = log_history(
        (1, "invoke", "put", "p"),
        (1, "ok", "put", "p"),
        (2, "invoke", "append", "a"),
        (3, "invoke", "get", None),
        (4, "invoke", "append", "b"),
        (2, "ok", "append", "a"),
        (3, "ok", "get", "pa"),
        (4, "ok", "append", "b"),
    )
    names = {op.input or f"get {op.output}": number for number, op in enumerate(ops)}
    before, outside = append_log_constraints(ops)
    read = names["get pa"]
    assert set(before) == {(names["p"], names["a"], read), (names["a"], read, read)}
    assert outside == [(names["b"], names["p"], read)]


def test_an_acknowledged_append_missing_from_a_later_read_is_caught_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linearizability, "COUNTEREXAMPLE_RETRY_CONFIGURATIONS", 0)
    # Many concurrent appends (orders to try) before the read that lacks "b": the search
    # stops before trying any of them.
    steps = [(p, "invoke", "append", f"<{p}>") for p in range(12)]
    steps += [(p, "ok", "append", f"<{p}>") for p in range(12)]
    steps += [
        (20, "invoke", "append", "b"),
        (20, "ok", "append", "b"),
        (21, "invoke", "get", None),
        (21, "ok", "get", "<0><1>"),
    ]
    result = check_operations(log_history(*steps), AppendLog())
    partition = result.partitions[0]
    assert result.verdict is Verdict.INVALID and partition.explored == 0
    example = partition.counterexample
    assert example is not None and example.descriptions == ("get(k) -> '<0><1>'",)
    # The first acknowledged append it lacks is named (<2>; "b" is missing as well).
    assert example.reasons == (
        "get(k) -> '<0><1>' cannot be placed: no order of the "
        "operations can produce its result, which contradicts "
        "append(k, '<2>') at event #2",
    )


def test_a_read_of_something_never_written_is_caught_at_once() -> None:
    for shown in ("<0>zz", "<0><0>", "<0><p>"):
        ops = log_history(
            (1, "invoke", "append", "<0>"),
            (1, "ok", "append", "<0>"),
            (2, "invoke", "put", "<p>"),
            (2, "ok", "put", "<p>"),
            (3, "invoke", "get", None),
            (3, "ok", "get", shown),
        )
        before, _ = append_log_constraints(ops)
        assert [op.f for op in ops] == ["append", "put", "get"]
        assert (2, 2, 2) in before, shown
        assert check_operations(ops, AppendLog()).verdict is Verdict.INVALID


def test_append_log_facts_are_withheld_when_strings_cannot_be_cut_safely() -> None:
    for values in (("a", "ab"), ("a", "")):
        ops = [
            log_op(0, 1, "append", values[0], 0, 1),
            log_op(1, 2, "append", values[1], 2, 3),
            log_op(2, 3, "get", "aab", 4, 5),
        ]
        assert append_log_constraints(ops) == ([], [])


@st.composite
def log_histories(
    draw: st.DrawFn, pool: tuple[str, ...], max_operations: int = 6, keys: tuple[str, ...] = ("k",)
) -> list[Operation]:
    """Up to 6 operations of 3 clients; written values from `pool` (repeats happen), get
    results a few pool values strung together, outcomes ok or unknown."""
    process_of = {client: client for client in range(3)}
    open_calls: dict[int, tuple[int, str, str, str | None]] = {}
    ops: list[Operation] = []
    invokes, position = 0, 0
    for _ in range(draw(st.integers(0, 3 * max_operations))):
        client = draw(st.integers(0, 2))
        process = process_of[client]
        position += 1
        if process not in open_calls:
            if invokes < max_operations:
                f = draw(st.sampled_from(("get", "put", "append", "append")))
                value = None if f == "get" else draw(st.sampled_from(pool))
                open_calls[process] = (position, f, draw(st.sampled_from(keys)), value)
                invokes += 1
            continue
        call, f, key, value = open_calls.pop(process)
        if draw(st.integers(0, 3)) == 0:
            ops.append(log_op(0, process, f, value, call, None, key))
            process_of[client] += 3
            continue
        if f == "get":
            value = "".join(draw(st.lists(st.sampled_from(pool), max_size=3)))
        ops.append(log_op(0, process, f, value, call, position, key))
    ops.extend(log_op(0, process, f, value, call, None, key) for process, (call, f, key, value) in open_calls.items())
    ops.sort(key=lambda op: op.call)
    return [dataclasses.replace(op, id=number) for number, op in enumerate(ops)]


def log_linearizations(ops: Sequence[Operation]) -> Iterator[tuple[Operation, ...]]:
    """Every legal linearization of one key's operations (pending ones in or out)."""
    returned = [op for op in ops if op.ret is not None]
    pending = [op for op in ops if op.ret is None and op.f != "get"]
    for size in range(len(pending) + 1):
        for chosen in itertools.combinations(pending, size):
            for order in itertools.permutations(returned + list(chosen)):
                if twin_respects_real_time(order) and log_legal(order):
                    yield order


def log_legal(order: Sequence[Operation]) -> bool:
    model, state = AppendLog(), ""
    for op in order:
        legal, state = model.step(state, op)
        if not legal:
            return False
    return True


def log_linearizable(ops: Sequence[Operation]) -> bool:
    keys = sorted({op.key for op in ops})
    return all(next(log_linearizations([op for op in ops if op.key == key]), None) is not None for key in keys)


POOLS = [("x", "y", "z"), ("x", "y"), ("xy", "x", "yz")]


@pytest.mark.parametrize("pool", POOLS, ids=["values", "few-values", "prefixes"])
@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_append_log_facts_hold_in_every_legal_linearization(
    pool: tuple[str, ...],
    data: st.DataObject,
) -> None:
    ops = data.draw(log_histories(pool))
    searched = [op for op in ops if not AppendLog().inert(op)]
    before, outside = append_log_constraints(searched)
    for order in log_linearizations(searched):
        placed_at = {op.id: position for position, op in enumerate(order)}
        at = [placed_at.get(op.id) for op in searched]
        for first, then, _ in before:
            assert at[then] is None or (at[first] is not None and at[first] < at[then])
        for writer, start, end in outside:
            if at[writer] is not None and at[start] is not None and at[start] < at[writer]:
                assert at[end] is not None and at[end] < at[writer]


@pytest.mark.parametrize(
    ("pool", "keys"),
    [(POOLS[0], ("k",)), (POOLS[1], ("k", "j")), (POOLS[2], ("k",))],
    ids=["values", "two-keys", "prefixes"],
)
@settings(max_examples=TWIN_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_append_log_search_agrees_with_the_brute_force_twin(
    pool: tuple[str, ...],
    keys: tuple[str, ...],
    data: st.DataObject,
) -> None:
    ops = data.draw(log_histories(pool, keys=keys))
    expected = log_linearizable(ops)
    assert check_operations(ops, AppendLog(facts=False)).verdict is Verdict.holds(expected)
    assert check_operations(ops, get_model("kv")).verdict is Verdict.holds(expected)
    retry = data.draw(st.sampled_from([0, linearizability.COUNTEREXAMPLE_RETRY_CONFIGURATIONS]))
    saved = linearizability.COUNTEREXAMPLE_RETRY_CONFIGURATIONS
    linearizability.COUNTEREXAMPLE_RETRY_CONFIGURATIONS = retry
    try:
        result = check_operations(ops, AppendLog())
    finally:
        linearizability.COUNTEREXAMPLE_RETRY_CONFIGURATIONS = saved
    assert result.verdict is Verdict.holds(expected)
    for partition in result.partitions:
        if partition.counterexample is not None:
            assert_log_counterexample_is_honest([op for op in ops if op.key == partition.key], partition.counterexample)


def assert_log_counterexample_is_honest(ops: Sequence[Operation], example: Any) -> None:
    """The prefix is legal; each stuck op is refused after it, or, when a fact forbids
    it, no legal linearization starts with the prefix and then that op."""
    prefix = list(example.prefix)
    assert twin_respects_real_time(prefix) and log_legal(prefix)
    for position, op in enumerate(example.operations):
        assert op.ret is not None and op not in prefix
        reason = example.reason(position)
        assert reason and reason.startswith(example.descriptions[position] + " cannot be placed: ")
        if "the model refuses it" in reason:
            assert not log_legal([*prefix, op])
        else:
            start = [*prefix, op]
            assert not any(
                list(order[: len(start)]) == start
                for order in log_linearizations([o for o in ops if o.f != "get" or o.ret is not None])
            )


def test_a_long_append_log_with_many_clients_is_searched_in_about_as_many_steps() -> None:
    ops = atomic_append_log(seed=3, clients=30, operations=3000, keys=3)
    result = check_operations(ops, AppendLog(), budget_s=600)
    assert result.verdict is Verdict.VALID, result
    explored = sum(partition.explored for partition in result.partitions)
    assert explored <= 2 * len(ops), f"{explored} configurations for {len(ops)} operations"
    broken = list(ops)
    position = max(n for n, op in enumerate(ops) if op.f == "get" and len(op.output or "") > 4)
    text = broken[position].output
    broken[position] = dataclasses.replace(broken[position], output=text[:-4] + text[-2:] + text[-4:-2])
    assert check_operations(broken, AppendLog(), budget_s=60).verdict is Verdict.INVALID


def atomic_append_log(seed: int, clients: int, operations: int, keys: int) -> list[Operation]:
    """Clients call get/put/append one after another; each takes effect at a random instant
    of its interval on a real string per key, so the history is linearizable."""
    rng = random.Random(seed)
    plans: list[tuple[float, int, int, int, str, str]] = []  # (at, call, ret, client, f, key)
    for client in range(clients):
        now = rng.randrange(10)
        for _ in range(operations // clients):
            call = now + rng.randrange(1, 20)
            ret = call + rng.randrange(1, 200)
            f = rng.choice(["get", "get", "append", "append", "put"])
            plans.append((rng.uniform(call, ret), call, ret, client, f, f"k{rng.randrange(keys)}"))
            now = ret
    strings: dict[str, str] = {}
    ops: list[Operation] = []
    for number, (_, call, ret, client, f, key) in enumerate(sorted(plans)):
        value = f"<{client}.{number}>"
        if f == "get":
            value = strings.get(key, "")
        else:
            strings[key] = value if f == "put" else strings.get(key, "") + value
        # Calls and returns must be distinct positions: spread them apart.
        ops.append(
            log_op(0, client, f, value, call * 4 * len(plans) + 2 * number, ret * 4 * len(plans) + 2 * number + 1, key)
        )
    ops.sort(key=lambda op: op.call)
    return [dataclasses.replace(op, id=number) for number, op in enumerate(ops)]


# ---------------------------------------------------------------------------------------
# Memory: the budget ends in "unknown", and a long key's memo does not grow with its length.


def test_memory_budget_ends_in_unknown() -> None:
    result = check_operations(hard_history(), get_model("cas-register"), max_memory_bytes=1)
    assert result.verdict is Verdict.UNKNOWN
    assert result.partitions[0].cause == CAUSE_MEMORY
    assert result.partitions[0].counterexample is None


def test_memo_entries_of_a_long_key_stay_small() -> None:
    # 20,000 sequential writes and reads of one key. With one bit per operation in every
    # memo entry, the memo alone would hold 20,000 * 2,500 bytes (the peak was 68 MB).
    ops = []
    for number in range(20_000):
        f, value = ("write", number % 7) if number % 2 == 0 else ("read", (number - 1) % 7)
        ops.append(
            Operation(
                id=number,
                process=number % 2,
                client=None,
                f=f,
                key="x",
                input=value if f == "write" else None,
                output=value if f == "read" else None,
                call=2 * number,
                ret=2 * number + 1,
                status="ok",
            )
        )
    tracemalloc.start()
    result = check_operations(ops, get_model("register"))
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.verdict is Verdict.VALID and result.partitions[0].explored == 20_000
    assert peak_bytes < 35_000_000, peak_bytes
