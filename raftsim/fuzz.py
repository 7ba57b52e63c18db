"""Fuzzing: many seeds of one scenario, in parallel, resumable, with determinism re-checks.

A fuzz folder holds `fuzz.json` (what is being fuzzed: the scenario file as resolved text,
the bugs and the seed range), `progress.jsonl` (one line per finished seed, appended and
fsynced as seeds finish, so an interrupted run resumes where it stopped), `summary.json`,
and a run folder `seed-N/` for every seed that did not pass. A share of seeds, chosen from
the seed alone, runs twice, and so does the first seed of every campaign; differing digests
are a determinism failure of the harness itself, as FoundationDB's simulator checks.

A seed whose cluster raised an exception fails with a `crash` verdict like any other
anomaly. A seed whose harness failed (a checker or a report raised) is recorded as failed
with its cause (`error`) and an `error.txt` beside its run files, and the campaign goes on.

Seeds are a `range` from end to end: a campaign of 10^12 seeds costs no memory until its
seeds run, and at most a few tasks per worker are handed out ahead of time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import platform
import queue
import re
import shutil
import signal
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from checkers.errors import InputError
from checkers.events import EVENT_NAMES
from checkers.verdict import Verdict
from raftsim import adapt, api, coverage_sampling, run_folder, signals, store
from scenarios import loader, swarm
from scenarios.model import Scenario
from scenarios.resolve import resolve
from sim.world import RunResult, run_scenario

if TYPE_CHECKING:
    from targets.etcd.run import EtcdTarget

SEED_MAX = 2**63 - 1
"""The largest seed a scenario file (and so a replay) accepts."""
TASKS_AHEAD_PER_JOB = 2
IDENTITY_KEYS = ("scenario", "seeds", "recheck_share")
_SEED_FOLDER = re.compile(r"seed-\d+")
_LEFTOVER = re.compile(
    r"\.(fuzz\.json|progress\.jsonl|summary\.json|coverage\.jsonl)\.tmp|\.seed-\d+(-shrunk)?\.(partial|old)"
)

Seeds = range | tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FuzzPlan:
    scenario: Scenario
    seeds: Seeds
    out: Path
    jobs: int
    recheck_share: float
    budget_s: float
    reports: bool = True
    worker_setup: Callable[[], None] | None = None
    """Called once in each worker process before it runs seeds (a picklable module-level
    function); lets a test plant a failure in workers it cannot reach otherwise."""
    coverage_share: float = 0.0
    """Share of seeds whose simulation runs under coverage.py (`raftsim.coverage_sampling`)."""
    adapt_round_seeds: int = 0
    """With a swarm scenario, the seeds per round after which the swarm weights shift towards
    rare events (`raftsim.adapt`); 0 keeps the plain draw."""
    target: EtcdTarget | None = None
    """The real etcd cluster each seed attacks (`targets.etcd.run`); None: the simulator."""
    cluster: str | None = None
    """A Dask cluster to run the seeds on (`raftsim.cluster`: `local[:WORKERS]` or the
    scheduler's `tcp://HOST:PORT`); None: this machine's process pool."""
    store: Path | None = None
    """The campaign store (`raftsim.store`); None: `campaign.db` in the fuzz folder."""
    shrink_attempts: int = 0
    """Runs each new failure signature's first seed is shrunk with at the campaign's end;
    0 shrinks nothing (the signatures stay described without their shrunk faults)."""

    @property
    def store_path(self) -> Path:
        return self.store if self.store is not None else self.out / store.STORE_NAME


class SeedTask(NamedTuple):
    """One seed for a worker. `scenario` is the seed's scenario (for an adapting swarm
    campaign, already drawn with its round's weights)."""

    scenario: Scenario
    out: Path
    budget_s: float
    recheck: bool
    reports: bool
    coverage: bool = False
    round_number: int | None = None
    """The seed's round, in a campaign that adapts; None otherwise."""
    target: EtcdTarget | None = None
    """The real cluster to attack; None: the simulator."""


@dataclass(frozen=True, slots=True)
class SeedResult:
    seed: int
    verdict: Verdict
    flagged: tuple[str, ...]
    digest: str
    recheck_digest: str | None
    seconds: float
    error: str | None = None
    """Why the harness itself failed on this seed (then `verdict` is INVALID and `flagged` is
    `("error",)`); None when the seed was run and judged."""
    events: Mapping[str, int] = dataclasses.field(default_factory=dict)
    """The rare events the seed reached (`checkers.events`), those it reached only."""
    round_number: int | None = None
    features: Mapping[str, bool] | None = None
    """In a campaign that adapts: the seed's round and its drawn on/off choices."""
    arcs: coverage_sampling.Arcs | None = None
    """raftcore's arcs the seed executed, when it was measured; kept in `coverage.jsonl`."""
    anomaly_kinds: tuple[str, ...] = ()
    """`checker:property` of every anomaly found (`raftsim.store.anomaly_kinds`)."""
    worker: str = ""
    """Who ran the seed: a Dask worker's address, or this machine and its process id."""

    @property
    def determinism_failure(self) -> bool:
        return self.recheck_digest is not None and self.recheck_digest != self.digest


def shard_seeds(start: int, count: int, shard: tuple[int, int] | None) -> range:
    """Seeds start..start+count-1; with shard (i, n), every n-th of them from the i-th.
    Every seed must be one a scenario file can hold, or its folder could not be replayed."""
    if start < 0 or not 1 <= count <= SEED_MAX:
        raise InputError(
            "--seeds", None, None, f"expected between 1 and {SEED_MAX} seeds from a seed >= 0, got {count} from {start}"
        )
    if start + count - 1 > SEED_MAX:
        raise InputError(
            "--seeds",
            None,
            None,
            f"seeds {start}..{start + count - 1} go past {SEED_MAX}, the largest seed a scenario can replay",
        )
    if shard is None:
        return range(start, start + count)
    index, total = shard
    assert 1 <= index <= total
    return range(start + index - 1, start + count, total)


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index_text, total_text = text.split("/")
        index, total = int(index_text), int(total_text)
    except ValueError:
        raise InputError("--shard", None, None, f"{text!r} is not of the form i/n") from None
    if not 1 <= index <= total:
        raise InputError("--shard", None, None, f"{text!r}: i must be between 1 and n")
    return index, total


def seed_count(seeds: Seeds) -> int:
    return len(seeds)


def rechecked(seed: int, share: float) -> bool:
    """Whether this seed runs twice; decided by the seed alone, so resuming agrees."""
    draw = int.from_bytes(hashlib.sha256(f"recheck:{seed}".encode()).digest()[:4], "big")
    return draw < share * 2**32


def rechecked_in(plan: FuzzPlan, seed: int) -> bool:
    """Whether `seed` runs twice in this campaign: its share of seeds, and always the
    campaign's first seed, so that a campaign too small for the share still proves its
    determinism once. A share of 0 turns re-checks off."""
    if not plan.recheck_share > 0:
        return False
    return rechecked(seed, plan.recheck_share) or (len(plan.seeds) > 0 and seed == plan.seeds[0])


def covered_in(plan: FuzzPlan, seed: int) -> bool:
    """Whether `seed`'s simulation is measured: its share of seeds, and always the campaign's
    first seed, so that a campaign too small for the share is measured once. 0 turns it off."""
    if not plan.coverage_share > 0:
        return False
    return coverage_sampling.sampled(seed, plan.coverage_share) or (len(plan.seeds) > 0 and seed == plan.seeds[0])


def effective_jobs(plan: FuzzPlan, tasks: int | None = None) -> int:
    """Worker processes worth starting: never more than the seeds there are to run."""
    wanted = seed_count(plan.seeds) if tasks is None else tasks
    return max(1, min(plan.jobs, wanted))


# --- one seed, in a worker --------------------------------------------------------------


def run_seed(given: SeedTask | tuple[Any, ...]) -> SeedResult:
    """One seed, in a worker process. Whatever goes wrong in the harness is this seed's
    failure, recorded with its cause, never the campaign's end."""
    task = SeedTask(*given)
    scenario = task.scenario
    began = time.perf_counter()
    try:
        return _judged_seed(task, began)
    except Exception as error:  # a checker or report failing must not end the campaign
        cause = f"{type(error).__name__}: {error}"
        trace_back = "".join(traceback.format_exception(error))
        _keep_error(task.out / f"seed-{scenario.seed}", scenario, trace_back, task.target is None)
        return SeedResult(
            scenario.seed,
            Verdict.INVALID,
            ("error",),
            "",
            None,
            time.perf_counter() - began,
            cause,
            round_number=task.round_number,
            features=_features(task),
            anomaly_kinds=("error:" + type(error).__name__,),
            worker=local_worker(),
        )


def lost_seed(task: SeedTask, error: BaseException) -> SeedResult:
    """A seed no worker could run (on a Dask cluster, its workers kept dying): its harness
    error, recorded like any other, and the campaign goes on."""
    return SeedResult(
        task.scenario.seed,
        Verdict.INVALID,
        ("error",),
        "",
        None,
        0.0,
        f"{type(error).__name__}: {error}",
        round_number=task.round_number,
        features=_features(task),
        anomaly_kinds=("error:" + type(error).__name__,),
        worker="?",
    )


def local_worker() -> str:
    """This process as a campaign's worker: the machine's name and the process id."""
    return f"{platform.node() or 'localhost'}:{os.getpid()}"


def _features(task: SeedTask) -> dict[str, bool] | None:
    return None if task.round_number is None else adapt.features(task.scenario)


def _judged_seed(task: SeedTask, began: float) -> SeedResult:
    """Run, judge, keep the folder only if it failed, with its reports; the folder is written
    once, in its staging place beside `seed-N`. A measured seed's simulation alone runs under
    coverage.py."""
    scenario = task.scenario
    measured: list[coverage_sampling.Arcs] = []

    def simulate_measured(resolved: Scenario) -> RunResult:
        result, arcs = coverage_sampling.measured(lambda: run_scenario(resolved))
        measured.append(arcs)
        return result

    folder = task.out / f"seed-{scenario.seed}"
    simulate = simulate_measured if task.coverage else None
    if task.target is not None:
        outcome = api.run_on_etcd(scenario, task.target, folder, task.budget_s, task.reports, keep_passing=False)
    else:
        outcome = api.run_keeping_failures(scenario, folder, task.budget_s, task.reports, simulate)
    verdict = outcome.verdict
    flagged = tuple(sorted(name for name, result in verdict.checkers.items() if result.verdict is not Verdict.VALID))
    again = run_scenario(resolve(scenario)).digest if task.recheck and task.target is None else None
    return SeedResult(
        scenario.seed,
        verdict.verdict,
        flagged,
        outcome.result.digest,
        again,
        time.perf_counter() - began,
        events={name: count for name, count in outcome.events.items() if count},
        round_number=task.round_number,
        features=_features(task),
        arcs=measured[0] if measured else None,
        anomaly_kinds=store.anomaly_kinds(verdict.checkers),
        worker=local_worker(),
    )


def _keep_error(folder: Path, scenario: Scenario, trace_back: str, simulated: bool = True) -> None:
    """A folder for a seed the harness failed on: the traceback in `error.txt` and the run's
    files, simulated again (the run is deterministic, and a failure is rare), so that
    `raftsim replay` and `raftsim report` work on it; if the simulation is what failed, its
    `scenario.toml` alone (`raftsim run seed-N/scenario.toml` reproduces it). Best effort: if
    even this cannot be written, the progress line still carries the cause."""
    staging = run_folder.hidden_sibling(folder, "partial")
    try:
        run_folder.recover_folder(folder)
        staging.mkdir(parents=True)
        run_folder.write_durable(staging / "error.txt", trace_back)
        try:
            if not simulated:  # a real cluster's run is not made again here: its scenario is what reproduces it
                raise RuntimeError("a real cluster")
            run_folder.write_run(staging, run_scenario(resolve(scenario)))
        except Exception:  # the simulation itself failed: the scenario is what reproduces it
            run_folder.write_durable(staging / "scenario.toml", loader.to_toml(scenario))
        run_folder.swap_into_place(staging, folder)
    except Exception:  # the cause is recorded in progress.jsonl either way
        pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- the campaign -------------------------------------------------------------------------


def identity(plan: FuzzPlan) -> dict[str, Any]:
    """What makes two fuzz commands the same run (and so resumable into one folder)."""
    seeds = plan.seeds
    marker: dict[str, Any] = {
        "scenario": loader.to_toml(dataclasses.replace(plan.scenario, seed=0)),
        "seeds": [seeds[0], seeds[-1], seed_count(seeds)] if seed_count(seeds) else [],
        "recheck_share": plan.recheck_share,
    }
    restore = plan.scenario.restore
    if restore is not None:  # the scenario names its backup; what the file held is what ran
        marker["backup"] = "sha256:" + hashlib.sha256(restore.text.encode()).hexdigest()
    if plan.adapt_round_seeds:  # only then, so folders of campaigns that do not adapt still resume
        marker["adapt_round_seeds"] = plan.adapt_round_seeds
    if plan.target is not None:
        marker["target"] = {"etcd": plan.target.binary, "members": plan.target.members}
    return marker


def prepare(plan: FuzzPlan) -> dict[int, SeedResult]:
    """Create or reopen the fuzz folder; return the seeds already finished there."""
    if not 0.0 <= plan.recheck_share <= 1.0:  # NaN too: it equals nothing, so it could never resume
        raise InputError("--recheck", None, None, f"expected a share between 0 and 1, got {plan.recheck_share}")
    if not 0.0 < plan.budget_s < math.inf:
        raise InputError("--budget", None, None, f"expected a positive number of seconds, got {plan.budget_s}")
    if not 0.0 <= plan.coverage_share <= 1.0:
        raise InputError("--coverage", None, None, f"expected a share between 0 and 1, got {plan.coverage_share}")
    if plan.adapt_round_seeds < 0:
        raise InputError("--adapt", None, None, f"expected a number of seeds >= 0, got {plan.adapt_round_seeds}")
    if plan.adapt_round_seeds and not plan.scenario.swarm:
        raise InputError("--adapt", None, None, f"{plan.scenario.name} is not a swarm scenario: nothing to weigh")
    out = plan.out
    try:
        _refuse_foreign(out)
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a name too long, a parent that is a file, a place not writable
        raise InputError(str(out), None, "--out", f"cannot create a folder there: {error.strerror}") from None
    _clean_leftovers(out)
    _check_entries(out)
    _drop_cut_coverage_line(out / "coverage.jsonl")
    _check_marker(plan)
    finished = _read_progress(plan)
    with open_store(plan) as opened:
        _backfill(plan, opened, finished)
    return finished


def open_store(plan: FuzzPlan) -> store.CampaignStore:
    """The campaign's store, tied to this campaign (one of another is refused)."""
    path = plan.store_path
    if path.exists() and not path.is_file():
        raise InputError(str(path), None, "--store", "exists and is not a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(str(path), None, "--store", f"cannot create its folder: {error.strerror}") from None
    opened = store.CampaignStore(path)
    try:
        opened.bind(store_identity(plan), plan.out)
    except BaseException:
        opened.close()
        raise
    return opened


def store_identity(plan: FuzzPlan) -> dict[str, Any]:
    """What the store records of the campaign: `fuzz.json`'s identity, the scenario's name
    and its bugs (the shards of a campaign share all but the seeds)."""
    return {**identity(plan), "name": plan.scenario.name, "bugs": list(plan.scenario.bugs)}


def _backfill(plan: FuzzPlan, opened: store.CampaignStore, finished: Mapping[int, SeedResult]) -> None:
    """Seeds `progress.jsonl` has but the store lacks (a store given anew to a campaign
    begun before, or one killed between the two writes) are added from what the line holds."""
    missing = sorted(set(finished) - opened.recorded())
    for seed in missing:
        _store_result(plan, opened, finished[seed])


def _why_not_shrunk(plan: FuzzPlan) -> str:
    if plan.target is not None:
        return "a real cluster's run does not fail the same way twice"
    return "shrinking was off (--shrink-attempts 0)"


def _store_result(plan: FuzzPlan, opened: store.CampaignStore, result: SeedResult) -> None:
    """The seed's row, and the signature it opens if its failure is of a new kind."""
    failed = result.verdict is Verdict.INVALID
    key = opening = None
    if failed:
        checker, kind = store.lead_kind(result.flagged, result.anomaly_kinds)
        key = store.signature_key(checker, kind)
        if opened.signature(key) is None:
            status, note = (store.PENDING, None) if plan.shrink_attempts else (store.NOT_SHRUNK, _why_not_shrunk(plan))
            opening = store.Signature(key, checker, kind, result.seed, status, note=note)
    folder = plan.out / f"seed-{result.seed}"
    row = store.SeedRow(
        seed=result.seed,
        scenario=plan.scenario.name,
        digest=result.digest,
        verdict=result.verdict.name.lower(),
        failed_checkers=result.flagged,
        anomaly_kinds=result.anomaly_kinds,
        wall_s=result.seconds,
        worker=result.worker or "?",
        finished_at=time.time(),
        recheck_digest=result.recheck_digest,
        error=result.error,
        folder=str(folder.resolve()) if failed or result.verdict is Verdict.UNKNOWN else None,
        signature=key,
    )
    opened.record(row, opening)


def _refuse_foreign(out: Path) -> None:
    """A fuzz folder is ours only if it holds `fuzz.json`, or nothing but what a fuzz run
    writes; anything else (a file, a folder of other files) is refused, as `run` refuses."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise InputError(str(out), None, "--out", "exists and is not a folder; choose another folder")
    if not out.is_dir() or (out / "fuzz.json").exists():
        return
    names = [entry.name for entry in out.iterdir()]
    foreign = sorted(name for name in names if not _LEFTOVER.fullmatch(name))
    if foreign:
        raise InputError(
            str(out),
            None,
            "--out",
            f"exists and is not a fuzz folder (it holds {foreign[0]!r} and no fuzz.json); choose another folder",
        )


def _clean_leftovers(out: Path) -> None:
    """Finish what a killed run left half done: seed folders mid-swap, temporary files."""
    for entry in sorted(out.iterdir()):
        if not _LEFTOVER.fullmatch(entry.name):
            continue
        if entry.name.endswith(".tmp") and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.name.endswith(".tmp"):
            entry.unlink()
        elif entry.is_dir() and not entry.is_symlink():
            run_folder.recover_folder(out / entry.name[1:].rsplit(".", 1)[0])


def _drop_cut_coverage_line(path: Path) -> None:
    """A kill may leave `coverage.jsonl`'s last line cut short; the next line appended would
    then run on from it, so the cut bytes go (atomically) before any seed runs."""
    if not path.is_file():
        return
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        run_folder.write_atomic(path, raw[: raw.rfind(b"\n") + 1].decode("utf-8", errors="replace"))


def _check_entries(out: Path) -> None:
    """The names a fuzz run writes must be of the kind it writes (files, and folders for
    seeds), or the campaign would fail at its end, after all its work."""
    for entry in sorted(out.iterdir()):
        if entry.name in ("fuzz.json", "progress.jsonl", "summary.json", "coverage.jsonl"):
            wanted, kind = "a file", entry.is_file() and not entry.is_symlink()
        elif _SEED_FOLDER.fullmatch(entry.name):
            wanted, kind = "a folder", entry.is_dir() and not entry.is_symlink()
        else:
            continue
        if not kind:
            raise InputError(str(entry), None, None, f"expected {wanted}; move it away to fuzz into {out}")


def _check_marker(plan: FuzzPlan) -> None:
    marker = plan.out / "fuzz.json"
    wanted = identity(plan)
    if not marker.exists():
        run_folder.write_atomic(marker, json.dumps(wanted, indent=2) + "\n")
        return
    found = _read_json_file(marker)
    if not found.strip() and not (plan.out / "progress.jsonl").exists():
        # Left empty by a kill during its first write (before writes were atomic): no seed ran.
        run_folder.write_atomic(marker, json.dumps(wanted, indent=2) + "\n")
        return
    recorded = _parse_marker(marker, found)
    if recorded != wanted:
        raise InputError(
            str(plan.out),
            None,
            "--out",
            "holds a fuzz run of another scenario, bug set or seed range; choose another folder",
        )


def _read_json_file(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(str(path), None, None, "not UTF-8 text") from None
    except OSError as error:
        raise InputError(str(path), None, None, f"cannot read: {error.strerror}") from None


def _parse_marker(marker: Path, text: str) -> dict[str, Any]:
    try:
        recorded = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(str(marker), error.lineno, None, f"not JSON: {error.msg}") from None
    except (ValueError, RecursionError):
        raise InputError(str(marker), None, None, "not JSON this reader accepts") from None
    if not isinstance(recorded, dict):
        raise InputError(str(marker), None, None, "expected a JSON object")
    for key in IDENTITY_KEYS:
        if key not in recorded:
            raise InputError(str(marker), None, key, "missing")
    if not isinstance(recorded["scenario"], str) or not isinstance(recorded["seeds"], list):
        raise InputError(
            str(marker),
            None,
            "scenario" if not isinstance(recorded["scenario"], str) else "seeds",
            "has the wrong type",
        )
    return recorded


def _read_progress(plan: FuzzPlan) -> dict[int, SeedResult]:
    """The seeds `progress.jsonl` records as finished. A line that is cut short, not UTF-8,
    not JSON, of the wrong shape or about a seed outside the campaign is dropped (its seed
    simply runs again), and the file is then rewritten without it, atomically."""
    progress = plan.out / "progress.jsonl"
    if not progress.exists():
        return {}
    try:
        raw = progress.read_bytes()
    except OSError as error:
        raise InputError(str(progress), None, None, f"cannot read: {error.strerror}") from None
    finished: dict[int, SeedResult] = {}
    kept: list[str] = []
    chunks = raw.split(b"\n")
    dropped = chunks.pop() != b""  # bytes after the last newline: a line cut short
    for chunk in chunks:
        result = _progress_record(chunk, plan.seeds)
        if result is None:
            dropped = True
            continue
        finished[result.seed] = result
        kept.append(chunk.decode("utf-8") + "\n")
    if dropped:
        run_folder.write_atomic(progress, "".join(kept))
    return finished


def _progress_record(chunk: bytes, seeds: Seeds) -> SeedResult | None:
    try:
        record = json.loads(chunk.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    extras = _progress_extras(record)
    if extras is None:
        return None
    seed, verdict, flagged = record.get("seed"), Verdict.parse_json(record.get("valid")), record.get("flagged")
    digest, again, seconds, error = (
        record.get("digest"),
        record.get("recheck_digest"),
        record.get("seconds"),
        record.get("error"),
    )
    # JSON numbers load as exactly int, float or bool, so the isinstance checks below accept
    # the same records as `type(x) in (int, float)` would, and let the types be narrowed.
    if not (
        type(seed) is int
        and seed in seeds
        and verdict is not None
        and isinstance(flagged, list)
        and all(isinstance(name, str) for name in flagged)
        and isinstance(digest, str)
        and (again is None or isinstance(again, str))
        and isinstance(seconds, int | float)
        and not isinstance(seconds, bool)
        and math.isfinite(seconds)
        and (error is None or isinstance(error, str))
    ):
        return None
    events, round_number, features = extras
    kinds, worker = record.get("anomaly_kinds", []), record.get("worker", "")
    if not (isinstance(kinds, list) and all(isinstance(kind, str) for kind in kinds) and isinstance(worker, str)):
        return None
    return SeedResult(
        seed,
        verdict,
        tuple(flagged),
        digest,
        again,
        float(seconds),
        error,
        events,
        round_number,
        features,
        anomaly_kinds=tuple(kinds),
        worker=worker,
    )


def _progress_extras(
    record: dict[str, Any],
) -> tuple[dict[str, int], int | None, dict[str, bool] | None] | None:
    """A line's `events`, `round` and `features` (lines written before there were any have
    none); None when one is of the wrong shape."""
    events, round_number, features = record.get("events", {}), record.get("round"), record.get("features")
    if not isinstance(events, dict) or not all(
        isinstance(name, str) and type(count) is int and count >= 0 for name, count in events.items()
    ):
        return None
    if round_number is not None and not (type(round_number) is int and round_number >= 0):
        return None
    if features is not None and not (
        isinstance(features, dict) and all(type(value) is bool for value in features.values())
    ):
        return None
    return events, round_number, features


def execute(plan: FuzzPlan, finished: dict[int, SeedResult]) -> Iterator[SeedResult]:
    """Run the seeds not yet finished, yielding each result as it comes (in any order within
    a round; a campaign that adapts finishes each round before the next one's weights are
    computed, so they are the same however many workers ran it)."""
    remaining = seed_count(plan.seeds) - sum(1 for seed in finished if seed in plan.seeds)
    known = dict(finished)
    if plan.cluster is not None:
        from raftsim import cluster

        with cluster.Executor(cluster.parse(plan.cluster, plan.jobs)) as executor:
            for tasks in _rounds(plan, known):
                for result in executor.results(tasks, plan.out, run_seed, lost_seed):
                    if result.seed in known:
                        continue  # run again after its worker died, though its result had come
                    known[result.seed] = result
                    yield result
        return
    jobs = effective_jobs(plan, remaining)
    if jobs <= 1:
        for tasks in _rounds(plan, known):
            for task in tasks:
                result = run_seed(task)
                known[result.seed] = result
                yield result
        return
    with _pool(plan, jobs) as pool:
        for tasks in _rounds(plan, known):
            for result in _in_pool(pool, tasks, jobs * TASKS_AHEAD_PER_JOB):
                known[result.seed] = result
                yield result


def _rounds(plan: FuzzPlan, known: dict[int, SeedResult]) -> Iterator[Iterator[SeedTask]]:
    """The tasks of the seeds not yet in `known`, round by round (one round when the campaign
    does not adapt). A round's tasks are made only once every earlier round is in `known`."""
    size = plan.adapt_round_seeds
    if not size:
        yield (_task(plan, seed) for seed in plan.seeds if seed not in known)
        return
    for round_number in range(-(-seed_count(plan.seeds) // size)):
        seeds = plan.seeds[round_number * size : (round_number + 1) * size]
        if all(seed in known for seed in seeds):
            continue
        weights = round_weights(plan, known, round_number)
        yield (_task(plan, seed, weights, round_number) for seed in seeds if seed not in known)


def _task(plan: FuzzPlan, seed: int, weights: swarm.Weights | None = None, round_number: int | None = None) -> SeedTask:
    scenario = dataclasses.replace(plan.scenario, seed=seed)
    if weights is not None and round_number is not None:
        scenario = adapt.drawn_seed(plan.scenario, seed, weights, round_number)
    recheck, measured = rechecked_in(plan, seed), covered_in(plan, seed)
    return SeedTask(scenario, plan.out, plan.budget_s, recheck, plan.reports, measured, round_number, plan.target)


def round_weights(plan: FuzzPlan, known: Mapping[int, SeedResult], round_number: int) -> swarm.Weights:
    """The swarm weights of a round, from the outcomes of every earlier round's seeds."""
    earlier = plan.seeds[: round_number * plan.adapt_round_seeds]
    outcomes = []
    for seed in earlier:
        result = known.get(seed)
        assert result is not None, f"round {round_number} weighed before seed {seed} of an earlier round finished"
        if result.features is not None:  # every seed of an adapting campaign has them
            outcomes.append(adapt.Outcome(seed, result.features, frozenset(result.events)))
    return adapt.next_weights(outcomes)


def _pool(plan: FuzzPlan, workers: int) -> Any:
    """A pool of `workers` spawned processes, Ctrl-C left to this one (`signals`)."""
    with signals.ctrl_c_ignored():
        return multiprocessing.get_context("spawn").Pool(workers, _worker_started, (plan.worker_setup,))


def _worker_started(setup: Callable[[], None] | None) -> None:
    """Workers leave Ctrl-C to the parent, which stops the pool and prints one line."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if setup is not None:
        setup()


def _in_pool(pool: Any, tasks: Iterable[tuple[Any, ...]], ahead: int) -> Iterator[SeedResult]:
    """Results in the order they finish, with at most `ahead` tasks handed out at a time,
    so that the task list is never built whole."""
    done: queue.SimpleQueue[Any] = queue.SimpleQueue()
    pending = iter(tasks)
    in_flight = 0
    for task in itertools.islice(pending, ahead):
        pool.apply_async(run_seed, (task,), callback=done.put, error_callback=done.put)
        in_flight += 1
    while in_flight:
        result = done.get()
        in_flight -= 1
        if isinstance(result, BaseException):
            raise result
        yield result
        for task in itertools.islice(pending, 1):
            pool.apply_async(run_seed, (task,), callback=done.put, error_callback=done.put)
            in_flight += 1


# --- shrinking each new failure signature ------------------------------------------------


def shrink_signatures(plan: FuzzPlan, opened: store.CampaignStore) -> None:
    """Shrink the first seed of every signature still pending, on the campaign's workers
    (the Dask cluster's, or a local pool), each into `seed-N-shrunk/` beside its seed's
    folder, and note in the store the shrunk run's fault kinds (what describes the
    signature) or why there is none."""
    jobs = []
    smallest: dict[str, int] = {}
    for row in opened.seeds():  # in seed order: the first of each signature is its smallest
        if row.signature is not None:
            smallest.setdefault(row.signature, row.seed)
    for signature in opened.signatures():
        if signature.status != store.PENDING:
            continue
        # The group's smallest seed, whichever worker finished first: the same campaign
        # shrinks the same seed however its seeds were spread.
        seed = smallest.get(signature.key, signature.first_seed)
        folder = plan.out / f"seed-{seed}"
        if not (folder / "verdict.json").is_file():
            opened.not_shrunk(signature.key, f"{folder} holds no run to shrink")
            continue
        jobs.append((signature.key, run_folder.pack(folder), seed, plan))
    if not jobs:
        return
    for key, seed, fault_kinds, checkers, archive, note in _shrunk(plan, jobs):
        if archive is None:
            opened.not_shrunk(key, note or "the shrink failed")
            continue
        target = plan.out / f"seed-{seed}-shrunk"
        run_folder.unpack(archive, target)
        opened.shrunk(key, fault_kinds, checkers, str(target.resolve()), seed)


def _shrunk(plan: FuzzPlan, jobs: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    if plan.cluster is not None:
        from raftsim import cluster

        with cluster.Executor(cluster.parse(plan.cluster, plan.jobs)) as executor:
            yield from executor.map(shrink_packed, jobs)
        return
    workers = max(1, min(plan.jobs, len(jobs)))
    if workers == 1:
        for job in jobs:
            yield shrink_packed(*job)
        return
    with _pool(plan, workers) as pool:
        yield from pool.starmap(shrink_packed, jobs)


def shrink_packed(key: str, archive: bytes, seed: int, plan: FuzzPlan) -> tuple[Any, ...]:
    """Shrink a packed seed folder in a scratch folder (on whichever worker runs this):
    (key, seed, the shrunk run's fault kinds, the checkers it fails, the shrunk folder
    packed, None) or, when no shrunk run came of it, (key, seed, (), (), None, why)."""
    from raftsim import shrink as shrinking

    with tempfile.TemporaryDirectory(prefix="raftsim-shrink-") as scratch:
        folder = Path(scratch) / f"seed-{seed}"
        run_folder.unpack(archive, folder)
        try:
            result = shrinking.shrink(folder, plan.budget_s, plan.shrink_attempts)
            target = Path(scratch) / "shrunk"
            outcome = api.keep(result.outcome.result, target, plan.budget_s, report=plan.reports)
        except InputError as error:
            return key, seed, (), (), None, error.message
        except Exception as error:  # a shrink that fails leaves the signature unshrunk, nothing more
            return key, seed, (), (), None, f"{type(error).__name__}: {error}"
        fault_kinds = tuple(sorted({fault.kind for fault in result.shrunk.faults}))
        return key, seed, fault_kinds, tuple(sorted(outcome.verdict.failing())), run_folder.pack(target), None


def record(plan: FuzzPlan, result: SeedResult, opened: store.CampaignStore | None = None) -> SeedResult:
    """Append the seed's progress line (after its coverage line, if it was measured, so a
    finished seed's arcs are never missing) and, given the campaign's store, its row there;
    return the result without its arcs, which the summary reads back from `coverage.jsonl`
    rather than keeping in memory."""
    if result.arcs is not None:
        line = {"seed": result.seed, "source": coverage_sampling.SOURCE_DIGEST, "arcs": result.arcs}
        run_folder.append_line(plan.out / "coverage.jsonl", json.dumps(line))
    fields: dict[str, Any] = {
        "seed": result.seed,
        "valid": result.verdict.to_json(),
        "flagged": list(result.flagged),
        "digest": result.digest,
        "recheck_digest": result.recheck_digest,
        "seconds": result.seconds,
    }
    if result.error is not None:  # lines stay as they always were for seeds that ran
        fields["error"] = result.error
    fields["events"] = dict(result.events)
    if result.round_number is not None:
        fields["round"] = result.round_number
        fields["features"] = result.features
    if result.anomaly_kinds:
        fields["anomaly_kinds"] = list(result.anomaly_kinds)
    if result.worker:
        fields["worker"] = result.worker
    run_folder.append_line(plan.out / "progress.jsonl", json.dumps(fields))
    if opened is not None:
        _store_result(plan, opened, result)
    return dataclasses.replace(result, arcs=None)


def summarise(
    plan: FuzzPlan, results: dict[int, SeedResult], wall_s: float, ran: int, stopped_at: int | None = None
) -> dict[str, Any]:
    anomalies: Counter[str] = Counter()
    for result in results.values():
        if result.verdict is Verdict.INVALID:
            anomalies.update(result.flagged)
    failed = sorted(seed for seed, result in results.items() if result.verdict is Verdict.INVALID)
    unknown = sorted(seed for seed, result in results.items() if result.verdict is Verdict.UNKNOWN)
    determinism = sorted(seed for seed, result in results.items() if result.determinism_failure)
    summary = {
        "scenario": plan.scenario.name,
        "bugs": list(plan.scenario.bugs),
        "seeds": seed_count(plan.seeds),
        "finished": len(results),
        "failed": failed,
        "anomalies_by_checker": dict(sorted(anomalies.items())),
        "unknown": unknown,
        "rechecked": sum(1 for r in results.values() if r.recheck_digest is not None),
        "determinism_failures": determinism,
        "seeds_per_minute": round(60 * ran / wall_s, 1) if wall_s > 0 and ran else None,
        "jobs": effective_jobs(plan),
        "crashed": sorted(seed for seed, result in results.items() if "crash" in result.flagged),
        "errors": [
            {"seed": seed, "cause": results[seed].error} for seed in sorted(results) if results[seed].error is not None
        ],
        # The rare events are the simulator's, read from its trace: a real cluster shows none of them.
        "events": {}
        if plan.target is not None
        else {name: sum(1 for r in results.values() if r.events.get(name, 0) > 0) for name in EVENT_NAMES},
        "coverage": _coverage_summary(plan, results),
        "rounds": _rounds_summary(plan, results),
        "stopped_at_first": stopped_at,
    }
    run_folder.write_atomic(plan.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _rounds_summary(plan: FuzzPlan, results: Mapping[int, SeedResult]) -> list[dict[str, Any]] | None:
    """Each round begun: its seeds and the weights it drew with; None when not adapting."""
    size = plan.adapt_round_seeds
    if not size:
        return None
    rounds = []
    for round_number in range(-(-seed_count(plan.seeds) // size)):
        seeds = plan.seeds[round_number * size : (round_number + 1) * size]
        earlier = plan.seeds[: round_number * size]
        if not any(seed in results for seed in seeds) or not all(seed in results for seed in earlier):
            break
        weights = round_weights(plan, results, round_number)
        rounds.append({"round": round_number, "seeds": [seeds[0], seeds[-1]], "weights": adapt.weights_json(weights)})
    return rounds


def _coverage_summary(plan: FuzzPlan, results: Mapping[int, SeedResult]) -> dict[str, Any] | None:
    """raftcore's lines and branches reached by the measured seeds, and those none reached;
    None when no finished seed was measured."""
    merged: dict[str, set[tuple[int, int]]] = {}
    measured = stale = 0
    current = coverage_sampling.source_digest()
    for seed, source, arcs in _coverage_lines(plan.out / "coverage.jsonl"):
        if seed not in results or seed not in plan.seeds:
            continue
        if source != current:  # measured on other source: its line numbers mean nothing here
            stale += 1
            continue
        coverage_sampling.merge(merged, arcs)
        measured += 1
    if not measured:
        return None if not stale else {"share": plan.coverage_share, "seeds": 0, "stale_seeds": stale}
    found = coverage_sampling.unreached(merged).to_json()
    return {"share": plan.coverage_share, "seeds": measured, "stale_seeds": stale, **found}


def _coverage_lines(path: Path) -> Iterator[tuple[int, object, dict[str, list[list[int]]]]]:
    """`coverage.jsonl`'s lines; one cut short or of the wrong shape (a kill) is skipped, and
    a seed measured twice (a rerun after such a kill) is counted once."""
    if not path.exists():
        return
    seen: set[int] = set()
    for chunk in path.read_bytes().split(b"\n"):
        try:
            record = json.loads(chunk.decode("utf-8"))
        except (ValueError, RecursionError):
            continue
        if not isinstance(record, dict) or type(record.get("seed")) is not int or record["seed"] in seen:
            continue
        arcs = record.get("arcs")
        if not isinstance(arcs, dict) or not all(_is_arc_list(pairs) for pairs in arcs.values()):
            continue
        seen.add(record["seed"])
        yield record["seed"], record.get("source"), arcs


def _is_arc_list(pairs: object) -> bool:
    return isinstance(pairs, list) and all(
        isinstance(pair, list) and len(pair) == 2 and all(type(number) is int for number in pair) for pair in pairs
    )


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
