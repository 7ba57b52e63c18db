"""The public Python API: run a scenario, judge a run, replay it, check a history.

A run's folder is the contract between the parts; `raftsim.run_folder` stages it, writes it
so that a kill at any point leaves the old run or the new one, and reads it back.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkers.budget import Budget
from checkers.disruption import DisruptionSettings, check_disruption, stable_window_us
from checkers.effects import check_effects
from checkers.errors import InputError
from checkers.events import rare_events
from checkers.explain import explain_linearizability
from checkers.history import operations_from_events, without_serializable_reads
from checkers.leases import LeaseSettings, check_leases
from checkers.linearizability import check_operations
from checkers.list_append import check_list_append
from checkers.liveness import check_liveness
from checkers.node_progress import check_node_progress, default_bound_us
from checkers.raft_safety import check_raft_safety
from checkers.revisions import check_revisions
from checkers.verdict import CheckerResult, RunVerdict, Verdict
from checkers.watch import check_watch
from raftcore.backup import encode_backup
from raftsim.run_folder import (
    RunFolder,
    hidden_sibling,
    recover_folder,
    split_messages,
    stage,
    swap_into_place,
    write_atomic,
    write_durable,
    write_run,
)
from scenarios.model import Scenario
from scenarios.resolve import resolve
from sim.backup import Backup, BackupRefused, take_backup
from sim.clock import MS
from sim.trace import digest_of
from sim.world import Crash, InvariantsReport, RunResult, run_scenario

if TYPE_CHECKING:
    from targets.etcd.run import EtcdTarget
from workloads import get as get_workload

DEFAULT_BUDGET_S = 60.0
REAL_CLUSTER_UNSEEN = {
    "raft-safety": "a real cluster's Raft logs, votes and commits are not in its trace",
    "node-progress": "a real cluster's applied indexes are not in its trace",
    "disruption": "a real cluster's campaigns and their causes are not in its trace",
    "leases": "a real cluster's lease expiry decisions are not in its trace",
}
"""What a run against a real cluster cannot be judged by, and why (`targets.etcd.run`)."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    result: RunResult
    verdict: RunVerdict
    folder: Path | None
    loaded: RunFolder | None = None
    """The run's folder as the judge read it, so that what was parsed once is not parsed
    again (the summary's leaders come from its trace); None when the run is kept nowhere."""
    events: dict[str, int] = dataclasses.field(default_factory=dict)
    """How often the run reached each rare event (`checkers.events`), as `events.json` holds."""


def judge(
    folder: RunFolder,
    budget_s: float = DEFAULT_BUDGET_S,
    crash: Crash | None = None,
    invariants: InvariantsReport | None = None,
) -> RunVerdict:
    """Run every checker on a run's files. A run that crashed gets a `crash` checker entry
    first, and a run made with the state checker an `invariants` entry; the safety
    checkers still judge what happened up to a crash or a broken invariant (a prefix of a
    history is a history), but liveness is not judged then, since the run never reached
    its quiet period and every "no progress" it found would be that stop again. Nor is it
    when the scenario has no quiet period (`quiet_ms = 0`, as a run shrunk to a safety
    anomaly has): there is no time in which recovery could have been shown."""
    budget = Budget.starting_now(budget_s)  # one deadline for the whole check, reading included
    workload = get_workload(folder.scenario.workload.kind)
    model = workload.build_model()
    history = folder.history
    trace = folder.trace
    # history.jsonl holds one event per line, `index` counting from 0, so a call's line is
    # its index + 1: reasons and `ruled_out_by` then name lines a person can open.
    # Serializable reads judged as etcd promises them may be stale: the linearizability
    # check leaves them out, and revisions holds them to what they claim (see ChecksSpec).
    stale_serializable = folder.scenario.checks.serializable_reads == "revision"
    judged = without_serializable_reads(history) if stale_serializable else history
    operations = [dataclasses.replace(op, line=op.call + 1) for op in operations_from_events(judged)]
    results: dict[str, CheckerResult] = {}
    if crash is not None:
        results["crash"] = crash_result(crash)
    if invariants is not None:
        results["invariants"] = invariants_result(invariants)
    stopped = crash is not None or (invariants is not None and invariants.violation is not None)
    real = folder.target is not None
    not_judged: dict[str, str] = {}
    if "linearizability" in workload.checkers:
        linear = check_operations(operations, model, budget=budget)
        results["linearizability"] = _explained(linear.checker_result(), history, trace)
    if "list-append" in workload.checkers:
        results["list-append"] = check_list_append(operations)
    if real:
        wanted = {*workload.checkers, "disruption", "node-progress" if "liveness" in workload.checkers else ""}
        not_judged.update((name, why) for name, why in REAL_CLUSTER_UNSEEN.items() if name in wanted)
        options = dict(folder.scenario.workload.options)
        if (options.get("watchers") or options.get("informers")) and folder.watch is None:
            # A real run from before watchers ran against the cluster wrote no watch.jsonl.
            not_judged["watch"] = "the run recorded no watch.jsonl: its watchers did not run"
    elif "raft-safety" in workload.checkers:
        results["raft-safety"] = check_raft_safety(trace, history)
    effects = folder.effects
    if effects is not None:  # whatever the workload; a folder from before effects has none
        results["effects"] = check_effects(effects, trace, history, None if crash is None else crash.t_us)
    if not stopped and folder.scenario.phases.quiet_ms > 0 and "liveness" in workload.checkers:
        results["liveness"] = check_liveness(trace, history)
        scenario = folder.scenario
        degraded = frozenset(link for entry in scenario.links for link in entry.pairs())
        if not real:
            results["node-progress"] = check_node_progress(trace, progress_bound_us(scenario), degraded)
    if "revisions" in workload.checkers:
        results["revisions"] = check_revisions(history, trace, stale_serializable)
    watched = folder.watch
    if watched is not None:  # a run with watchers, whatever its workload
        results["watch"] = check_watch(watched, history, trace)
    if "leases" in workload.checkers and not real:
        scenario = folder.scenario
        results["leases"] = check_leases(
            history, trace, LeaseSettings(scenario.cluster.tick_ms * MS, scenario.clock.drift_ppm_max)
        )
    # Whatever the workload, the cluster's elections are judged, and on a crashed run too:
    # a term begun over a healthy leader before the crash happened, whatever came after.
    if not real:
        results["disruption"] = check_disruption(trace, disruption_settings(folder.scenario))
    return RunVerdict(results, folder.digest, not_judged)


