"""How fast the `etcd` model checks a history of Kubernetes' shape.

    .venv/bin/python benchmarks/etcd_model_speed.py [--operations 10000] [--clients 8]
                                                    [--pods 200] [--info-percent 1]
                                                    [--repeat 3] [--seed 1]

Clients act on objects under `/registry/pods/<name>` as Kubernetes' API server does:
create is a txn `mod_revision(key) == 0` then put, else range; update is a range of the
key, then a txn `mod_revision(key) == <the one read>` then put, else range; delete is
guarded the same way with a delete; list is a range over the prefix with a limit, its
further pages at the first page's revision. Every call takes effect at one point between
its invoke and its completion (so the history is linearizable), calls of several clients
overlap, and `--info-percent` of them end in `info` (half of those took effect). The
responses are the model's own (`checkers.models.etcd.execute`): this measures speed, the
tests measure correctness. It prints the operations, the verdict and the median wall and
processor times of reading and of checking.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from checkers.etcd_requests import ErrorResult, parse_request, response_json
from checkers.formats import read_operations
from checkers.linearizability import check_operations
from checkers.models import get_model
from checkers.models.etcd import Store, execute

PREFIX = "/registry/pods/"
PREFIX_END = "/registry/pods0"
PAGE = 50


class _Client:
    """One client's script: the calls of its current action, made one after the other."""

    def __init__(self, process: int) -> None:
        self.process = process
        self.script: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None
        self.answer: dict[str, Any] | None = None
        self.applied = False


def _action(chooser: random.Random, pods: int) -> list[dict[str, Any]]:
    name = f"{PREFIX}pod-{chooser.randrange(pods):04d}"
    kind = chooser.choices(["create", "update", "delete", "list"], weights=[3, 5, 2, 2])[0]
    if kind == "list":
        return [{"f": "range", "list": True, "request": {"key": PREFIX, "range_end": PREFIX_END, "limit": PAGE}}]
    if kind == "create":
        return [{"f": "txn", "request": _guarded(name, 0, {"request_put": {"key": name, "value": _spec(chooser)}})}]
    guarded = "request_put" if kind == "update" else "request_delete_range"
    return [{"f": "range", "request": {"key": name}, "then": guarded}]


def _spec(chooser: random.Random) -> str:
    return json.dumps({"spec": {"nodeName": f"node-{chooser.randrange(20)}"}, "n": chooser.randrange(10**6)})


def _guarded(name: str, revision: int, operation: dict[str, Any]) -> dict[str, Any]:
    return {
        "compare": [{"key": name, "target": "MOD", "result": "EQUAL", "mod_revision": revision}],
        "success": [operation],
        "failure": [{"request_range": {"key": name}}],
    }


def _follow_up(call: dict[str, Any], response: dict[str, Any], chooser: random.Random) -> list[dict[str, Any]]:
    """The next call of an action after `call` returned `response`."""
    if call.get("list"):
        kvs = response.get("kvs", [])
        if not response.get("more") or not kvs:
            return []
        revision = (
            response["header"]["revision"] if not call["request"].get("revision") else call["request"]["revision"]
        )
        request = {"key": kvs[-1]["key"] + "\u0000", "range_end": PREFIX_END, "limit": PAGE, "revision": revision}
        return [{"f": "range", "list": True, "request": request}]
    if "then" in call:
        kvs = response.get("kvs", [])
        if not kvs:
            return []
        name = call["request"]["key"]
        body: dict[str, Any] = {"key": name}
        if call["then"] == "request_put":
            body["value"] = _spec(chooser)
        return [{"f": "txn", "request": _guarded(name, kvs[0]["mod_revision"], {call["then"]: body})}]
    return []


def _answer(call: dict[str, Any], store: Store, snapshots: dict[int, Store]) -> tuple[dict[str, Any], Store]:
    request = dict(call["request"])
    past = request.get("revision", 0)
    if past and past < store.revision:
        del request["revision"]
        _, expected = execute(snapshots[past], parse_request(call["f"], request))
        answer = response_json(expected)  # type: ignore[arg-type]
        assert answer is not None
        answer["header"] = {"revision": store.revision}
        return answer, store
    store, expected = execute(store, parse_request(call["f"], request))
    assert not isinstance(expected, ErrorResult), expected
    answer = response_json(expected)  # type: ignore[arg-type]
    assert answer is not None
    return answer, store


def kubernetes_lines(operations: int, clients: int, pods: int, info_percent: float, seed: int) -> Iterator[str]:
    """history.jsonl lines of `operations` calls (see the module docstring)."""
    chooser = random.Random(seed)
    store = Store.empty(1)  # as a fresh etcd and raftcore's store start, and the model by default
    snapshots = {1: store}  # a page at a past revision is answered from the store of then
    index = 0
    made = 0
    next_process = clients
    active = [_Client(process) for process in range(clients)]

    def line(client: _Client, kind: str, f: str, value: Any) -> str:
        nonlocal index
        record = {
            "index": index,
            "time": index,
            "process": client.process,
            "type": kind,
            "f": f,
            "key": "",
            "value": value,
        }
        index += 1
        return json.dumps(record, separators=(",", ":")) + "\n"

    while made < operations or any(client.open for client in active):
        slot = chooser.randrange(clients)
        client = active[slot]
        if client.open is None:
            if made >= operations:
                continue
            if not client.script:
                client.script = _action(chooser, pods)
            client.open, client.applied = client.script.pop(0), False
            made += 1
            yield line(client, "invoke", client.open["f"], client.open["request"])
        elif not client.applied and chooser.random() < 0.5:
            client.answer, store = _answer(client.open, store, snapshots)
            client.applied = True
            snapshots[store.revision] = store
        elif client.applied or chooser.random() < info_percent / 200:
            call, client.open = client.open, None
            if not client.applied or chooser.random() < info_percent / 200:
                yield line(client, "info", call["f"], None)
                active[slot] = _Client(next_process)
                next_process += 1
                continue
            assert client.answer is not None
            yield line(client, "ok", call["f"], client.answer)
            client.script = _follow_up(call, client.answer, chooser) + client.script


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--info-percent", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    model = get_model("etcd")
    with tempfile.TemporaryDirectory(prefix="etcd-model-speed-") as folder:
        path = Path(folder) / "history.jsonl"
        with open(path, "w", encoding="utf-8") as stream:
            stream.writelines(
                kubernetes_lines(
                    arguments.operations, arguments.clients, arguments.pods, arguments.info_percent, arguments.seed
                )
            )
        figures = []
        for _ in range(arguments.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            operations = read_operations(path, None, model)
            read = (time.perf_counter() - wall, time.process_time() - cpu)
            wall, cpu = time.perf_counter(), time.process_time()
            result = check_operations(operations, model, budget_s=600)
            figures.append((*read, time.perf_counter() - wall, time.process_time() - cpu))
        pending = sum(1 for operation in operations if operation.ret is None)
        size = path.stat().st_size
    read_s, read_cpu_s, check_s, check_cpu_s = (statistics.median(column) for column in zip(*figures, strict=True))
    print(
        f"etcd model, Kubernetes-shaped history: {len(operations)} operations ({pending} pending), "
        f"{size / 1e6:.1f} MB, {arguments.clients} clients, {arguments.pods} pods: verdict "
        f"{result.verdict.to_json()}, explored {sum(p.explored for p in result.partitions)} configurations"
    )
    print(
        f"median of {arguments.repeat}: read {read_s:.2f} s (processor {read_cpu_s:.2f} s), "
        f"check {check_s:.2f} s (processor {check_cpu_s:.2f} s)"
    )


if __name__ == "__main__":
    main()
