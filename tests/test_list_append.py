"""The list-append workload: the store's append, the model's verdicts and the list-append
checker on histories built by hand (one good, one per anomaly), the workload's vocabulary,
and real runs of the built-in scenario, correct or with a store that slips."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.budget import Budget
from checkers.history import Event, Operation, event_line, operations_from_events
from checkers.linearizability import check_operations
from checkers.list_append import check_list_append
from checkers.models import OrderFacts, get_model
from checkers.models.list_append import ListAppendModel
from checkers.verdict import Verdict
from raftcore.kv import Command, KVStore
from raftcore.server import Response
from raftsim import api
from raftsim.cli import cli, main
from scenarios import loader
from scenarios.model import WorkloadSpec
from workloads import Completion, list_append

MODEL = get_model("list-append")


class History:
    """Events of a list-append history, each one time unit after the last."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, process: int, kind: str, f: str, value: Any = None, key: str = "k0") -> History:
        index = len(self.events)
        self.events.append(Event(index, index, process, kind, f, key, value, client=process))
        return self

    def append(self, process: int, value: int, outcome: str = "ok") -> History:
        self.add(process, "invoke", "append", value)
        return self.add(process, outcome, "append", value) if outcome else self

    def read(self, process: int, values: list[int]) -> History:
        return self.add(process, "invoke", "read-list").add(process, "ok", "read-list", values)

    def operations(self) -> list[Any]:
        return [dataclasses.replace(op, line=op.call + 1) for op in operations_from_events(self.events)]


def verdicts(history: History) -> tuple[Verdict, set[str]]:
    """The model's verdict and the checker's properties broken."""
    operations = history.operations()
    linear = check_operations(operations, MODEL).checker_result().verdict
    checked = check_list_append(operations)
    assert checked.verdict is Verdict.holds(not checked.found)
    return linear, {anomaly["property"] for anomaly in checked.found}


def good() -> History:
    """Two appends, one pending forever (it took effect: the last read shows it)."""
    history = History().append(0, 1).read(1, [1])
    history.add(2, "invoke", "append", 2).read(1, [1, 2])
    return history.append(0, 3).read(1, [1, 2, 3])


def test_a_good_history_passes_both() -> None:
    assert verdicts(good()) == (Verdict.VALID, set())


def test_a_double_append_is_seen() -> None:
    history = good().read(1, [1, 2, 3, 3])
    assert verdicts(history) == (Verdict.INVALID, {"duplicate-append"})
    anomaly = check_list_append(history.operations()).found[0]
    assert anomaly["message"] == "read-list(k0) -> [1 2 3 3] (line 12) shows 3 2 times"
    assert (anomaly["line"], anomaly["other_line"]) == (12, 8)


def test_a_lost_append_is_seen() -> None:
    history = History().append(0, 1).append(0, 2).read(1, [2])
    assert verdicts(history) == (Verdict.INVALID, {"lost-append"})
    history = History().append(0, 1).read(1, [1]).append(0, 2).read(1, [1])
    assert verdicts(history) == (Verdict.INVALID, {"lost-append"})


def test_reads_that_are_not_prefixes_of_each_other_are_seen() -> None:
    history = History().append(0, 1).append(2, 2).read(1, [1, 2]).read(3, [2, 1])
    assert verdicts(history) == (Verdict.INVALID, {"incompatible-reads"})


def test_a_read_going_back_in_real_time_is_seen() -> None:
    """Both reads are prefixes of the longest, but the later one is shorter."""
    history = History().append(0, 1, outcome="")
    history.read(1, [1]).read(2, [])
    assert verdicts(history) == (Verdict.INVALID, {"read-went-back"})


def test_a_value_nobody_appended_is_seen() -> None:
    assert verdicts(History().read(1, [7])) == (Verdict.INVALID, {"phantom-append"})


def test_concurrent_reads_may_show_either_order_of_concurrent_appends_once() -> None:
    """Appends 1 and 2 overlap; a read overlapping both may see [2] or [2, 1]."""
    history = History().add(0, "invoke", "append", 1).add(2, "invoke", "append", 2)
    history.read(1, [2]).add(0, "ok", "append", 1).add(2, "ok", "append", 2).read(1, [2, 1])
    assert verdicts(history) == (Verdict.VALID, set())


