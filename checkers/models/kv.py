"""A key-value store of strings with get, put and append (Porcupine's kv model).

- The state of one key is a string; every key starts at `initial` (default "", which is
  also what a get of a key never written returns: absent and empty are one state, as in
  Porcupine's tests). Keys are independent, so histories split per key.
- get(k) -> s is legal exactly when the state is s, and changes nothing.
- put(k, v) replaces the state with v; append(k, v) concatenates v to it. Both always
  succeed.
- Pending (never returned): a get observed nothing (always legal, left out of the search);
  a put or append that takes effect does so as above.

Because a get returns the whole string, it reveals which appends came before it and in
what order; `order_constraints` hands those facts to the search, which then follows the
gets instead of guessing orders of concurrent appends. `state_test` tells the search that
a put does not look at the state and a get looks only at whether it equals its string.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from checkers.budget import Budget
from checkers.history import Argument, Operation
from checkers.models.append_log import append_log_constraints
from checkers.models.base import Effect, Model

FUNCTIONS = frozenset({"get", "put", "append"})
INITIAL_HELP = 'a string (JSON-quoted, or bare text), default ""'
_SHOWN_CHARACTERS = 120  # a long string is shortened in the middle when described


def _quoted(text: str) -> str:
    if len(text) > _SHOWN_CHARACTERS:
        half = _SHOWN_CHARACTERS // 2
        text = f"{text[:half]}…{text[-half:]}"
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class KvModel(Model):
    """Strings by key; see the module docstring for each rule."""

    initial: str = ""
    name: str = "kv"
    functions: frozenset[str] = FUNCTIONS

    def __post_init__(self) -> None:
        assert isinstance(self.initial, str), self.initial

    def init(self) -> str:
        return self.initial

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        f = op.f
        if f == "get":
            return (op.ret is None or op.output == state), state
        if f == "put":
            return True, op.input
        assert f == "append", f
        return True, state + op.input

    def state_test(self, op: Operation) -> tuple[()] | tuple[Hashable] | None:
        """`()` for a put: legal everywhere, leaving its value whatever came before. `(s,)`
        for a returned get of s: illegal in every other state, leaving it as it was. None
        for an append, whose result (the state plus its value) differs with every state,
        and for a pending get, which is inert and never searched (see
        `Model.state_test`)."""
        if op.f == "put":
            return ()
        if op.f == "get" and op.ret is not None:
            return (op.output,)
        return None

    def effect(self, op: Operation) -> Effect | None:
        """A put leaves its value from any state; an append's result depends on the
        string before, and a get changes nothing: None."""
        return Effect((), op.input) if op.f == "put" else None

    def needs(self, op: Operation) -> tuple[Hashable, str] | None:
        """The string a returned get needs to find (for counterexamples' reasons)."""
        if op.f == "get" and op.ret is not None:
            return op.output, f"it read {_quoted(op.output)}"
        return None

    def sets(self, op: Operation) -> tuple[()] | tuple[Hashable] | None:
        """The string after `op`: `()` for a get (no change), the value for a put; None
        for an append, whose result depends on the string before."""
        if op.f == "get":
            return ()
        return (op.input,) if op.f == "put" else None

    def partition(self, op: Operation) -> Hashable:
        return op.key

    def inert(self, op: Operation) -> bool:
        return op.f == "get" and op.ret is None

    def observes_only(self, op: Operation) -> bool:
        return op.f == "get" and op.ret is not None

    def order_constraints(
        self,
        ops: Sequence[Operation],
        budget: Budget | None = None,
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """What the gets' strings reveal about the order of the puts and appends (see
        `checkers.models.append_log.append_log_constraints`); those facts assume every key
        starts empty, so with another initial string there are none. The work is spent
        from `budget` (time and memory), which may raise OutOfBudget."""
        if self.initial != "":
            return [], []
        return append_log_constraints(ops, read="get", put="put", append="append", budget=budget)

    def call_problem(self, f: str, key: str | None, argument: Argument) -> tuple[str, str] | None:
        if f not in FUNCTIONS:
            return "f", (f"model kv has no {f!r} operation (it has {', '.join(sorted(FUNCTIONS))})")
        if not isinstance(key, str):
            return "key", f"a kv operation names its key as a string, got {key!r}"
        if f != "get" and not isinstance(argument, str):
            return "value", f"a {f} carries a string, got {argument!r}"
        return None

    def result_problem(self, f: str, result: Argument) -> tuple[str, str] | None:
        if f == "get" and not isinstance(result, str):
            return "value", f'a get returns a string ("" when absent), got {result!r}'
        return None

    def describe_op(self, op: Operation) -> str:
        if op.f == "get":
            result = "?" if op.ret is None else _quoted(op.output)
            return f"get({op.key}) -> {result}"
        unknown = " ?" if op.ret is None else ""
        return f"{op.f}({op.key}, {_quoted(op.input)}){unknown}"

    def describe_state(self, state: Hashable) -> str:
        return _quoted(state)  # type: ignore[arg-type]


def build(initial: object) -> KvModel:
    if initial is None:
        return KvModel()
    if not isinstance(initial, str):
        raise ValueError(f"the initial value of a kv key must be a string, got {initial!r}")
    return KvModel(initial)


def parse_initial(text: str) -> str:
    """A JSON string (`"abc"`, `""`) or, when not quoted, the text itself."""
    if not text.startswith('"'):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, str):
        raise ValueError(f"cannot read {text!r} as a quoted string")
    return value
