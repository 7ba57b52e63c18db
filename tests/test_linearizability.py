"""The WGL search: hand-made good and bad histories, a brute-force twin compared on random
histories, budgets, early exit, counterexamples and the terminal view."""

from __future__ import annotations

import csv
import itertools
import random
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

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
    CAUSE_NOT_CHECKED,
    CAUSE_TIMEOUT,
    UNKNOWN,
    LinearizabilityResult,
    check_history_file,
    check_operations,
    format_result,
)
from checkers.models import get_model

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
    return check_operations(operations_from_events(events(*steps)),
                            get_model(model, initial), **options)


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
    assert result.valid is True and result.partitions == () and result.ops == 0


def test_sequential_good_history() -> None:
    result = check(*sequential((1, "ok", "write", 1), (2, "ok", "read", 1),
                               (1, "ok", "cas", (1, 2)), (2, "ok", "read", 2),
                               (1, "fail", "cas", (1, 3)), (2, "ok", "read", 2)))
    assert result.valid is True
    assert [p.valid for p in result.partitions] == [True]


def test_stale_read_is_caught_with_a_counterexample() -> None:
    result = check(*sequential((1, "ok", "write", 1), (1, "ok", "write", 2),
                               (2, "ok", "read", 1)))
    assert result.valid is False
    example = result.partitions[0].counterexample
    assert example is not None
    assert [op.f for op in example.prefix] == ["write", "write"]
    assert [(op.f, op.output) for op in example.operations] == [("read", 1)]
    assert example.state == "2"
    assert example.descriptions == ("read(x) -> 1",)


def test_lost_write_read_of_null_after_a_write() -> None:
    result = check(*sequential((1, "ok", "write", 1), (2, "ok", "read", None)))
    assert result.valid is False
    example = result.partitions[0].counterexample
    assert example is not None and example.state == "1"
    assert example.descriptions == ("read(x) -> absent",)


def test_read_of_null_concurrent_with_the_first_write_is_fine() -> None:
    assert check((1, "invoke", "write", 1), (2, "invoke", "read", None),
                 (1, "ok", "write", 1), (2, "ok", "read", None)).valid is True


def test_knossos_nil_read_quirk_is_not_copied() -> None:
    # With an initial value, a null read saw "absent", which the register never was.
    assert check(*sequential((2, "ok", "read", None)), initial=0).valid is False
    assert check(*sequential((2, "ok", "read", 0)), initial=0).valid is True


def test_concurrent_write_explains_the_old_value() -> None:
    assert check(*sequential((0, "ok", "write", 0)), (1, "invoke", "write", 1),
                 (2, "invoke", "read", None), (1, "ok", "write", 1),
                 (2, "ok", "read", 0)).valid is True


def test_two_cas_from_absent_cannot_both_apply() -> None:
    result = check(*sequential((1, "ok", "cas", (None, 1)), (2, "ok", "cas", (None, 2))))
    assert result.valid is False
    example = result.partitions[0].counterexample
    assert example is not None and example.descriptions == ("cas(x, absent -> 2)",)


def test_compare_failed_needs_a_differing_value() -> None:
    # Alone after write 1, cas(1 -> 2) cannot have failed its compare.
    assert check(*sequential((1, "ok", "write", 1), (2, "fail", "cas", (1, 2)))).valid is False
    # A concurrent write of 5 explains the failed compare.
    assert check(*sequential((1, "ok", "write", 1)), (3, "invoke", "write", 5),
                 (2, "invoke", "cas", (1, 2)), (2, "fail", "cas", (1, 2)),
                 (3, "ok", "write", 5)).valid is True


def test_cas_applied_then_read_of_old_value_is_illegal() -> None:
    result = check(*sequential((1, "ok", "write", 1), (1, "ok", "cas", (1, 2)),
                               (2, "ok", "read", 1)))
    assert result.valid is False


