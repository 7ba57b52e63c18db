"""Several registers changed together by transactions (Knossos's `multi-register`).

An operation is a `txn` whose argument is a tuple of micro-operations `("read", k, v)` and
`("write", k, v)`, as Knossos's `[[:read :x 1] [:write :y 2]]`:

- The state maps each register to its value (integers; a register never written and not
  in `initial` is absent, None). It is kept as a sorted tuple of (register, value) pairs,
  absent registers left out, so that equal states are equal tuples.
- A txn takes effect atomically: its micro-operations run in order, each read seeing the
  writes before it in the same txn. A returned txn is legal exactly when every read saw
  the value the state holds at that point; the result (the `:ok` value), not the call,
  says what each read saw.
- A read of nil in a result means "absent" here. Knossos reads such a nil as "unknown, any
  value will do"; the EDN reader drops those reads from the result by default, which is
  what Knossos's rule amounts to, rather than teaching the model the quirk.
- Pending (never returned): the reads observed nothing; the writes, if the txn takes
  effect, apply in order.
- A txn may touch several registers, so the history is not split: one partition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from checkers.history import Argument, Operation
from checkers.models.base import Model

FUNCTIONS = frozenset({"txn"})
INITIAL_HELP = 'a map of registers to integers, EDN {:x 0 :y 0} or JSON {"x": 0, "y": 0}'
MICRO_FUNCTIONS = ("read", "write")

RegisterState = tuple[tuple[str, int], ...]


def _is_int(value: object) -> bool:
    return type(value) is int


def _state_of(values: Mapping[str, int | None]) -> RegisterState:
    return tuple(sorted((key, value) for key, value in values.items() if value is not None))


def _micro_problem(micro: object, position: int, returned: bool) -> str | None:
    if not (isinstance(micro, tuple) and len(micro) == 3):
        return f"micro-operation {position} must be [f register value], got {micro!r}"
    f, key, value = micro
    if f not in MICRO_FUNCTIONS:
        return f"micro-operation {position} must be a read or a write, got {f!r}"
    if not isinstance(key, str):
        return f"micro-operation {position} names a register by a keyword or string, got {key!r}"
    if f == "write" and not _is_int(value):
        return f"micro-operation {position} writes an integer, got {value!r}"
    # A call's read carries no value yet (or Knossos's copy of the result): not looked at.
    if f == "read" and returned and not (value is None or _is_int(value)):
        return f"micro-operation {position} reads an integer or nil, got {value!r}"
    return None


@dataclass(frozen=True, slots=True)
class MultiRegisterModel(Model):
    """Registers changed by atomic txns; see the module docstring for each rule."""

    initial: RegisterState = ()
    name: str = "multi-register"
    functions: frozenset[str] = FUNCTIONS

    def init(self) -> RegisterState:
        return self.initial

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        assert op.f == "txn", op.f
        returned = op.ret is not None
        values = dict(state)  # type: ignore[call-overload]
        changed = False
        for f, key, value in op.output if returned else op.input:
            if f == "write":
                changed = changed or values.get(key) != value
                values[key] = value
            elif returned and values.get(key) != value:
                return False, state
        return True, (_state_of(values) if changed else state)

    def partition(self, op: Operation) -> Hashable:
        return None

    def inert(self, op: Operation) -> bool:
        return op.ret is None and all(micro[0] == "read" for micro in op.input)

    def observes_only(self, op: Operation) -> bool:
        return op.ret is not None and all(micro[0] == "read" for micro in op.output)

    def call_problem(self, f: str, key: str | None, argument: Argument) -> tuple[str, str] | None:
        if f not in FUNCTIONS:
            return "f", f"model multi-register has only 'txn' operations, got {f!r}"
        return self._micro_problems(argument, returned=False)

    def result_problem(self, f: str, result: Argument) -> tuple[str, str] | None:
        return self._micro_problems(result, returned=True)

    @staticmethod
    def _micro_problems(micros: Argument, returned: bool) -> tuple[str, str] | None:
        if not isinstance(micros, tuple):
            return "value", f"a txn carries a vector of micro-operations, got {micros!r}"
        for position, micro in enumerate(micros):
            problem = _micro_problem(micro, position, returned)
            if problem is not None:
                return "value", problem
        return None

    def describe_op(self, op: Operation) -> str:
        micros = op.output if op.ret is not None else op.input
        shown = ", ".join(f"{f} {key} {'?' if value is None and op.ret is None else value}" for f, key, value in micros)
        return f"txn({shown})" + (" ?" if op.ret is None else "")

    def describe_state(self, state: Hashable) -> str:
        pairs = " ".join(f"{key} {value}" for key, value in state)  # type: ignore[attr-defined]
        return "{" + pairs + "}"


def build(initial: object) -> MultiRegisterModel:
    if initial is None:
        return MultiRegisterModel()
    if not isinstance(initial, Mapping) or not all(
        isinstance(key, str) and (value is None or _is_int(value)) for key, value in initial.items()
    ):
        raise ValueError(f"the initial value of a multi-register maps register names to integers, got {initial!r}")
    return MultiRegisterModel(_state_of(initial))


def parse_initial(text: str) -> dict[str, int | None]:
    """EDN `{:x 0 :y 0}` or JSON `{"x": 0}`: register names (keywords or strings) to
    integers or nil."""
    stripped = text.strip()
    if _nesting(stripped) > _MAX_NESTING:
        raise ValueError(f"cannot read {text!r}: a map of registers nests no deeper than {_MAX_NESTING}")
    try:
        parsed: object = json.loads(stripped, object_pairs_hook=_without_duplicates)
    except _DuplicateKey as duplicate:
        raise ValueError(f"cannot read {text!r}: register {duplicate.args[0]!r} is given twice") from None
    except (ValueError, RecursionError):
        parsed = _edn_map(stripped)
        keys = re.findall(r"[{\s,]:?([^\s,{}]+)\s+[^\s,{}]+", stripped)
        if isinstance(parsed, Mapping) and len(keys) != len(set(keys)):
            parsed = _DuplicateKey(next(key for key in keys if keys.count(key) > 1))
    if isinstance(parsed, _DuplicateKey):  # EDN that names a register twice
        raise ValueError(f"cannot read {text!r}: register {parsed.args[0]!r} is given twice")
    if not isinstance(parsed, Mapping):
        raise ValueError(f"cannot read {text!r} as a map of registers")
    values: dict[str, int | None] = {}
    for key, value in parsed.items():
        name = getattr(key, "name", key)
        if not isinstance(name, str) or not (value is None or _is_int(value)):
            raise ValueError(f"cannot read {text!r}: {key!r} -> {value!r} is not a register name and an integer")
        values[name] = value
    return values


class _DuplicateKey(Exception):
    """A JSON object naming one key twice (json.loads would keep the last)."""


def _without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise _DuplicateKey(next(key for key in keys if keys.count(key) > 1))
    return dict(pairs)


_MAX_NESTING = 8  # a map of integers nests 1 deep; deep nesting only wastes the stack


def _nesting(text: str) -> int:
    """How deep brackets nest in `text` (strings not told apart: only an upper bound
    matters)."""
    depth = deepest = 0
    for character in text:
        if character in "[({":
            depth += 1
            deepest = max(deepest, depth)
        elif character in "])}":
            depth -= 1
    return deepest


def _edn_map(text: str) -> object:
    import edn_format

    try:
        return edn_format.loads(text)
    except Exception:  # edn_format raises several kinds; any means "not EDN"
        return None
