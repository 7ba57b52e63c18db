"""A workload is one module: found by discovery, validated, played and judged through it.

The register workload's vocabulary is held from the generator to the request and the
history; a second workload written to a temporary folder (and put on the package's path,
as a new file in `workloads/` would be) is accepted by scenario files, runs, and is judged
by its own model and checkers, with nothing else edited.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import workloads
from checkers.errors import InputError
from checkers.history import read_history_jsonl
from raftcore.server import Response
from raftsim import api, report
from raftsim.run_folder import RunFolder
from scenarios import loader
from scenarios.model import WorkloadSpec
from workloads import Completion, register

ROOT = Path(__file__).resolve().parent.parent

LABELS = """
\"\"\"Labels: store a string under a key, fetch it back; its own setting and operations.

`hot_key_share` (0.0-1.0, default 0.5): the share of operations aimed at key k0, the
rest spread over all `keys`. Operations `store(key, label)` and `fetch(key)` (ok: the
label, null when none was stored) are not in the `history.jsonl` schema: their shapes
are judged by this module's own model.
\"\"\"

import random
from collections.abc import Hashable

from checkers.history import Operation as Op
from checkers.models.base import Model
from raftcore.server import Request, Response
from workloads import Completion, Operation, Option, Settings, Workload

HOT_KEY_SHARE = Option("hot_key_share", float, 0.5, "share of operations on key k0", low=0.0, high=1.0)


class Labels(Model):
    \"\"\"One label per key: a fetch returns the last label stored (None: none yet).\"\"\"

    __slots__ = ()
    name = "labels"
    functions = frozenset({"fetch", "store"})

    def init(self) -> Hashable:
        return None

    def step(self, state: Hashable, op: Op) -> tuple[bool, Hashable]:
        if op.f == "store":
            return True, op.input
        return (op.status == "info" or op.output == state), state

    def partition(self, op: Op) -> Hashable:
        return op.key

    def describe_op(self, op: Op) -> str:
        return f"{op.f}({op.key}, {op.input if op.f == 'store' else op.output!r})"

    def describe_state(self, state: Hashable) -> str:
        return repr(state)

    def call_problem(self, f: str, key: str | None, argument: object) -> tuple[str, str] | None:
        if f == "store" and not isinstance(argument, str):
            return "value", f"a store carries a string label, got {argument!r}"
        return super().call_problem(f, key, argument)

    def result_problem(self, f: str, result: object) -> tuple[str, str] | None:
        if f == "fetch" and not (result is None or isinstance(result, str)):
            return "value", f"a fetch returns a string label or null, got {result!r}"
        return None


class Labeller:
    def __init__(self, settings: Settings, slot: int, rng: random.Random) -> None:
        self.rng, self.slot, self.counter = rng, slot, 0
        self.keys = [f"k{i}" for i in range(settings.keys)]
        self.hot = float(HOT_KEY_SHARE.read(settings))

    def next_operation(self) -> Operation:
        key = "k0" if self.rng.random() < self.hot else self.rng.choice(self.keys)
        if self.rng.random() < 0.5:
            return Operation("fetch", key, None)
        self.counter += 1
        return Operation("store", key, f"s{self.slot}-{self.counter}")

    def final_operations(self) -> list[Operation]:
        return [Operation("fetch", key, None) for key in self.keys]

    def observe(self, operation: Operation, response: Response) -> None:
        pass


def request(operation: Operation, request_id: str, client: str) -> Request:
    kind = "get" if operation.f == "fetch" else "put"
    return Request(request_id, client, kind, operation.key, value=operation.value)


def complete(operation: Operation, response: Response) -> Completion:
    return Completion("ok", response.value if operation.f == "fetch" else operation.value)


def problems(settings: Settings) -> list[tuple[str, str]]:
    return [("cas", "labels has no cas; set cas = 0")] if settings.cas else []


