"""A workload is one module: found by discovery, validated, played and judged through it.

The register workload's vocabulary is held from the generator to the request and the
history; a second workload written to a temporary folder (and put on the package's path,
as a new file in `workloads/` would be) is accepted by scenario files, runs, and is judged
by its own model and checkers, with nothing else edited.
"""

from __future__ import annotations

import json
import random
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import workloads
from checkers.errors import InputError
from checkers.history import read_history_jsonl
from raftcore.server import Response
from raftsim import api
from scenarios import loader
from scenarios.model import WorkloadSpec
from workloads import Completion, register

ROOT = Path(__file__).resolve().parent.parent

READ_WRITE = '''
"""Blind writes and reads of one key, judged as a plain register."""

import random

from raftcore.server import Request, Response
from workloads import Completion, Operation, Settings, Workload


class Blind:
    def __init__(self, settings: Settings, slot: int, rng: random.Random) -> None:
        self.rng, self.slot, self.counter = rng, slot, 0

    def next_operation(self) -> Operation:
        if self.rng.random() < 0.5:
            return Operation("read", "only", None)
        self.counter += 1
        return Operation("write", "only", self.slot * 1000 + self.counter)

    def final_operations(self) -> list[Operation]:
        return [Operation("read", "only", None)]

    def observe(self, operation: Operation, response: Response) -> None:
        pass


def request(operation: Operation, request_id: str, client: str) -> Request:
    kind = "get" if operation.f == "read" else "put"
    return Request(request_id, client, kind, operation.key, value=operation.value)


def complete(operation: Operation, response: Response) -> Completion:
    return Completion("ok", response.value if operation.f == "read" else operation.value)


def problems(settings: Settings) -> list[tuple[str, str]]:
    return [("cas", "read-write has no cas; set cas = 0")] if settings.cas else []


WORKLOAD = Workload(
    kind="read-write",
    functions=("read", "write"),
    generator=Blind,
    request=request,
    complete=complete,
    model="register",
    checkers=("linearizability", "raft-safety"),
    problems=problems,
)
'''

SHORT_RUN = """
name = "blind"
duration_ms = 1500
[cluster]
nodes = 3
[workload]
kind = "read-write"
clients = 2
rate = 40
cas = 0
[phases]
quiet_ms = 2000
"""


@pytest.fixture
def extra_workload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The package as it is plus one module, read_write.py, as if it were a file of its own."""
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "read_write.py").write_text(textwrap.dedent(READ_WRITE), encoding="utf-8")
    monkeypatch.setattr(workloads, "__path__", [*workloads.__path__, str(folder)])
    workloads.discover.cache_clear()
    yield
    monkeypatch.undo()
    sys.modules.pop("workloads.read_write", None)
    workloads.discover.cache_clear()


def test_discovery_finds_each_module_in_name_order() -> None:
    found = workloads.discover()
    assert "register" in found
    assert found["register"] is register.WORKLOAD
    modules = sorted(p.stem for p in (ROOT / "workloads").glob("*.py") if not p.stem.startswith("_"))
    assert list(found) == [name.replace("_", "-") for name in modules]


def test_register_cas_is_expected_then_new_everywhere() -> None:
    operation = register.cas("k0", 5, 7)
    assert operation.value == (5, 7)
    sent = register.request(operation, "c1-1", "c1")
    assert (sent.operation, sent.expected, sent.value) == ("cas", 5, 7)
    failed = Response("c1-1", "c1", 1, False, value=6, error="compare-failed")
    assert register.complete(operation, failed) == Completion("fail", (5, 7), "compare-failed")
    applied = Response("c1-1", "c1", 1, True, value=7)
    assert register.complete(operation, applied) == Completion("ok", (5, 7))
    read = register.read("k0")
    assert register.request(read, "c1-2", "c1").operation == "get"
    assert register.complete(read, Response("c1-2", "c1", 1, True, value=7)) == Completion("ok", 7)


def test_register_generator_aims_cas_at_what_it_saw() -> None:
    settings = WorkloadSpec(keys=1, read=0.0, write=0.0, cas=1.0)
    generator = register.WORKLOAD.generator(settings, 2, random.Random(1))
    first = generator.next_operation()
    assert first == register.cas("k0", None, 2 * register.VALUES_PER_SLOT + 1)
    generator.observe(first, Response("c2-1", "c2", 1, True, value=41))
    assert generator.next_operation().value == (41, 2 * register.VALUES_PER_SLOT + 2)
    assert generator.final_operations() == [register.read("k0")]


def test_unknown_kind_lists_the_discovered_kinds() -> None:
    with pytest.raises(InputError) as error:
        loader.parse('name = "x"\n[workload]\nkind = "queue"\n', "x.toml")
    assert str(error.value) == f"x.toml:3: workload.kind: 'queue' is not one of {', '.join(workloads.kinds())}"


def test_register_problem_is_reported_on_its_field() -> None:
    with pytest.raises(InputError, match=r"x\.toml:3: workload\.read: read, write and cas weights are all zero"):
        loader.parse('name = "x"\n[workload]\nread = 0\nwrite = 0\ncas = 0\n', "x.toml")


def test_readme_lists_the_discovered_kinds() -> None:
    row = next(line for line in (ROOT / "README.md").read_text("utf-8").splitlines() if "`[workload] kind`" in line)
    listed = row.strip("|").split("|")[2].split("one of ", 1)[1].split(";", 1)[0]
    assert re.findall(r"`([a-z][a-z-]*)`", listed) == list(workloads.kinds())


@pytest.mark.usefixtures("extra_workload")
def test_a_new_module_is_a_new_workload(tmp_path: Path) -> None:
    assert workloads.kinds() == ("read-write", "register")
    with pytest.raises(InputError, match="'queue' is not one of read-write, register"):
        loader.parse('name = "x"\n[workload]\nkind = "queue"\n', "x.toml")
    with pytest.raises(InputError, match=r"x\.toml:10: workload\.cas: read-write has no cas"):
        loader.parse(SHORT_RUN.replace("cas = 0", "cas = 0.5"), "x.toml")
    outcome = api.run(loader.parse(SHORT_RUN, "blind.toml"), tmp_path / "run")
    assert outcome.folder is not None
    verdict = json.loads((outcome.folder / "verdict.json").read_text("utf-8"))
    assert list(verdict["checkers"]) == ["linearizability", "raft-safety"]
    assert verdict["checkers"]["linearizability"]["model"] == "register"
    assert verdict["valid"] is True
    events = read_history_jsonl(outcome.folder / "history.jsonl", functions=("read", "write"))
    assert {event.key for event in events} == {"only"}
    assert {event.f for event in events if event.type == "ok"} == {"read", "write"}