def test_the_store_appends_to_lists() -> None:
    store = KVStore()
    assert store.apply(1, Command("c0-1", "append", "k0", 5)).value == 5
    assert store.apply(2, Command("c0-2", "append", "k0", 6)).revision == 3
    assert store.apply(3, Command("c0-3", "get", "k0")).value == (5, 6)
    # A repeated request id is answered, not appended again.
    assert store.apply(4, Command("c0-2", "append", "k0", 6)).revision == 3
    assert store.apply(5, Command("c0-4", "put", "k1", 1)).value == 1
    store.apply(6, Command("c0-5", "append", "k1", 2))
    assert store.read_local("k0").value == (5, 6)
    assert store.read_local("k1").value == (1, 2)


def test_the_workload_speaks_append_and_read_list() -> None:
    settings = WorkloadSpec(clients=2, keys=2, read=0.5, write=0.5, cas=0.0)
    generator = list_append.WORKLOAD.generator(settings, 1, random.Random(3))
    operations = [generator.next_operation() for _ in range(200)]
    appended = [op.value for op in operations if op.f == "append"]
    assert len(set(appended)) == len(appended) > 50
    assert {op.f for op in operations} == {"append", "read-list"}
    read = list_append.read_list("k0")
    assert list_append.request(read, "c1-1", "c1").operation == "get"
    assert list_append.complete(read, Response("c1-1", "c1", 1, True, value=None)) == Completion("ok", [])
    assert list_append.complete(read, Response("c1-1", "c1", 1, True, value=(3, 4))) == Completion("ok", [3, 4])
    add = list_append.append("k1", 7)
    sent = list_append.request(add, "c1-2", "c1")
    assert (sent.operation, sent.key, sent.value) == ("append", "k1", 7)
    assert list_append.problems(settings) == []
    assert list_append.problems(WorkloadSpec(cas=0.2)) == [("cas", "list-append has no cas; set cas = 0")]


def short_scenario() -> Any:
    """The built-in scenario, shortened for a test."""
    scenario = loader.load("list-append")
    return dataclasses.replace(scenario, duration_ms=6000, phases=dataclasses.replace(scenario.phases, quiet_ms=3000))


def test_the_builtin_scenario_passes_and_check_reads_its_history(tmp_path: Path) -> None:
    outcome = api.run(short_scenario(), tmp_path / "run")
    assert outcome.verdict.verdict is Verdict.VALID
    checkers = outcome.verdict.checkers
    assert list(checkers)[:4] == ["invariants", "linearizability", "list-append", "raft-safety"]
    assert checkers["linearizability"].details["model"] == "list-append"
    assert outcome.folder is not None
    history = outcome.folder / "history.jsonl"
    result = CliRunner().invoke(cli, ["check", str(history), "--model", "list-append"])
    assert result.exit_code == 0, result.output


def test_a_client_moves_to_a_fresh_key_when_it_reads_a_full_list() -> None:
    settings = WorkloadSpec(clients=1, keys=1, read=0.5, write=0.5, cas=0.0, options=(("max_appends", 3),))
    generator = list_append.WORKLOAD.generator(settings, 0, random.Random(1))
    read = list_append.read_list("k0")
    generator.observe(read, Response("c0-1", "c0", 1, True, value=(1, 2)))
    assert {op.key for op in (generator.next_operation() for _ in range(20))} == {"k0"}
    generator.observe(read, Response("c0-2", "c0", 2, True, value=(1, 2, 3)))
    assert {op.key for op in (generator.next_operation() for _ in range(20))} == {"k0.1"}
    generator.observe(read, Response("c0-3", "c0", 3, True, value=(1, 2, 3, 4)))  # a read of the old key: no move
    assert {op.key for op in generator.final_operations()} == {"k0", "k0.1"}


def test_lists_stay_short_in_a_run_with_a_small_bound_and_every_key_is_judged(tmp_path: Path) -> None:
    scenario = short_scenario()
    workload = dataclasses.replace(scenario.workload, options=(("max_appends", 8),))
    outcome = api.run(dataclasses.replace(scenario, workload=workload), tmp_path / "run")
    assert outcome.verdict.verdict is Verdict.VALID
    assert outcome.folder is not None
    reads = [
        line
        for line in map(json.loads, (outcome.folder / "history.jsonl").read_text().splitlines())
        if line["type"] == "ok" and line["f"] == "read-list"
    ]
    keys = {line["key"] for line in reads}
    assert len(keys) > 2 * scenario.workload.keys, keys  # the clients moved on several times
    # A client moves when it reads a full list; the others follow at their next read.
    assert max(len(line["value"]) for line in reads) < 8 * scenario.workload.clients, reads


