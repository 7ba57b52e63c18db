"""Fuzzing: many seeds of one scenario, in parallel, resumable, with determinism re-checks.

A fuzz folder holds `fuzz.json` (what is being fuzzed: the scenario file as resolved text,
the bugs and the seed range), `progress.jsonl` (one line per finished seed, appended as
seeds finish, so an interrupted run resumes where it stopped), `summary.json`, and a run
folder `seed-N/` for every seed that did not pass. A share of seeds, chosen from the seed
alone, runs twice; differing digests are a determinism failure of the harness itself, as
FoundationDB's simulator checks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.errors import InputError
from raftsim import api
from scenarios import loader
from scenarios.model import Scenario
from scenarios.resolve import resolve
from sim.world import run_scenario


@dataclass(frozen=True, slots=True)
class FuzzPlan:
    scenario: Scenario
    seeds: tuple[int, ...]
    out: Path
    jobs: int
    recheck_share: float
    budget_s: float
    reports: bool = True


@dataclass(frozen=True, slots=True)
class SeedResult:
    seed: int
    valid: bool | str
    flagged: tuple[str, ...]
    digest: str
    recheck_digest: str | None
    seconds: float

    @property
    def determinism_failure(self) -> bool:
        return self.recheck_digest is not None and self.recheck_digest != self.digest


def shard_seeds(start: int, count: int, shard: tuple[int, int] | None) -> tuple[int, ...]:
    """Seeds start..start+count-1; with shard (i, n), every n-th of them from the i-th."""
    seeds = range(start, start + count)
    if shard is None:
        return tuple(seeds)
    index, total = shard
    assert 1 <= index <= total
    return tuple(seed for position, seed in enumerate(seeds) if position % total == index - 1)


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index_text, total_text = text.split("/")
        index, total = int(index_text), int(total_text)
    except ValueError:
        raise InputError("--shard", None, None, f"{text!r} is not of the form i/n") from None
    if not 1 <= index <= total:
        raise InputError("--shard", None, None, f"{text!r}: i must be between 1 and n")
    return index, total


def rechecked(seed: int, share: float) -> bool:
    """Whether this seed runs twice; decided by the seed alone, so resuming agrees."""
    draw = int.from_bytes(hashlib.sha256(f"recheck:{seed}".encode()).digest()[:4], "big")
    return draw < share * 2**32


def run_seed(task: tuple[Scenario, Path, float, bool, bool]) -> SeedResult:
    """One seed, in a worker process: run, judge, keep the folder only if it failed, with
    its reports (a failing seed is rare, so the replay that recovers its messages is
    cheap beside the seeds that pass)."""
    scenario, out, budget_s, recheck, reports = task
    began = time.perf_counter()
    outcome = api.run(scenario, None, budget_s)
    verdict = outcome.verdict
    flagged = tuple(sorted(name for name, result in verdict["checkers"].items() if result["valid"] is not True))
    if verdict["valid"] is not True:
        _keep_folder(out / f"seed-{scenario.seed}", outcome, reports)
    again = run_scenario(resolve(scenario)).digest if recheck else None
    return SeedResult(scenario.seed, verdict["valid"], flagged, outcome.result.digest, again,
                      time.perf_counter() - began)


def _keep_folder(folder: Path, outcome: api.RunOutcome, reports: bool) -> None:
    staging = folder.parent / f".{folder.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    api.write_run(staging, outcome.result)
    (staging / "verdict.json").write_text(json.dumps(outcome.verdict, indent=2) + "\n", encoding="utf-8")
    if reports:
        from raftsim.report import write_reports

        write_reports(staging, "replay")
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)


def identity(plan: FuzzPlan) -> dict[str, Any]:
    """What makes two fuzz commands the same run (and so resumable into one folder)."""
    return {
        "scenario": loader.to_toml(dataclasses.replace(plan.scenario, seed=0)),
        "seeds": [plan.seeds[0], plan.seeds[-1], len(plan.seeds)] if plan.seeds else [],
        "recheck_share": plan.recheck_share,
    }


def prepare(plan: FuzzPlan) -> dict[int, SeedResult]:
    """Create or reopen the fuzz folder; return the seeds already finished there."""
    plan.out.mkdir(parents=True, exist_ok=True)
    marker = plan.out / "fuzz.json"
    wanted = identity(plan)
    if marker.exists():
        if json.loads(marker.read_text(encoding="utf-8")) != wanted:
            raise InputError(str(plan.out), None, "--out",
                             "holds a fuzz run of another scenario, bug set or seed range; choose another folder")
    else:
        marker.write_text(json.dumps(wanted, indent=2) + "\n", encoding="utf-8")
    finished: dict[int, SeedResult] = {}
    progress = plan.out / "progress.jsonl"
    if progress.exists():
        kept = []
        for line in progress.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                result = SeedResult(record["seed"], record["valid"], tuple(record["flagged"]), record["digest"],
                                    record["recheck_digest"], record["seconds"])
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by an interruption: that seed runs again
            finished[result.seed] = result
            kept.append(line + "\n")
        progress.write_text("".join(kept), encoding="utf-8")
    return finished


def execute(plan: FuzzPlan, finished: dict[int, SeedResult]) -> Iterator[SeedResult]:
    """Run the seeds not yet finished, yielding each result as it comes (in any order)."""
    tasks = [
        (dataclasses.replace(plan.scenario, seed=seed), plan.out, plan.budget_s, rechecked(seed, plan.recheck_share),
         plan.reports)
        for seed in plan.seeds if seed not in finished
    ]
    if plan.jobs <= 1:
        for task in tasks:
            yield run_seed(task)
        return
    with multiprocessing.get_context("spawn").Pool(plan.jobs) as pool:
        yield from pool.imap_unordered(run_seed, tasks)


def record(plan: FuzzPlan, result: SeedResult) -> None:
    with (plan.out / "progress.jsonl").open("a", encoding="utf-8") as stream:
        stream.write(json.dumps(dataclasses.asdict(result)) + "\n")


def summarise(plan: FuzzPlan, results: dict[int, SeedResult], wall_s: float, ran: int) -> dict[str, Any]:
    anomalies: Counter[str] = Counter()
    for result in results.values():
        if result.valid is False:
            anomalies.update(result.flagged)
    failed = sorted(seed for seed, result in results.items() if result.valid is False)
    unknown = sorted(seed for seed, result in results.items() if result.valid == "unknown")
    determinism = sorted(seed for seed, result in results.items() if result.determinism_failure)
    summary = {
        "scenario": plan.scenario.name,
        "bugs": list(plan.scenario.bugs),
        "seeds": len(plan.seeds),
        "finished": len(results),
        "failed": failed,
        "anomalies_by_checker": dict(sorted(anomalies.items())),
        "unknown": unknown,
        "rechecked": sum(1 for r in results.values() if r.recheck_digest is not None),
        "determinism_failures": determinism,
        "seeds_per_minute": round(60 * ran / wall_s, 1) if wall_s > 0 and ran else None,
        "jobs": plan.jobs,
    }
    (plan.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
