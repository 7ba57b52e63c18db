"""The etcd and Kubernetes workloads: what their generators ask, driven against a real
server; that the `etcd` model and the revisions checker judge what they record; the
Kubernetes client's ways (guards from what it read, retries on conflict, pages at one
revision); and real runs of their built-in scenarios, correct or with a slip planted."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mvcc_support import ask, lone_leader
from tests_support import shortened

from checkers.verdict import Verdict
from raftcore.server import Response
from raftsim import api
from raftsim.cli import cli
from scenarios.model import WorkloadSpec
from workloads import Operation, Workload, kubernetes
from workloads import _etcd as etcd
from workloads import etcd as etcd_workload

WORKLOADS = {"etcd": etcd_workload.WORKLOAD, "kubernetes": kubernetes.WORKLOAD}


def _settings(kind: str, **weights: float) -> WorkloadSpec:
    options = tuple(sorted((option.name, option.default) for option in WORKLOADS[kind].options))
    return WorkloadSpec(kind=kind, keys=3, options=options, **weights)


def _drive(workload: Workload, settings: WorkloadSpec, operations: int, seed: int = 1) -> list[dict[str, Any]]:
    """Two clients take turns against one lone server: each operation is invoked, sent,
    answered and recorded, so the history is sequential and must be linearizable."""
    server = lone_leader()
    generators = [workload.generator(settings, slot, random.Random(seed * 10 + slot)) for slot in range(2)]
    lines: list[dict[str, Any]] = []
    for number in range(operations):
        slot = number % 2
        operation = generators[slot].next_operation()
        response = ask(server, workload.request(operation, f"c{slot}-{number}", f"c{slot}"))
        completion = workload.complete(operation, response)
        generators[slot].observe(operation, response)
        base = {"process": slot, "client": slot, "f": operation.f, "key": operation.key}
        lines.append({"index": len(lines), "time": 2 * number, **base, "type": "invoke", "value": operation.value})
        done = {**base, "type": completion.type, "value": completion.value}
        if completion.error is not None:
            done["error"] = completion.error
        lines.append({"index": len(lines), "time": 2 * number + 1, **done})
    return lines


def _check(tmp_path: Path, lines: list[dict[str, Any]], *flags: str) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(path), "--model", "etcd", "--json", *flags])
    return result.exit_code, json.loads(result.output) if result.output.startswith("{") else {"output": result.output}


@pytest.mark.parametrize("kind", ["etcd", "kubernetes"])
def test_what_a_generator_asks_a_server_answers_and_the_model_accepts(kind: str, tmp_path: Path) -> None:
    lines = _drive(WORKLOADS[kind], _settings(kind, read=0.3, write=0.3, cas=0.4), 400)
    kinds = {line["f"] for line in lines}
    assert {"range", "txn"} <= kinds, kinds
    refused = [line for line in lines if line["type"] == "fail"]
    assert len(refused) < len(lines) // 10, refused[:3]
    code, verdict = _check(tmp_path, lines)
    assert code == 0, verdict
    assert verdict["valid"] is True
    code, verdict = _check(tmp_path, lines, "--checker", "revisions")
    assert code == 0, verdict


def test_the_etcd_workload_asks_every_kind_of_request(tmp_path: Path) -> None:
    settings = _settings("etcd", read=0.3, write=0.3, cas=0.3)
    lines = _drive(etcd_workload.WORKLOAD, settings, 1500)
    invokes = [line for line in lines if line["type"] == "invoke"]
    assert {line["f"] for line in invokes} == set(etcd.FUNCTIONS)
    assert any(line["f"] == "range" and line["value"].get("revision") for line in invokes), "reads of the past"
    assert any(line["f"] == "range" and line["value"].get("limit") for line in invokes), "limited ranges"
    assert any(line["f"] == "txn" and "request_txn" in json.dumps(line["value"]) for line in invokes), "nested txns"
    # A changed answer is caught: the first range that shows a value reports another.
    shown = next(i for i, line in enumerate(lines) if line["type"] == "ok" and line["value"].get("kvs"))
    lines[shown]["value"]["kvs"][0]["value"] = "never-written"
    code, verdict = _check(tmp_path, lines)
    assert code == 1, verdict


def _kubernetes_steps(count: int, **weights: float) -> list[tuple[Operation, Response]]:
    server = lone_leader()
    generator = kubernetes.WORKLOAD.generator(_settings("kubernetes", **weights), 0, random.Random(3))
    steps = []
    for number in range(count):
        operation = generator.next_operation()
        response = ask(server, kubernetes.WORKLOAD.request(operation, f"c0-{number}", "c0"))
        generator.observe(operation, response)
        steps.append((operation, response))
    return steps


def _shown(answer: Response) -> list[dict[str, Any]]:
    """The objects an answer shows: a range's, or a txn's failure-branch range's."""
    value = answer.value
    if value.get("kvs"):
        return list(value["kvs"])
    return [kv for inner in value.get("responses", ()) for kv in inner.get("response_range", {}).get("kvs", ())]