def test_a_retried_append_executed_twice_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slip of our own: the store forgets the results of appends, so a request proposed
    again (here: every append's resend, which the leader no longer answers from its table
    either) appends its value twice. A read shows it; the effects show who did it."""
    apply = KVStore.apply

    def forgetful(store: KVStore, index: int, command: Command | None) -> Any:
        result = apply(store, index, command)
        if command is not None and command.operation == "append":
            store._results.pop(command.request_id, None)
        return result

    monkeypatch.setattr(KVStore, "apply", forgetful)
    scenario = short_scenario()
    # Clients that wait 4 ms for a node resend while their append commits, and again after.
    impatient = dataclasses.replace(scenario.workload, attempt_timeout_ms=4)
    outcome = api.run(dataclasses.replace(scenario, workload=impatient), tmp_path / "run")
    checkers = outcome.verdict.checkers
    assert checkers["list-append"].verdict is Verdict.INVALID
    assert checkers["linearizability"].verdict is Verdict.INVALID
    assert checkers["effects"].verdict is Verdict.INVALID
    properties = {anomaly["property"] for anomaly in checkers["list-append"].found}
    assert "duplicate-append" in properties


def test_a_history_with_a_list_of_the_wrong_shape_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.jsonl"
    events = History().add(0, "invoke", "read-list").add(0, "ok", "read-list", ["a"]).events
    path.write_text("".join(event_line(event) for event in events), encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["check", str(path), "--model", "list-append"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"raftsim: {path}:2: value: a read-list returns a list of integers ([] when empty), got ('a',)\n"
    )


class WithoutFacts(ListAppendModel):
    """The model with no order facts and no state test: the plain search, as reference."""

    __slots__ = ()

    def order_constraints(self, ops: Sequence[Operation], budget: Budget) -> OrderFacts | None:
        return None

    def state_test(self, op: Operation) -> tuple[()] | tuple[Hashable] | None:
        return None


@st.composite
def small_histories(draw: st.DrawFn) -> History:
    """Three processes appending fresh values and reading lists that are, most often, a
    prefix of the appends invoked so far in invoke order, sometimes shuffled, doubled or
    cut; some appends never return."""
    history = History()
    invoked: list[int] = []
    open_calls: dict[int, str] = {}
    for _ in range(draw(st.integers(1, 14))):
        process = draw(st.integers(0, 2))
        if process not in open_calls:
            if draw(st.booleans()):
                invoked.append(len(invoked) + 1)
                history.add(process, "invoke", "append", invoked[-1])
                open_calls[process] = "append"
            else:
                history.add(process, "invoke", "read-list")
                open_calls[process] = "read-list"
            continue
        f = open_calls.pop(process)
        if f == "append":
            value = history.events[max(i for i, e in enumerate(history.events) if e.process == process)].value
            history.add(process, draw(st.sampled_from(["ok", "ok", "info"])), "append", value)
            if history.events[-1].type == "info":
                open_calls[process] = "done"  # a process never calls again after an info
            continue
        if f == "done":
            open_calls[process] = "done"
            continue
        values = invoked[: draw(st.integers(0, len(invoked)))]
        mutation = draw(st.sampled_from(["none", "none", "none", "shuffle", "double", "drop"]))
        if mutation == "shuffle":
            values = draw(st.permutations(values))
        elif mutation == "double" and values:
            values = [*values, values[-1]]
        elif mutation == "drop" and values:
            values = values[1:]
        history.add(process, "ok", "read-list", list(values))
    return history


@settings(max_examples=300, deadline=None)
@given(small_histories())
def test_order_facts_never_change_a_verdict(history: History) -> None:
    operations = history.operations()
    with_facts = check_operations(operations, MODEL).checker_result().verdict
    assert with_facts is check_operations(operations, WithoutFacts()).checker_result().verdict
    # Whatever the list-append checker refuses, linearizability refuses too.
    if check_list_append(operations).verdict is Verdict.INVALID:
        assert with_facts is Verdict.INVALID
