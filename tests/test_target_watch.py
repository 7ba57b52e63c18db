"""Watchers and an informer on a real etcd 3.4 (`targets.etcd.watcher`): a short run with a
partition and a pause is judged by the watch checker and passes, with events delivered and
a stream given up on the paused member and resumed on another; and the watch file it wrote,
with one event response dropped or repeated, is flagged, so the pass is no checker that
cannot fail.

One run (8 s of faults, 3 s of quiet, three members) serves every test. `.ci/run` installs
etcd and sets RAFTSIM_REQUIRE_ETCD=1, so these tests cannot be skipped there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_etcd_differential import _etcd_binary

from checkers.watch import check_watch
from checkers.watch_file import read_watch_jsonl
from raftsim.run_folder import RunFolder
from targets.etcd.gateway import from_gateway
from targets.etcd.watcher import response_from_gateway

SCENARIO = """
name = "watch-real-short"
description = "Two watchers and an informer on a real cluster while a node is cut off and another paused."
seed = 3
duration_ms = 8000

[cluster]
nodes = 3

[workload]
kind = "etcd"
clients = 4
keys = 6
rate = 100
read = 0.2
write = 0.4
cas = 0.3
delete = 0.2
list = 0.1
compact = 0.02
watchers = 2
informers = 1

[phases]
quiet_ms = 3000

[[faults]]
kind = "partition"
shape = "isolate-node"
target = "random"
start_ms = 1000
duration_ms = 3000

[[faults]]
kind = "pause"
target = "random"
start_ms = 4500
duration_ms = 2500
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = _etcd_binary()
    root = tmp_path_factory.mktemp("watch")
    scenario = root / "watch.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    out = root / "run"
    command = ["run", str(scenario), "--target", "etcd", "--etcd", binary, "--out", str(out), "--no-report"]
    finished = subprocess.run(
        [sys.executable, "-m", "raftsim", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return out


def _lines(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "watch.jsonl").read_text(encoding="utf-8").splitlines()]


def test_watchers_on_a_real_cluster_are_judged_and_pass(run: Path) -> None:
    verdict = json.loads((run / "verdict.json").read_text(encoding="utf-8"))
    assert "watch" not in verdict.get("not_judged", {})
    watch = verdict["checkers"]["watch"]
    assert watch["valid"], watch["anomalies"]
    assert watch["stats"]["events"] > 0 and watch["stats"]["lists"] >= 1
    lines = _lines(run)
    assert {line["watcher"] for line in lines} == {0, 1, 2}
    assert any(line.get("progress") for line in lines), "progress notifications were asked for and come"
    times = [line["t"] for line in lines]
    assert times == sorted(times)
    # The paused member's watcher fell silent and watched again on another member, from
    # after what it had.
    lost = [line for line in lines if line["ev"] == "lost" and line["reason"] == "silence"]
    assert lost, "the pause silenced a stream"
    for gone in lost:
        again = next(
            line
            for line in lines
            if line["ev"] == "watch" and line["watcher"] == gone["watcher"] and line["t"] >= gone["t"]
        )
        assert again["member"] != gone["member"]
        assert again["create_request"]["start_revision"] > 1


def _judged(folder: Path, lines: list[dict[str, Any]]) -> dict[str, int]:
    path = folder / "changed-watch.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    loaded = RunFolder(folder)
    result = check_watch(read_watch_jsonl(path), loaded.history, loaded.trace)
    counts: dict[str, int] = result.stats["anomaly_counts"]
    return counts


def _event_response(lines: list[dict[str, Any]]) -> int:
    """A response with events of watcher 0 that later events of the same watch follow."""
    found = [
        index
        for index, line in enumerate(lines)
        if line["ev"] == "response" and line["watcher"] == 0 and line["result"].get("events")
    ]
    assert len(found) > 2
    return found[len(found) // 2]


def test_a_dropped_or_repeated_event_is_flagged(run: Path) -> None:
    lines = _lines(run)
    assert not any(_judged(run, lines).values())
    chosen = _event_response(lines)
    dropped = _judged(run, lines[:chosen] + lines[chosen + 1 :])
    assert dropped["reliable"] > 0, dropped
    repeated = _judged(run, lines[: chosen + 1] + lines[chosen:])
    assert repeated["unique"] > 0, repeated


def test_the_gateways_watch_results_read_as_the_simulator_writes_them() -> None:
    """No etcd needed: int64 as strings, base64 bytes, PUT left out, a progress notification."""
    put = {
        "header": {"revision": "7", "raft_term": "2"},
        "events": [
            {"kv": {"key": "L2UvYQ==", "create_revision": "5", "mod_revision": "7", "version": "2", "value": "eA=="}},
            {"type": "DELETE", "kv": {"key": "L2UvYg==", "mod_revision": "7"}},
        ],
    }
    taken = response_from_gateway(from_gateway(put), 1, 2)
    assert not taken.progress
    assert taken.to_json() == {
        "header": {"revision": 7},
        "watch_id": 0,
        "events": [
            {"type": "PUT", "kv": {"key": "/e/a", "value": "x", "create_revision": 5, "mod_revision": 7, "version": 2}},
            {
                "type": "DELETE",
                "kv": {"key": "/e/b", "value": "", "create_revision": 0, "mod_revision": 7, "version": 0},
            },
        ],
    }
    assert response_from_gateway(from_gateway({"header": {"revision": "9"}}), 1, 2).progress
    canceled = response_from_gateway(from_gateway({"header": {}, "canceled": True, "compact_revision": "3"}), 1, 2)
    assert canceled.canceled and canceled.compact_revision == 3 and not canceled.progress
