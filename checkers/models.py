"""Sequential specifications that a linearizability search replays operations against.

A model is a small pure object, after Porcupine: `init()` gives the state before anything
happened, `step(state, op)` says whether `op` may take effect in `state` and what the state
becomes, and states are plain hashable values compared by value so that the search can
remember which (set of operations, state) configurations it has already explored.
`partition(op)` names the independent piece of state an operation touches: a history is
linearizable if and only if each piece's sub-history is (Herlihy & Wing's locality, which
Porcupine calls P-compositionality), and checking many small pieces is exponentially
cheaper than one big one.

Register semantics, and why each rule is as it is:

- The state of one key is its value, or None while the key is absent. Every key starts at
  `initial` (default None: absent).
- A read that returned null observed "key absent" and is legal only when the state is None.
  Knossos treats a nil read as always legal (nil meaning "unknown" there); we deliberately
  do not copy that quirk, because our clients record an absent key as null and a read that
  wrongly says "absent" is exactly the kind of bug we hunt. Readers of foreign formats
  translate their own "unknown read" conventions before the model sees them.
- A write always succeeds and sets the value.
- A cas (expected, new) that applied requires state == expected and sets new; expected None
  means "only if absent". A cas whose compare failed (status `compare-failed`) changed
  nothing but observed state != expected, so it is legal exactly then.
- An operation whose outcome is unknown (pending: `ret` None) may take effect or not. The
  search handles "not" by never linearizing it; when it is linearized, a pending write sets
  its value, a pending cas applies only if its compare holds (else it is a no-op), and a
  pending read has no observed output, so it is always legal and changes nothing.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol

from checkers.history import COMPARE_FAILED, Operation

State = Hashable


class Model(Protocol):
    """What the search needs of a sequential specification."""

    @property
    def name(self) -> str: ...

    @property
    def functions(self) -> frozenset[str]:
        """The operation names (`f`) this model can judge."""
        ...

    def init(self) -> State: ...

    def step(self, state: State, op: Operation) -> tuple[bool, State]: ...

    def partition(self, op: Operation) -> Hashable:
        """Operations with different partitions never affect each other."""
        ...

    def inert(self, op: Operation) -> bool:
        """True when taking effect can neither fail nor change any state: the search may
        then leave the operation out altogether (a read that never returned, say)."""
        ...

    def observes_only(self, op: Operation) -> bool:
        """True when `op`, in every state where it is legal, leaves the state unchanged (a
        read that returned, a cas whose compare failed). The search then linearizes such an
        operation as soon as it is legal without trying alternatives: moving it earlier
        within its interval cannot change what any other operation sees."""
        ...

    def describe_op(self, op: Operation) -> str: ...

    def describe_state(self, state: State) -> str: ...


def _describe_value(value: int | None) -> str:
    return "absent" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class RegisterModel:
    """One register per key, read/write (`register`) or read/write/cas (`cas-register`)."""

    name: str
    functions: frozenset[str]
    initial: int | None = None

    def __post_init__(self) -> None:
        assert self.functions <= {"read", "write", "cas"}, self.functions
        assert self.initial is None or type(self.initial) is int, self.initial

    def init(self) -> int | None:
        return self.initial

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        f = op.f
        if f == "read":
            # `is` would be wrong for large ints; None == 0 is False, as it must be.
            return (op.ret is None or op.output == state), state
        if f == "write":
            return True, op.input
        assert f == "cas" and "cas" in self.functions, f
        expected, new = op.input  # type: ignore[misc]
        if op.status == COMPARE_FAILED:
            return state != expected, state
        if state == expected:
            return True, new
        # A pending cas whose compare does not hold is a no-op; a returned one is illegal.
        return op.ret is None, state

    def partition(self, op: Operation) -> Hashable:
        return op.key

    def inert(self, op: Operation) -> bool:
        return op.f == "read" and op.ret is None

    def observes_only(self, op: Operation) -> bool:
        if op.ret is None:
            return False
        return op.f == "read" or op.status == COMPARE_FAILED

    def describe_op(self, op: Operation) -> str:
        # Foreign single-register histories have no key: `write(3)` rather than `write(, 3)`.
        key = "" if op.key is None else op.key
        prefix = "" if op.key is None else f"{op.key}, "
        unknown = " ?" if op.ret is None else ""
        if op.f == "read":
            result = "?" if op.ret is None else _describe_value(op.output)  # type: ignore[arg-type]
            return f"read({key}) -> {result}"
        if op.f == "write":
            return f"write({prefix}{op.input}){unknown}"
        expected, new = op.input  # type: ignore[misc]
        text = f"cas({prefix}{_describe_value(expected)} -> {new})"
        if op.status == COMPARE_FAILED:
            return f"{text} failed: value was not {_describe_value(expected)}"
        return text + unknown

    def describe_state(self, state: State) -> str:
        return _describe_value(state)  # type: ignore[arg-type]


MODEL_FUNCTIONS: dict[str, frozenset[str]] = {
    "register": frozenset({"read", "write"}),
    "cas-register": frozenset({"read", "write", "cas"}),
}


def get_model(name: str, initial: int | None = None) -> Model:
    """The model called `name`, every key starting at `initial` (None: absent).

    Raises ValueError naming the known models when `name` is not one of them.
    """
    if name not in MODEL_FUNCTIONS:
        known = ", ".join(sorted(MODEL_FUNCTIONS))
        raise ValueError(f"unknown model {name!r}; known models: {known}")
    if initial is not None and type(initial) is not int:
        raise ValueError(f"the initial value must be an integer or None, got {initial!r}")
    return RegisterModel(name, MODEL_FUNCTIONS[name], initial)