WORKLOAD = Workload(
    kind="labels",
    functions=("fetch", "store"),
    generator=Labeller,
    request=request,
    complete=complete,
    model=Labels(),
    checkers=("linearizability", "raft-safety"),
    problems=problems,
    options=(HOT_KEY_SHARE,),
)
"""

SHORT_RUN = """
name = "labels"
duration_ms = 1500
[cluster]
nodes = 3
[workload]
kind = "labels"
clients = 2
rate = 40
cas = 0
hot_key_share = 1.0
[phases]
quiet_ms = 2000
"""


@pytest.fixture
def extra_workload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The package as it is plus one module, labels.py, as if it were a file of its own."""
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "labels.py").write_text(LABELS, encoding="utf-8")
    monkeypatch.setattr(workloads, "__path__", [*workloads.__path__, str(folder)])
    workloads.discover.cache_clear()
    yield
    monkeypatch.undo()
    sys.modules.pop("workloads.labels", None)
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
    """Its kind, its setting (read from the file: every operation on k0 of three keys),
    its new `f` values in the history and its own model's verdict, with nothing else edited."""
    assert workloads.kinds() == ("election", "etcd", "kubernetes", "labels", "list-append", "register")
    known = "election, etcd, kubernetes, labels, list-append, register"
    with pytest.raises(InputError, match=f"'queue' is not one of {known}"):
        loader.parse('name = "x"\n[workload]\nkind = "queue"\n', "x.toml")
    with pytest.raises(InputError, match=r"x\.toml:10: workload\.cas: labels has no cas"):
        loader.parse(SHORT_RUN.replace("cas = 0", "cas = 0.5"), "x.toml")
    scenario = loader.parse(SHORT_RUN, "labels.toml")
    assert scenario.workload.options == (("hot_key_share", 1.0),)
    outcome = api.run(scenario, tmp_path / "run")
    assert outcome.folder is not None
    verdict = json.loads((outcome.folder / "verdict.json").read_text("utf-8"))
    # The state checker's, its own checkers, then the effects and the elections, judged whatever the workload.
    assert list(verdict["checkers"]) == ["invariants", "linearizability", "raft-safety", "effects", "disruption"]
    assert verdict["checkers"]["linearizability"]["model"] == "labels"
    assert verdict["valid"] is True
    events = read_history_jsonl(outcome.folder / "history.jsonl", functions=("fetch", "store"))
    # hot_key_share = 1.0: only each client's final fetch of every key leaves k0.
    elsewhere = [event for event in events if event.type == "invoke" and event.key != "k0"]
    assert {event.f for event in elsewhere} == {"fetch"}
    assert sorted(event.key for event in elsewhere) == ["k1", "k1", "k2", "k2"]
    assert {event.f for event in events if event.type == "ok"} == {"fetch", "store"}
    written = (outcome.folder / "scenario.toml").read_text("utf-8")
    assert "hot_key_share = 1.0" in written
    assert loader.parse(written, "scenario.toml") == scenario
    # The report draws the new operations by their own names.
    page = report.write_reports(RunFolder(outcome.folder), "none", png=False).timeline
    assert {bar.label.split("(")[0] for bar in page.ops} >= {"fetch", "store"}


@pytest.mark.usefixtures("extra_workload")
def test_a_setting_left_out_takes_its_default_and_is_written() -> None:
    scenario = loader.parse(SHORT_RUN.replace("hot_key_share = 1.0\n", ""), "x.toml")
    assert scenario.workload.options == (("hot_key_share", 0.5),)
    assert "hot_key_share = 0.5" in loader.to_toml(scenario)