def test_write_of_the_current_value_still_has_to_be_placed() -> None:
    # Writing 1 over 1 changes nothing now, but it must still precede the write of 2
    # that returns after it; only the order write 1, write 2 explains the read of 2.
    assert check(*sequential((1, "ok", "write", 1)), (1, "invoke", "write", 1),
                 (2, "invoke", "write", 2), (1, "ok", "write", 1), (2, "ok", "write", 2),
                 *sequential((3, "ok", "read", 2))).valid is True


def test_pending_write_explains_a_later_read() -> None:
    assert check((1, "invoke", "write", 7), (1, "info", "write", 7),
                 *sequential((2, "ok", "read", 7))).valid is True
    # Never completed at all: the same.
    assert check((1, "invoke", "write", 7), *sequential((2, "ok", "read", 7))).valid is True


def test_a_pending_write_saved_for_later_is_not_confused_with_one_spent() -> None:
    # write 1 || write 0, then cas(1 -> 0) || a pending write of 1, then read 1. The search
    # first reaches {both writes} in state 1 by spending the pending write, and fails; it
    # must still explore the same returned set and state reached *without* spending it
    # (write 0, write 1), where the pending write is left to explain the final read.
    steps = [(0, "invoke", "write", 1), (1, "invoke", "write", 0), (0, "ok", "write", 1),
             (1, "ok", "write", 0), (2, "invoke", "cas", (1, 0)), (3, "invoke", "write", 1),
             (3, "info", "write", 1), (2, "ok", "cas", (1, 0)),
             *sequential((2, "ok", "read", 1))]
    assert check(*steps).valid is True


def test_pending_write_cannot_act_before_its_call() -> None:
    result = check(*sequential((2, "ok", "read", 7)), (1, "invoke", "write", 7),
                   (1, "info", "write", 7))
    assert result.valid is False


def test_info_write_may_never_happen() -> None:
    assert check((1, "invoke", "write", 7), (1, "info", "write", 7),
                 *sequential((2, "ok", "read", None), (3, "ok", "read", None))).valid is True
    # ... but once observed it stays (it took effect once, at one point).
    assert check((1, "invoke", "write", 7), (1, "info", "write", 7),
                 *sequential((2, "ok", "read", 7), (3, "ok", "read", None))).valid is False


def test_pending_cas_applies_only_if_its_compare_holds() -> None:
    assert check(*sequential((1, "ok", "write", 1)), (2, "invoke", "cas", (1, 9)),
                 *sequential((3, "ok", "read", 9))).valid is True
    assert check(*sequential((1, "ok", "write", 1)), (2, "invoke", "cas", (4, 9)),
                 *sequential((3, "ok", "read", 9))).valid is False


def test_failed_operations_are_dropped() -> None:
    # A write that failed (not-leader) certainly had no effect: reading its value is illegal.
    built = [Event(0, 0, 1, "invoke", "write", "x", 7),
             Event(1, 1, 1, "fail", "write", "x", 7, error="not-leader"),
             Event(2, 2, 2, "invoke", "read", "x"), Event(3, 3, 2, "ok", "read", "x", 7)]
    ops = operations_from_events(built)
    assert [op.f for op in ops] == ["read"]
    assert check_operations(ops, get_model("register")).valid is False


def test_concurrent_read_blamed_not_the_later_one() -> None:
    # Knossos's rethink-fail-minimal: value 0, then write 4 concurrent with a read of 3.
    # The read of 3 is the culprit; a later read of 4 must not be reported.
    result = check(*sequential((0, "ok", "write", 0)), (1, "invoke", "read", None),
                   (2, "invoke", "write", 4), (1, "ok", "read", 3), (2, "ok", "write", 4),
                   *sequential((3, "ok", "read", 4)))
    example = result.partitions[0].counterexample
    assert result.valid is False and example is not None
    assert example.descriptions == ("read(x) -> 3",)
    assert [op.process for op in example.operations] == [1]


