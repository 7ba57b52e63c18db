"""The register models, one rule at a time, including the rules they deliberately refuse."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.budget import Budget
from checkers.history import COMPARE_FAILED, Operation
from checkers.linearizability import check_operations
from checkers.models import MODEL_FUNCTIONS, MODELS, Model, get_model, parse_initial
from checkers.verdict import Verdict


def op(f: str, input_value=None, output=None, *, status: str = "ok", key: str = "x") -> Operation:
    returned = status != "info"
    return Operation(
        id=0,
        process=1,
        client=None,
        f=f,
        key=key,
        input=input_value,
        output=None if not returned else output,
        call=0,
        ret=1 if returned else None,
        status=status,
    )


CAS = get_model("cas-register")
REGISTER = get_model("register")


@pytest.mark.parametrize(
    ("state", "operation", "legal", "after"),
    [
        (None, op("read", output=None), True, None),
        (3, op("read", output=3), True, 3),
        (3, op("read", output=4), False, 3),
        # A null read means "absent", never "unknown": not legal once the key holds a value.
        (0, op("read", output=None), False, 0),
        (None, op("read", output=0), False, None),
        (None, op("write", 5), True, 5),
        (5, op("write", 5), True, 5),
        (1, op("cas", (1, 2), True), True, 2),
        (None, op("cas", (None, 2), True), True, 2),
        (1, op("cas", (None, 2), True), False, 1),
        (3, op("cas", (1, 2), True), False, 3),
        (3, op("cas", (1, 2), False, status=COMPARE_FAILED), True, 3),
        (1, op("cas", (1, 2), False, status=COMPARE_FAILED), False, 1),
        (None, op("cas", (None, 2), False, status=COMPARE_FAILED), False, None),
        # Pending: a read observed nothing; a cas applies only where its compare holds.
        (7, op("read", status="info"), True, 7),
        (7, op("write", 1, status="info"), True, 1),
        (1, op("cas", (1, 2), status="info"), True, 2),
        (3, op("cas", (1, 2), status="info"), True, 3),
    ],
)
def test_cas_register_step(state, operation, legal, after) -> None:
    verdict, new_state = CAS.step(state, operation)
    assert verdict is legal
    # The state after an illegal step is meaningless; only a legal one must be exact.
    assert not legal or new_state == after


def test_initial_value_is_where_every_key_starts() -> None:
    assert get_model("cas-register").init() is None
    zero = get_model("cas-register", initial=0)
    assert zero.init() == 0
    assert zero.step(zero.init(), op("read", output=0))[0] is True
    # Not Knossos's "nil read is always legal": absent is not 0.
    assert zero.step(zero.init(), op("read", output=None))[0] is False


def test_partition_is_the_key() -> None:
    assert CAS.partition(op("read", output=1, key="a")) == "a"
    assert CAS.partition(op("write", 1, key="b")) == "b"
    assert REGISTER.partition(op("write", 1, key="a")) != REGISTER.partition(op("write", 1, key="b"))


def test_functions_per_model() -> None:
    assert REGISTER.functions == frozenset({"read", "write"})
    assert CAS.functions == frozenset({"read", "write", "cas"})
    assert REGISTER.name == "register" and CAS.name == "cas-register"


def test_observers_and_inert_operations() -> None:
    assert CAS.observes_only(op("read", output=1))
    assert CAS.observes_only(op("cas", (1, 2), False, status=COMPARE_FAILED))
    assert not CAS.observes_only(op("write", 1))
    assert not CAS.observes_only(op("cas", (1, 2), True))
    # A pending read observed nothing, so it constrains nothing: the search may drop it.
    assert not CAS.observes_only(op("read", status="info"))
    assert CAS.inert(op("read", status="info"))
    assert not CAS.inert(op("read", output=1))
    assert not CAS.inert(op("write", 1, status="info"))


def test_descriptions_are_readable() -> None:
    assert CAS.describe_op(op("read", output=None)) == "read(x) -> absent"
    assert CAS.describe_op(op("read", output=4)) == "read(x) -> 4"
    assert CAS.describe_op(op("read", status="info")) == "read(x) -> ?"
    assert CAS.describe_op(op("write", 3)) == "write(x, 3)"
    assert CAS.describe_op(op("write", 3, status="info")) == "write(x, 3) ?"
    assert CAS.describe_op(op("cas", (None, 2), True)) == "cas(x, absent -> 2)"
    failed = op("cas", (1, 2), False, status=COMPARE_FAILED)
    assert CAS.describe_op(failed) == "cas(x, 1 -> 2) failed: value was not 1"
    # Foreign single-register histories have no key.
    assert CAS.describe_op(op("write", 3, key=None)) == "write(3)"  # type: ignore[arg-type]
    assert CAS.describe_op(op("read", output=1, key=None)) == "read() -> 1"  # type: ignore[arg-type]
    assert CAS.describe_op(op("cas", (1, 2), True, key=None)) == "cas(1 -> 2)"  # type: ignore[arg-type]
    assert CAS.describe_state(None) == "absent"
    assert CAS.describe_state(12) == "12"


def test_unknown_model_names_the_known_ones() -> None:
    known = "cas-register, etcd, kv, list-append, multi-register, mutex, register"
    with pytest.raises(ValueError, match=f"known models: {known}"):
        get_model("stack")
    with pytest.raises(ValueError, match="initial value"):
        get_model("register", initial="0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="initial value"):
        get_model("register", initial=True)


def test_states_compare_by_value() -> None:
    # Large ints are distinct objects; equality, not identity, must decide.
    big = 10**30
    assert CAS.step(int(str(big)), op("read", output=big))[0] is True
    assert hash(CAS.init()) == hash(None)


def test_register_shapes_are_checked() -> None:
    assert CAS.call_problem("write", "x", 3) is None
    assert CAS.call_problem("write", "x", "3") == ("value", "a write to a register carries an integer, got '3'")
    assert CAS.call_problem("write", "x", True) is not None  # a bool is not a number here
    assert CAS.call_problem("cas", None, (None, 2)) is None
    assert CAS.call_problem("cas", None, (1,))[0] == "value"
    assert REGISTER.call_problem("cas", None, (1, 2))[0] == "f"
    assert CAS.call_problem("get", "x", None)[0] == "f"
    assert CAS.result_problem("read", None) is None and CAS.result_problem("read", 4) is None
    assert CAS.result_problem("read", "4")[0] == "value"


# ---------------------------------------------------------------------------------------
# kv: strings per key (Porcupine's model)

KV = get_model("kv")


def kv(f: str, key: str, value=None, *, returned: bool = True) -> Operation:
    argument = None if f == "get" else value
    result = value if f == "get" and returned else None
    return Operation(
        id=0,
        process=1,
        client=None,
        f=f,
        key=key,
        input=argument,
        output=result,
        call=0,
        ret=1 if returned else None,
        status="ok" if returned else "info",
    )


@pytest.mark.parametrize(
    ("state", "operation", "legal", "after"),
    [
        ("", kv("get", "k", ""), True, ""),
        ("", kv("get", "k", "a"), False, ""),
        ("ab", kv("get", "k", "ab"), True, "ab"),
        ("ab", kv("get", "k", "a"), False, "ab"),
        ("ab", kv("put", "k", "c"), True, "c"),
        ("ab", kv("append", "k", "c"), True, "abc"),
        ("", kv("append", "k", "x 0 0 y"), True, "x 0 0 y"),
        # Pending: a get observed nothing; a put or append takes effect as usual.
        ("ab", kv("get", "k", returned=False), True, "ab"),
        ("ab", kv("append", "k", "c", returned=False), True, "abc"),
    ],
)
def test_kv_step(state, operation, legal, after) -> None:
    verdict, new_state = KV.step(state, operation)
    assert verdict is legal
    assert not legal or new_state == after


def test_kv_starts_empty_splits_by_key_and_describes() -> None:
    assert KV.init() == "" and get_model("kv", "seed").init() == "seed"
    assert KV.partition(kv("get", "a", "")) == "a" != KV.partition(kv("put", "b", "x"))
    assert KV.observes_only(kv("get", "a", "x")) and not KV.observes_only(kv("append", "a", "x"))
    assert KV.inert(kv("get", "a", returned=False))
    assert not KV.inert(kv("put", "a", "x", returned=False))
    assert KV.describe_op(kv("get", "7", "x 1 y")) == 'get(7) -> "x 1 y"'
    assert KV.describe_op(kv("append", "7", "z", returned=False)) == 'append(7, "z") ?'
    assert KV.describe_state("ab") == '"ab"'
    assert len(KV.describe_state("x" * 1000)) < 200  # long strings are shortened for people


def test_kv_shapes_are_checked() -> None:
    assert KV.call_problem("append", "k", "x") is None
    assert KV.call_problem("append", "k", 3) == ("value", "a append carries a string, got 3")
    assert KV.call_problem("append", None, "x")[0] == "key"
    assert KV.call_problem("read", "k", None)[0] == "f"
    assert KV.result_problem("get", "") is None
    assert KV.result_problem("get", None)[0] == "value"
    with pytest.raises(ValueError, match="string"):
        get_model("kv", 0)


# ---------------------------------------------------------------------------------------
# multi-register: atomic txns of reads and writes (Knossos's model)

MULTI = get_model("multi-register", {"x": 0, "y": 0})


def txn(*micros: tuple, returned: bool = True) -> Operation:
    called = tuple((f, k, None if f == "read" else v) for f, k, v in micros)
    return Operation(
        id=0,
        process=1,
        client=None,
        f="txn",
        key=None,
        input=called,
        output=micros if returned else None,
        call=0,
        ret=1 if returned else None,
        status="ok" if returned else "info",
    )


def test_multi_register_txns_are_atomic_and_ordered() -> None:
    start = MULTI.init()
    assert start == (("x", 0), ("y", 0))
    assert MULTI.step(start, txn(("read", "x", 0), ("read", "y", 0))) == (True, start)
    assert MULTI.step(start, txn(("read", "x", 1)))[0] is False
    legal, after = MULTI.step(start, txn(("write", "y", 2), ("read", "y", 2)))
    assert legal and after == (("x", 0), ("y", 2))
    # Reads inside a txn see its own earlier writes, not the state before it.
    assert MULTI.step(start, txn(("write", "y", 2), ("read", "y", 0)))[0] is False
    # A new register appears; equal states are equal tuples whatever the write order.
    _, with_z = MULTI.step(start, txn(("write", "z", 5)))
    assert with_z == (("x", 0), ("y", 0), ("z", 5))
    # Pending: reads observed nothing, writes apply.
    pending = txn(("read", "x", 9), ("write", "x", 3), returned=False)
    assert MULTI.step(start, pending) == (True, (("x", 3), ("y", 0)))
    assert MULTI.inert(txn(("read", "x", 9), returned=False))
    assert not MULTI.inert(pending)
    assert MULTI.observes_only(txn(("read", "x", 0)))
    assert not MULTI.observes_only(txn(("read", "x", 0), ("write", "x", 1)))
    assert MULTI.partition(txn(("read", "x", 0))) is None
    # Absent (no initial value) is not 0: Knossos's nil-read quirk is not copied.
    assert get_model("multi-register").step((), txn(("read", "x", 0)))[0] is False
    assert get_model("multi-register").step((), txn(("read", "x", None)))[0] is True


def test_multi_register_shapes_and_descriptions() -> None:
    assert MULTI.call_problem("txn", None, (("read", "x", None), ("write", "y", 2))) is None
    assert MULTI.call_problem("read", None, None)[0] == "f"
    assert MULTI.call_problem("txn", None, 3)[0] == "value"
    assert "read or a write" in MULTI.call_problem("txn", None, (("cas", "x", 1),))[1]
    assert "writes an integer" in MULTI.call_problem("txn", None, (("write", "x", "a"),))[1]
    assert MULTI.result_problem("txn", (("read", "x", "a"),))[0] == "value"
    assert MULTI.describe_op(txn(("read", "x", 0), ("write", "y", 2))) == "txn(read x 0, write y 2)"
    assert MULTI.describe_op(txn(("read", "x", 0), returned=False)) == "txn(read x ?) ?"
    assert MULTI.describe_state((("x", 0), ("y", 2))) == "{x 0 y 2}"
    with pytest.raises(ValueError, match="maps register names"):
        get_model("multi-register", {"x": "zero"})


# ---------------------------------------------------------------------------------------
# mutex: acquire and release (Knossos's model)

MUTEX = get_model("mutex")


def lock(f: str, *, returned: bool = True, key: str | None = None) -> Operation:
    return Operation(
        id=0,
        process=1,
        client=None,
        f=f,
        key=key,
        input=None,
        output=None,
        call=0,
        ret=1 if returned else None,
        status="ok" if returned else "info",
    )


def test_mutex_steps() -> None:
    assert MUTEX.init() is False and get_model("mutex", True).init() is True
    assert MUTEX.step(False, lock("acquire")) == (True, True)
    assert MUTEX.step(True, lock("acquire"))[0] is False
    assert MUTEX.step(True, lock("release")) == (True, False)
    assert MUTEX.step(False, lock("release"))[0] is False
    # A pending acquire cannot take effect while the lock is held (it may later, or never).
    assert MUTEX.step(True, lock("acquire", returned=False))[0] is False
    assert MUTEX.partition(lock("acquire", key="a")) != MUTEX.partition(lock("acquire", key="b"))
    assert MUTEX.describe_op(lock("release", returned=False)) == "release() ?"
    assert MUTEX.describe_state(True) == "locked"
    assert MUTEX.call_problem("write", None, 1)[0] == "f"
    assert MUTEX.call_problem("acquire", None, None) is None


# ---------------------------------------------------------------------------------------
# --initial, read per model


@pytest.mark.parametrize(
    ("model", "text", "expected"),
    [
        ("cas-register", "0", 0),
        ("register", "-7", -7),
        ("cas-register", "nil", None),
        ("multi-register", "{:x 0 :y 0}", {"x": 0, "y": 0}),
        ("multi-register", '{"x": 0, "y": null}', {"x": 0, "y": None}),
        ("multi-register", '{"x" 1}', {"x": 1}),  # EDN with string keys
        ("kv", '""', ""),
        ("kv", '"a b"', "a b"),
        ("kv", "abc", "abc"),
        ("mutex", "unlocked", False),
        ("mutex", "locked", True),
    ],
)
def test_initial_values_per_model(model: str, text: str, expected) -> None:
    parsed = parse_initial(model, text)
    assert parsed == expected
    get_model(model, parsed)  # and the model accepts what was read


@pytest.mark.parametrize(
    ("model", "text"),
    [
        ("cas-register", "x"),
        ("cas-register", "1.5"),
        ("cas-register", "true"),
        ("register", "{:x 0}"),
        ("multi-register", "0"),
        ("multi-register", "{:x :zero}"),
        ("multi-register", "{:x 0"),
        ("kv", '"unterminated'),
        ("mutex", "open"),
        # Hostile text: nesting that would exhaust the stack, integers too long to read,
        # EDN the model cannot use, a register named twice, a megabyte and more.
        ("register", "[" * 100_000),
        ("cas-register", "9" * 5_000),
        ("cas-register", "-" + "1" * 4_301),
        ("register", "\u0663"),
        ("register", "--3"),
        ("multi-register", "[" * 100_000),
        ("multi-register", "{:x " + "[" * 100_000 + "}"),
        ("multi-register", "(" * 100_000),
        ("multi-register", "{:x " + "9" * 5_000 + "}"),
        ("multi-register", "#foo/bar 1"),
        ("multi-register", "{:x 0 :x 1}"),
        ("multi-register", '{"x": 0, "x": 1}'),
        ("multi-register", '"abc"'),
        ("multi-register", "{:x 0 :y\n 1 :z}"),
        ("kv", '"' + "[" * 100_000),
        ("mutex", "locked" * 200_000),
    ],
    ids=lambda value: value if len(value) < 30 else f"{value[:12]}...{len(value)} chars",
)
def test_bad_initial_values_say_what_the_model_takes(model: str, text: str) -> None:
    with pytest.raises(ValueError, match=f"model {model} takes") as caught:
        parse_initial(model, text)
    message = str(caught.value)
    assert "\n" not in message  # one line, as the command prints it
    assert len(message) < 400  # a long text is shown shortened


@pytest.mark.parametrize(
    ("model", "text", "expected"),
    [
        ("register", "007", 7),
        ("register", " -12 ", -12),
        ("register", "9" * 4_300, int("9" * 4_300)),
        ("multi-register", "{:x 0, :y nil}", {"x": 0, "y": None}),
        ("kv", "[" * 1_000, "[" * 1_000),  # bare kv text is the string itself, brackets and all
    ],
)
def test_odd_but_fine_initial_values_are_read(model: str, text: str, expected: object) -> None:
    assert parse_initial(model, text) == expected


def test_every_model_is_listed_once() -> None:
    assert set(MODELS) == set(MODEL_FUNCTIONS)
    for name in MODELS:
        model = get_model(name)
        assert model.name == name and model.functions == MODEL_FUNCTIONS[name]
        hash(model.init())


def test_kv_hands_the_search_what_its_gets_reveal() -> None:
    def at(op: Operation, number: int, call: int, ret: int) -> Operation:
        return Operation(
            id=number,
            process=number,
            client=None,
            f=op.f,
            key=op.key,
            input=op.input,
            output=op.output,
            call=call,
            ret=ret,
            status="ok",
        )

    ops = [at(kv("append", "k", "a"), 0, 0, 5), at(kv("append", "k", "b"), 1, 1, 6), at(kv("get", "k", "ba"), 2, 2, 7)]
    before, _ = KV.order_constraints(ops)
    # "ba": b took effect before a, and both before the get.
    assert (1, 0, 2) in before and (0, 2, 2) in before
    # The facts assume keys start empty; from another string there are none.
    assert get_model("kv", "x").order_constraints(ops) == ([], [])


_INITIAL_PIECES = st.sampled_from(
    ["{", "}", "[", "]", "(", ")", ":x", " ", "0", "-", "9" * 50, "nil", '"', "#foo/bar", "\\", "\ud800", ",", "1e400"]
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    model=st.sampled_from(sorted(MODELS)),
    text=st.one_of(st.text(max_size=40), st.lists(_INITIAL_PIECES, max_size=30).map("".join)),
)
def test_any_initial_text_is_read_or_refused_in_one_line(model: str, text: str) -> None:
    try:
        parsed = parse_initial(model, text)
    except ValueError as error:
        assert "\n" not in str(error) and f"model {model} takes" in str(error)
        return
    get_model(model, parsed)  # what is read, the model accepts


# ---------------------------------------------------------------------------------------
# The interface: a small core, capabilities with defaults


class CoreOnlyRegister(Model):
    """A register written with the core alone, as Porcupine's smallest models are: every
    capability is the base class's default."""

    __slots__ = ()
    name = "core-only"
    functions = frozenset({"read", "write"})

    def init(self) -> int | None:
        return None

    def step(self, state: object, operation: Operation) -> tuple[bool, object]:
        if operation.f == "write":
            return True, operation.input
        return operation.ret is None or operation.output == state, state

    def partition(self, operation: Operation) -> object:
        return operation.key

    def describe_op(self, operation: Operation) -> str:
        return f"{operation.f}({operation.input if operation.f == 'write' else operation.output})"

    def describe_state(self, state: object) -> str:
        return str(state)


