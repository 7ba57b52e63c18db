"""Judge whether the cluster recovered once the faults were healed.

Safety alone is easy to fake: a cluster that stops answering never lies. So every run ends
with a quiet `liveness` phase, and this checker demands two things of it.

Leader. Within `leader_bound_us` (carried by the `liveness` phase event) of the phase's
start, some node must be leader of the highest term any node has reached so far, while it
is neither crashed nor paused. A leader elected before the heal that is still leader counts
(time to leader 0). A leader of an older term does not: some node has moved on to a later
term, so the cluster will not accept that leader's entries. The moment is found by replaying
roles, terms, crashes, restarts, pauses and resumes and testing the condition after every
event from the phase start on; if it first holds late, the measured time is still reported.
If the trace ends before the bound has passed and no leader appeared, that is a failure too:
a run too short to show recovery has not shown it.

Clients. A client slot (history `client`, else `process`) is live in the phase if it had an
operation outstanding when the phase began or recorded any event during the phase. Each
live slot must complete at least one `ok` operation invoked at or after the phase start and
completed before the `final-reads` phase starts (or, with no final reads, by the end of the
trace). A slot that was idle all phase long made no request and is not judged; a slot
stuck on a request that never returns is live and fails.

A trace without a `liveness` phase event is not valid: the checker cannot tell recovery
from its absence, and a verdict of success would claim what was never tested. A second
`liveness` phase event is ignored; the first one opens the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from checkers.trace import TraceEvent


@dataclass(slots=True)
class _NodeView:
    role: str = "follower"
    term: int = 0
    crashed: bool = False
    paused: bool = False


@dataclass(slots=True)
class _Window:
    """The liveness phase as the trace shows it; times in true simulated microseconds."""

    start_us: int
    leader_bound_us: int
    final_reads_us: int | None = None
    end_us: int = 0

    @property
    def leader_deadline_us(self) -> int:
        return self.start_us + self.leader_bound_us

    def counts_completion(self, time_us: int) -> bool:
        if self.final_reads_us is not None:
            return time_us < self.final_reads_us
        return time_us <= self.end_us

    def contains(self, time_us: int) -> bool:
        return self.start_us <= time_us and self.counts_completion(time_us)


@dataclass(slots=True)
class _LeaderWatch:
    """Replays the cluster's roles and remembers when a usable leader first appeared."""

    nodes: dict[int, _NodeView] = field(default_factory=dict)
    max_term: int = 0
    found_us: int | None = None
    found_node: int | None = None
    found_term: int | None = None
    state_at_deadline: str | None = None
    last_event_us: int = 0

    def apply(self, event: TraceEvent) -> None:
        kind = event["ev"]
        if "node" not in event or kind not in _NODE_EVENTS:
            return
        view = self.nodes.setdefault(event["node"], _NodeView())
        if kind == "role":
            view.role, view.term = event["role"], event["term"]
        elif kind == "hard_state":
            view.term = event["term"]
        elif kind == "restart":
            view.role, view.term, view.crashed = "follower", event["term"], False
        elif kind == "crash":
            view.crashed = True
        else:
            view.paused = kind == "pause"
        self.max_term = max(self.max_term, view.term)

    def note_leader(self, time_us: int) -> None:
        leader = self.usable_leader()
        if leader is not None:
            self.found_us, self.found_node = time_us, leader
            self.found_term = self.nodes[leader].term

    def usable_leader(self) -> int | None:
        for node_id in sorted(self.nodes):
            view = self.nodes[node_id]
            if (view.role == "leader" and view.term == self.max_term
                    and not view.crashed and not view.paused):
                return node_id
        return None

    def describe(self) -> str:
        """Why no leader counts right now, in one line."""
        leaders = []
        for node_id in sorted(self.nodes):
            view = self.nodes[node_id]
            if view.role != "leader":
                continue
            reasons = [word for word, flag in (("crashed", view.crashed),
                                               ("paused", view.paused)) if flag]
            if view.term < self.max_term:
                reasons.append(f"stale, highest term is {self.max_term}")
            leaders.append(f"node {node_id} of term {view.term} ({', '.join(reasons)})")
        if not leaders:
            return f"no node is leader; highest term is {self.max_term}"
        return "leaders: " + "; ".join(leaders)


_NODE_EVENTS = frozenset({"role", "hard_state", "restart", "crash", "pause", "resume"})