def test_keys_are_judged_separately() -> None:
    result = check(*sequential((1, "ok", "write", 1, "a"), (2, "ok", "read", None, "b"),
                               (2, "ok", "read", 1, "a"), (1, "ok", "read", 2, "b")))
    assert result.valid is False
    assert [(p.key, p.valid, p.ops) for p in result.partitions] == [
        ("a", True, 2), ("b", False, 2)]


def test_register_model_refuses_cas() -> None:
    with pytest.raises(ValueError, match="'cas'"):
        check(*sequential((1, "ok", "cas", (None, 1))), model="register")


def test_first_stops_at_the_first_illegal_partition() -> None:
    bad_b = sequential((1, "ok", "write", 1, "b"), (1, "ok", "read", 2, "b"))
    bad_c = sequential(*[(1, "ok", "write", v, "c") for v in range(2)],
                       (1, "ok", "read", 5, "c"))
    good_a = sequential((1, "ok", "write", 3, "a"))
    steps = good_a + bad_b + bad_c
    everything = check(*steps)
    assert [(p.key, p.valid) for p in everything.partitions] == [
        ("a", True), ("b", False), ("c", False)]
    early = check(*steps, first=True)
    assert early.valid is False
    assert [(p.key, p.valid, p.cause) for p in early.partitions] == [
        ("a", True, None), ("b", False, None), ("c", UNKNOWN, CAUSE_NOT_CHECKED)]
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


def test_tiny_budget_ends_in_unknown() -> None:
    started = time.monotonic()
    result = check_operations(hard_history(), get_model("cas-register"), budget_s=0.05)
    assert time.monotonic() - started < 5
    assert result.valid == UNKNOWN
    assert result.partitions[0].cause == CAUSE_TIMEOUT
    assert result.partitions[0].counterexample is None


def test_cache_bound_ends_in_unknown() -> None:
    result = check_operations(hard_history(), get_model("cas-register"),
                              max_cache_entries=500)
    assert result.valid == UNKNOWN
    partition = result.partitions[0]
    assert (partition.cause, partition.explored) == (CAUSE_CACHE_LIMIT, 500)


def test_same_hard_history_small_enough_is_decided() -> None:
    result = check_operations(hard_history(writers=6), get_model("cas-register"))
    assert result.valid is False


def test_pending_writes_are_not_enumerated_subset_by_subset() -> None:
    # 40 writes that never return and a read nobody could have seen: every subset of the
    # writes is a possible past, but only the smallest one per value needs exploring.
    steps = [(p, "invoke", "write", p) for p in range(40)]
    steps += sequential((40, "ok", "read", -1))
    result = check_operations(operations_from_events(events(*steps)), get_model("register"))
    assert result.valid is False
    assert result.partitions[0].explored <= 41


def test_budget_spent_before_a_partition_starts_leaves_it_unknown() -> None:
    ops = operations_from_events(events(*sequential((1, "ok", "write", 1, "a"),
                                                    (1, "ok", "write", 1, "b"))))
    result = check_operations(ops, get_model("cas-register"), budget_s=0.0)
    assert result.valid == UNKNOWN
    assert {p.cause for p in result.partitions} == {CAUSE_TIMEOUT}


# ---------------------------------------------------------------------------------------
# The brute-force twin: every order of every allowed subset, no cleverness at all.


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
    return not any(later.ret is not None and later.ret < earlier.call
                   for position, earlier in enumerate(order) for later in order[position + 1:])


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
def random_histories(draw: st.DrawFn, functions: tuple[str, ...], max_operations: int = 6,
                     keys: tuple[str, ...] = ("a", "b"), info_share: int = 1) -> list[Event]:
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
            value = (None if f == "read" else draw(st.integers(0, 2)) if f == "write"
                     else (draw(values), draw(st.integers(0, 2))))
            event = Event(len(built), time_us, process, "invoke", f, key, value, client=client)
            open_invoke[process] = event
            invokes += 1
        else:
            invoke = open_invoke.pop(process)
            outcomes = ["ok", "ok"] + ["info"] * info_share + (
                ["fail"] if invoke.f == "cas" else [])
            outcome = draw(st.sampled_from(outcomes))
            value = draw(values) if invoke.f == "read" and outcome == "ok" else invoke.value
            error = {"fail": COMPARE_FAILED, "info": "timeout"}.get(outcome)
            event = Event(len(built), time_us, process, outcome, invoke.f, invoke.key, value,
                          error=error, client=client)
            if outcome == "info":
                process_of[client] = process + 3
        built.append(event)
    validate_events(built)
    return built