def test_every_model_inherits_the_capabilities() -> None:
    for name in MODELS:
        assert isinstance(get_model(name), Model), name


def test_the_defaults_promise_nothing() -> None:
    model = CoreOnlyRegister()
    read = op("read", output=1)
    assert not model.inert(read) and not model.observes_only(read)
    assert model.state_test(read) is None and model.order_constraints([read], Budget()) is None
    assert (model.needs(read), model.sets(read), model.requires(read)) == (None, None, None)
    assert model.call_problem("read", "x", None) is None and model.result_problem("read", 1) is None
    assert model.call_problem("cas", "x", (1, 2)) == (
        "f",
        "model core-only has no 'cas' operation (it has read, write)",
    )
    # Of the built-in models only kv and list-append read order facts off results.
    found = [name for name in MODELS if get_model(name).order_constraints([read], Budget()) is not None]
    assert found == ["kv", "list-append"]


@pytest.mark.parametrize("stale", [False, True])
def test_a_model_of_the_core_alone_is_judged_like_the_full_one(stale: bool) -> None:
    def at(operation: Operation, number: int, call: int, ret: int) -> Operation:
        return dataclasses.replace(operation, id=number, process=number, call=call, ret=ret)

    history = [
        at(op("write", 1), 0, 0, 1),
        at(op("write", 2), 1, 2, 3),
        at(op("read", output=1 if stale else 2), 2, 4, 5),
    ]
    core_only = check_operations(history, CoreOnlyRegister())
    full = check_operations(history, get_model("register"))
    assert core_only.verdict is full.verdict is Verdict.holds(not stale)
    assert [p.counterexample is None for p in core_only.partitions] == [not stale]
