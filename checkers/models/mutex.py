"""A lock with acquire and release, as Knossos's `mutex` model has it.

- The state is whether the lock is held; it starts free (`initial` "unlocked", or
  "locked"). Holders are not tracked, as in Knossos: the history says who called, not who
  holds, and a release by another process is judged only by whether the lock was held.
- acquire is legal only while the lock is free and takes it; release is legal only while
  it is held and frees it.
- A `:fail` (for instance a release answered `:not-held`) certainly did not happen and is
  dropped by the readers; it is not read as an observation of the lock's state, because
  without holders the model could not say whose lock it saw.
- Pending (never returned): an acquire or release may take effect where it is legal, or
  never.
- Locks with different keys are independent; Knossos's files name no key (one lock).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from checkers.history import Argument, Operation
from checkers.models.base import Model

FUNCTIONS = frozenset({"acquire", "release"})
INITIAL_HELP = "unlocked (the default) or locked"
_INITIAL_WORDS = {"unlocked": False, "locked": True}


@dataclass(frozen=True, slots=True)
class MutexModel(Model):
    """One lock per key; see the module docstring for each rule."""

    initial: bool = False
    name: str = "mutex"
    functions: frozenset[str] = FUNCTIONS

    def init(self) -> bool:
        return self.initial

    def step(self, state: Hashable, op: Operation) -> tuple[bool, Hashable]:
        if op.f == "acquire":
            return state is False, True
        assert op.f == "release", op.f
        return state is True, False

    def needs(self, op: Operation) -> tuple[Hashable, str]:
        """The state each operation needs, for counterexamples' reasons."""
        if op.f == "acquire":
            return False, "it needs the lock free"
        return True, "it needs the lock held"

    def requires(self, op: Operation) -> tuple[Hashable]:
        return (self.needs(op)[0],)

    def sets(self, op: Operation) -> tuple[Hashable]:
        return (op.f == "acquire",)

    def partition(self, op: Operation) -> Hashable:
        return op.key

    def call_problem(self, f: str, key: str | None, argument: Argument) -> tuple[str, str] | None:
        if f not in FUNCTIONS:
            return "f", (f"model mutex has no {f!r} operation (it has {', '.join(sorted(FUNCTIONS))})")
        if key is not None and not isinstance(key, str):
            return "key", f"must be a string, got {key!r}"
        return None

    def describe_op(self, op: Operation) -> str:
        target = "" if op.key is None else op.key
        return f"{op.f}({target})" + (" ?" if op.ret is None else "")

    def describe_state(self, state: Hashable) -> str:
        return "locked" if state else "unlocked"


def build(initial: object) -> MutexModel:
    if initial is None:
        return MutexModel()
    if type(initial) is not bool:
        raise ValueError(f"the initial state of a mutex is True (locked) or False, got {initial!r}")
    return MutexModel(initial)


def parse_initial(text: str) -> bool:
    word = text.strip().lower()
    if word not in _INITIAL_WORDS:
        raise ValueError(f"cannot read {text!r} as a lock's state")
    return _INITIAL_WORDS[word]
