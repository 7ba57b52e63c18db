"""Lists: one list of integers per key, `append` and `read-list` (Jepsen's list-append,
one key per operation).

Why each rule is as it is:

- The state of one key is the tuple of values appended to it, in order; every key starts
  empty (absent and empty are one state: the store's get of a key never appended to
  returns nothing, recorded as `[]`). Keys are independent, so histories split per key.
- append(k, v) always succeeds and puts v at the end. Workloads append unique values, so
  a list that shows a value twice shows an append that took effect twice; no state the
  model can reach holds it, and the read is illegal.
- read-list(k) -> l is legal exactly when the state is l: it names every append that took
  effect before it, in order, so an acknowledged append missing from a later read (lost)
  or a read that is not an extension of one before it (the order of appends changed, or a
  read went back in time) cannot be linearized either.
- Pending (never returned): an append that takes effect does so as above; a read observed
  nothing (always legal, left out of the search: `inert`).

`state_test` tells the search that a returned read looks only at whether the state is
its list; an append's result differs with every state, so it gets none. A read names the
appends before it and their order, which `order_constraints` hands to the search (the
kv model's append-log facts, each value written as its digits and a comma: a list is then
a string that cuts into values one way only), so that concurrent and pending appends are
placed by the reads instead of tried in every order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from checkers.budget import Budget
from checkers.history import Argument, Operation
from checkers.models.append_log import append_log_constraints
from checkers.models.base import Model, OrderFacts

APPEND = "append"
READ = "read-list"
FUNCTIONS = frozenset({APPEND, READ})
INITIAL_HELP = "nothing: every key starts as the empty list"
_SHOWN_VALUES = 12  # a long list is shortened in the middle when described


def _is_int(value: object) -> bool:
    return type(value) is int  # bool is an int to Python, not to us


_INT_ONLY = frozenset({int})
"""`_INT_ONLY.issuperset(map(type, values))`: every value is an int (not a bool), in one
pass that stops at the first that is not."""


def show_list(values: tuple[int, ...]) -> str:
    """A list for people: `[1 2 3]`, its middle cut when long."""
    if len(values) <= _SHOWN_VALUES:
        return "[" + " ".join(str(value) for value in values) + "]"
    half = _SHOWN_VALUES // 2
    head = " ".join(str(value) for value in values[:half])
    tail = " ".join(str(value) for value in values[-half:])
    return f"[{head} … {tail}] ({len(values)} values)"


@dataclass(frozen=True, slots=True)
class ListAppendModel(Model):
    """Lists by key; see the module docstring for each rule."""

    name: str = "list-append"
    functions: frozenset[str] = FUNCTIONS

    def init(self) -> tuple[int, ...]:
        return ()

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        assert isinstance(state, tuple), state
        if op.f == READ:
            return (op.ret is None or op.output == state), state
        assert op.f == APPEND, op.f
        return True, (*state, op.input)

    def partition(self, op: Operation) -> Hashable:
        return op.key

    def inert(self, op: Operation) -> bool:
        return op.f == READ and op.ret is None

    def observes_only(self, op: Operation) -> bool:
        return op.f == READ and op.ret is not None

    def state_test(self, op: Operation) -> tuple[()] | tuple[Hashable] | None:
        if op.f == READ and op.ret is not None:
            return (op.output,)
        return None

    def order_constraints(self, ops: Sequence[Operation], budget: Budget) -> OrderFacts | None:
        """The append-log facts of the reads (see the module docstring); no operation is a
        put, so a read's list always starts from the empty list."""
        as_text = [_as_text(op) for op in ops]
        return append_log_constraints(as_text, read=READ, put=_NO_PUT, append=APPEND, budget=budget)

    def needs(self, op: Operation) -> tuple[Hashable, str] | None:
        if op.f == READ and op.ret is not None:
            return op.output, f"it read {show_list(op.output)}"
        return None

    def sets(self, op: Operation) -> tuple[()] | tuple[Hashable] | None:
        """A read leaves the list as it was; an append's list depends on the one before."""
        return () if op.f == READ else None

    def call_problem(self, f: str, key: str | None, argument: Argument) -> tuple[str, str] | None:
        if f not in FUNCTIONS:
            return "f", f"model list-append has no {f!r} operation (it has {', '.join(sorted(FUNCTIONS))})"
        if not isinstance(key, str):
            return "key", f"a list-append operation names its key as a string, got {key!r}"
        if f == APPEND and not _is_int(argument):
            return "value", f"an append carries an integer, got {argument!r}"
        if f == READ and argument is not None:
            return "value", f"a read-list invoke carries null, got {argument!r}"
        return None

    def result_problem(self, f: str, result: Argument) -> tuple[str, str] | None:
        if f == READ and not (isinstance(result, tuple) and _INT_ONLY.issuperset(map(type, result))):
            return "value", f"a read-list returns a list of integers ([] when empty), got {result!r}"
        if f == APPEND and not _is_int(result):
            return "value", f"an append returns the integer it appended, got {result!r}"
        return None

    def describe_op(self, op: Operation) -> str:
        if op.f == READ:
            result = "?" if op.ret is None else show_list(op.output)
            return f"read-list({op.key}) -> {result}"
        unknown = " ?" if op.ret is None else ""
        return f"append({op.key}, {op.input}){unknown}"

    def describe_state(self, state: Hashable) -> str:
        assert isinstance(state, tuple), state
        return show_list(state)


_NO_PUT = "put"
"""The append-log facts know a put that replaces the log; no list-append operation is one."""


def _as_text(op: Operation) -> Operation:
    """`op` with its values as text: `v,` for each value, a list the values in order."""
    if op.f == APPEND:
        return dataclasses.replace(op, input=f"{op.input},")
    if op.ret is None or not isinstance(op.output, tuple):
        return op
    return dataclasses.replace(op, output="".join(f"{value}," for value in op.output))


def build(initial: object) -> ListAppendModel:
    if initial is not None:
        raise ValueError(f"list-append keys always start empty; no initial value is taken, got {initial!r}")
    return ListAppendModel()


def parse_initial(text: str) -> object:
    """Only the empty list, `[]`, written as it is: every key starts empty."""
    if text.strip() != "[]":
        raise ValueError(f"cannot read {text!r}: list-append keys start as the empty list, []")
    return None