@pytest.mark.parametrize(("model_name", "keys", "info_share"), [
    ("register", ("a", "b"), 1),
    ("cas-register", ("a", "b"), 1),
    # One key and mostly unknown outcomes: chains of pending operations that matter.
    ("cas-register", ("a",), 4),
])
@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_search_agrees_with_the_brute_force_twin(
    model_name: str, keys: tuple[str, ...], info_share: int, data: st.DataObject,
) -> None:
    functions = ("read", "write") if model_name == "register" else ("read", "write", "cas")
    history = data.draw(random_histories(functions, keys=keys, info_share=info_share))
    initial = data.draw(st.sampled_from([None, 0]))
    ops = operations_from_events(history)
    result = check_operations(ops, get_model(model_name, initial))
    assert result.valid == twin_linearizable(ops, initial)
    for partition in result.partitions:
        if partition.counterexample is not None:
            assert_counterexample_is_honest(partition.counterexample.prefix,
                                            partition.counterexample.operations, initial)


def assert_counterexample_is_honest(prefix: Sequence[Operation], stuck: Sequence[Operation],
                                    initial: int | None) -> None:
    """The prefix is a legal order respecting real time; each stuck op, appended, is not."""
    assert twin_respects_real_time(prefix) and twin_legal(prefix, initial)
    assert stuck and all(op.ret is not None for op in stuck)
    for op in stuck:
        assert op not in prefix
        assert not twin_legal([*prefix, op], initial)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), processes=st.integers(1, 6),
       info_rate=st.sampled_from([0.0, 0.05, 0.3]))
def test_histories_from_a_real_register_are_linearizable(
    seed: int, processes: int, info_rate: float,
) -> None:
    ops = operations_from_events(linearizable_events(seed, 40, processes, keys=2,
                                                     info_rate=info_rate))
    assert check_operations(ops, get_model("cas-register")).valid is True


# ---------------------------------------------------------------------------------------
# Histories produced by an atomic register, for properties and speed.


def linearizable_events(seed: int, operations: int, processes: int, keys: int = 1,
                        values: int = 5, info_rate: float = 0.05) -> list[Event]:
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
            argument = (None if f == "read" else rng.randrange(values) if f == "write"
                        else (rng.choice([None, *range(values)]), rng.randrange(values)))
            info = rng.random() < info_rate
            plans.append({"client": client, "call": call, "ret": ret, "f": f,
                          "key": f"k{rng.randrange(keys)}", "argument": argument,
                          "at": rng.uniform(call, ret), "info": info,
                          "effective": not info or rng.random() < 0.5})
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
    moments = sorted([(p["call"], 0, n) for n, p in enumerate(plans)]
                     + [(p["ret"], 1, n) for n, p in enumerate(plans)])
    process_of_client = list(range(processes))
    process_of_plan: dict[int, int] = {}
    built: list[Event] = []
    for moment, is_return, number in moments:
        plan = plans[number]
        value = None if plan["f"] == "read" else plan["argument"]
        common = {"key": plan["key"], "client": plan["client"], "f": plan["f"]}
        if not is_return:
            process_of_plan[number] = process_of_client[plan["client"]]
            built.append(Event(len(built), moment, process_of_plan[number], "invoke",
                               value=value, **common))
        elif plan["info"]:
            built.append(Event(len(built), moment, process_of_plan[number], "info",
                               value=value, error="timeout", **common))
            process_of_client[plan["client"]] += processes
        elif plan["f"] == "cas" and not plan["result"]:
            built.append(Event(len(built), moment, process_of_plan[number], "fail",
                               value=value, error=COMPARE_FAILED, **common))
        else:
            result = plan["result"] if plan["f"] == "read" else value
            built.append(Event(len(built), moment, process_of_plan[number], "ok",
                               value=result, **common))
    validate_events(built)
    return built


