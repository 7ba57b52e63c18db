"""The models' `state_test` hook: what it answers, that the answers keep the promise of
`checkers.linearizability.StateTests`, and that the search decides exactly as it does
without the hook, on linearizable and broken histories alike, while stepping less."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.history import COMPARE_FAILED, Operation
from checkers.linearizability import LinearizabilityResult, check_operations
from checkers.models import Model, State, WithoutStateTest, get_model
from checkers.verdict import Verdict

EXAMPLES = 200  # per case: the whole file runs in about 6 s
REGISTER_VALUES = (0, 1, 2, 3)
KV_VALUES = ("a", "b", "c")
NEVER_WRITTEN = {"register": 99, "cas-register": 99, "kv": "zz"}
STALE_PAIR = {"register": (50, 51), "cas-register": (50, 51), "kv": ("x", "y")}
"""Values no generated operation writes and no state built from the pools can equal, so
that a read of them after the history is illegal whatever its pending operations did."""


class CountingSteps:
    """A model that counts its `step` calls; `hook` False hides its `state_test` (the
    default's None, which promises nothing)."""

    def __init__(self, model: Model, hook: bool) -> None:
        self._model = model
        self._hook = hook
        self.steps = 0

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        self.steps += 1
        return self._model.step(state, op)

    def state_test(self, op: Operation) -> tuple[()] | tuple[Hashable] | None:
        return self._model.state_test(op) if self._hook else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


# ---------------------------------------------------------------------------------------
# Operations built by hand


def op(
    f: str,
    argument: object = None,
    result: object = None,
    *,
    status: str = "ok",
    key: str | None = "k",
    number: int = 0,
    call: int = 0,
    ret: int | None = 1,
) -> Operation:
    """One operation; `status` "info" makes it pending (no return)."""
    pending = status == "info"
    return Operation(
        id=number,
        process=number,
        client=None,
        f=f,
        key=key,
        input=argument,  # type: ignore[arg-type]
        output=None if pending else result,  # type: ignore[arg-type]
        call=call,
        ret=None if pending else ret,
        status=status,
    )


def test_register_hook_answers() -> None:
    model = get_model("cas-register")
    assert model.state_test(op("write", 3)) == ()  # type: ignore[attr-defined]
    assert model.state_test(op("write", 3, status="info")) == ()  # type: ignore[attr-defined]
    assert model.state_test(op("read", None, 3)) == (3,)  # type: ignore[attr-defined]
    assert model.state_test(op("read", None, None)) == (None,)  # type: ignore[attr-defined]
    assert model.state_test(op("read", status="info")) is None  # type: ignore[attr-defined]
    assert model.state_test(op("cas", (2, 5), True)) == (2,)  # type: ignore[attr-defined]
    assert model.state_test(op("cas", (None, 5), True)) == (None,)  # type: ignore[attr-defined]
    failed = op("cas", (2, 5), False, status=COMPARE_FAILED)
    assert model.state_test(failed) == (2,)  # type: ignore[attr-defined]
    assert model.state_test(op("cas", (2, 5), status="info")) == (2,)  # type: ignore[attr-defined]
    plain = get_model("register", 0)
    assert plain.state_test(op("read", None, 0)) == (0,)  # type: ignore[attr-defined]
    assert plain.state_test(op("write", 0, key=None)) == ()  # type: ignore[attr-defined]


def test_kv_hook_answers() -> None:
    model = get_model("kv")
    assert model.state_test(op("put", "ab")) == ()  # type: ignore[attr-defined]
    assert model.state_test(op("put", "ab", status="info")) == ()  # type: ignore[attr-defined]
    assert model.state_test(op("get", None, "ab")) == ("ab",)  # type: ignore[attr-defined]
    assert model.state_test(op("get", None, "")) == ("",)  # type: ignore[attr-defined]
    assert model.state_test(op("get", status="info")) is None  # type: ignore[attr-defined]
    assert model.state_test(op("append", "b")) is None  # type: ignore[attr-defined]
    assert model.state_test(op("append", "b", status="info")) is None  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------
# The promise itself, checked through `step` on every state of a small domain


def assert_keeps_the_promise(model: Model, operation: Operation, states: Sequence[State]) -> None:
    """`()`: legal in every state, one same state after. `(v,)`: in every state but v,
    one same legality, and either the state left as it was or one same state after."""
    test = model.state_test(operation)  # type: ignore[attr-defined]
    if test is None:
        return
    assert isinstance(test, tuple) and len(test) <= 1, test
    if not test:
        outcomes = {model.step(state, operation) for state in states}
        assert len(outcomes) == 1 and next(iter(outcomes))[0] is True, (operation, outcomes)
        return
    others = [state for state in states if state != test[0]]
    outcomes = [model.step(state, operation) for state in others]
    assert len({legal for legal, _ in outcomes}) == 1, (operation, outcomes)
    unchanged = all(after == state for state, (_, after) in zip(others, outcomes, strict=True))
    assert unchanged or len({after for _, after in outcomes}) == 1, (operation, outcomes)


REGISTER_STATES: tuple[State, ...] = (None, *REGISTER_VALUES, 50, 51, 99)
KV_STATES: tuple[State, ...] = ("", "a", "b", "ab", "ba", "abc", "x", "zz")

register_operations = st.one_of(
    st.builds(
        lambda value, pending: op("write", value, status="info" if pending else "ok"),
        st.sampled_from(REGISTER_STATES[1:]),
        st.booleans(),
    ),
    st.builds(
        lambda value, pending: op("read", None, value, status="info" if pending else "ok"),
        st.sampled_from(REGISTER_STATES),
        st.booleans(),
    ),
    st.builds(
        lambda expected, new, status: op("cas", (expected, new), status != COMPARE_FAILED, status=status),
        st.sampled_from(REGISTER_STATES),
        st.sampled_from(REGISTER_STATES[1:]),
        st.sampled_from(["ok", COMPARE_FAILED, "info"]),
    ),
)
kv_operations = st.builds(
    lambda f, value, pending: op(
        f, None if f == "get" else value, value if f == "get" else None, status="info" if pending else "ok"
    ),
    st.sampled_from(["get", "put", "append"]),
    st.sampled_from(KV_STATES),
    st.booleans(),
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(operation=register_operations, initial=st.sampled_from([None, 0]))
def test_register_hook_keeps_the_promise(operation: Operation, initial: int | None) -> None:
    assert_keeps_the_promise(get_model("cas-register", initial), operation, REGISTER_STATES)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(operation=kv_operations)
def test_kv_hook_keeps_the_promise(operation: Operation) -> None:
    assert_keeps_the_promise(get_model("kv"), operation, KV_STATES)


def test_the_promise_check_can_fail() -> None:
    """A cas claiming to be blind, or a read naming the wrong value, is caught."""

    class Lying:
        def __init__(self, answer: tuple[()] | tuple[Hashable]) -> None:
            self.answer = answer
            self.model = get_model("cas-register")

        def step(self, state: State, operation: Operation) -> tuple[bool, State]:
            return self.model.step(state, operation)

        def state_test(self, operation: Operation) -> tuple[()] | tuple[Hashable]:
            return self.answer

    with pytest.raises(AssertionError):
        assert_keeps_the_promise(Lying(()), op("cas", (2, 5), True), REGISTER_STATES)  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        assert_keeps_the_promise(Lying((1,)), op("read", None, 3), REGISTER_STATES)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Random histories from an atomic object, some broken on purpose


@dataclass(frozen=True, slots=True)
class Plan:
    """One operation before positions are given: times are distinct integers, and `at`
    (strictly inside the interval) is when it takes effect, if it does."""

    client: int
    f: str
    key: str
    argument: object
    call_time: int
    return_time: int
    at: float
    pending: bool
    effective: bool


def draw_argument(draw: st.DrawFn, model_name: str, f: str) -> object:
    if f in ("read", "get"):
        return None
    if f == "cas":
        return (draw(st.sampled_from([None, *REGISTER_VALUES])), draw(st.sampled_from(REGISTER_VALUES)))
    return draw(st.sampled_from(KV_VALUES if model_name == "kv" else REGISTER_VALUES))


@st.composite
def plans(
    draw: st.DrawFn,
    model_name: str,
    keys: tuple[str, ...],
    pending_one_in: int,
) -> list[Plan]:
    """Up to 8 operations from up to 3 clients, one at a time each; one in
    `pending_one_in` never returns (taking effect or not)."""
    functions = sorted(get_model(model_name).functions)
    drawn: list[Plan] = []
    for client in range(draw(st.integers(1, 3))):
        now = draw(st.integers(0, 3))
        for _ in range(draw(st.integers(0, 8 // (client + 1)))):
            f = draw(st.sampled_from(functions))
            call, length = now + draw(st.integers(1, 3)), draw(st.integers(1, 6))
            pending = draw(st.integers(1, pending_one_in)) == 1
            drawn.append(
                Plan(
                    client,
                    f,
                    draw(st.sampled_from(keys)),
                    draw_argument(draw, model_name, f),
                    10 * call + client,
                    10 * (call + length) + client,
                    10 * call + client + draw(st.integers(1, 9)) * length,
                    pending,
                    not pending or draw(st.booleans()),
                )
            )
            now = call + length
    return drawn


def run_atomically(model: Model, plans_drawn: Sequence[Plan]) -> dict[int, tuple[str, object]]:
    """Each effective plan applied at its instant: plan number -> (status, result)."""
    outcomes: dict[int, tuple[str, object]] = {}
    states: dict[str, State] = {}
    for number in sorted(range(len(plans_drawn)), key=lambda n: plans_drawn[n].at):
        plan = plans_drawn[number]
        if not plan.effective:
            continue
        state = states.get(plan.key, model.init())
        if plan.f in ("read", "get"):
            outcomes[number] = ("ok", state)
        elif plan.f == "cas":
            applied = state == plan.argument[0]  # type: ignore[index]
            outcomes[number] = ("ok", True) if applied else (COMPARE_FAILED, False)
            if applied:
                states[plan.key] = plan.argument[1]  # type: ignore[index]
        else:
            states[plan.key] = model.step(state, probe(plan))[1]
            outcomes[number] = ("ok", None)
    return outcomes


def probe(plan: Plan) -> Operation:
    return op(plan.f, plan.argument, None, key=plan.key)


def operations_of(
    plans_drawn: Sequence[Plan],
    outcomes: dict[int, tuple[str, object]],
) -> list[Operation]:
    """Operations with positions: every call and return numbered in time order."""
    times = sorted(
        [plan.call_time for plan in plans_drawn] + [plan.return_time for plan in plans_drawn if not plan.pending]
    )
    position = {time: index for index, time in enumerate(times)}
    assert len(position) == len(times), "times are distinct by construction"
    built: list[Operation] = []
    for number, plan in enumerate(plans_drawn):
        status, result = ("info", None) if plan.pending else outcomes[number]
        built.append(
            op(
                plan.f,
                plan.argument,
                result,
                status=status,
                key=plan.key,
                number=number,
                call=position[plan.call_time],
                ret=None if plan.pending else position[plan.return_time],
            )
        )
    return built


def sequential_tail(model_name: str, key: str, start_time: int, kind: str) -> list[Plan]:
    """After everything else: a read of a value never written ("never-written"), or two
    writes and a read of the first ("stale"). Both are illegal whatever happened before."""
    read = "get" if model_name == "kv" else "read"
    write = "put" if model_name == "kv" else "write"
    if kind == "never-written":
        steps = [(read, None)]
    else:
        first, second = STALE_PAIR[model_name]
        steps = [(write, first), (write, second), (read, None)]
    tail: list[Plan] = []
    for offset, (f, argument) in enumerate(steps):
        call = start_time + 100 * (offset + 1)
        tail.append(Plan(9, f, key, argument, call, call + 50, call + 25.0, False, True))
    return tail


@st.composite
def histories(
    draw: st.DrawFn, model_name: str, keys: tuple[str, ...] = ("a", "b"), pending_one_in: int = 4
) -> tuple[Model, list[Operation], str, str]:
    """(model, operations, how it was broken, the key broken). Broken "none" is
    linearizable; "never-written" and "stale" are not; "wrong-read" changes one read's
    result to another value that may or may not be explainable."""
    initial = draw(st.sampled_from(["", "a"] if model_name == "kv" else [None, 0]))
    model = get_model(model_name, initial)
    drawn = draw(plans(model_name, keys, pending_one_in))
    broken = draw(st.sampled_from(["none", "never-written", "stale", "wrong-read"]))
    key = draw(st.sampled_from(keys))
    end = max((max(plan.return_time, plan.call_time) for plan in drawn), default=0)
    if broken in ("never-written", "stale"):
        drawn += sequential_tail(model_name, key, end, broken)
    outcomes = run_atomically(model, drawn)
    if broken == "never-written":
        outcomes[len(drawn) - 1] = ("ok", NEVER_WRITTEN[model_name])
    elif broken == "stale":
        outcomes[len(drawn) - 1] = ("ok", STALE_PAIR[model_name][0])
    elif broken == "wrong-read":
        reads = [n for n, plan in enumerate(drawn) if plan.f in ("read", "get") and not plan.pending]
        if reads:
            number = draw(st.sampled_from(reads))
            pool = KV_STATES if model_name == "kv" else REGISTER_STATES[:5]
            outcomes[number] = ("ok", draw(st.sampled_from(pool)))
            key = drawn[number].key
    return model, operations_of(drawn, outcomes), broken, key


def verdicts(result: LinearizabilityResult) -> tuple[object, list[tuple[Hashable, object]]]:
    return result.verdict, [(partition.key, partition.verdict) for partition in result.partitions]


def searches(result: LinearizabilityResult) -> list[dict[str, Any]]:
    """Everything about each partition but its timing."""
    return [
        {name: value for name, value in partition.to_json().items() if name != "ms"} for partition in result.partitions
    ]


@pytest.mark.parametrize(
    ("model_name", "keys", "pending_one_in"),
    [
        ("register", ("a", "b"), 4),
        ("cas-register", ("a", "b"), 4),
        ("kv", ("a", "b"), 4),
        # One key and mostly pending operations: chains of pending operations reacting to
        # each other, where a wrong answer would hide the only explanation.
        ("cas-register", ("a",), 2),
        ("kv", ("a",), 2),
    ],
    ids=["register", "cas-register", "kv", "cas-register-mostly-pending", "kv-mostly-pending"],
)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_hook_changes_no_verdict(
    model_name: str, keys: tuple[str, ...], pending_one_in: int, data: st.DataObject
) -> None:
    model, operations, broken, key = data.draw(histories(model_name, keys, pending_one_in))
    assert type(model).state_test is not Model.state_test  # the model answers for itself
    with_hook = check_operations(operations, model)
    without_hook = check_operations(operations, WithoutStateTest(model))  # type: ignore[arg-type]
    assert verdicts(with_hook) == verdicts(without_hook)
    # Stronger, and true of the search as it stands: the hook only spares stepping pending
    # operations that a true answer says cannot react, so the two searches go step for step
    # alike (same configurations explored, same counterexamples).
    assert searches(with_hook) == searches(without_hook)
    by_key = dict(verdicts(with_hook)[1])
    if broken == "none":
        assert with_hook.verdict is Verdict.VALID
    elif broken in ("never-written", "stale"):
        assert with_hook.verdict is Verdict.INVALID and by_key[key] is Verdict.INVALID


def test_a_pending_cas_waiting_for_a_pending_write_is_still_found() -> None:
    """Only pending write(1) then pending cas(1 -> 2) explain the read of 2: the write
    helps no returned operation by itself, so it is tried only because the cas, testing
    for 1, reacts to it."""
    operations = [
        op("write", 1, status="info", number=0, call=0),
        op("cas", (1, 2), status="info", number=1, call=1),
        op("read", None, 2, number=2, call=2, ret=3),
    ]
    model = get_model("cas-register")
    assert check_operations(operations, model).verdict is Verdict.VALID
    assert check_operations(operations, WithoutStateTest(model)).verdict is Verdict.VALID  # type: ignore[arg-type]
    broken = [*operations[:2], op("read", None, 3, number=2, call=2, ret=3)]
    assert check_operations(broken, model).verdict is Verdict.INVALID


# ---------------------------------------------------------------------------------------
# The point of the hook: fewer steps when many pending operations cannot react


def pending_writes_then_impossible_read(model_name: str, writes: int) -> list[Operation]:
    """`writes` pending writes (a cas among them for cas-register), all called first,
    then a read of a value none writes: a dead end where every pending write is tried."""
    write = "put" if model_name == "kv" else "write"
    values = [f"w{n}" for n in range(writes)] if model_name == "kv" else list(range(100, 100 + writes))
    built = [op(write, value, status="info", number=n, call=n) for n, value in enumerate(values)]
    if model_name == "cas-register":
        built.append(op("cas", (100, 7), status="info", number=writes, call=writes))
    read = "get" if model_name == "kv" else "read"
    number = len(built)
    built.append(op(read, None, NEVER_WRITTEN[model_name], number=number, call=number, ret=number + 1))
    return built


@pytest.mark.parametrize("model_name", ["register", "cas-register", "kv"])
def test_the_hook_spares_steps_of_pending_writes(model_name: str) -> None:
    operations = pending_writes_then_impossible_read(model_name, 60)
    # A kv key starting other than empty: no order facts, which would end this search at
    # once (no order of the writes makes the get's string).
    initial = "s" if model_name == "kv" else None
    counted = {hook: CountingSteps(get_model(model_name, initial), hook) for hook in (True, False)}
    results = {
        hook: check_operations(operations, model)  # type: ignore[arg-type]
        for hook, model in counted.items()
    }
    assert results[True].verdict is Verdict.INVALID and verdicts(results[True]) == verdicts(results[False])
    # Without the hook every pending write is stepped once more per other pending write.
    assert counted[False].steps > 60 * 59
    assert counted[True].steps < 10 * 60