def disruption_settings(scenario: Scenario) -> DisruptionSettings:
    """What the disruption checker needs of the scenario: the trace does not carry the
    cluster's timing, the base loss or the bound. A follower's lease lasts election_ticks
    of its clock and the leader heartbeats every heartbeat_ticks of its own; one heartbeat
    fewer than their ratio is counted, as the last may race the lease's end (and drift)."""
    cluster = scenario.cluster
    window_us = stable_window_us(cluster.tick_ms * MS, cluster.election_ticks, scenario.clock.drift_ppm_max)
    heartbeats_per_lease = max(1, cluster.election_ticks // cluster.heartbeat_ticks - 1)
    # A lossier direction (`[[links]]`) counts as the whole network's loss: cautious, as
    # the checker judges one loss for every link.
    loss = max([scenario.network.loss, *(links.loss for links in scenario.links)])
    return DisruptionSettings(window_us, scenario.disruption_bound, loss, heartbeats_per_lease)


def progress_bound_us(scenario: Scenario) -> int:
    """How long a node may trail the leader's commit in the quiet phases: the file's
    `[checks] progress_bound_ms`, else three longest election timeouts on the slowest clock,
    plus the time the commit index takes to reach a follower over the slowest link.

    A follower learns a commit on the leader's next append or heartbeat (a heartbeat round
    may be skipped for a follower an append just reached), and catching up takes a probe,
    its answer and an append each way: two heartbeat intervals and four one-way delays
    over the slowest direction (`[[links]]` included, since they outlast the faults),
    each stretched by the lossiest link's expected resends. The election timeouts are
    stretched too, by the chance that a vote's request and answer both get through: under
    steady loss a leader may lose its quorum's answers (CheckQuorum) and elections take
    several attempts, as they do in etcd."""
    if scenario.checks.progress_bound_ms is not None:
        return scenario.checks.progress_bound_ms * MS
    cluster = scenario.cluster
    base = default_bound_us(cluster.tick_ms * MS, cluster.election_ticks, scenario.clock.drift_ppm_max)
    network = scenario.network
    slowest_us = (
        network.latency_us + network.jitter_us + max([0, *(links.extra_latency_us for links in scenario.links)])
    )
    loss = max([network.loss, *(links.loss for links in scenario.links)])
    assert 0 <= loss < 1, loss
    heartbeat_us = cluster.heartbeat_ticks * cluster.tick_ms * MS
    travel_us = (2 * heartbeat_us + 4 * slowest_us) / (1 - loss)
    return int(base / (1 - loss) ** 2) + int(travel_us)


def crash_result(crash: Crash) -> CheckerResult:
    """The `crash` checker entry: always a failure, with the moment, phase and culprit."""
    anomaly = {
        "property": "crash",
        "t": crash.t_us,
        "phase": crash.phase,
        "message": crash.message,
        "exception": crash.error_type,
        "where": crash.where,
        "file": "crash.txt",
    }
    return CheckerResult(
        Verdict.INVALID,
        anomalies=(anomaly,),
        note="the system under test raised an exception; liveness is not judged on a crashed run",
    )


def invariants_result(report: InvariantsReport) -> CheckerResult:
    """The `invariants` checker entry: the state checker's one violation, which ended the
    run at its moment, or none."""
    if report.violation is None:
        return CheckerResult(Verdict.VALID, anomalies=(), stats=report.stats)
    return CheckerResult(
        Verdict.INVALID,
        anomalies=(report.violation.anomaly(),),
        stats=report.stats,
        note="a Raft invariant broke while the cluster ran; the run stopped there and liveness is not judged",
    )


def _explained(linear: CheckerResult, history: list[Any], trace: list[Any]) -> CheckerResult:
    """Counterexample operations of our own runs say which node served them, in which term
    and at which revision."""
    if linear.verdict is not Verdict.INVALID:
        return linear
    return explain_linearizability(linear, history, trace)


def run(scenario: Scenario, out: Path | None, budget_s: float = DEFAULT_BUDGET_S, report: bool = False) -> RunOutcome:
    """Run a scenario, write its folder (when `out` is given) and judge it; with `report`,
    also write `report.html` and the PNGs into the folder. The staging folder is created
    before the simulation, so an `out` that cannot be written is refused at once."""
    resolved = resolve(scenario)
    staging = stage(out)
    try:
        result, messages = _run_capturing_messages(resolved) if report else (run_scenario(resolved), None)
        written, verdict, events = write_judged(staging, result, budget_s)
        if report:
            from raftsim.report import write_reports

            write_reports(written, "trace" if messages is None else "none", extra_messages=messages, shown_folder=out)
        if out is None:
            return RunOutcome(result, verdict, None, events=events)
        swap_into_place(staging, out)
        return RunOutcome(result, verdict, out, written.moved_to(out), events)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def run_on_etcd(
    scenario: Scenario,
    target: EtcdTarget,
    out: Path,
    budget_s: float = DEFAULT_BUDGET_S,
    report: bool = False,
    keep_passing: bool = True,
) -> RunOutcome:
    """Run a scenario against a real etcd cluster (`targets.etcd.run`), write its folder
    (with `target.json` and the members' logs) and judge it as a simulated run is judged,
    less what a real cluster cannot show. Ctrl-C stops the clients and the nemesis, the
    cluster is stopped and its data removed, and nothing is written under `out`. Without
    `keep_passing` (a fuzz seed) a run that passed leaves nothing."""
    import threading

    from targets.etcd.run import TARGET_FILE, etcd_version, prepared
    from targets.etcd.run import run_on_etcd as run_cluster

    resolved = prepared(scenario, target)
    version = etcd_version(target.binary)
    if keep_passing:
        staging = stage(out)
    else:
        recover_folder(out)
        staging = hidden_sibling(out, "partial")
        staging.mkdir(parents=True)
    try:
        result = run_cluster(resolved, target, staging, threading.Event())
        write_durable(staging / TARGET_FILE, target.file_text(version))
        written, verdict, events = write_judged(staging, result, budget_s)
        if not keep_passing and verdict.verdict is Verdict.VALID:
            return RunOutcome(result, verdict, None, events=events)
        if report:
            from raftsim.report import write_reports

            write_reports(written, "none", shown_folder=out)
        swap_into_place(staging, out)
        return RunOutcome(result, verdict, out, written.moved_to(out), events)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def keep(result: RunResult, out: Path, budget_s: float = DEFAULT_BUDGET_S, report: bool = False) -> RunOutcome:
    """Write a run already simulated into `out` and judge it there, with its reports when
    asked (their messages from a replay, the only simulation this costs)."""
    staging = stage(out)
    try:
        written, verdict, events = write_judged(staging, result, budget_s)
        if report:
            from raftsim.report import write_reports

            write_reports(written, "replay", shown_folder=out)
        swap_into_place(staging, out)
        return RunOutcome(result, verdict, out, written.moved_to(out), events)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def run_keeping_failures(
    scenario: Scenario,
    folder: Path,
    budget_s: float,
    reports: bool,
    simulate: Callable[[Scenario], RunResult] | None = None,
) -> RunOutcome:
    """Run a scenario in the staging folder beside `folder` and judge it there; move it into
    place, with its reports, only if it did not pass, so that a kept run is written once and a
    run that passed leaves nothing. A fuzz seed's folder: its reports take their messages from
    a replay (a failing seed is rare, so the replay is cheap beside the seeds that pass).
    `simulate` runs the resolved scenario (default `run_scenario`; fuzz measures coverage
    around the simulation alone)."""
    resolved = resolve(scenario)
    recover_folder(folder)
    staging = hidden_sibling(folder, "partial")
    try:
        result = (run_scenario if simulate is None else simulate)(resolved)
        written, verdict, events = write_judged(staging, result, budget_s)
        if verdict.verdict is Verdict.VALID:
            return RunOutcome(result, verdict, None, events=events)
        if reports:
            from raftsim.report import write_reports

            write_reports(written, "replay", shown_folder=folder)
        swap_into_place(staging, folder)
        return RunOutcome(result, verdict, folder, written.moved_to(folder), events)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def write_judged(staging: Path, result: RunResult, budget_s: float) -> tuple[RunFolder, RunVerdict, dict[str, int]]:
    """Write a run's files into its staging folder, judge them, and write the verdict and the
    rare events (`events.json`) beside them; the folder value returned holds what the judge
    read, for the reports to draw."""
    write_run(staging, result)
    written = RunFolder(staging)
    verdict = judge(written, budget_s, result.crash, result.invariants)
    write_durable(staging / "verdict.json", verdict.file_text())
    written.judged(verdict)
    # The rare events are the simulator's: a real cluster's polled roles would fake some.
    events = {} if written.target is not None else rare_events(written.trace, result.stats.get("observed_events"))
    write_durable(staging / "events.json", json.dumps(events, indent=2) + "\n")
    return written, verdict, events


def _run_capturing_messages(resolved: Scenario) -> tuple[RunResult, list[dict[str, Any]] | None]:
    """Run with message tracing on and take the message lines out of the trace, so that the
    report gets its message diagram without a second run. Tracing messages consumes no
    randomness and moves no other event, so what remains is the trace (and the digest) of
    the scenario as written; the tests hold the simulator to that."""
    if resolved.trace_messages:
        return run_scenario(resolved), None
    traced = run_scenario(dataclasses.replace(resolved, trace_messages=True))
    rest, lines = split_messages(traced.trace_text)
    stats = dict(traced.stats, trace_events=traced.stats["trace_events"] - len(lines))
    result = dataclasses.replace(traced, scenario=resolved, trace_text=rest, digest=digest_of(rest), stats=stats)
    return result, [json.loads(line) for line in lines]


def replay_on_etcd(folder: Path, budget_s: float = DEFAULT_BUDGET_S) -> tuple[RunVerdict, RunVerdict]:
    """Run a real cluster's run folder's schedule again on a fresh cluster (the same etcd
    binary and members, kept nowhere) and return the recorded verdict and the new one: a
    real run cannot be replayed byte for byte, so verdicts are what is compared."""
    from targets.etcd.run import EtcdTarget, find_etcd

    recorded_run = RunFolder(folder)
    target = recorded_run.target
    assert target is not None, folder
    members = target.get("members")
    if not isinstance(members, int) or isinstance(members, bool):
        raise InputError(str(folder / "target.json"), None, "members", "expected an integer")
    binary = target.get("etcd")
    chosen = EtcdTarget(find_etcd(binary if isinstance(binary, str) else None), members)
    recorded = recorded_run.verdict
    import tempfile

    with tempfile.TemporaryDirectory(prefix="raftsim-replay-") as place:
        again = run_on_etcd(recorded_run.scenario, chosen, Path(place) / "run", budget_s)
    return recorded, again.verdict


def replay(folder: Path) -> tuple[bool, str, str, RunResult]:
    """Re-run a folder's scenario; say whether the new trace's digest equals the recorded one."""
    recorded_run = RunFolder(folder)
    scenario = recorded_run.scenario
    trace_path = recorded_run.require("trace.jsonl")
    try:
        recorded = recorded_run.digest
    except OSError as error:
        raise InputError(str(trace_path), None, None, f"cannot read: {error.strerror}") from None
    result = run_scenario(scenario)
    return result.digest == recorded, recorded, result.digest, result


def backup(folder: Path, node_id: int, at_ms: int | None, out: Path) -> Backup:
    """Take node `node_id`'s backup from a recorded run, replayed up to `at_ms` (None: its
    end), and write it to `out` atomically (`raftcore.backup`'s format). The replay is held
    to the recorded trace (its prefix up to the moment, or the whole of it): a backup of a
    run that does not replay as recorded would back up some other run. Any refusal is an
    InputError (one line), and then nothing is written."""
    recorded_run = RunFolder(folder)
    scenario = recorded_run.scenario
    recorded_run.require("trace.jsonl")
    if recorded_run.target is not None:
        raise InputError(str(folder), None, None, "a real cluster's run cannot be replayed to take a backup")
    try:
        taken = take_backup(scenario, node_id, None if at_ms is None else at_ms * MS)
    except BackupRefused as error:
        raise InputError(str(folder), None, error.flag, str(error)) from None
    recorded = recorded_run.trace_bytes
    replayed = taken.trace_text.encode()
    if not (recorded == replayed if at_ms is None else recorded.startswith(replayed)):
        raise InputError(str(folder), None, None, "the replay differs from the recorded trace: no backup taken")
    write_atomic(out, encode_backup(taken.snapshot))
    return taken
