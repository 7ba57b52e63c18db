"""The etcd model against a reference store on random histories: what the reference
answered, in any interleaving its calls' intervals allow and with calls of unknown
outcome, is linearizable; one response changed is not."""

from __future__ import annotations

import copy
import random
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from etcd_histories import Recorder, ReferenceStore
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.budget import Budget
from checkers.formats import read_operations
from checkers.history import Operation
from checkers.linearizability import check_history_file, check_operations
from checkers.models import OrderFacts, get_model
from checkers.models.etcd import EtcdModel
from checkers.verdict import Verdict

KEYS = ("a", "b", "c", "d")


def random_request(
    chooser: random.Random, store: ReferenceStore, values: int = 4, orders_values: bool = True
) -> tuple[str, dict[str, Any]]:
    kind = chooser.choice(["range", "range", "put", "put", "delete", "txn", "txn", "compact"])
    key = chooser.choice(KEYS)
    if kind == "range":
        request: dict[str, Any] = {"key": key}
        shape = chooser.random()
        if shape < 0.4:
            request["range_end"] = chooser.choice(["c", "\u0000", "e"])
            if chooser.random() < 0.5:
                request["limit"] = chooser.randint(1, 3)
            if chooser.random() < 0.3:
                request["sort_order"] = "DESCEND"
            if chooser.random() < 0.2:
                request["count_only"] = True
        elif shape < 0.55:
            request["revision"] = chooser.randint(1, store.revision + 1)
        if chooser.random() < 0.15:
            request["keys_only"] = True
        return kind, request
    if kind == "put":
        return kind, {"key": key, "value": str(chooser.randrange(values)), "prev_kv": chooser.random() < 0.3}
    if kind == "delete":
        request = {"key": key, "prev_kv": chooser.random() < 0.5}
        if chooser.random() < 0.3:
            request["range_end"] = "c"
        return kind, request
    if kind == "compact":
        return kind, {"revision": chooser.randint(0, store.revision + 1)}  # 0: taken once on a fresh store
    return kind, _random_txn(chooser, store, values, orders_values)


def _random_txn(chooser: random.Random, store: ReferenceStore, values: int, orders_values: bool) -> dict[str, Any]:
    target = chooser.choice(["VERSION", "CREATE", "MOD", "VALUE"])
    field_name = {"VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision", "VALUE": "value"}[target]
    operand: Any = str(chooser.randrange(values)) if target == "VALUE" else chooser.randint(0, store.revision)
    results = (
        ["EQUAL", "NOT_EQUAL"] if target == "VALUE" and not orders_values else ["EQUAL", "NOT_EQUAL", "LESS", "GREATER"]
    )
    compare = {
        "key": chooser.choice(KEYS),
        "target": target,
        "result": chooser.choice(results),
        field_name: operand,
    }
    branches: dict[str, Any] = {"compare": [compare]}
    for name in ("success", "failure"):
        operations = []
        for key in chooser.sample(KEYS, chooser.randint(0, 2)):  # distinct keys, as etcd demands
            kind = chooser.choice(["request_put", "request_range", "request_delete_range"])
            body: dict[str, Any] = {"key": key}
            if kind == "request_put":
                body["value"] = str(chooser.randrange(values))
            operations.append({kind: body})
        branches[name] = operations
    return branches


def concurrent_history(
    seed: int, operations: int, clients: int, pending: float, values: int = 4, orders_values: bool = True
) -> Recorder:
    """Clients call the reference store; each call takes effect at one point between its
    invoke and its completion, in the order the store sees them. A call of unknown outcome
    (`pending`) ends in info, or never, having taken effect or not. Puts write one of
    `values` values; without `orders_values`, compares of values ask only for (in)equality."""
    chooser = random.Random(seed)
    store = ReferenceStore()
    history = Recorder()
    open_calls: dict[int, dict[str, Any]] = {}
    next_process = clients
    processes = list(range(clients))
    made = 0
    while made < operations or open_calls:
        slot = chooser.randrange(clients)
        process = processes[slot]
        call = open_calls.get(process)
        if call is None:
            if made >= operations:
                continue
            f, request = random_request(chooser, store, values, orders_values)
            history.invoke(process, f, request)
            open_calls[process] = {"f": f, "request": request, "answer": None}
            made += 1
        elif call["answer"] is None and chooser.random() < 0.6:
            call["answer"] = store.answer(call["f"], call["request"])
        elif call["answer"] is not None or chooser.random() < pending:
            del open_calls[process]
            if call["answer"] is None or chooser.random() < pending:
                history.info(process, call["f"])
                processes[slot] = next_process
                next_process += 1
                continue
            response, error = call["answer"]
            if error is None:
                history.ok(process, call["f"], response)
            else:
                history.fail(process, call["f"], error)
    return history


