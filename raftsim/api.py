"""The public Python API: run a scenario, judge a run, replay it, check a history.

A run's folder is the contract between the parts; it is written into a staging folder and
moved into place only when complete, so an interrupted or failed run leaves nothing
half-written under the name the user asked for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.errors import InputError
from checkers.history import operations_from_events, read_history_jsonl
from checkers.linearizability import check_operations
from checkers.liveness import check_liveness
from checkers.models import get_model
from checkers.raft_safety import check_raft_safety
from checkers.revisions import check_revisions
from checkers.trace import read_trace_jsonl
from scenarios import loader
from scenarios.model import Scenario
from scenarios.resolve import resolve
from sim.trace import digest_of
from sim.world import RunResult, run_scenario

DEFAULT_BUDGET_S = 60.0
RUN_FILES = ("scenario.toml", "history.jsonl", "trace.jsonl", "verdict.json")


@dataclass(frozen=True, slots=True)
class RunOutcome:
    result: RunResult
    verdict: dict[str, Any]
    folder: Path | None


def combine(results: dict[str, dict[str, Any]]) -> bool | str:
    """The top-level verdict: false if any checker found an anomaly, else unknown if any
    ran out of budget, else true."""
    values = [result["valid"] for result in results.values()]
    if any(value is False for value in values):
        return False
    if any(value == "unknown" for value in values):
        return "unknown"
    return True


def judge(folder: Path, budget_s: float = DEFAULT_BUDGET_S) -> dict[str, Any]:
    """Run every checker on a run's files."""
    history = read_history_jsonl(folder / "history.jsonl")
    trace = read_trace_jsonl(folder / "trace.jsonl")
    linear = check_operations(operations_from_events(history), get_model("cas-register"), budget_s=budget_s)
    results = {
        "linearizability": linear.to_json(),
        "raft-safety": check_raft_safety(trace),
        "liveness": check_liveness(trace, history),
        "revisions": check_revisions(history),
    }
    return {
        "valid": combine(results),
        "digest": file_digest(folder / "trace.jsonl"),
        "checkers": results,
    }


def run(scenario: Scenario, out: Path | None, budget_s: float = DEFAULT_BUDGET_S,
        report: bool = False) -> RunOutcome:
    """Run a scenario, write its folder (when `out` is given) and judge it; with `report`,
    also write `report.html` and the PNGs into the folder."""
    resolved = resolve(scenario)
    result, messages = _run_capturing_messages(resolved) if report else (run_scenario(resolved), None)
    staging = _staging_folder(out)
    try:
        write_run(staging, result)
        verdict = judge(staging, budget_s)
        (staging / "verdict.json").write_text(json.dumps(verdict, indent=2) + "\n", encoding="utf-8")
        if report:
            from raftsim.report import write_reports

            write_reports(staging, "trace" if messages is None else "none", extra_messages=messages)
        if out is None:
            return RunOutcome(result, verdict, None)
        _move_into_place(staging, out)
        return RunOutcome(result, verdict, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _run_capturing_messages(resolved: Scenario) -> tuple[RunResult, list[dict[str, Any]] | None]:
    """Run with message tracing on and take the message lines out of the trace, so that the
    report gets its message diagram without a second run. Tracing messages consumes no
    randomness and moves no other event, so what remains is the trace (and the digest) of
    the scenario as written; the tests hold the simulator to that."""
    if resolved.trace_messages:
        return run_scenario(resolved), None
    from raftsim.report import split_messages

    traced = run_scenario(dataclasses.replace(resolved, trace_messages=True))
    rest, lines = split_messages(traced.trace_text)
    stats = dict(traced.stats, trace_events=traced.stats["trace_events"] - len(lines))
    result = dataclasses.replace(traced, scenario=resolved, trace_text=rest, digest=digest_of(rest), stats=stats)
    return result, [json.loads(line) for line in lines]


def write_run(folder: Path, result: RunResult) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.toml").write_text(loader.to_toml(result.scenario), encoding="utf-8")
    (folder / "history.jsonl").write_text(result.history_text, encoding="utf-8")
    (folder / "trace.jsonl").write_text(result.trace_text, encoding="utf-8")


def _staging_folder(out: Path | None) -> Path:
    if out is None:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="raftsim-"))
    if out.exists() and not _is_run_folder(out):
        raise InputError(str(out), None, "--out", "exists and is not a run folder; refusing to overwrite it")
    staging = out.parent / f".{out.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    return staging


def _is_run_folder(folder: Path) -> bool:
    return folder.is_dir() and all(p.name in RUN_FILES or p.suffix in (".html", ".png") for p in folder.iterdir())


def _move_into_place(staging: Path, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes, as `digest_of` gives for the text it was written from."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_run_scenario(folder: Path) -> Scenario:
    path = folder / "scenario.toml"
    if not path.is_file():
        raise InputError(str(folder), None, None, "not a run folder: scenario.toml is missing")
    return loader.load(str(path))


def replay(folder: Path) -> tuple[bool, str, str, RunResult]:
    """Re-run a folder's scenario; say whether the new trace's digest equals the recorded one."""
    scenario = load_run_scenario(folder)
    trace_path = folder / "trace.jsonl"
    if not trace_path.is_file():
        raise InputError(str(folder), None, None, "not a run folder: trace.jsonl is missing")
    recorded = file_digest(trace_path)
    result = run_scenario(scenario)
    return result.digest == recorded, recorded, result.digest, result
