"""Workloads: what clients ask of the cluster, and how their histories are judged.

After Jepsen, a workload is one value composed of everything that must agree about it:
the operations it names (the `f` values and the shape of each value, one vocabulary from
the generator to `history.jsonl`), the generator that picks them, how an operation
becomes a request to the etcd-like server and how a response becomes a completion, the
checker model that judges the history and which of the run's checkers apply. Each
workload is one module of this package exposing `WORKLOAD`, found by `discover`, so a new
workload touches its module and its test, and no list elsewhere: scenario validation,
the simulator and the judge all ask this package.

The package knows nothing of scenarios: a workload reads the `[workload]` table's
settings through the `Settings` protocol and states its own problems with them, and
`scenarios` imports this package to validate a file. A workload that needs a setting of
its own declares it (`Option`: name, type, range or choices, default, help) in its
`Workload`; the loader then accepts that name in the `[workload]` table of that kind only,
and the generator reads it with `Option.read`. Its operations may use `f` values the
`history.jsonl` schema does not define: the history reader then takes any JSON value and
leaves the judgement of its shape to the workload's model (`call_problem`,
`result_problem`), which may be a class of the workload's own module. Shared definitions
live here; a module whose name starts with `_` is a helper, not a workload.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from checkers.models import MODEL_FUNCTIONS, Model, get_model
from raftcore.server import Request, Response

_OPTION_NAME = re.compile(r"[a-z][a-z0-9_]{0,59}")
OptionValue = int | float | str | bool
"""What a workload's own setting may hold: one TOML scalar."""
SHARED_SETTINGS = (
    "kind",
    "clients",
    "keys",
    "rate",
    "read",
    "write",
    "cas",
    "timeout_ms",
    "attempt_timeout_ms",
    "options",
)
"""The `[workload]` fields of every kind (`scenarios.model.WorkloadSpec`); an option may not
take one of their names."""
CHECKERS = ("linearizability", "list-append", "raft-safety", "liveness", "revisions", "leases")
"""The checkers a run can be judged by, in the order a verdict lists them."""
COMPLETION_TYPES = ("ok", "fail")
"""What a server's answer can make of an operation; `info` (no answer in time) and the
`fail` of an unreachable cluster are the client's to record, the same for every workload."""


class Settings(Protocol):
    """The `[workload]` settings a workload may read (`scenarios.model.WorkloadSpec`)."""

    @property
    def clients(self) -> int: ...
    @property
    def keys(self) -> int: ...
    @property
    def read(self) -> float: ...
    @property
    def write(self) -> float: ...
    @property
    def cas(self) -> float: ...
    @property
    def options(self) -> tuple[tuple[str, OptionValue], ...]: ...


@dataclass(frozen=True, slots=True)
class Option:
    """A setting a workload declares for itself, written in the `[workload]` table.

    `kind` is int, float, str or bool; a number lies in [`low`, `high`], a string is one of
    `choices`. The loader validates a written value by these and fills in `default` for
    one not written, so a run's `scenario.toml` states every setting its run used.
    """

    name: str
    kind: type
    default: OptionValue
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # The name is a key of the `[workload]` table as TOML writes it bare.
        assert _OPTION_NAME.fullmatch(self.name), f"option {self.name!r}: not a lower-case bare TOML key"
        assert self.kind in (int, float, str, bool), f"option {self.name}: {self.kind} is not a TOML scalar type"
        numeric = self.kind in (int, float)
        assert numeric == (self.low is not None), f"option {self.name}: a number, and only a number, has a range"
        assert numeric == (self.high is not None), f"option {self.name}: a number, and only a number, has a range"
        assert (self.kind is str) == bool(self.choices), f"option {self.name}: a string, and only a string, has choices"
        assert self.problem(self.default) is None, f"option {self.name}: default {self.default!r} is not allowed"

    def problem(self, value: object) -> str | None:
        """Why `value` is not allowed for this option, in the loader's words, or None."""
        if self.kind is bool:
            return None if isinstance(value, bool) else "must be true or false"
        if self.kind is str:
            if not isinstance(value, str):
                return "must be a string"
            return None if value in self.choices else f"{value!r} is not one of {', '.join(self.choices)}"
        allowed = (int,) if self.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, allowed):
            return "must be an integer" if self.kind is int else "must be a number"
        assert self.low is not None
        assert self.high is not None
        return None if self.low <= value <= self.high else f"{value!r} is out of range [{self.low}, {self.high}]"

    def read(self, settings: Settings) -> OptionValue:
        """This setting's value in `settings`: as written, else the default (a
        `WorkloadSpec` built in code may leave it out)."""
        return dict(settings.options).get(self.name, self.default)


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation as invoked and recorded: `f`, `key` and `value` are written to the
    history as they are (tuples as JSON arrays)."""

    f: str
    key: str
    value: Any
    serializable: bool = False
    """A read served from the member's own state at once, without a read index (etcd's
    serializable reads): it may be stale. Its lines in the history say so."""


@dataclass(frozen=True, slots=True)
class Completion:
    """How a server's answer completes an operation: `type` ok or fail, the value the
    history records, and the error a fail carries."""

    type: str
    value: Any
    error: str | None = None

    def __post_init__(self) -> None:
        assert self.type in COMPLETION_TYPES, self.type
        assert (self.error is None) == (self.type == "ok"), (self.type, self.error)


class Generator(Protocol):
    """One client's source of operations; it may react to what the cluster answered."""

    def next_operation(self) -> Operation: ...

    def final_operations(self) -> list[Operation]:
        """What the client does once faults are healed and the run is quiet."""
        ...

    def observe(self, operation: Operation, response: Response) -> None:
        """A definite answer from a server to `operation`."""
        ...