def test_a_thousand_operations_check_quickly() -> None:
    ops = operations_from_events(linearizable_events(7, 1000, 8))
    started = time.monotonic()
    result = check_operations(ops, get_model("cas-register"), budget_s=30)
    elapsed_s = time.monotonic() - started
    assert result.valid is True and result.ops == 1000
    assert elapsed_s < 5, f"{elapsed_s:.2f} s for 1000 operations"


def test_corrupting_one_read_of_a_long_history_is_caught() -> None:
    built = linearizable_events(11, 300, 4)
    position = max(n for n, e in enumerate(built) if e.type == "ok" and e.f == "read")
    original = built[position]
    built[position] = Event(original.index, original.time, original.process, "ok", "read",
                            original.key, 99, client=original.client)
    result = check_operations(operations_from_events(built), get_model("cas-register"))
    assert result.valid is False
    example = result.partitions[0].counterexample
    assert example is not None and example.descriptions[-1].endswith("-> 99")


# ---------------------------------------------------------------------------------------
# Files, results as JSON, and the view for people


def test_check_history_file(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    write_history_jsonl(path, events(*sequential((1, "ok", "write", 1), (2, "ok", "read", 2))))
    result = check_history_file(path, "cas-register")
    assert isinstance(result, LinearizabilityResult) and result.valid is False
    assert check_history_file(path, "register").valid is False
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
    result = check(*sequential((1, "ok", "write", 1, "a"), (1, "ok", "write", 2, "b"),
                               (2, "ok", "read", 1, "b")))
    console = Console(record=True, width=120, color_system=None)
    console.print(format_result(result))
    text = console.export_text()
    assert "NOT linearizable" in text and "ILLEGAL" in text
    assert "read(b) -> 1" in text and "state: 2" in text and "write(b, 2)" in text
    assert "cannot" in text


# ---------------------------------------------------------------------------------------
# Public histories with known verdicts: Knossos's EDN files and Porcupine's etcd logs.

HISTORIES = Path(__file__).parent / "testdata" / "histories"


def corpus(which: str, model: str) -> list:
    table = HISTORIES / which / "expected-verdicts.tsv"
    with open(table, encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    return [pytest.param(row["file"], row["expected"] == "linearizable", id=row["file"])
            for row in rows if row["model"] == model]


def check_public_history(which: str, name: str, expected: bool, initial: int | None) -> None:
    path = HISTORIES / which / name
    result = check_history_file(path, "cas-register", initial=initial, budget_s=30)
    assert result.valid is expected, f"{name}: {result.valid}"
    for partition in result.partitions:
        if partition.counterexample is not None:
            assert_counterexample_is_honest(partition.counterexample.prefix,
                                            partition.counterexample.operations, initial)


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
    assert result.valid is False and example is not None
    assert [(op.process, op.f, op.output) for op in example.operations] == [(1, "read", 3)]
    assert example.state == "4"
    assert [op.f for op in example.prefix] == ["write", "write"]


def test_format_result_lists_only_the_interesting_partitions_of_many() -> None:
    steps = [step for key in range(25) for step in sequential((1, "ok", "write", 1, f"k{key:02}"))]
    steps += sequential((2, "ok", "read", 7, "k03"))
    console = Console(record=True, width=120, color_system=None)
    console.print(format_result(check(*steps)))
    text = console.export_text()
    assert "k03" in text and "ILLEGAL" in text and "24 more" in text
    assert "k04" not in text
    pending = check((1, "invoke", "write", 4), *sequential((2, "ok", "read", 5)))
    console = Console(record=True, width=120, color_system=None)
    console.print(format_result(pending))
    assert "0 us" in console.export_text()
