"""Judge whether the cluster recovered once the faults were healed.

Safety alone is easy to fake: a cluster that stops answering never lies. So every run ends
with a quiet `liveness` phase, and this checker demands two things of it.

Leader. Within `leader_bound_us` (carried by the `liveness` phase event) of the phase's
start, some node must be leader of the highest term any node holds (a term reached in
memory and lost in a crash stops counting at the node's restart), while it
is neither crashed nor paused: a "usable" leader. A leader elected before the heal that is
still leader counts (time to leader 0). A leader of an older term does not: some node has
moved on to a later term, so the cluster will not accept that leader's entries. And from
then on until the end of the trace (final reads need a leader too) the cluster must never
go longer than the same bound without a usable leader: a leader that is there at the
phase's start and then vanishes for good has not shown that the cluster recovers. The
condition is tested after every replayed event (roles, terms, crashes, restarts, pauses,
resumes) from the phase's start on; leaderless stretches are measured, reported in stats,
and each one over the bound is an anomaly carrying its length and why no leader counted.
If the trace ends before any usable leader appeared, that fails however short the phase
was: a run too short to show recovery has not shown it. A heal that sets clocks back stalls
those nodes' timers (`checkers.clocks`): a majority of stalled followers keep their lease
on a stalled leader, and nobody campaigns until their clocks catch up; so a leaderless
stretch is given the bound counted from the later of its start and the moment every
node's timers run again.

Clients. A client slot (history `client`, else `process`) is live in the phase if it had an
operation outstanding when the phase began or recorded any event during the phase. Each
live slot must complete at least one operation the cluster answered, invoked at or after the
phase start and completed before the `final-reads` phase starts (or, with no final reads, by the end of the
trace). Answered means `ok`, or a `cas` that failed with `compare-failed`: the cluster
ordered it and said so, which is progress. A slot that was idle all phase long made no request and is not judged; a slot
stuck on a request that never returns is live and fails.

A trace without a `liveness` phase event is not valid: the checker cannot tell recovery
from its absence, and a verdict of success would claim what was never tested. A second
`liveness` phase event is ignored; the first one opens the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from checkers.clocks import ClockStalls
from checkers.explain import format_duration, format_seconds
from checkers.node_view import NodeViews
from checkers.trace import TraceEvent
from checkers.verdict import CheckerResult, Verdict


@dataclass(slots=True)
class _Window:
    """The liveness phase as the trace shows it; times in true simulated microseconds."""

    start_us: int
    leader_bound_us: int
    final_reads_us: int | None = None
    end_us: int = 0

    def counts_completion(self, time_us: int) -> bool:
        if self.final_reads_us is not None:
            return time_us < self.final_reads_us
        return time_us <= self.end_us

    def contains(self, time_us: int) -> bool:
        return self.start_us <= time_us and self.counts_completion(time_us)


@dataclass(slots=True)
class _Gap:
    """A stretch of the window without a usable leader; `end_us` None if the trace ended
    first. `state` says why no leader counted when the gap outgrew the bound."""

    start_us: int
    end_us: int | None
    length_us: int
    state: str
    deadline_us: int


@dataclass(slots=True)
class _Leadership:
    """Times the window's leaderless stretches. The window opens as a gap that the first
    usable leader closes, so the time to the first leader is just the first gap."""

    start_us: int
    bound_us: int
    stalls: ClockStalls = field(default_factory=ClockStalls)
    gap_start_us: int | None = None
    gap_state: str | None = None
    first_us: int | None = None
    first_node: int | None = None
    first_term: int | None = None
    longest_gap_us: int = 0
    long_gaps: list[_Gap] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gap_start_us = self.start_us

    def deadline_us(self, gap_start_us: int) -> int:
        """When a leaderless stretch from `gap_start_us` outgrows the bound."""
        return max(gap_start_us, self.stalls.settled_us()) + self.bound_us

    def before(self, time_us: int, roles: NodeViews) -> None:
        """Called before an event is replayed: the state just before the gap outgrows the
        bound is the one that explains it."""
        if self.gap_start_us is not None and self.gap_state is None and time_us > self.deadline_us(self.gap_start_us):
            self.gap_state = roles.describe()

    def after(self, time_us: int, roles: NodeViews) -> None:
        leader = roles.usable_leader()
        if leader is None:
            if self.gap_start_us is None:
                self.gap_start_us, self.gap_state = time_us, None
            return
        if self.first_us is None:
            self.first_us, self.first_node = time_us, leader
            self.first_term = roles.nodes[leader].term
        if self.gap_start_us is not None:
            self.close_gap(time_us, time_us, roles)

    def finish(self, end_us: int, roles: NodeViews) -> None:
        if self.gap_start_us is not None:
            self.close_gap(end_us, None, roles)

    def close_gap(self, now_us: int, end_us: int | None, roles: NodeViews) -> None:
        assert self.gap_start_us is not None
        assert now_us >= self.gap_start_us, (now_us, self.gap_start_us)
        length_us = now_us - self.gap_start_us
        self.longest_gap_us = max(self.longest_gap_us, length_us)
        # A gap still open when the trace ends before any leader appeared fails at any
        # length: the run never showed recovery. A later open gap only fails past the bound.
        never_led = end_us is None and self.first_us is None
        deadline_us = self.deadline_us(self.gap_start_us)
        if now_us > deadline_us or never_led:
            state = self.gap_state if self.gap_state is not None else roles.describe()
            self.long_gaps.append(_Gap(self.gap_start_us, end_us, length_us, state, deadline_us))
        self.gap_start_us, self.gap_state = None, None


def check_liveness(trace_events: Iterable[TraceEvent], history_events: Iterable[Any]) -> CheckerResult:
    """Judge the liveness phase of a run.

    `trace_events` are validated trace dicts (`checkers.trace`); `history_events` are
    history events with `time`, `process`, `client` (may be None), `type` as attributes
    (`checkers.history.Event`) or as mapping keys. The result has anomalies and stats,
    JSON-able; every anomaly has `property`, `t`, `phase`, a one-line `message`.
    """
    window, leadership, last_event_us = _replay_trace(trace_events)
    if window is None or leadership is None:
        anomaly = {
            "property": "liveness-phase",
            "t": last_event_us,
            "phase": None,
            "message": "trace has no liveness phase",
        }
        return CheckerResult(Verdict.INVALID, anomalies=(anomaly,), stats={})
    anomalies = [_gap_anomaly(gap, leadership) for gap in leadership.long_gaps]
    clients = _client_progress(history_events, window)
    for client in sorted(clients):
        progress = clients[client]
        if progress["live"] and progress["ok"] + progress["answered"] == 0:
            anomalies.append(_client_anomaly(client, progress, window))
    stats = {
        "liveness_start_us": window.start_us,
        "leader_bound_us": window.leader_bound_us,
        "window_end_us": (window.final_reads_us if window.final_reads_us is not None else window.end_us),
        "time_to_leader_us": (None if leadership.first_us is None else leadership.first_us - window.start_us),
        "leader": leadership.first_node,
        "leader_term": leadership.first_term,
        "longest_leaderless_us": leadership.longest_gap_us,
        "clocks_settled_us": leadership.stalls.settled_us(),
        "leaderless_periods_over_bound": len(leadership.long_gaps),
        "live_clients": sum(1 for progress in clients.values() if progress["live"]),
        "clients": {str(client): clients[client] for client in sorted(clients)},
    }
    return CheckerResult(Verdict.holds(not anomalies), anomalies=tuple(anomalies), stats=stats)


def _replay_trace(
    trace_events: Iterable[TraceEvent],
) -> tuple[_Window | None, _Leadership | None, int]:
    """One pass: find the window and time the leaderless stretches from its start on."""
    roles = NodeViews()
    stalls = ClockStalls()
    window: _Window | None = None
    leadership: _Leadership | None = None
    last_event_us = 0
    for event in trace_events:
        last_event_us = event["t"]
        if leadership is not None:
            leadership.before(last_event_us, roles)
        roles.apply(event)
        stalls.observe(event)
        if event["ev"] == "phase":
            window = _on_phase(event, window)
            if window is not None and leadership is None:
                leadership = _Leadership(window.start_us, window.leader_bound_us, stalls)
        if leadership is not None:
            leadership.after(last_event_us, roles)
    if window is not None and leadership is not None:
        window.end_us = last_event_us
        leadership.finish(last_event_us, roles)
    return window, leadership, last_event_us


def _on_phase(event: TraceEvent, window: _Window | None) -> _Window | None:
    phase = event["phase"]
    if phase == "liveness" and window is None:
        bound_us = event["leader_bound_us"]
        assert bound_us >= 0, "the trace reader rejects a negative bound"
        return _Window(start_us=event["t"], leader_bound_us=bound_us)
    if phase == "final-reads" and window is not None and window.final_reads_us is None:
        window.final_reads_us = event["t"]
    return window


def _gap_anomaly(gap: _Gap, leadership: _Leadership) -> dict[str, Any]:
    bound = f"bound {format_duration(leadership.bound_us)}"
    if gap.deadline_us - gap.start_us > leadership.bound_us:
        bound += f" from {format_seconds(gap.deadline_us - leadership.bound_us)}, when stalled clocks caught up"
    length = format_duration(gap.length_us)
    if leadership.first_us is None:
        message = (
            f"no usable leader in the {length} from the liveness phase's "
            f"start to the end of the trace ({bound}); when the bound ran out, {gap.state}"
        )
    elif gap.start_us == leadership.start_us:
        message = (
            f"first usable leader (node {leadership.first_node}, term "
            f"{leadership.first_term}) came {length} after the liveness "
            f"phase began ({bound}); when the bound ran out, {gap.state}"
        )
    else:
        until = "the end of the trace" if gap.end_us is None else format_seconds(gap.end_us)
        message = (
            f"no usable leader for {length} from {format_seconds(gap.start_us)} to "
            f"{until} ({bound}); when the bound ran out, {gap.state}"
        )
    return {
        "property": "leader",
        "t": gap.deadline_us,
        "phase": "liveness",
        "message": message,
        "leaderless_from_us": gap.start_us,
        "leaderless_until_us": gap.end_us,
        "leaderless_us": gap.length_us,
        "leader_bound_us": leadership.bound_us,
    }


def _get(event: Any, name: str) -> Any:
    if isinstance(event, Mapping):
        return event.get(name)
    return getattr(event, name, None)


def _client_progress(history_events: Iterable[Any], window: _Window) -> dict[int, dict[str, Any]]:
    """Per client slot: whether it was live in the window and what it completed there."""
    progress: dict[int, dict[str, Any]] = {}
    outstanding: dict[int, tuple[int, int]] = {}  # process -> (client, invoke time)
    for event in history_events:
        process, time_us, kind = _get(event, "process"), _get(event, "time"), _get(event, "type")
        client = _get(event, "client")
        client = process if client is None else client
        slot = progress.setdefault(
            client, {"live": False, "invoked": 0, "ok": 0, "fail": 0, "answered": 0, "info": 0, "pending": 0}
        )
        if kind == "invoke":
            outstanding[process] = (client, time_us)
            if window.contains(time_us):
                slot["live"] = True
                slot["invoked"] += 1
            continue
        invoked = outstanding.pop(process, None)
        if window.contains(time_us) or (
            invoked is not None and invoked[1] < window.start_us and time_us >= window.start_us
        ):
            slot["live"] = True
        if (
            invoked is not None
            and invoked[1] >= window.start_us
            and window.counts_completion(time_us)
            and kind in ("ok", "fail", "info")
        ):
            slot[kind] += 1
            if kind == "fail" and _get(event, "error") == "compare-failed":
                slot["answered"] += 1
    for client, invoke_us in outstanding.values():
        # Never completed: live if the request was outstanding at some point in the window.
        if window.counts_completion(invoke_us):
            progress[client]["live"] = True
            progress[client]["pending"] += 1
    return progress


def _client_anomaly(client: int, progress: dict[str, Any], window: _Window) -> dict[str, Any]:
    message = (
        f"client {client} had no operation answered in the liveness phase "
        f"(invoked {progress['invoked']}: {progress['fail']} failed, {progress['info']} "
        f"of unknown outcome, {progress['pending']} never completed)"
    )
    end_us = window.final_reads_us if window.final_reads_us is not None else window.end_us
    return {
        "property": "client-progress",
        "t": end_us,
        "phase": "liveness",
        "message": message,
        "client": client,
        **progress,
    }
