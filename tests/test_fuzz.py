"""Fuzzing: seed ranges and shards, resuming, keeping failures, catching nondeterminism."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests_support import shortened_file

from raftsim import fuzz
from scenarios import loader

RAFTSIM = [sys.executable, "-c", "from raftsim.cli import main; main()"]


def raftsim(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAFTSIM, *arguments], capture_output=True, text=True, check=False)


@given(st.integers(0, 1000), st.integers(1, 50), st.integers(1, 6))
def test_shards_split_the_range_exactly(start: int, count: int, total: int) -> None:
    shards = [fuzz.shard_seeds(start, count, (index, total)) for index in range(1, total + 1)]
    assert sorted(seed for shard in shards for seed in shard) == list(range(start, start + count))


def test_rechecked_seeds_are_a_stable_share() -> None:
    chosen = [seed for seed in range(10_000) if fuzz.rechecked(seed, 0.05)]
    assert 400 < len(chosen) < 600
    assert chosen == [seed for seed in range(10_000) if fuzz.rechecked(seed, 0.05)]
    assert not any(fuzz.rechecked(seed, 0.0) for seed in range(1000))


def test_failing_seeds_are_kept_and_a_rerun_resumes(tmp_path: Path) -> None:
    scenario = shortened_file(tmp_path, "leader-lease", duration_ms=9000)
    out = tmp_path / "fuzz"
    first = raftsim("fuzz", str(scenario), "--seeds", "2", "--start", "1", "--jobs", "1", "--out", str(out),
                    "--bug", "stale-local-read")
    assert first.returncode == 1, first.stdout + first.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == [1, 2]
    assert summary["anomalies_by_checker"] == {"linearizability": 2, "revisions": 2}
    assert sorted(p.name for p in (out / "seed-1").iterdir()) == [
        "history.jsonl", "latency.png", "report.html", "scenario.toml", "timeline.png", "trace.jsonl", "verdict.json"]
    report = (out / "seed-1" / "report.html").read_text()
    assert '"messagesTraced":true' in report and "Cannot be linearized after the prefix" in report
    lines = (out / "progress.jsonl").read_text().splitlines()
    assert len(lines) == 2
    # An interruption may leave a line cut short: that seed alone runs again.
    (out / "progress.jsonl").write_text(lines[0] + "\n" + lines[1][:10])
    again = raftsim("fuzz", str(scenario), "--seeds", "2", "--start", "1", "--jobs", "1", "--out", str(out),
                    "--bug", "stale-local-read")
    assert again.returncode == 1
    seeds = [json.loads(line)["seed"] for line in (out / "progress.jsonl").read_text().splitlines()]
    assert seeds == [1, 2], "seed 1 was finished and must not run again"
    replayed = raftsim("replay", str(out / "seed-1"))
    assert replayed.returncode == 0, replayed.stdout


def test_a_folder_of_another_fuzz_run_is_refused(tmp_path: Path) -> None:
    scenario = shortened_file(tmp_path, "pause", duration_ms=2000)
    out = tmp_path / "fuzz"
    assert raftsim("fuzz", str(scenario), "--seeds", "1", "--jobs", "1", "--out", str(out)).returncode == 0
    refused = raftsim("fuzz", str(scenario), "--seeds", "1", "--jobs", "1", "--out", str(out),
                      "--bug", "commit-old-term")
    assert refused.returncode == 2 and "another scenario" in refused.stderr


def test_differing_digests_are_reported_as_a_determinism_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = dataclasses.replace(loader.load("pause"), duration_ms=2000, faults=())

    class Different:
        digest = "not the same"

    monkeypatch.setattr(fuzz, "run_scenario", lambda _scenario: Different())
    plan = fuzz.FuzzPlan(scenario, (1,), tmp_path, jobs=1, recheck_share=1.0, budget_s=10)
    results = {result.seed: result for result in fuzz.execute(plan, {})}
    summary = fuzz.summarise(plan, results, 1.0, 1)
    assert summary["determinism_failures"] == [1] and summary["rechecked"] == 1


@pytest.mark.parametrize(("arguments", "fragment"), [
    (("--seeds", "0"), "--seeds"),
    (("--seeds", "1", "--shard", "x"), "--shard"),
    (("--seeds", "1", "--bug", "gremlins"), "gremlins"),
])
def test_bad_fuzz_arguments_exit_2(arguments: tuple[str, ...], fragment: str, tmp_path: Path) -> None:
    completed = raftsim("fuzz", "pause", "--out", str(tmp_path / "f"), *arguments)
    assert completed.returncode == 2 and fragment in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "f").exists()