def check_liveness(trace_events: Iterable[TraceEvent],
                   history_events: Iterable[Any]) -> dict[str, Any]:
    """Judge the liveness phase of a run.

    `trace_events` are validated trace dicts (`checkers.trace`); `history_events` are
    history events with `time`, `process`, `client` (may be None), `type` as attributes
    (`checkers.history.Event`) or as mapping keys. Returns `{"valid", "anomalies",
    "stats"}`, JSON-able; every anomaly has `property`, `t`, `phase`, a one-line `message`.
    """
    window, watch = _replay_trace(trace_events)
    if window is None:
        anomaly = {"property": "liveness-phase", "t": watch.last_event_us, "phase": None,
                   "message": "trace has no liveness phase"}
        return {"valid": False, "anomalies": [anomaly], "stats": {}}
    anomalies = _leader_anomalies(window, watch)
    clients = _client_progress(history_events, window)
    for client in sorted(clients):
        progress = clients[client]
        if progress["live"] and progress["ok"] == 0:
            anomalies.append(_client_anomaly(client, progress, window))
    stats = {
        "liveness_start_us": window.start_us,
        "leader_bound_us": window.leader_bound_us,
        "window_end_us": (window.final_reads_us if window.final_reads_us is not None
                          else window.end_us),
        "time_to_leader_us": (None if watch.found_us is None
                              else watch.found_us - window.start_us),
        "leader": watch.found_node,
        "leader_term": watch.found_term,
        "live_clients": sum(1 for progress in clients.values() if progress["live"]),
        "clients": {str(client): clients[client] for client in sorted(clients)},
    }
    return {"valid": not anomalies, "anomalies": anomalies, "stats": stats}


def _replay_trace(trace_events: Iterable[TraceEvent]) -> tuple[_Window | None, _LeaderWatch]:
    """One pass: find the window and the first moment a usable leader exists in it."""
    watch = _LeaderWatch()
    window: _Window | None = None
    for event in trace_events:
        watch.last_event_us = event["t"]
        searching = window is not None and watch.found_us is None
        if searching and watch.state_at_deadline is None \
                and event["t"] > window.leader_deadline_us:
            # The last state before the deadline passed says why no leader counted.
            watch.state_at_deadline = watch.describe()
        watch.apply(event)
        if event["ev"] == "phase":
            window = _on_phase(event, window)
        if window is not None and watch.found_us is None:
            watch.note_leader(event["t"])
    if window is None:
        return None, watch
    window.end_us = watch.last_event_us
    if watch.found_us is None and watch.state_at_deadline is None:
        watch.state_at_deadline = watch.describe()
    return window, watch


def _on_phase(event: TraceEvent, window: _Window | None) -> _Window | None:
    phase = event["phase"]
    if phase == "liveness" and window is None:
        bound_us = event["leader_bound_us"]
        assert bound_us >= 0, "the trace reader rejects a negative bound"
        return _Window(start_us=event["t"], leader_bound_us=bound_us)
    if phase == "final-reads" and window is not None and window.final_reads_us is None:
        window.final_reads_us = event["t"]
    return window


def _leader_anomalies(window: _Window, watch: _LeaderWatch) -> list[dict[str, Any]]:
    if watch.found_us is not None and watch.found_us <= window.leader_deadline_us:
        return []
    if watch.found_us is None:
        message = (f"no usable leader within {window.leader_bound_us} us of the liveness "
                   f"phase, nor by the end of the trace; at the deadline "
                   f"{watch.state_at_deadline}")
    else:
        elapsed_us = watch.found_us - window.start_us
        message = (f"first usable leader (node {watch.found_node}, term {watch.found_term}) "
                   f"came {elapsed_us} us after the liveness phase began, bound "
                   f"{window.leader_bound_us} us; at the deadline {watch.state_at_deadline}")
    return [{"property": "leader", "t": window.leader_deadline_us, "phase": "liveness",
             "message": message, "leader_bound_us": window.leader_bound_us,
             "time_to_leader_us": (None if watch.found_us is None
                                   else watch.found_us - window.start_us)}]


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
        slot = progress.setdefault(client, {"live": False, "invoked": 0, "ok": 0, "fail": 0,
                                            "info": 0, "pending": 0})
        if kind == "invoke":
            outstanding[process] = (client, time_us)
            if window.contains(time_us):
                slot["live"] = True
                slot["invoked"] += 1
            continue
        invoked = outstanding.pop(process, None)
        if window.contains(time_us) or (invoked is not None and invoked[1] < window.start_us
                                        and time_us >= window.start_us):
            slot["live"] = True
        if invoked is not None and invoked[1] >= window.start_us \
                and window.counts_completion(time_us) and kind in ("ok", "fail", "info"):
            slot[kind] += 1
    for client, invoke_us in outstanding.values():
        # Never completed: live if the request was outstanding at some point in the window.
        if window.counts_completion(invoke_us):
            progress[client]["live"] = True
            progress[client]["pending"] += 1
    return progress


def _client_anomaly(client: int, progress: dict[str, Any], window: _Window) -> dict[str, Any]:
    message = (f"client {client} completed no ok operation in the liveness phase "
               f"(invoked {progress['invoked']}: {progress['fail']} fail, {progress['info']} "
               f"info, {progress['pending']} never completed)")
    end_us = window.final_reads_us if window.final_reads_us is not None else window.end_us
    return {"property": "client-progress", "t": end_us, "phase": "liveness",
            "message": message, "client": client, **progress}
