"""Sequential specifications that a linearizability search replays operations against.

A model is a small pure object, after Porcupine: `init()` gives the state before anything
happened, `step(state, op)` says whether `op` may take effect in `state` and what the state
becomes, and states are plain hashable values compared by value so that the search can
remember which (set of operations, state) configurations it has already explored.
`partition(op)` names the independent piece of state an operation touches: a history is
linearizable if and only if each piece's sub-history is (Herlihy & Wing's locality, which
Porcupine calls P-compositionality), and checking many small pieces is exponentially
cheaper than one big one.

Every model lives in its own module of this package and is listed in `MODELS`; adding one
is a file and a line. The models:

| name | module | operations (`f`) | state | partition |
| --- | --- | --- | --- | --- |
| `register` | `register` | read, write | one value per key | key |
| `cas-register` | `register` | read, write, cas | one value per key | key |
| `kv` | `kv` | get, put, append | one string per key | key |
| `list-append` | `list_append` | append, read-list | one list of integers per key | key |
| `multi-register` | `multi_register` | txn of reads and writes | every register | none |
| `mutex` | `mutex` | acquire, release | held or not, per key | key |
| `etcd` | `etcd` | range, put, delete, txn, compact | revision, compacted revision, kvs | none (one store) |

An operation whose outcome is unknown (pending: `ret` None) may take effect or not. The
search handles "not" by never linearizing it; each model says what taking effect means for
it (a pending read observed nothing, so it is always legal and changes nothing).

A model is two layers, after Porcupine's: the core (`ModelCore`), which every model
writes because the search cannot do without it, and optional capabilities (`Model`), each
with a default that is always correct, which a model overrides where it knows better:
to save the search work (`inert`, `observes_only`, `state_test`, `effect`, `order_constraints`), to
explain a counterexample in its own words (`needs`, `sets`, `requires`), or to refuse
input it cannot judge (`call_problem`, `result_problem`). Every model inherits
`Model`, and the search and the readers call the capabilities directly: a model that
does not override one gets the default, never an `AttributeError`.

Readers hand each call and result to `call_problem` / `result_problem` before the search
starts, so a value of the wrong shape (a string written to a register) is reported with
its file, line and field instead of surfacing as a strange verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from checkers.budget import Budget
from checkers.history import Argument, Operation
from checkers.models import etcd, kv, list_append, multi_register, mutex, register
from checkers.models.base import Effect, Model, ModelCore, OrderFacts, Problem, State


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """How to build a model by name: `build(initial)` raises ValueError for an initial
    value of the wrong type; `parse_initial(text)` reads `--initial` (ValueError if bad)."""

    build: Callable[[object], Model]
    parse_initial: Callable[[str], object]
    initial_help: str


MODELS: dict[str, ModelSpec] = {
    "register": ModelSpec(
        lambda initial: register.build("register", initial), register.parse_initial, register.INITIAL_HELP
    ),
    "cas-register": ModelSpec(
        lambda initial: register.build("cas-register", initial), register.parse_initial, register.INITIAL_HELP
    ),
    "kv": ModelSpec(kv.build, kv.parse_initial, kv.INITIAL_HELP),
    "list-append": ModelSpec(list_append.build, list_append.parse_initial, list_append.INITIAL_HELP),
    "multi-register": ModelSpec(multi_register.build, multi_register.parse_initial, multi_register.INITIAL_HELP),
    "mutex": ModelSpec(mutex.build, mutex.parse_initial, mutex.INITIAL_HELP),
    "etcd": ModelSpec(etcd.build, etcd.parse_initial, etcd.INITIAL_HELP),
}

MODEL_FUNCTIONS: dict[str, frozenset[str]] = {
    "register": register.FUNCTIONS["register"],
    "cas-register": register.FUNCTIONS["cas-register"],
    "kv": kv.FUNCTIONS,
    "list-append": list_append.FUNCTIONS,
    "multi-register": multi_register.FUNCTIONS,
    "mutex": mutex.FUNCTIONS,
    "etcd": etcd.FUNCTIONS,
}


def _spec(name: str) -> ModelSpec:
    if name not in MODELS:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"unknown model {name!r}; known models: {known}")
    return MODELS[name]


def get_model(name: str, initial: object = None) -> Model:
    """The model called `name`, starting from `initial` (None: each model's default; see
    `parse_initial` for what each accepts).

    Raises ValueError naming the known models when `name` is not one of them, and when
    `initial` has the wrong type for the model.
    """
    return _spec(name).build(initial)


def parse_initial(name: str, text: str) -> object:
    """Read the text of `--initial` for model `name` into the value `get_model` takes.

    Raises ValueError (one line, saying what the model expects) when it does not fit,
    whatever the text: nested too deep, a number too long, any EDN the model cannot use.
    """
    spec = _spec(name)
    if len(text) > MAX_INITIAL_CHARACTERS:
        raise ValueError(
            f"--initial is {len(text):,} characters long; at most "
            f"{MAX_INITIAL_CHARACTERS:,} are read (model {name} takes "
            f"{spec.initial_help})"
        )
    try:
        return spec.parse_initial(text)
    except (ValueError, RecursionError, OverflowError, MemoryError) as error:
        message = str(error) if isinstance(error, ValueError) else f"cannot read {text!r}"
        message = message.replace(repr(text), _shortened(text)).replace("\n", " ")
        raise ValueError(f"{message} (model {name} takes {spec.initial_help})") from None


MAX_INITIAL_CHARACTERS = 1 << 20
"""An initial state is typed on a command line; a megabyte is far more than any needs."""


def _shortened(text: str) -> str:
    """`text` quoted for a one-line message, its middle cut when long."""
    return repr(text) if len(text) <= 60 else repr(f"{text[:30]}…{text[-20:]}")


class WithoutStateTest(Model):
    """A model exactly as given but with the default `state_test`, which promises nothing.
    The capability only spares work, never changes a verdict; the tests prove that by
    checking with and without it, and the checker benchmark measures what it saves."""

    __slots__ = ("_model", "functions", "name")

    def __init__(self, model: Model) -> None:
        self._model = model
        self.name = model.name
        self.functions = model.functions

    def init(self) -> State:
        return self._model.init()

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        return self._model.step(state, op)

    def partition(self, op: Operation) -> Hashable:
        return self._model.partition(op)

    def describe_op(self, op: Operation) -> str:
        return self._model.describe_op(op)

    def describe_state(self, state: State) -> str:
        return self._model.describe_state(state)

    def inert(self, op: Operation) -> bool:
        return self._model.inert(op)

    def observes_only(self, op: Operation) -> bool:
        return self._model.observes_only(op)

    def call_problem(self, f: str, key: str | None, argument: Argument) -> Problem:
        return self._model.call_problem(f, key, argument)

    def result_problem(self, f: str, result: Argument) -> Problem:
        return self._model.result_problem(f, result)

    def order_constraints(self, ops: Sequence[Operation], budget: Budget) -> OrderFacts | None:
        return self._model.order_constraints(ops, budget)

    def effect(self, op: Operation) -> Effect | None:
        return self._model.effect(op)

    def needs(self, op: Operation) -> tuple[Hashable, str] | None:
        return self._model.needs(op)

    def why_refused(self, state: State, op: Operation) -> str | None:
        return self._model.why_refused(state, op)

    def sets(self, op: Operation) -> tuple[()] | tuple[Hashable] | None:
        return self._model.sets(op)

    def requires(self, op: Operation) -> tuple[Hashable] | None:
        return self._model.requires(op)


__all__ = [
    "MODELS",
    "MODEL_FUNCTIONS",
    "Effect",
    "Model",
    "ModelCore",
    "ModelSpec",
    "OrderFacts",
    "Problem",
    "State",
    "WithoutStateTest",
    "get_model",
    "parse_initial",
]
