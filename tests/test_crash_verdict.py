"""A crash of the system under test is a finding: the run ends with a `crash` verdict, its
folder holds the traceback and replays, it shrinks like any failure, and a fuzz campaign
counts it as a failing seed and goes on. The crash is planted by patching the key-value
server in this process (or, for a worker pool, in each worker), so the core stays as it is.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests_support import shortened, shortened_file

from checkers.verdict import Verdict
from raftcore.server import KVServer
from raftsim import api, fuzz, run_folder, shrink
from raftsim.cli import main

CRASHING_NODE = 3
CRASHING_INDEX = 12
_unpatched_apply = KVServer.apply


def _apply_that_crashes(self: KVServer, entries: Any) -> Any:
    """Node 3 fails when it applies entry 12 or later: deterministic, as a real bug is."""
    if self.node_id == CRASHING_NODE and any(entry.index >= CRASHING_INDEX for entry in entries):
        raise KeyError("planted")
    return _unpatched_apply(self, entries)


def plant_crash() -> None:
    """Plants the crash in a worker process (given as a fuzz plan's `worker_setup`)."""
    KVServer.apply = _apply_that_crashes  # type: ignore[method-assign]


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(KVServer, "apply", _apply_that_crashes)
    yield


def _exit_code(arguments: list[str]) -> int:
    with pytest.raises(SystemExit) as stopped:
        main(arguments)
    return int(stopped.value.code or 0)


def test_a_crash_ends_the_run_with_a_crash_verdict_and_replays(
    tmp_path: Path,
    planted: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = shortened_file(tmp_path, "pause", duration_ms=2000, quiet_ms=2000)
    out = tmp_path / "run"
    assert _exit_code(["run", str(scenario), "--out", str(out), "--no-report"]) == 1
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["valid"] is False
    crash = verdict["checkers"]["crash"]
    assert crash["valid"] is False and "liveness" not in verdict["checkers"]
    anomaly = crash["anomalies"][0]
    assert anomaly["property"] == "crash" and anomaly["phase"] == "safety"
    assert anomaly["message"] == "KeyError: 'planted' in node 3", anomaly
    assert isinstance(anomaly["t"], int) and 0 < anomaly["t"] < 2_000_000
    text = (out / "crash.txt").read_text()
    assert f"t = {anomaly['t']} us" in text and "Traceback" in text and "raise KeyError" in text
    trace = (out / "trace.jsonl").read_text().splitlines()
    assert json.loads(trace[-1]) == {"t": anomaly["t"], "ev": "end"}
    assert (out / "history.jsonl").read_text(), "the history up to the crash is kept"
    assert verdict["digest"] == run_folder.file_digest(out / "trace.jsonl")
    # The crash is deterministic: a replay reaches it again, byte for byte.
    assert _exit_code(["replay", str(out)]) == 0
    # Without the planted bug the run goes on past the crash, so the digests differ.
    monkeypatch.setattr(KVServer, "apply", _unpatched_apply)
    assert _exit_code(["replay", str(out)]) == 1


def test_a_crashed_run_gets_its_reports_naming_the_final_folder(tmp_path: Path, planted: None) -> None:
    out = tmp_path / "crashed"
    outcome = api.run(shortened("pause", duration_ms=2000, quiet_ms=2000), out, report=True)
    assert outcome.verdict.checkers["crash"].verdict is Verdict.INVALID
    page = (out / "report.html").read_text()
    assert f"raftsim replay {out}" in page and ".partial" not in page
    assert (out / "timeline.png").stat().st_size > 0 and (out / "crash.txt").is_file()


def test_a_crash_shrinks_to_a_smaller_run_that_still_crashes(tmp_path: Path, planted: None) -> None:
    original = dataclasses.replace(shortened("pause", duration_ms=6000, quiet_ms=2000), seed=4)
    assert original.faults, "the shrink has a fault to drop"
    folder = tmp_path / "run"
    api.run(original, folder)
    result = shrink.shrink(folder, max_attempts=6)
    assert "crash" in result.checkers and result.checkers == shrink.failing_checkers(result.outcome.verdict)
    assert result.targets == frozenset({"crash"})
    assert result.after.key() < result.before.key()
    assert result.shrunk.name == "pause-shrunk"
    assert result.shrunk.description.startswith("shrunk from pause seed 4: ")


def _campaign(plan: fuzz.FuzzPlan) -> dict[str, Any]:
    results = fuzz.prepare(plan)
    for result in fuzz.execute(plan, results):
        fuzz.record(plan, result)
        results[result.seed] = result
    return fuzz.summarise(plan, results, 1.0, len(results))


def test_a_crash_in_a_pool_worker_is_a_failing_seed_not_a_dead_campaign(tmp_path: Path) -> None:
    scenario = shortened("pause", duration_ms=2000, quiet_ms=2000)
    plan = fuzz.FuzzPlan(
        scenario,
        range(1, 3),
        tmp_path / "fuzz",
        jobs=2,
        recheck_share=0.0,
        budget_s=10,
        reports=False,
        worker_setup=plant_crash,
    )
    summary = _campaign(plan)
    assert summary["failed"] == [1, 2] and summary["crashed"] == [1, 2]
    assert summary["anomalies_by_checker"]["crash"] == 2 and summary["errors"] == []
    for seed in (1, 2):
        folder = plan.out / f"seed-{seed}"
        assert "KeyError: 'planted'" in (folder / "crash.txt").read_text()
        assert json.loads((folder / "verdict.json").read_text())["checkers"]["crash"]["valid"] is False


def test_a_harness_error_fails_its_seed_and_the_campaign_goes_on(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = []
    unpatched = api.check_revisions

    def revisions_failing_once(history: Any, trace: Any = None, *more: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("checker bug")
        return unpatched(history, trace, *more)

    monkeypatch.setattr(api, "check_revisions", revisions_failing_once)
    scenario = shortened_file(tmp_path, "pause", duration_ms=2000, quiet_ms=2000)
    out = tmp_path / "fuzz"
    command = [
        "fuzz",
        str(scenario),
        "--seeds",
        "2",
        "--start",
        "1",
        "--jobs",
        "1",
        "--out",
        str(out),
        "--recheck",
        "0",
        "--no-report",
    ]
    assert _exit_code(command) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] == 2 and summary["failed"] == [1]
    assert summary["errors"] == [{"seed": 1, "cause": "RuntimeError: checker bug"}]
    assert "RuntimeError: checker bug" in (out / "seed-1" / "error.txt").read_text()
    assert not (out / "seed-2").exists()
    assert {path.name for path in (out / "seed-1").iterdir()} == {
        "error.txt",
        "scenario.toml",
        "history.jsonl",
        "trace.jsonl",
        "effects.jsonl",
    }
    assert _exit_code(["replay", str(out / "seed-1")]) == 0, "a harness failure's run replays"
    lines = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    assert [line.get("error") for line in lines] == ["RuntimeError: checker bug", None]
    capsys.readouterr()
    # Resuming keeps the recorded failure and runs nothing again.
    assert _exit_code(command) == 1 and len(calls) == 2