@pytest.mark.usefixtures("extra_workload")
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("hot_key_share = 1.5", "workload.hot_key_share: 1.5 is out of range [0.0, 1.0]"),
        ("hot_key_share = -1", "workload.hot_key_share: -1 is out of range [0.0, 1.0]"),
        ('hot_key_share = "most"', "workload.hot_key_share: must be a number, not 'most'"),
        (
            "hot_share = 0.5",
            "workload.hot_share: unknown key; known: kind, clients, keys, rate, read, write, cas, "
            "timeout_ms, attempt_timeout_ms, hot_key_share",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_file_line_and_field(line: str, message: str) -> None:
    with pytest.raises(InputError) as error:
        loader.parse(SHORT_RUN.replace("hot_key_share = 1.0", line), "x.toml")
    assert str(error.value) == f"x.toml:11: {message}"


@pytest.mark.usefixtures("extra_workload")
def test_a_setting_belongs_to_its_kind_only() -> None:
    with pytest.raises(InputError) as error:
        loader.parse('name = "x"\n[workload]\nkind = "register"\nhot_key_share = 0.5\n', "x.toml")
    assert str(error.value).startswith("x.toml:4: workload.hot_key_share: unknown key; known: kind, clients,")
    assert "hot_key_share" not in str(error.value).split("known:")[1]


def test_register_scenario_file_has_no_settings_of_other_kinds() -> None:
    scenario = loader.load("mixed")
    assert scenario.workload.options == (("serializable", 0.0),), "its own setting, at its default"
    assert loader.to_toml(scenario).count("\n[workload]\n") == 1
    assert "options" not in loader.to_toml(scenario)


NO_COMPLETION = object()


@pytest.mark.usefixtures("extra_workload")
@pytest.mark.parametrize(
    ("f", "invoked", "returned", "message"),
    [
        ("store", 3, NO_COMPLETION, "h.jsonl:1: value: a store carries a string label, got 3"),
        ("store", {"a": 1}, NO_COMPLETION, "h.jsonl:1: value: a JSON object is not an operation's value here"),
        ("store", ["a", [{"b": 2}]], NO_COMPLETION, "h.jsonl:1: value: a JSON object is not an operation's value"),
        ("fetch", None, [1], "h.jsonl:2: value: a fetch returns a string label or null, got (1,)"),
        ("grab", None, NO_COMPLETION, "h.jsonl:1: f: must be one of fetch, store, got 'grab'"),
    ],
)
def test_a_bad_value_of_a_new_f_is_one_line_naming_the_history_line(
    tmp_path: Path, f: str, invoked: object, returned: object, message: str
) -> None:
    history = tmp_path / "h.jsonl"
    records = [{"index": 0, "time": 0, "process": 0, "type": "invoke", "f": f, "key": "k0", "value": invoked}]
    if returned is not NO_COMPLETION:
        records.append({"index": 1, "time": 1, "process": 0, "type": "ok", "f": f, "key": "k0", "value": returned})
    history.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    model = workloads.get("labels").build_model()
    with pytest.raises(InputError) as error:
        read_history_jsonl(history, functions=("fetch", "store"), model=model)
    assert str(error.value).startswith(f"{history}:{message.removeprefix('h.jsonl:')}")


@pytest.mark.usefixtures("extra_workload")
def test_a_new_f_reads_any_value_and_its_model_judges_it(tmp_path: Path) -> None:
    """Without a model the reader takes the value as it is (arrays as tuples); the model
    refuses what it cannot judge; a well-formed line passes both."""
    history = tmp_path / "h.jsonl"
    line = {"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "store", "key": "k0", "value": [1, [2]]}
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert read_history_jsonl(history, functions=("fetch", "store"))[0].value == (1, (2,))
    model = workloads.get("labels").build_model()
    with pytest.raises(InputError, match="a store carries a string label"):
        read_history_jsonl(history, functions=("fetch", "store"), model=model)
    history.write_text(json.dumps({**line, "value": "s0-1"}) + "\n", encoding="utf-8")
    assert read_history_jsonl(history, functions=("fetch", "store"), model=model)[0].value == "s0-1"


@pytest.mark.usefixtures("extra_workload")
def test_scenarios_lists_each_kinds_own_settings() -> None:
    from click.testing import CliRunner

    from raftsim.cli import cli

    result = CliRunner().invoke(cli, ["scenarios"])
    assert result.exit_code == 0
    lines = [line for line in result.output.splitlines() if line.startswith("[workload]")]
    expected = [
        f"[workload] kind = '{kind}': {option.name} ({option.low} to {option.high}, default {option.default}): "
        + option.help
        for kind, workload in workloads.discover().items()
        for option in workload.options
    ]
    assert "[workload] kind = 'labels': hot_key_share (0.0 to 1.0, default 0.5): share of operations on key k0" in lines
    assert lines == expected


def test_shared_settings_are_the_fields_of_the_workload_table() -> None:
    """An option may not take a shared field's name; the list it is checked against is
    the table's fields."""
    assert tuple(field.name for field in dataclasses.fields(WorkloadSpec)) == workloads.SHARED_SETTINGS
    with pytest.raises(AssertionError, match="option keys is a shared setting"):
        dataclasses.replace(register.WORKLOAD, options=(workloads.Option("keys", int, 1, "keys again", low=1, high=9),))
