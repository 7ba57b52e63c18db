"""Every node's role, term and liveness as a trace shows them, replayed event by event.

Liveness asks whether a usable leader exists; the disruption checker asks whether a healthy
leader was deposed. Both must read roles, terms, crashes, restarts, pauses and resumes the
same way, so they replay the trace through this one view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from checkers.trace import TraceEvent

NODE_EVENTS = frozenset(
    {"role", "hard_state", "restart", "crash", "pause", "resume", "started", "member-removed", "member-added"}
)
"""The trace events that change a node's view; any other event leaves every view alone."""


@dataclass(slots=True)
class NodeView:
    role: str = "follower"
    term: int = 0
    crashed: bool = False
    paused: bool = False
    removed: bool = False


@dataclass(slots=True)
class NodeViews:
    """Every node's role, term and liveness as the trace shows them so far."""

    nodes: dict[int, NodeView] = field(default_factory=dict)
    max_term: int = 0
    """The highest term a node holds: reached in memory (a crashed node's counts until it
    restarts) or read back from its disk at a restart; a removed member's no longer counts."""

    def apply(self, event: TraceEvent) -> None:
        kind = event["ev"]
        if kind not in NODE_EVENTS:
            return
        view = self.nodes.setdefault(event["node"], NodeView())
        if kind == "role":
            view.role, view.term = event["role"], event["term"]
        elif kind == "hard_state":
            view.term = event["term"]
        elif kind == "restart":
            view.role, view.term, view.crashed, view.paused = "follower", event["term"], False, False
        elif kind in ("started", "member-added"):
            # A real cluster's member process back (its term is the next role line's).
            view.role, view.crashed, view.paused = "follower", False, False
        elif kind in ("crash", "member-removed"):
            view.crashed = True
            view.removed = view.removed or kind == "member-removed"
        else:
            view.paused = kind == "pause"
        if kind in ("restart", "member-removed"):
            # A term a node reached but never persisted dies with its crash, and a removed
            # member's dies with it (it stopped for good, and a term only its own campaign
            # reached deposes no one): the highest term is the highest any node still in
            # the cluster holds now, which a restart or a removal may lower.
            self.max_term = max((other.term for other in self.nodes.values() if not other.removed), default=0)
        else:
            self.max_term = max(self.max_term, view.term)

    def usable_leader(self) -> int | None:
        for node_id in sorted(self.nodes):
            view = self.nodes[node_id]
            if view.role == "leader" and view.term == self.max_term and not view.crashed and not view.paused:
                return node_id
        return None

    def describe(self) -> str:
        """Why no leader counts right now, in one line."""
        leaders = []
        for node_id in sorted(self.nodes):
            view = self.nodes[node_id]
            if view.role != "leader":
                continue
            reasons = [word for word, flag in (("crashed", view.crashed), ("paused", view.paused)) if flag]
            if view.term < self.max_term:
                reasons.append(f"stale, highest term is {self.max_term}")
            leaders.append(f"node {node_id} of term {view.term} ({', '.join(reasons)})")
        if not leaders:
            return f"no node is leader; highest term is {self.max_term}"
        return "leaders: " + "; ".join(leaders)
