"""Judge whether every node keeps up once the faults are healed, not only the cluster.

The liveness checker asks for a leader and for clients that progress; a cluster whose
leader and majority go on while one follower stops applying passes it, since a majority
is all the clients need. Yet such a follower is broken (a lost entry it keeps being
offered, an apply loop that stalled, a log it can no longer match), and the next fault
that takes a node of the majority away turns it into an outage.

So from the `liveness` phase on (every fault healed, every node running and connected),
each time the leader's commit index reaches a new height C at time t, every node that
is running must have applied up to C by t + bound. A node that has not is an anomaly
naming the node, the moment the bound ran out, the index it was asked to reach and the
index it had applied, while its peers went on. The leader's commit index is read from
its `hard_state` events (the leader being, as for liveness, a running, unpaused leader of
the highest term); the height at the phase's start counts as reached then. A node that
crashes or pauses is not judged for heights reached before it came back, nor one that
joined (`member-added`) for heights before it did; a node outside the newest membership
applied (`conf-apply`) is not judged at all. A stall counts once, as an anomaly, and again
only after the node caught up.

The bound (`[checks] progress_bound_ms`) defaults to three longest randomised election
timeouts on the slowest clock: one for a follower to notice a leader it lost, one for an
election, one to catch up. A run that ends before a height's bound runs out does not
judge that height. A height reached while a clock set back stalls some node's timers
(`checkers.clocks`) is judged from when they run again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from checkers.clocks import ClockStalls
from checkers.explain import format_duration, format_seconds
from checkers.node_view import NodeViews
from checkers.trace import TraceEvent, restart_snapshot
from checkers.verdict import CheckerResult, Verdict


def default_bound_us(tick_us: int, election_ticks: int, drift_ppm_max: int) -> int:
    """Three longest randomised election timeouts ([n, 2n) ticks), on the slowest clock."""
    longest_timeout_us = 2 * election_ticks * tick_us
    return 3 * longest_timeout_us * 1_000_000 // max(1, 1_000_000 - drift_ppm_max)


@dataclass(frozen=True, slots=True)
class _Height:
    """The leader's commit index reached `index` at `t_us`, led by `leader`."""

    t_us: int
    index: int
    leader: int


@dataclass(slots=True)
class _Follower:
    applied: int = 0
    next_height: int = 0
    stalls: int = 0
    stalled: bool = False


@dataclass(slots=True)
class _Judge:
    bound_us: int
    degraded: frozenset[tuple[int, int]] = frozenset()
    stalls: ClockStalls = field(default_factory=ClockStalls)
    nodes: dict[int, _Follower] = field(default_factory=dict)
    heights: list[_Height] = field(default_factory=list)
    commits: dict[int, int] = field(default_factory=dict)
    window_start_us: int | None = None
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    members: frozenset[int] | None = None
    """The newest membership applied (`conf-apply`); None while it is the initial one."""
    membership_index: int = 0

    def reach(self, t_us: int, leader: int, index: int) -> None:
        if index > (self.heights[-1].index if self.heights else 0):
            self.heights.append(_Height(t_us, index, leader))

    def judge(self, now_us: int, roles: NodeViews) -> None:
        """Every running node's oldest unreached height whose bound ran out before now."""
        heights = self.heights
        for node_id, follower in self.nodes.items():
            if self.members is not None and node_id not in self.members:
                continue  # removed: it owes the cluster nothing more
            view = roles.nodes.get(node_id)
            if view is not None and (view.crashed or view.paused):
                follower.next_height = len(heights)  # judged again from its return on
                continue
            while follower.next_height < len(heights) and heights[follower.next_height].index <= follower.applied:
                follower.next_height += 1
                follower.stalled = False
            if follower.next_height == len(heights):
                continue
            height = heights[follower.next_height]
            if self.deadline_us(height) >= now_us or follower.stalled:
                continue
            if (height.leader, node_id) in self.degraded or (node_id, height.leader) in self.degraded:
                continue  # behind a slow or lossy direction: catching up there has no bound
            follower.stalled = True
            follower.stalls += 1
            if follower.stalls == 1:
                self.anomalies.append(self._anomaly(node_id, follower, height))

    def deadline_us(self, height: _Height) -> int:
        """When the bound for `height` runs out: counted from when it was reached or, if
        later, from when every node's timers run again after a clock was set back (a
        stalled leader sends no heartbeat, so a follower it probes waits for it)."""
        return max(height.t_us, self.stalls.settled_us()) + self.bound_us

    def _anomaly(self, node_id: int, follower: _Follower, height: _Height) -> dict[str, Any]:
        moment_us = self.deadline_us(height)
        return {
            "property": "node-progress",
            "t": moment_us,
            "phase": "liveness",
            "node": node_id,
            "leader": height.leader,
            "index": height.index,
            "applied": follower.applied,
            "since_us": height.t_us,
            "progress_bound_us": self.bound_us,
            "message": (
                f"node {node_id} had applied up to {follower.applied} at {format_seconds(moment_us)}, "
                f"{format_duration(moment_us - height.t_us)} after leader node {height.leader} committed up to "
                f"{height.index} ({format_seconds(height.t_us)})"
            ),
        }


