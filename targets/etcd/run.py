"""A scenario run against a real etcd cluster on loopback, written as a run folder.

The same scenario file drives both targets: its seed draws the workload's operations and
the fault schedule, its `[workload]` table the clients, its `[[faults]]` (or `[nemesis]`)
what is done to the cluster and when, and `[phases]` the quiet period and the final reads.
What the simulator alone can do (clock and disk faults, duplicated messages, faults
started by a protocol moment) is refused before any member starts.

The run folder is the simulator's: `scenario.toml`, `history.jsonl` (with the faults as
lines of their own, see `checkers.history`), `trace.jsonl` (the phases, the faults, the
kills and pauses, and each member's role and term as polled through etcd's status API: what
the reports draw), `verdict.json`, `events.json`, the reports, and two files of its own:
`target.json` (which etcd, how many members, and that the run cannot be replayed byte for
byte) and `logs/` (each member's log). The checkers that read a history judge it as they
judge a simulated one; those that need the cluster's inner state (Raft safety, the
state machine's effects, each node's progress, the elections' causes, the leases'
expiry decisions) cannot see into a real etcd, and the verdict says so (`not_judged`)
instead of passing them silently.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.errors import InputError
from scenarios.model import Scenario
from scenarios.resolve import resolve
from sim.trace import Trace, digest_of
from sim.world import RunResult
from targets.etcd.cluster import EtcdCluster
from targets.etcd.driver import Recorder, drive
from targets.etcd.nemesis import Nemesis, problems
from targets.etcd.watcher import PROGRESS_FLAG, Watchers, watch_settings

TARGET_FILE = "target.json"
POLL_S = 0.1
"""How often the members' roles and terms are polled for the trace."""
MIN_HEARTBEAT_MS = 50
MIN_ELECTION_MS = 500
"""etcd wants an election timeout of at least five heartbeats; below these the members'
timers race the loopback proxies and the machine's load rather than the scenario's faults."""


@dataclass(frozen=True, slots=True)
class EtcdTarget:
    """Which etcd to attack and how many members it has."""

    binary: str
    members: int

    def file_text(self, version: str) -> str:
        record = {
            "target": "etcd",
            "etcd": self.binary,
            "version": version,
            "members": self.members,
            "replayable": False,
            "note": "a real cluster: the seed fixes the workload and the fault schedule, not the "
            "timing; `raftsim replay` runs the schedule again and compares verdicts, not digests",
        }
        return json.dumps(record, indent=2) + "\n"


def prepared(scenario: Scenario, target: EtcdTarget) -> Scenario:
    """The scenario as a real cluster runs it: its members' count, its schedule drawn;
    anything a real cluster cannot undergo is bad input (one line, exit 2)."""
    if target.members not in (1, 3, 5):
        raise InputError("--members", None, None, "a real cluster has 1, 3 or 5 members")
    found = problems(scenario)
    if found:
        field, problem = found[0]
        raise InputError(scenario.name, None, field, problem)
    sized = dataclasses.replace(scenario, cluster=dataclasses.replace(scenario.cluster, nodes=target.members))
    resolved = resolve(sized)
    found = problems(resolved)
    if found:
        field, problem = found[0]
        raise InputError(scenario.name, None, field, problem)
    return resolved


def timers_ms(scenario: Scenario) -> tuple[int, int]:
    """The members' heartbeat interval and election timeout: the scenario's ticks, at least
    `MIN_HEARTBEAT_MS` and `MIN_ELECTION_MS`, the election at least five heartbeats."""
    cluster = scenario.cluster
    heartbeat = max(MIN_HEARTBEAT_MS, cluster.tick_ms * cluster.heartbeat_ticks)
    election = max(MIN_ELECTION_MS, cluster.tick_ms * cluster.election_ticks, 5 * heartbeat)
    return heartbeat, election


class _Log:
    """The history and the trace on one clock (the recorder's), written from the client,
    nemesis and poller threads."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.trace = Trace(recorder.now_us)
        self._lock = threading.Lock()

    def event(self, name: str, **fields: Any) -> None:
        with self._lock:
            self.trace.emit(name, **fields)

    def role(self, node: int, role: str, term: int, leader: int) -> None:
        with self._lock:
            self.trace.emit_role(node, role, term, leader)

    def fault(self, number: int, kind: str, **details: Any) -> None:
        with self._lock:
            self.recorder.fault(number, kind, **details)
            self.trace.emit("fault", id=number, kind=kind, **details)

    def heal(self, number: int, kind: str, **details: Any) -> None:
        with self._lock:
            self.recorder.heal(number, **details)
            self.trace.emit("heal", id=number, kind=kind, **details)


def _poll_roles(cluster: EtcdCluster, log: _Log, stop: threading.Event) -> None:
    """Write a role line whenever a member's role, term or leader changes as polled."""
    shown: dict[int, tuple[str, int, int]] = {}
    while not stop.wait(POLL_S):
        for node, seen in sorted(polled_roles(cluster.status()).items()):
            if shown.get(node) != seen:
                shown[node] = seen
                log.role(node, *seen)


