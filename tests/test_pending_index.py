"""Pending operations filed by what they can change (`checkers.linearizability._PendingIndex`,
`Model.effect`): the models keep `effect`'s promise, the search decides exactly as the
brute-force twin and as without the hook on histories full of pending operations (cas,
reads of pending values, writes nobody reads), and a history of many refused writes costs
the search one pending operation per kind, not one per refusal."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_linearizability import twin_linearizable

from checkers.history import COMPARE_FAILED, Event, Operation, operations_from_events, validate_events
from checkers.linearizability import _PendingIndex, _Search, check_operations
from checkers.models import Effect, Model, WithoutStateTest, get_model
from checkers.verdict import Verdict

EXAMPLES = 200

READ_VALUES = (None, 0, 1, 2)
WRITTEN_VALUES = (0, 1, 2, 7, 8, 9)
"""Reads and cas expect only the first; 7, 8 and 9 are written but, unless a cas writes
them too, never observed: writes of them are "of a kind"."""


class WithoutEffect:
    """A model exactly as given but with the default `effect` (None: promises nothing),
    which files every pending operation as one to look at in every state."""

    def __init__(self, model: Model) -> None:
        self._model = model

    def effect(self, op: Operation) -> Effect | None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


# ---------------------------------------------------------------------------------------
# The models keep the promise of `effect`

STATES: dict[str, tuple[Hashable, ...]] = {"cas-register": (None, 0, 1, 2, 7), "kv": ("", "a", "ab", "b")}


def register_ops() -> list[Operation]:
    built = []
    for status, ret in (("ok", 5), ("info", None), (COMPARE_FAILED, 5)):
        for f, argument in (("write", 1), ("cas", (None, 2)), ("cas", (1, 7)), ("read", None)):
            if status == COMPARE_FAILED and f != "cas":
                continue
            output = False if status == COMPARE_FAILED else (1 if f == "read" and ret else None)
            built.append(Operation(len(built), 1, None, f, "k", argument, output, 1, ret, status))
    return built


def kv_ops() -> list[Operation]:
    built = []
    for ret, status in ((5, "ok"), (None, "info")):
        for f, argument, output in (("put", "a", None), ("append", "b", None), ("get", None, "a")):
            built.append(Operation(len(built), 1, None, f, "k", argument, output if ret else None, 1, ret, status))
    return built


@pytest.mark.parametrize(("model_name", "ops"), [("cas-register", register_ops()), ("kv", kv_ops())])
def test_each_declared_effect_is_what_step_does(model_name: str, ops: list[Operation]) -> None:
    model = get_model(model_name)
    declared = 0
    for op in ops:
        effect = model.effect(op)
        if effect is None:
            continue
        declared += 1
        for state in STATES[model_name]:
            legal, after = model.step(state, op)
            if not effect.source or effect.source == (state,):
                assert (legal, after) == (True, effect.target), (op, state)
            else:
                assert not legal or after == state, (op, state)
    assert declared >= 2, "the hook is declared where the search can use it"


def test_reads_and_failed_cas_declare_no_effect() -> None:
    model = get_model("cas-register")
    observers = [op for op in register_ops() if op.f == "read" or op.status == COMPARE_FAILED]
    assert observers
    assert all(model.effect(op) is None for op in observers)
    assert get_model("mutex").effect(register_ops()[0]) is None  # the default


# ---------------------------------------------------------------------------------------
# Verdicts: the twin's, and the same without the hooks


@st.composite
def pending_heavy_histories(draw: st.DrawFn, max_operations: int = 7) -> list[Event]:
    """Up to 7 operations of 3 clients on one key, most of them ending in `info`: writes
    of values that are read and of values that are not, cas expecting values some pending
    write alone could leave, reads of them, cas whose compare failed."""
    process_of = {client: client for client in range(3)}
    open_invoke: dict[int, Event] = {}
    built: list[Event] = []
    invokes = 0
    for _ in range(draw(st.integers(0, 3 * max_operations))):
        client = draw(st.integers(0, 2))
        process = process_of[client]
        if process not in open_invoke:
            if invokes == max_operations:
                continue
            f = draw(st.sampled_from(("read", "write", "write", "cas")))
            value = (
                None
                if f == "read"
                else draw(st.sampled_from(WRITTEN_VALUES))
                if f == "write"
                else (draw(st.sampled_from(READ_VALUES)), draw(st.sampled_from(WRITTEN_VALUES)))
            )
            event = Event(len(built), 10 * len(built), process, "invoke", f, "k", value, client=client)
            open_invoke[process] = event
            invokes += 1
        else:
            invoke = open_invoke.pop(process)
            outcomes = ["ok", "info", "info", "info"] + (["fail"] if invoke.f == "cas" else [])
            outcome = draw(st.sampled_from(outcomes))
            value = draw(st.sampled_from(READ_VALUES)) if invoke.f == "read" and outcome == "ok" else invoke.value
            error = {"fail": COMPARE_FAILED, "info": "timeout"}.get(outcome)
            time_us = 10 * len(built)
            event = Event(len(built), time_us, process, outcome, invoke.f, "k", value, error=error, client=client)
            if outcome == "info":
                process_of[client] = process + 3
        built.append(event)
    validate_events(built)
    return built


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(history=pending_heavy_histories(), initial=st.sampled_from([None, 0, 7]))
def test_filing_pending_operations_never_changes_a_verdict(history: list[Event], initial: int | None) -> None:
    ops = operations_from_events(history)
    model = get_model("cas-register", initial)
    verdict = check_operations(ops, model).verdict
    assert verdict is Verdict.holds(twin_linearizable(ops, initial))
    assert check_operations(ops, WithoutEffect(model)).verdict is verdict  # type: ignore[arg-type]
    assert check_operations(ops, WithoutStateTest(model)).verdict is verdict


def events_of(*steps: tuple[int, str, str, object]) -> list[Event]:
    """Events from (process, type, f, value) steps, one microsecond apart."""
    built = []
    for process, kind, f, value in steps:
        error = {"fail": COMPARE_FAILED, "info": "timeout"}.get(kind)
        built.append(Event(len(built), len(built), process, kind, f, "k", value, error=error))
    validate_events(built)
    return built


def test_a_write_nobody_reads_still_lets_a_failed_cas_see_another_value() -> None:
    """Dropping pending writes of unobserved values would be wrong: here only the refused
    write of 9 (read by nobody) explains why the cas found the register other than 0."""
    history = events_of(
        (1, "invoke", "write", 9),
        (1, "info", "write", 9),
        (2, "invoke", "cas", (0, 5)),
        (2, "fail", "cas", (0, 5)),
    )
    ops = operations_from_events(history)
    assert check_operations(ops, get_model("cas-register", 0)).verdict is Verdict.VALID
    without_write = [op for op in ops if op.f == "cas"]
    assert check_operations(without_write, get_model("cas-register", 0)).verdict is Verdict.INVALID


def test_a_pending_cas_is_looked_at_only_in_the_state_it_expects() -> None:
    history = events_of(
        (1, "invoke", "cas", (1, 2)),
        (1, "info", "cas", (1, 2)),
        (3, "invoke", "cas", (4, 5)),
        (3, "info", "cas", (4, 5)),
        (2, "invoke", "read", None),
        (2, "ok", "read", 2),
    )
    ops = operations_from_events(history)
    search = _Search(ops, get_model("cas-register"))
    index = search.pending
    assert isinstance(index, _PendingIndex)
    assert index.worth_looking_at(1, 10) == [0]
    assert index.worth_looking_at(4, 10) == [1]
    assert index.worth_looking_at(None, 10) == []


# ---------------------------------------------------------------------------------------
# What it saves


def refused_writes(refusals: int) -> list[Event]:
    """A write of 1, then `refusals` refused writes of values nobody reads, each recorded
    as `info`, made while a cas expecting 1 ran and found the register other than 1:
    only one of the refused writes can explain that, and any one does."""
    steps: list[tuple[int, str, str, object]] = [(0, "invoke", "write", 1), (0, "ok", "write", 1)]
    steps.append((1, "invoke", "cas", (1, 3)))
    for number in range(refusals):
        steps += [(10 + number, "invoke", "write", 100 + number), (10 + number, "info", "write", 100 + number)]
    steps.append((1, "fail", "cas", (1, 3)))
    return events_of(*steps)


class CountingSteps:
    """A model that counts its `step` calls."""

    def __init__(self, model: Model) -> None:
        self._model = model
        self.steps = 0

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        self.steps += 1
        return self._model.step(state, op)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def test_refused_writes_of_values_nobody_reads_are_tried_one_for_all() -> None:
    counted = []
    for refusals in (10, 1000):
        ops = operations_from_events(refused_writes(refusals))
        model = CountingSteps(get_model("cas-register"))
        assert check_operations(ops, model).verdict is Verdict.VALID  # type: ignore[arg-type]
        counted.append(model.steps)
    assert counted[1] == counted[0], counted
    ops = operations_from_events(refused_writes(1000))
    without = CountingSteps(WithoutEffect(get_model("cas-register")))  # type: ignore[arg-type]
    assert check_operations(ops, without).verdict is Verdict.VALID  # type: ignore[arg-type]
    assert without.steps > 1000 > counted[1]