@dataclass(frozen=True, slots=True)
class Workload:
    """A whole workload as one value.

    - `kind`: the name `[workload] kind` gives (its module's name, `_` written `-`);
    - `functions`: the `f` values its histories hold, all known to `model`;
    - `generator(settings, slot, rng)`: client `slot`'s generator, drawing from `rng` only;
    - `request(operation, request_id, client)`: the request that performs an operation;
    - `complete(operation, response)`: the completion of a definite (not not-leader) answer;
    - `model`: the model its linearizability is judged by: a name of `checkers.models`,
      or a `Model` of the workload's own (for `f` values no model there knows);
    - `checkers`: the run's checkers that judge it, from `CHECKERS`;
    - `problems(settings)`: (field, message) for each setting it cannot run with;
    - `options`: the settings of its own (see `Option`), none by default;
    - `watch_prefix`: the prefix its keys live under, for a workload whose runs may add
      watchers and informers (`workloads._watch`, whose options it then declares); "" if none.
    """

    kind: str
    functions: tuple[str, ...]
    generator: Callable[[Settings, int, random.Random], Generator]
    request: Callable[[Operation, str, str], Request]
    complete: Callable[[Operation, Response], Completion]
    model: str | Model
    checkers: tuple[str, ...]
    problems: Callable[[Settings], list[tuple[str, str]]]
    options: tuple[Option, ...] = ()
    watch_prefix: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.model, str):
            assert self.model in MODEL_FUNCTIONS, f"workload {self.kind}: unknown model {self.model!r}"
            known = MODEL_FUNCTIONS[self.model]
        else:
            known = self.model.functions
        unknown = set(self.functions) - known
        assert not unknown, f"workload {self.kind}: model {self.model_name} has no {sorted(unknown)}"
        names = [option.name for option in self.options]
        assert len(set(names)) == len(names), f"workload {self.kind}: an option is declared twice"
        for name in names:
            assert name not in SHARED_SETTINGS, f"workload {self.kind}: option {name} is a shared setting"
        assert self.checkers, f"workload {self.kind}: judged by no checker"
        for name in self.checkers:
            assert name in CHECKERS, f"workload {self.kind}: unknown checker {name!r}"

    @property
    def model_name(self) -> str:
        return self.model if isinstance(self.model, str) else self.model.name

    def build_model(self) -> Model:
        """The model that judges this workload's histories."""
        return get_model(self.model) if isinstance(self.model, str) else self.model

    def option(self, name: str) -> Option | None:
        return next((option for option in self.options if option.name == name), None)


@functools.cache
def discover() -> Mapping[str, Workload]:
    """Every workload of this package by kind, in the order of their module names (so the
    order never depends on the file system)."""
    found: dict[str, Workload] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        workload = getattr(module, "WORKLOAD", None)
        assert isinstance(workload, Workload), f"workloads.{module_info.name} exposes no WORKLOAD"
        assert workload.kind == module_info.name.replace("_", "-"), (workload.kind, module_info.name)
        found[workload.kind] = workload
    assert found, "no workload found in the workloads package"
    return found


def kinds() -> tuple[str, ...]:
    """The kinds `[workload] kind` may name."""
    return tuple(discover())


def find(kind: str) -> Workload | None:
    return discover().get(kind)


def get(kind: str) -> Workload:
    """The workload called `kind`; callers validate the kind first (the scenario loader
    does), so an unknown one is a bug, not bad input."""
    workload = find(kind)
    assert workload is not None, f"unknown workload kind {kind!r}; known: {', '.join(kinds())}"
    return workload