def check_node_progress(
    trace_events: Iterable[TraceEvent], bound_us: int, degraded: frozenset[tuple[int, int]] = frozenset()
) -> CheckerResult:
    """Judge each node's progress in the quiet phases of a run (see the module's doc).
    `degraded` holds the directed links (from, to) slower or lossier than the network's
    own for the whole run (`[[links]]`); a node whose link with the leader is one of them
    in either direction is not held to the bound, since its backlog crosses that link at
    a pace no bound drawn from the timings can promise."""
    assert bound_us > 0, bound_us
    judge = _Judge(bound_us, degraded)
    roles = NodeViews()
    last_us = 0
    for event in trace_events:
        last_us = event["t"]
        if judge.window_start_us is not None:
            judge.judge(last_us, roles)
        _replay(event, judge, roles)
    if judge.window_start_us is None:
        return CheckerResult(Verdict.VALID, anomalies=(), note="the run has no liveness phase; nothing to judge")
    judge.judge(last_us, roles)
    stats = {
        "progress_bound_us": bound_us,
        "heights": len(judge.heights),
        "stalls": {str(node_id): judge.nodes[node_id].stalls for node_id in sorted(judge.nodes)},
        "applied": {str(node_id): judge.nodes[node_id].applied for node_id in sorted(judge.nodes)},
    }
    return CheckerResult(Verdict.holds(not judge.anomalies), anomalies=tuple(judge.anomalies), stats=stats)


def _replay(event: TraceEvent, judge: _Judge, roles: NodeViews) -> None:
    kind = event["ev"]
    roles.apply(event)
    judge.stalls.observe(event)
    if kind == "start":
        judge.nodes = {node_id: _Follower() for node_id in event["nodes"]}
    elif kind == "apply":
        follower = judge.nodes.setdefault(event["node"], _Follower())
        follower.applied = max(follower.applied, event["index"] + len(event["entries"]) - 1)
    elif kind == "restart":
        judge.nodes.setdefault(event["node"], _Follower()).applied = restart_snapshot(event)[0]
    elif kind == "restore":
        for node_id in event["nodes"]:
            judge.nodes.setdefault(node_id, _Follower()).applied = event["index"]
    elif kind == "snapshot-install":
        follower = judge.nodes.setdefault(event["node"], _Follower())
        follower.applied = max(follower.applied, event["index"])
    elif kind == "member-added":
        # A node that joins is judged from its arrival on, as one that restarts.
        judge.nodes.setdefault(event["node"], _Follower()).next_height = len(judge.heights)
    elif kind == "conf-apply" and event["index"] > judge.membership_index:
        judge.membership_index = event["index"]
        judge.members = frozenset(event["voters"]) | frozenset(event["learners"])
    elif kind == "hard_state":
        judge.commits[event["node"]] = event["commit"]
        if judge.window_start_us is not None and roles.usable_leader() == event["node"]:
            judge.reach(event["t"], event["node"], event["commit"])
    elif kind == "phase" and event["phase"] == "liveness" and judge.window_start_us is None:
        judge.window_start_us = event["t"]
        leader = roles.usable_leader()
        if leader is not None:
            judge.reach(event["t"], leader, judge.commits.get(leader, 0))
