"""Registers: one value per key, read/write (`register`) or read/write/cas (`cas-register`).

Why each rule is as it is:

- The state of one key is its value (an integer), or None while the key is absent. Every
  key starts at `initial` (default None: absent).
- A read that returned null observed "key absent" and is legal only when the state is None.
  Knossos treats a nil read as always legal (nil meaning "unknown" there); we deliberately
  do not copy that quirk, because our clients record an absent key as null and a read that
  wrongly says "absent" is exactly the kind of bug we hunt. Readers of foreign formats
  translate their own "unknown read" conventions before the model sees them (the EDN
  reader drops Knossos's nil reads, which is what "always legal" amounts to).
- A write always succeeds and sets the value.
- A cas (expected, new) that applied requires state == expected and sets new; expected None
  means "only if absent". A cas whose compare failed (status `compare-failed`) changed
  nothing but observed state != expected, so it is legal exactly then.
- Pending (never returned): a write sets its value, a cas applies only if its compare
  holds (else it is a no-op), and a read has no observed output, so it is always legal and
  changes nothing (the search leaves it out: `inert`).

`state_test` tells the search which single value each operation looks at (see
`Model.state_test`): none for a write, the value read for a read, the
value expected for a cas, whatever its outcome.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from checkers.history import COMPARE_FAILED, Argument, Operation
from checkers.models.base import Effect, Model

FUNCTIONS: dict[str, frozenset[str]] = {
    "register": frozenset({"read", "write"}),
    "cas-register": frozenset({"read", "write", "cas"}),
}
INITIAL_HELP = "an integer, or nil for absent"


def _is_int(value: object) -> bool:
    return type(value) is int  # bool is an int to Python, not to us


def _describe_value(value: int | None) -> str:
    return "absent" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class RegisterModel(Model):
    """One register per key; `functions` says whether cas is among its operations."""

    name: str
    functions: frozenset[str]
    initial: int | None = None

    def __post_init__(self) -> None:
        assert self.functions <= FUNCTIONS["cas-register"], self.functions
        assert self.initial is None or _is_int(self.initial), self.initial

    def init(self) -> int | None:
        return self.initial

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        f = op.f
        if f == "read":
            # `is` would be wrong for large ints; None == 0 is False, as it must be.
            return (op.ret is None or op.output == state), state
        if f == "write":
            return True, op.input
        assert f == "cas", f
        assert "cas" in self.functions, f
        expected, new = op.input
        if op.status == COMPARE_FAILED:
            return state != expected, state
        if state == expected:
            return True, new
        # A pending cas whose compare does not hold is a no-op; a returned one is illegal.
        return op.ret is None, state

    def state_test(self, op: Operation) -> tuple[()] | tuple[Hashable] | None:
        """`()` for a write: legal everywhere, and the state after it is its value whatever
        came before. `(v,)` when only the state v is special: a returned read of v is
        illegal in every other state; a cas expecting v (None: absent) is, in every other
        state, illegal if it applied, legal and a no-op if its compare failed or it is
        pending. The values are states as `init` and `step` hold them (None for absent, the
        initial integer as given), so a test for v meets the state v. A pending read is
        inert and never searched: None, the answer that promises nothing."""
        if op.f == "write":
            return ()
        if op.f == "read":
            return None if op.ret is None else (op.output,)
        assert op.f == "cas", op.f
        return (op.input[0],)

    def effect(self, op: Operation) -> Effect | None:
        """A write leaves its value from any state; a cas that did not fail leaves its new
        value from its expected one, and elsewhere is illegal (returned) or a no-op
        (pending). Reads and failed cas change nothing: None."""
        if op.f == "write":
            return Effect((), op.input)
        if op.f == "cas" and op.status != COMPARE_FAILED:
            expected, new = op.input
            return Effect((expected,), new)
        return None

    def needs(self, op: Operation) -> tuple[Hashable, str] | None:
        """The value a returned operation needs to find, and how to say so, for the
        counterexample's reasons: a read its result, a cas that applied its expected
        value. None for the others (a write needs nothing; a failed cas needs anything but
        one value)."""
        if op.ret is None:
            return None
        if op.f == "read":
            return op.output, f"it read {_describe_value(op.output)}"
        if op.f == "cas" and op.status != COMPARE_FAILED:
            expected = op.input[0]
            return expected, f"it expected {_describe_value(expected)}"
        return None

    def requires(self, op: Operation) -> tuple[Hashable] | None:
        """The state an operation needs to leave its value (`sets`): a cas that may apply
        its expected value; None when it needs none (a write)."""
        if op.f == "cas" and op.status != COMPARE_FAILED:
            return (op.input[0],)
        return None

    def sets(self, op: Operation) -> tuple[()] | tuple[Hashable]:
        """What the value is after `op` changes it: `()` when it never changes it (a read,
        a cas whose compare failed), else its value (a pending cas that does not apply
        changes nothing, which `needs`' reasoning allows for)."""
        if op.f == "read" or op.status == COMPARE_FAILED:
            return ()
        return (op.input,) if op.f == "write" else (op.input[1],)

    def partition(self, op: Operation) -> Hashable:
        return op.key

    def inert(self, op: Operation) -> bool:
        return op.f == "read" and op.ret is None

    def observes_only(self, op: Operation) -> bool:
        if op.ret is None:
            return False
        return op.f == "read" or op.status == COMPARE_FAILED

    def call_problem(self, f: str, key: str | None, argument: Argument) -> tuple[str, str] | None:
        if f not in self.functions:
            return "f", (f"model {self.name} has no {f!r} operation (it has {', '.join(sorted(self.functions))})")
        if key is not None and not isinstance(key, str):
            return "key", f"must be a string, got {key!r}"
        if f == "write" and not _is_int(argument):
            return "value", f"a write to a register carries an integer, got {argument!r}"
        well_formed_cas = (
            isinstance(argument, tuple)
            and len(argument) == 2
            and (argument[0] is None or _is_int(argument[0]))
            and _is_int(argument[1])
        )
        if f == "cas" and not well_formed_cas:
            return "value", f"a cas carries [expected new] integers, got {argument!r}"
        return None

    def result_problem(self, f: str, result: Argument) -> tuple[str, str] | None:
        if f == "read" and not (result is None or _is_int(result)):
            return "value", f"a read of a register returns an integer or nil, got {result!r}"
        return None

    def describe_op(self, op: Operation) -> str:
        # Foreign single-register histories have no key: `write(3)` rather than `write(, 3)`.
        key = "" if op.key is None else op.key
        prefix = "" if op.key is None else f"{op.key}, "
        unknown = " ?" if op.ret is None else ""
        if op.f == "read":
            result = "?" if op.ret is None else _describe_value(op.output)
            return f"read({key}) -> {result}"
        if op.f == "write":
            return f"write({prefix}{op.input}){unknown}"
        expected, new = op.input
        text = f"cas({prefix}{_describe_value(expected)} -> {new})"
        if op.status == COMPARE_FAILED:
            return f"{text} failed: value was not {_describe_value(expected)}"
        return text + unknown

    def describe_state(self, state: Hashable) -> str:
        return _describe_value(state)  # type: ignore[arg-type]


def build(name: str, initial: object) -> RegisterModel:
    if initial is not None and not _is_int(initial):
        raise ValueError(f"the initial value of a register must be an integer or None, got {initial!r}")
    return RegisterModel(name, FUNCTIONS[name], initial)  # type: ignore[arg-type]


def parse_initial(text: str) -> int | None:
    """`0`, `-3`, or `nil` / `null` for absent (the default)."""
    stripped = text.strip()
    if stripped in ("nil", "null"):
        return None
    digits = stripped.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"cannot read {text!r} as a register's value")
    if len(digits) > _MAX_DIGITS:
        raise ValueError(
            f"cannot read {text!r}: an integer of {len(digits):,} digits is too long (at most {_MAX_DIGITS:,})"
        )
    return int(stripped)


_MAX_DIGITS = 4300  # Python's own limit on reading an integer from text
