"""The interface of a model: the core every model writes and the capabilities it may offer.

See the package's docstring for the models themselves and how the two layers divide.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from checkers.history import Argument, Operation

if TYPE_CHECKING:
    from checkers.budget import Budget

State = Hashable
Problem = tuple[str, str] | None
"""(field, what is wrong) or None: field is `f`, `key` or `value`."""


@dataclass(frozen=True, slots=True)
class Effect:
    """How an operation changes the state (see `Model.effect`): from the one state
    `source` names (any state when `source` is empty) to `target`."""

    source: tuple[()] | tuple[Hashable]
    target: Hashable


OrderFacts = tuple[Iterable[tuple[int, int, int]], Iterable[tuple[int, int, int]]]
"""(before, outside): see `Model.order_constraints`."""


class ModelCore(Protocol):
    """The core of a sequential specification: what the search cannot do without.

    `init()` is the state before anything happened; `step(state, op)` says whether `op`
    may take effect in `state` and what the state becomes. States are hashable values
    compared by value (the search memoises on them). `partition(op)` names the piece of
    state `op` touches: operations with different partitions never affect each other.
    `functions` are the operation names (`f`) the model judges; the search refuses any
    other. `describe_op` and `describe_state` are the model's words for people.
    """

    __slots__ = ()

    name: str
    functions: frozenset[str]

    def init(self) -> State: ...

    def step(self, state: State, op: Operation) -> tuple[bool, State]: ...

    def partition(self, op: Operation) -> Hashable: ...

    def describe_op(self, op: Operation) -> str: ...

    def describe_state(self, state: State) -> str: ...


class Model(ModelCore):
    """A model as the search and the readers take it: the core (`ModelCore`, which each
    model writes) and the optional capabilities, each with a default that promises nothing.

    Every default is correct for any model: it only gives up work the search could save
    or words a counterexample could use. A model overrides a capability when it can keep
    the promise that capability's docstring states; the tests hold each model to them.
    """

    __slots__ = ()

    def inert(self, op: Operation) -> bool:
        """True when taking effect can neither fail nor change any state: the search may
        then leave the operation out altogether (a read that never returned, say)."""
        return False

    def observes_only(self, op: Operation) -> bool:
        """True when `op`, in every state where it is legal, leaves the state unchanged (a
        read that returned, a cas whose compare failed). The search then linearizes such an
        operation as soon as it is legal without trying alternatives: moving it earlier
        within its interval cannot change what any other operation sees."""
        return False

    def implied(self, ops: Sequence[Operation]) -> list[Operation]:
        """Operations no client made that the system may perform (pending, with ids above
        every op's and `call` the event after which each may act): a lease's expiry, say.
        The search treats them as any pending operation; none by default."""
        return []

    def call_problem(self, f: str, key: str | None, argument: Argument) -> Problem:
        """Why a call cannot be judged by this model (unknown f, argument of the wrong
        shape), or None. By default only an unknown f is refused."""
        if f in self.functions:
            return None
        return "f", f"model {self.name} has no {f!r} operation (it has {', '.join(sorted(self.functions))})"

    def result_problem(self, f: str, result: Argument) -> Problem:
        """Why a result returned by an `ok` completion has the wrong shape, or None."""
        return None

    def state_test(self, op: Operation) -> tuple[()] | tuple[Hashable] | None:
        """How `op` depends on the state; it only saves the search work.

        `()` when the operation is legal in every state and leaves the same state whatever
        the state was (a blind write); `(v,)` when it behaves in every state other than `v`
        alike: equally legal, and either leaving the state as it was or setting one same
        state (a read of v, a cas expecting v); None (the default) otherwise. Pending
        operations that cannot react to a change of state are then not stepped to find
        out, which keeps the search linear in the number of pending operations.
        """
        return None

    def effect(self, op: Operation) -> Effect | None:
        """What taking effect does to the state, when one rule says it: `Effect((), t)`
        when `op` is legal in every state and leaves t (a blind write); `Effect((v,), t)`
        when in state v it is legal and leaves t, and in every other state it is illegal
        or leaves the state as it was (a cas expecting v); None (the default) otherwise.

        It only saves the search work on pending operations: one that can change nothing
        in the state at hand is not looked at, and pending operations whose `t` no
        operation of the partition tells apart from other states (by `state_test`) are
        tried one for all (see `checkers.linearizability._PendingIndex`). A model
        declaring it must also declare `state_test` for those savings to apply."""
        return None

    def order_constraints(self, ops: Sequence[Operation], budget: Budget) -> OrderFacts | None:
        """Facts about the order of one partition's operations that the results reveal
        (for an append log, a read's string names exactly the writes before it and their
        order); None (the default) when the model reads none off results.

        `ops` are the partition's operations as the search numbers them. The answer is
        `(before, outside)`: triples (a, b, r) meaning "in every legal linearization, if b
        takes effect then a took effect before it", and triples (w, s, e) meaning "if s and
        w both take effect, s first, then e takes effect before w". `r` (and `e`) name the
        operation whose result shows the fact, for counterexamples. (b, b, r) says that b
        can never take effect: a returned b then makes the partition illegal at once.
        Facts must be true of every linearization the model accepts, pending operations
        included or not; the search then never places an operation they forbid. The work
        is spent from `budget`, which may raise OutOfBudget.
        """
        return None

    def pending_acting(self, state: State) -> Collection[int] | None:
        """The ids of the pending operations that may take effect in `state` and change
        it; None (the default) when any may. It only saves the search work: a pending
        operation left out is one `step` refuses in `state` or leaves it unchanged, so the
        search, which skips those, need not step it to find out. A superset is always
        correct."""
        return None

    def pending_room(self, state: State) -> int | None:
        """The most pending operations that can still take effect (changing the state)
        in any completion from `state`; None (the default) when there is no bound. It only
        saves the search work: of look-alikes (see `look`) already called, once more of
        them are unused than this, which of them were used cannot matter, and the memo
        stops telling such configurations apart."""
        return None

    def look(self, op: Operation) -> Hashable:
        """What of `op` its steps and its judging depend on: two operations that look the
        same are look-alikes, of which the search tries one (see
        `checkers.linearizability._signatures`). The default is all the model could read
        (f, key, input, output, status, and whether it returned); a model that steps a
        pending operation through less than its whole input (a value no response can show)
        may say so, and must then step it exactly as any of its look-alikes."""
        return (op.f, op.key, op.input, op.output, op.status, op.ret is None)

    def needs(self, op: Operation) -> tuple[Hashable, str] | None:
        """The state a returned `op` needs to find and how to say so ("it read 3"), for a
        counterexample's reasons; None (the default) when it needs no one state."""
        return None

    def why_refused(self, state: State, op: Operation) -> str | None:
        """Why a returned `op` cannot take effect in `state`, in the model's words (which
        part of its result the state cannot produce), for a counterexample's reasons;
        None (the default) when the model has nothing to say beyond refusing it."""
        return None

    def sets(self, op: Operation) -> tuple[()] | tuple[Hashable] | None:
        """The state after `op` takes effect: `()` when it never changes it, `(v,)` when
        it leaves v; None (the default) when that depends on the state before. Used only
        when the model answers for every operation of a partition."""
        return None

    def requires(self, op: Operation) -> tuple[Hashable] | None:
        """The state `op` needs to leave its value (`sets`): `(v,)` for a cas that applies
        only to v; None (the default) when it needs none."""
        return None