def polled_roles(statuses: dict[int, dict[str, Any]]) -> dict[int, tuple[str, int, int]]:
    """(role, term, leader) of each member that answered, from one round of etcd's status.

    etcd reports the term of the last entry it applied, not the term it is in: a leader
    just elected says the old term until its first entry applies, while the followers that
    applied it already say the new one. So a member naming leader L is given the highest
    term any member naming L reports (one naming no leader keeps its own), which keeps two
    members from seeming to lead one term."""
    terms = {node: int(status.get("term") or 0) for node, status in statuses.items()}
    leaders = {node: int(status.get("leader") or 0) for node, status in statuses.items()}
    by_leader: dict[int, int] = {}
    for node, leader in leaders.items():
        by_leader[leader] = max(by_leader.get(leader, 0), terms[node])
    roles: dict[int, tuple[str, int, int]] = {}
    for node, leader in leaders.items():
        term = by_leader[leader] if leader else terms[node]
        roles[node] = ("leader" if leader == node else "follower", term, leader)
    return roles


def cluster_flags(scenario: Scenario, watching: bool) -> tuple[str, ...]:
    """etcd flags the scenario asks for: PreVote as `[cluster] pre_vote` says (etcd 3.4
    leaves it off unless told; the simulator's default is on, so a rejoining member must
    not depose the leader on one side and do so on the other), and progress notifications
    for watchers. CheckQuorum is always on in etcd's server."""
    flags = [f"--pre-vote={'true' if scenario.cluster.pre_vote else 'false'}"]
    if watching:
        flags.append(PROGRESS_FLAG)
    return tuple(flags)


def run_on_etcd(scenario: Scenario, target: EtcdTarget, staging: Path, stop: threading.Event) -> RunResult:
    """Run a prepared scenario (`prepared`) against a fresh cluster whose logs go to
    `staging/logs`, and return what the simulator's run returns. The cluster is gone when
    this returns or raises, whatever happened."""
    heartbeat_ms, election_ms = timers_ms(scenario)
    spec = scenario
    duration_s = (spec.duration_ms + spec.phases.quiet_ms) / 1000
    watching = watch_settings(spec)
    with EtcdCluster(
        target.binary,
        target.members,
        staging / "logs",
        heartbeat_ms=heartbeat_ms,
        election_ms=election_ms,
        extra_flags=cluster_flags(spec, watching is not None),
    ) as cluster:
        recorder = Recorder()
        log = _Log(recorder)
        log.event(
            "start", scenario=spec.name, seed=spec.seed, nodes=list(cluster.node_ids), clients=spec.workload.clients
        )
        log.event("phase", phase="safety")
        started = time.monotonic()
        nemesis = Nemesis(cluster, spec, log, started)
        polling = threading.Event()
        threads = [
            threading.Thread(target=nemesis.run, args=(stop,), name="nemesis", daemon=True),
            threading.Thread(target=_poll_roles, args=(cluster, log, polling), name="roles", daemon=True),
            threading.Thread(target=_phases, args=(spec, log, started, stop), name="phases", daemon=True),
        ]
        for thread in threads:
            thread.start()
        urls = {node: cluster.client_url(node) for node in cluster.node_ids}
        watchers = None if watching is None else Watchers(watching, urls, recorder.now_us)
        if watchers is not None:
            watchers.start()
        try:
            stats = drive(urls, spec.workload, spec.seed, duration_s, spec.phases.final_reads, recorder, stop)
        finally:
            stop_all = stop.is_set()
            if watchers is not None:  # they follow the clients to the end of their final reads
                watchers.stop()
            stop.set()  # ends the nemesis (which heals what is active) and the phases
            for thread in threads[::2]:
                thread.join()
            polling.set()
            threads[1].join()
            if stop_all:
                raise KeyboardInterrupt
        log.event("phase", phase="end")
        log.event("end")
    trace_text = log.trace.text()
    counts = recorder.counts()
    return RunResult(
        spec,
        recorder.text(),
        trace_text,
        digest_of(trace_text),
        {
            "wall_s": round(time.monotonic() - started, 3),
            "operations": counts.get("invoke", 0),
            "operations_ok": counts.get("ok", 0),
            "operations_fail": counts.get("fail", 0),
            "operations_info": counts.get("info", 0),
            "faults": nemesis.count,
            "trace_events": len(log.trace),
            "driver": dataclasses.asdict(stats)
            if dataclasses.is_dataclass(stats) and not isinstance(stats, type)
            else {},
            **({} if watchers is None else {"watch": watchers.stats()}),
        },
        watch_text=None if watchers is None else watchers.log.text(),
    )


def _phases(spec: Scenario, log: _Log, started: float, stop: threading.Event) -> None:
    """The phase lines at their times: heal and liveness when the faults end, final reads
    when the workload ends (the clients move on by their own clock; these lines are for the
    checkers and reports)."""
    if stop.wait(max(0.0, started + spec.duration_ms / 1000 - time.monotonic())):
        return
    log.event("phase", phase="heal")
    log.event("phase", phase="liveness", leader_bound_us=spec.phases.leader_bound_ms * 1000)
    end = started + (spec.duration_ms + spec.phases.quiet_ms) / 1000
    if stop.wait(max(0.0, end - time.monotonic())):
        return
    log.event("phase", phase="final-reads")


def etcd_version(binary: str) -> str:
    """`etcd --version`'s first line, or what went wrong asking it."""
    import subprocess

    try:
        answer = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except OSError as error:
        raise InputError(binary, None, "--etcd", f"cannot run: {error.strerror}") from None
    first = (answer.stdout or answer.stderr).strip().splitlines()
    return first[0] if first else "unknown"


def find_etcd(path: str | None) -> str:
    """The etcd binary to run: `path`, or `etcd` on the PATH; a clear error if none."""
    found = shutil.which(path or "etcd")
    if found is None:
        where = path or "etcd"
        raise InputError(where, None, "--etcd", "no etcd binary there (on Debian: apt-get install etcd-server)")
    return found
