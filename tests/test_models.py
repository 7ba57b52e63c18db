"""The register models, one rule at a time, including the rules they deliberately refuse."""

from __future__ import annotations

import pytest

from checkers.history import COMPARE_FAILED, Operation
from checkers.models import get_model


def op(f: str, input_value=None, output=None, *, status: str = "ok", key: str = "x") -> Operation:
    returned = status != "info"
    return Operation(
        id=0, process=1, client=None, f=f, key=key, input=input_value,
        output=None if not returned else output, call=0, ret=1 if returned else None,
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
    assert REGISTER.partition(op("write", 1, key="a")) != REGISTER.partition(
        op("write", 1, key="b"))


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
    with pytest.raises(ValueError, match="known models: cas-register, register"):
        get_model("mutex")
    with pytest.raises(ValueError, match="initial value"):
        get_model("register", initial="0")  # type: ignore[arg-type]


def test_states_compare_by_value() -> None:
    # Large ints are distinct objects; equality, not identity, must decide.
    big = 10**30
    assert CAS.step(int(str(big)), op("read", output=big))[0] is True
    assert hash(CAS.init()) == hash(None)