def _check(tmp_path: Path, history: Recorder, name: str) -> Verdict:
    return check_history_file(history.write(tmp_path / name), "etcd", budget_s=60).verdict


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 2**32), st.integers(1, 40))
def test_sequential_histories_of_the_reference_are_valid(tmp_path_factory: Any, seed: int, length: int) -> None:
    history = concurrent_history(seed, length, clients=1, pending=0.0)
    assert _check(tmp_path_factory.mktemp("etcd"), history, "sequential.jsonl") is Verdict.VALID


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 2**32), st.integers(1, 50), st.integers(2, 5), st.sampled_from([0.0, 0.1, 0.3]))
def test_concurrent_histories_with_pending_calls_are_valid(
    tmp_path_factory: Any, seed: int, length: int, clients: int, pending: float
) -> None:
    history = concurrent_history(seed, length, clients, pending)
    assert _check(tmp_path_factory.mktemp("etcd"), history, "concurrent.jsonl") is Verdict.VALID


def _judged_places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of the integers, booleans and strings of a response that the model judges."""
    places: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for name, item in value.items():
            places.extend(_judged_places(item, (*path, name)))
    elif isinstance(value, list):
        for number, item in enumerate(value):
            places.extend(_judged_places(item, (*path, number)))
    elif path and path[-1] != "key":
        places.append(path)
    return places


def _mutated(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return value + "x"


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(0, 2**32), st.integers(2, 30), st.data())
def test_one_changed_response_makes_a_sequential_history_invalid(
    tmp_path_factory: Any, seed: int, length: int, data: st.DataObject
) -> None:
    history = concurrent_history(seed, length, clients=1, pending=0.0)
    candidates = []
    last_invoke: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(history.lines):
        if line["type"] == "invoke":
            last_invoke[line["process"]] = line
            continue
        request = last_invoke[line["process"]]["value"]
        if line["type"] == "ok" and not (line["f"] == "range" and request.get("revision")):
            candidates.extend((number, place) for place in _judged_places(line["value"]))
    if not candidates:
        return
    number, place = data.draw(st.sampled_from(candidates))
    changed = copy.deepcopy(history)
    target = changed.lines[number]["value"]
    for step in place[:-1]:
        target = target[step]
    target[place[-1]] = _mutated(target[place[-1]])
    assert _check(tmp_path_factory.mktemp("etcd"), changed, "changed.jsonl") is Verdict.INVALID


class _WithoutPendingFacts(EtcdModel):
    """The model without what it reads before the search about pending writes: every
    pending write may take any revision, leave anything."""

    def order_constraints(self, ops: Sequence[Operation], budget: Budget) -> OrderFacts | None:
        return None


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 2**32), st.integers(2, 24), st.integers(2, 4), st.data())
def test_the_pending_writes_facts_never_change_a_verdict(
    tmp_path_factory: Any, seed: int, length: int, clients: int, data: st.DataObject
) -> None:
    history = concurrent_history(seed, length, clients, pending=0.3)
    completions = [number for number, line in enumerate(history.lines) if line["type"] == "ok"]
    if completions and data.draw(st.booleans()):
        number = data.draw(st.sampled_from(completions))
        history.lines[number]["value"]["header"]["revision"] += data.draw(st.sampled_from([-1, 1]))
    _assert_same_verdict(tmp_path_factory, history, _WithoutPendingFacts())


def _assert_same_verdict(tmp_path_factory: Any, history: Recorder, other: EtcdModel) -> None:
    """The model decides `history`, and `other` decides it alike."""
    path = history.write(tmp_path_factory.mktemp("etcd") / "history.jsonl")
    operations = read_operations(path, None, get_model("etcd"))
    verdict = check_operations(operations, get_model("etcd"), budget_s=30).verdict
    assert verdict is not Verdict.UNKNOWN
    assert check_operations(operations, other, budget_s=30).verdict is verdict


class _Plain(EtcdModel):
    """The model stepping every pending write with the values it writes, saying nothing
    of which pending writes may act or how many still can, and not holding stores to the
    generations later kvs show."""

    def order_constraints(self, ops: Sequence[Operation], budget: Budget) -> OrderFacts | None:
        facts = super().order_constraints(ops, budget)
        self.generations.clear()
        return facts

    def _stand_in(self, ops: Sequence[Operation], budget: Budget) -> None:
        return None

    def pending_acting(self, state: Hashable) -> frozenset[int] | None:
        return None

    def pending_room(self, state: Hashable) -> int | None:
        return None


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 2**32), st.integers(2, 24), st.integers(2, 4), st.booleans(), st.data())
def test_stand_ins_acting_room_and_generations_never_change_a_verdict(
    tmp_path_factory: Any, seed: int, length: int, clients: int, orders_values: bool, data: st.DataObject
) -> None:
    """Many values (so that some are never shown), equality compares mostly: the stand-ins
    are in use; with a header or a kv changed, the verdict is the one the plain values give."""
    history = concurrent_history(seed, length, clients, pending=0.4, values=40, orders_values=orders_values)
    completions = [number for number, line in enumerate(history.lines) if line["type"] == "ok"]
    if completions and data.draw(st.booleans()):
        number = data.draw(st.sampled_from(completions))
        response = history.lines[number]["value"]
        if response.get("kvs") and data.draw(st.booleans()):
            response["kvs"][0]["value"] = str(data.draw(st.integers(0, 40)))
        else:
            response["header"]["revision"] += data.draw(st.sampled_from([-1, 1]))
    _assert_same_verdict(tmp_path_factory, history, _Plain())
