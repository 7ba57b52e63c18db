"""Watchers and informers in the simulated world: their stream survives a member's crash
by resuming elsewhere after the last revision, an informer lists again when compacted, the
runs are deterministic, and a run without them writes no watch.jsonl."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests_support import shortened_file

from checkers.verdict import Verdict
from raftsim import api
from scenarios import loader

CRASHED_MEMBER = """
name = "watch-crash"
duration_ms = 6000
[workload]
kind = "etcd"
clients = 3
keys = 4
rate = 100
watchers = 1
[[faults]]
kind = "crash"
target = [1]
start_ms = 2000
duration_ms = 2000
"""


def lines(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "watch.jsonl").read_text().splitlines()]


def test_a_watcher_resumes_on_the_next_member_after_the_last_revision(tmp_path: Path) -> None:
    path = tmp_path / "watch-crash.toml"
    path.write_text(CRASHED_MEMBER, encoding="utf-8")
    outcome = api.run(dataclasses.replace(loader.load(str(path)), seed=1), tmp_path / "run", report=True)
    assert outcome.verdict.checkers["watch"].verdict is Verdict.VALID
    assert "watcher 0" in (tmp_path / "run" / "watch.html").read_text(), "the report has the watcher's lane"
    records = lines(tmp_path / "run")
    lost = next(i for i, record in enumerate(records) if record["ev"] == "lost")
    assert records[lost]["member"] == 1 and records[lost]["reason"] == "silence"
    assert 2_000_000 < records[lost]["t"] < 4_000_000, "given up while its member was down"
    last_revision = max(
        [
            event["kv"]["mod_revision"]
            for record in records[:lost]
            for event in record.get("result", {}).get("events", [])
        ]
        + [record["result"]["header"]["revision"] for record in records[:lost] if record.get("progress")]
    )
    resumed = records[lost + 1]
    assert resumed["ev"] == "watch" and resumed["member"] == 2
    assert resumed["create_request"]["start_revision"] == last_revision + 1
    assert outcome.verdict.checkers["watch"].stats["events"] > 0


def test_an_informer_lists_again_when_its_watch_is_compacted(tmp_path: Path) -> None:
    scenario = dataclasses.replace(loader.load("informers"), seed=1)
    outcome = api.run(scenario, tmp_path / "run")
    assert outcome.verdict.verdict is Verdict.VALID, outcome.verdict.failing()
    records = lines(tmp_path / "run")
    compacted = [i for i, r in enumerate(records) if r["ev"] == "lost" and r["reason"] == "compacted"]
    assert compacted
    for index in compacted:
        watcher = records[index]["watcher"]
        following = next(r for r in records[index + 1 :] if r["watcher"] == watcher and r["ev"] in ("list", "watch"))
        assert following["ev"] == "list", "an informer whose watch was compacted lists again first"


def test_watch_runs_are_the_same_bytes_across_hash_seeds(tmp_path: Path) -> None:
    short = shortened_file(tmp_path, "informers", duration_ms=4000, quiet_ms=2000)
    for name, hash_seed in (("a", "1"), ("b", "777")):
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "raftsim",
                "run",
                str(short),
                "--seed",
                "3",
                "--out",
                str(tmp_path / name),
                "--no-report",
            ],
            env=dict(os.environ, PYTHONHASHSEED=hash_seed),
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode in (0, 1, 3), completed.stderr
    for name in ("trace.jsonl", "history.jsonl", "watch.jsonl"):
        first, second = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
        assert first and first == second, f"{name} differs between processes"


def test_a_run_without_watchers_writes_no_watch_file(tmp_path: Path) -> None:
    short = loader.load(str(shortened_file(tmp_path, "etcd-mix", duration_ms=2000, quiet_ms=1000)))
    outcome = api.run(dataclasses.replace(short, seed=2), tmp_path / "run")
    assert not (tmp_path / "run" / "watch.jsonl").exists()
    assert "watch" not in outcome.verdict.checkers


def test_a_malformed_watch_file_is_one_line_naming_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "watch-crash.toml"
    path.write_text(CRASHED_MEMBER.split("[[faults]]")[0].replace("6000", "1500"), encoding="utf-8")
    api.run(dataclasses.replace(loader.load(str(path)), seed=1), tmp_path / "run")
    watch_file = tmp_path / "run" / "watch.jsonl"
    records = watch_file.read_text().splitlines()
    records[1] = records[1].replace('"member":', '"member":-', 1)
    watch_file.write_text("\n".join(records) + "\n")
    completed = subprocess.run(
        [sys.executable, "-m", "raftsim", "report", str(tmp_path / "run"), "--no-png"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        f"raftsim: {watch_file}:2: member: must be an integer >= 0, got -1"
    ]