def test_kubernetes_updates_are_guarded_by_what_the_client_read_and_retried_on_conflict() -> None:
    steps = _kubernetes_steps(300, read=0.1, write=0.4, cas=0.5)
    last_seen: dict[str, int] = {}
    guarded = retried = 0
    for operation, answer in steps:
        if operation.f == "txn":
            (compare,) = operation.value["compare"]
            assert compare["target"] == "MOD"
            assert compare["result"] == "EQUAL"
            if compare["mod_revision"]:
                # An update or delete (a create guards on 0): guarded by the revision this
                # client last saw the object at, in a read, a list or a conflict's answer.
                assert compare["mod_revision"] == last_seen[compare["key"]], (operation, last_seen)
                guarded += 1
            if not answer.value["succeeded"] and _shown(answer):
                retried += 1
        for kv in _shown(answer):
            last_seen[kv["key"]] = kv["mod_revision"]
    assert guarded > 20, guarded
    assert retried > 0, "one client alone still conflicts with its own earlier writes"


def test_kubernetes_lists_page_by_page_at_the_first_pages_revision() -> None:
    steps = _kubernetes_steps(400, read=0.5, write=0.4, cas=0.1)
    follow_ups = 0
    for (before, answer), (operation, _) in itertools.pairwise(steps):
        if operation.f != "range" or not operation.value.get("revision"):
            continue
        # A next page: it starts just after the last key of the page before, at the revision
        # of the list's first page (the one the page before carries, or read at).
        assert before.f == "range", before
        last = answer.value["kvs"][-1]["key"]
        assert operation.value["key"] == last + "\x00"
        assert answer.value["more"] is True
        assert operation.value["revision"] == (before.value.get("revision") or answer.value["header"]["revision"])
        follow_ups += 1
    assert follow_ups > 10, follow_ups


def test_a_kubernetes_step_without_an_answer_ends_its_action() -> None:
    generator = kubernetes.WORKLOAD.generator(
        _settings("kubernetes", read=0.0, write=0.0, cas=1.0), 0, random.Random(1)
    )
    first = generator.next_operation()
    assert first.f == "range"  # an update reads first
    # No answer came (the client recorded info): the next operation starts a new action,
    # a read again, not a guarded write built from nothing.
    assert generator.next_operation().f == "range"


@pytest.mark.parametrize("name", ["etcd-mix", "kubernetes"])
def test_the_built_in_scenarios_run_clean(name: str) -> None:
    outcome = api.run(shortened(name, duration_ms=6000, quiet_ms=3000), None, budget_s=60)
    assert outcome.verdict.verdict is Verdict.VALID, outcome.verdict.failing()


def test_an_etcd_request_shows_as_the_json_the_history_holds() -> None:
    """Timeline labels, explanations and terminal lines print a request as the history
    holds it, never as the reader's Python values."""
    from checkers.etcd_requests import parse_request
    from reports.model import show

    body = {
        "compare": [{"key": "/registry/pods/pod-0", "target": "MOD", "result": "EQUAL", "mod_revision": 7}],
        "success": [{"request_put": {"key": "/registry/pods/pod-0", "value": "pod-0@c1-3"}}],
        "failure": [{"request_range": {"key": "/registry/pods/pod-0"}}],
    }
    shown = show(parse_request("txn", body))
    assert json.loads(shown) == body
    assert "TxnRequest" not in shown
