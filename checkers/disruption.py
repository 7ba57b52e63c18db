"""Judge availability: did a node depose (or threaten) a leader the cluster could keep?

Safety holds in a cluster that changes leader every second, and liveness only asks that
some leader exists after the heal. Neither sees the outage etcd operators know: a node that
rejoins after a partition, runs a fast clock, or resumes from a pause calls an election,
its higher term deposes a leader that was doing its job, and the cluster stops serving
until a new one is elected. PreVote and CheckQuorum exist to stop exactly that. PreVote
makes a node ask whether it could win before it raises its term, so a node cut off from the
cluster keeps its term instead of climbing; CheckQuorum's leader lease makes every node
that heard from a leader within the election timeout refuse to vote (or pre-vote) for
anyone else. With both on, no node can begin a term while a majority follows a working
leader. This checker holds the trace to that promise.

Healthy leader. Node L is a healthy leader at time t when, for at least the stable window
W before t:
- L has been leader of its term T (it became leader at least W ago), neither crashed nor
  paused, and no clock or disk fault acted on it: a slowed clock sends heartbeats late, and
  a slowed disk holds back every message of the Ready behind the fsync it waits for; a
  clock fault acts until the node's timers run again after its heal (a heal that sets a
  clock back stalls them: `checkers.clocks`);
- a majority of the cluster, L counted, were each steady (running, not paused, no clock or
  disk fault: a changed tick rate moves a follower's lease and timeout, a slow disk delays
  its answers and so L's CheckQuorum) with uncut links to and from L, and each had a term
  no higher than T (a node at a higher term is not following L);
- the network did not lose enough messages to lapse a lease: a lease lapses by loss alone
  only when every heartbeat of one lease period is lost, which with loss p and k
  heartbeats per lease (`heartbeats_per_lease`: election ticks over heartbeat ticks, less
  one for the heartbeat that may race the lease's end) has
  chance p^k per follower and period. Loss is the base loss (`network_loss`) or the
  highest loss of the active `link` faults (which act on every link), whichever is higher,
  as the network applies it; at a chance of one in a million or more (`LEASE_LOSS_CHANCE`)
  no leader counts as healthy. Below it, a majority of leases lapsing together by chance is
  rarer still, and counting the network as lossless keeps the check alive on links that
  drop a message now and then, where a real disruption would hide otherwise.
Why a window: a condition that just became true has not yet been acted on. A node whose
link to L was just restored, or that just resumed or restarted, has not yet heard L's
heartbeat and holds no lease; a pre-election may already have won its votes; L may have
won an election a rival was still running. The window is the longest randomised election
timeout on the slowest clock the scenario allows (`stable_window_us`): by then every
member of the majority has heard L (a heartbeat interval is a fraction of it) and any
election begun before the condition held has timed out. Crash and pause faults need no rule
of their own: the `crash`/`restart` and `pause`/`resume` events they cause are read as
they are. Partitions are read from the `cut` pairs of each `fault` until the `heal` of the
same id; overlapping partitions cut a link until the last of them heals. Duplication does
not delay a heartbeat and is ignored. Links to nodes outside the majority do not matter:
those nodes are a minority and cannot win an election against leases held by a majority.

A leader a `transfer` fault asked to hand over (its `leader` and `term`) is not healthy for
the rest of that term: the campaign it asked for (TIMEOUT_NOW, which may arrive late) is
granted over the voters' leases by design, and is no disruption.

Disruption. A node's term rising above T while some leader L of term T is healthy (judged
just before the event) is a disruption: it either is a campaign (the node became candidate)
or carries a term that will depose L as soon as L hears it. Each term is counted once, at
the first rise above a healthy leader's term, and attributed to the node that first held
that term (the one that campaigned for it), whoever carried it to this moment. A node cut
off from the cluster that climbs from term 3 to 45 thus makes 42 disruptions: each of those
terms is one more election it called, and on rejoining the highest of them deposes L. A
term begun while no leader is healthy is an ordinary election and is not counted.

Bound. The scenario sets how many disruptions a run may have (`max_disruptions`); None
means no limit, and the checker then reports its counts in `stats` only. With PreVote and
CheckQuorum on the honest bound is 0; without them disruptions are Raft working as
designed. Over the bound, every disruption is an anomaly (property `disruption`, with `t`,
`phase`, `node` (the campaigner), `leader`, `leader_term`, `term_before`, `term_after`,
`reached` and a one-line `message`), grouped by campaigner and threatened leader.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from checkers.clocks import ClockStalls
from checkers.explain import format_seconds, plural
from checkers.node_view import NodeViews
from checkers.trace import TraceEvent
from checkers.verdict import CheckerResult, Verdict

LEASE_LOSS_CHANCE = 1e-6
"""A loss at which a follower misses every heartbeat of a lease period at least this often
(p^k) may lapse leases legitimately: no leader counts as healthy under it."""
ANOMALIES_KEPT = 20
"""Anomalies kept in full (besides the first of each group); all are counted."""
_RELEVANT = frozenset(
    {
        "start",
        "phase",
        "role",
        "hard_state",
        "crash",
        "restart",
        "pause",
        "resume",
        "fault",
        "heal",
        "clock",
        "member-removed",
        "member-added",
    }
)
_DEGRADING = ("clock", "disk", "delay")
"""Fault kinds that make their target nodes unfit to be (or to follow) a healthy leader (a
delay fault holds back the targets' heartbeats and answers)."""


@dataclass(frozen=True, slots=True)
class DisruptionSettings:
    """What the checker needs from the scenario, which the trace does not carry."""

    stable_window_us: int
    max_disruptions: int | None
    network_loss: float = 0.0
    heartbeats_per_lease: int = 1

    def __post_init__(self) -> None:
        assert self.stable_window_us >= 0, self.stable_window_us
        assert self.max_disruptions is None or self.max_disruptions >= 0, self.max_disruptions
        assert 0.0 <= self.network_loss <= 1.0, self.network_loss
        assert self.heartbeats_per_lease >= 1, self.heartbeats_per_lease

    def lapses_leases(self, loss: float) -> bool:
        """Whether messages lost at this rate may lapse a lease by chance (see the module)."""
        return loss > 0 and loss**self.heartbeats_per_lease >= LEASE_LOSS_CHANCE


def stable_window_us(tick_us: int, election_ticks: int, drift_ppm_max: int) -> int:
    """The longest randomised election timeout (2 x `election_ticks` ticks, the top of
    its range) in true time on the slowest clock the cluster's drift allows."""
    assert tick_us > 0, tick_us
    assert 0 <= drift_ppm_max < 1_000_000, drift_ppm_max
    local_us = 2 * election_ticks * tick_us
    return -(-local_us * 1_000_000 // (1_000_000 - drift_ppm_max))


@dataclass(frozen=True, slots=True)
class _Health:
    """A healthy leader at one moment, and the majority that makes it so."""

    leader: int
    term: int
    since_us: int
    reached: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Disruption:
    time_us: int
    phase: str | None
    node: int
    origin: int
    origin_us: int
    term_before: int
    term_after: int
    health: _Health


@dataclass(slots=True)
class _Cluster:
    """The facts a health judgement needs, replayed from the trace. A `None` in
    `steady_since` means the node is not steady now; times are true microseconds."""

    settings: DisruptionSettings
    views: NodeViews = field(default_factory=NodeViews)
    nodes: tuple[int, ...] = ()
    start_us: int = 0
    phase: str | None = None
    steady_since: dict[int, int | None] = field(default_factory=dict)
    degraded: dict[int, int] = field(default_factory=dict)
    stalls: ClockStalls = field(default_factory=ClockStalls)
    cuts: dict[tuple[int, int], int] = field(default_factory=dict)
    uncut_since: dict[tuple[int, int], int] = field(default_factory=dict)
    link_losses: dict[Any, float] = field(default_factory=dict)
    lossless_since: int | None = 0
    active: dict[int, TraceEvent] = field(default_factory=dict)
    leader_since: dict[int, int] = field(default_factory=dict)
    term_origin: dict[int, tuple[int, int]] = field(default_factory=dict)
    counted_terms: set[int] = field(default_factory=set)
    handing_over: set[tuple[int, int]] = field(default_factory=set)
    """(leader, term) of each leader a transfer fault asked to hand over."""
    disruptions: list[_Disruption] = field(default_factory=list)

    def replay(self, event: TraceEvent) -> None:
        kind = event["ev"]
        if kind not in _RELEVANT:
            return
        time_us = event["t"]
        self.stalls.observe(event)
        if kind == "start":
            self.on_start(event)
        elif kind == "phase":
            self.phase = event["phase"]
        elif kind == "fault":
            self.on_fault(event, time_us)
        elif kind == "heal":
            self.on_heal(event, time_us)
        elif kind == "clock":
            pass  # a strobe's flip: its nodes are degraded by the fault; `stalls` saw the plan
        elif kind == "member-added" and event["node"] not in self.steady_since:
            # A node that joined mid-run (a removed one is down for good: `views` reads
            # `member-removed` as a crash, so a removed leader is healthy no more).
            self.nodes = tuple(sorted({*self.nodes, event["node"]}))
            self.steady_since[event["node"]] = time_us
            self.on_node_event(event, time_us)
        else:
            self.on_node_event(event, time_us)

    def on_start(self, event: TraceEvent) -> None:
        self.nodes = tuple(sorted(set(event["nodes"])))
        self.start_us = event["t"]
        self.lossless_since = None if self.settings.lapses_leases(self.settings.network_loss) else self.start_us
        for node in self.nodes:
            self.steady_since[node] = event["t"]

    def on_node_event(self, event: TraceEvent, time_us: int) -> None:
        node, kind = event["node"], event["ev"]
        before = self.views.nodes.get(node)
        term_before = 0 if before is None else before.term
        role_before = None if before is None else before.role
        if kind in ("role", "hard_state") and event["term"] > term_before:
            self.on_term_rise(node, term_before, event["term"], time_us)
        self.views.apply(event)
        view = self.views.nodes[node]
        if view.role == "leader" and not view.crashed:
            if role_before != "leader" or view.term != term_before:
                self.leader_since[node] = time_us
        else:
            self.leader_since.pop(node, None)
        self.refresh_steady(node, time_us)

    def on_term_rise(self, node: int, term_before: int, term_after: int, time_us: int) -> None:
        """Called before the event is replayed: health is judged on the state it changes."""
        assert term_after > term_before, (node, term_before, term_after)
        self.term_origin.setdefault(term_after, (node, time_us))
        if term_after in self.counted_terms:
            return
        health = self.healthy_leader(time_us)
        if health is None or term_after <= health.term:
            return
        self.counted_terms.add(term_after)
        origin, origin_us = self.term_origin[term_after]
        self.disruptions.append(
            _Disruption(time_us, self.phase, node, origin, origin_us, term_before, term_after, health)
        )

    def refresh_steady(self, node: int, time_us: int) -> None:
        view = self.views.nodes.get(node)
        running = view is None or not (view.crashed or view.paused)
        if running and self.degraded.get(node, 0) == 0:
            if self.steady_since.get(node) is None:
                # A clock fault's heal may set the clock back: the node is steady only once
                # its timers run again (`checkers.clocks`), a time that may be ahead.
                self.steady_since[node] = max(time_us, self.stalls.resumes_us(node))
        else:
            self.steady_since[node] = None

    def on_fault(self, event: TraceEvent, time_us: int) -> None:
        self.active[_fault_id(event)] = event
        self.change_fault(event, +1, time_us)

    def on_heal(self, event: TraceEvent, time_us: int) -> None:
        started = self.active.pop(_fault_id(event), None)
        if started is not None:  # a heal of a fault never started changes nothing
            self.change_fault(started, -1, time_us)

    def change_fault(self, fault: TraceEvent, step: int, time_us: int) -> None:
        """Start (`step` +1) or end (-1) what a fault does to links and nodes."""
        kind = fault["kind"]
        if kind == "partition":
            for pair in self.cut_pairs(fault):
                self.cuts[pair] = self.cuts.get(pair, 0) + step
                if self.cuts[pair] == 0:
                    self.uncut_since[pair] = time_us
        elif kind == "link":
            self.change_loss(_fault_id(fault), _number(fault.get("loss")) if step > 0 else None, time_us)
        elif kind == "transfer" and step > 0:
            leader, term = fault.get("leader"), fault.get("term")
            if type(leader) is int and type(term) is int:
                self.handing_over.add((leader, term))
        elif kind in _DEGRADING:
            for node in self.fault_nodes(fault):
                self.degraded[node] = self.degraded.get(node, 0) + step
                self.refresh_steady(node, time_us)

    def change_loss(self, fault_id: Any, loss: float | None, time_us: int) -> None:
        """A link fault starts (its loss) or ends (None); the network loses what the base
        loss or the worst active link fault says, whichever is higher."""
        if loss is None:
            self.link_losses.pop(fault_id, None)
        else:
            self.link_losses[fault_id] = loss
        worst = max([self.settings.network_loss, *self.link_losses.values()])
        if self.settings.lapses_leases(worst):
            self.lossless_since = None
        elif self.lossless_since is None:
            self.lossless_since = time_us

    def cut_pairs(self, fault: TraceEvent) -> list[tuple[int, int]]:
        """The directed links a partition cuts; a `cut` this reader cannot read cuts every
        link, so that a damaged trace can hide a healthy leader but never invent one."""
        cut = fault.get("cut")
        if isinstance(cut, list) and all(_is_pair(pair) for pair in cut):
            return [(pair[0], pair[1]) for pair in cut]
        return [(a, b) for a in self.nodes for b in self.nodes if a != b]

    def fault_nodes(self, fault: TraceEvent) -> list[int]:
        nodes = fault.get("nodes")
        if isinstance(nodes, list) and all(type(node) is int for node in nodes):
            return list(nodes)
        return list(self.nodes)

    def healthy_leader(self, now_us: int) -> _Health | None:
        settled_us = now_us - self.settings.stable_window_us
        if not self.nodes or self.lossless_since is None or self.lossless_since > settled_us:
            return None
        best = None
        for leader in sorted(self.leader_since):
            health = self.health_of(leader, settled_us)
            if health is not None and (best is None or health.term > best.term):
                best = health
        return best

    def health_of(self, leader: int, settled_us: int) -> _Health | None:
        since_us = self.leader_since[leader]
        assert self.views.nodes[leader].role == "leader", leader
        if since_us > settled_us or not self.steady_for(leader, settled_us):
            return None
        term = self.views.nodes[leader].term
        if (leader, term) in self.handing_over:
            return None
        reached = [leader]
        for node in self.nodes:
            if node == leader or not self.steady_for(node, settled_us):
                continue
            view = self.views.nodes.get(node)
            if (0 if view is None else view.term) > term:
                continue
            if self.link_settled((leader, node), settled_us) and self.link_settled((node, leader), settled_us):
                reached.append(node)
        if len(reached) < len(self.nodes) // 2 + 1:
            return None
        return _Health(leader, term, since_us, tuple(sorted(reached)))

    def steady_for(self, node: int, settled_us: int) -> bool:
        since_us = self.steady_since.get(node)
        return since_us is not None and since_us <= settled_us

    def link_settled(self, pair: tuple[int, int], settled_us: int) -> bool:
        return self.cuts.get(pair, 0) == 0 and self.uncut_since.get(pair, self.start_us) <= settled_us


def _fault_id(event: TraceEvent) -> Any:
    return event.get("id")


def _number(value: Any) -> float:
    return float(value) if type(value) in (int, float) else 1.0  # unreadable: assume lossy


def _is_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(type(node) is int for node in value)


def check_disruption(trace_events: Iterable[TraceEvent], settings: DisruptionSettings) -> CheckerResult:
    """Count the terms begun over a healthy leader and judge them against the bound.

    `trace_events` are validated trace dicts (`checkers.trace`). The result always has
    anomalies (none unless the count exceeds `settings.max_disruptions`; None: no limit,
    never invalid) and stats; groups only when invalid; a note when loss hides leaders.
    """
    cluster = _Cluster(settings)
    for event in trace_events:
        cluster.replay(event)
    found = cluster.disruptions
    bound = settings.max_disruptions
    over = bound is not None and len(found) > bound
    groups = _groups(found)
    stats: dict[str, Any] = {
        "disruptions": len(found),
        "max_disruptions": bound,
        "terms_begun": len(cluster.term_origin),
        "highest_term": cluster.views.max_term,
        "stable_window_us": settings.stable_window_us,
        "first": _message(found[0]) if found else None,
    }
    note = None
    if settings.lapses_leases(settings.network_loss):
        note = (
            f"the network loses {settings.network_loss:g} of its messages, enough to lapse a leader's "
            "lease by chance, so no leader counts as healthy and no disruption can be found"
        )
    return CheckerResult(
        Verdict.holds(not over),
        anomalies=tuple(_kept(found, groups)) if over else (),
        stats=stats,
        groups=tuple(group.to_json(index) for index, group in enumerate(groups)) if over else None,
        note=note,
    )


@dataclass(slots=True)
class _Group:
    """Disruptions of one campaigner against one leader's term: one cause."""

    first: _Disruption
    last: _Disruption
    members: list[int] = field(default_factory=list)

    def to_json(self, index: int) -> dict[str, Any]:
        return {
            "group": index,
            "cause": _group_cause(self),
            "t": self.first.time_us,
            "line": None,
            "count": len(self.members),
            "property": "disruption",
            "node": self.first.origin,
        }


def _groups(found: list[_Disruption]) -> list[_Group]:
    by_key: dict[tuple[int, int, int], _Group] = {}
    for position, disruption in enumerate(found):
        key = (disruption.origin, disruption.health.leader, disruption.health.term)
        group = by_key.setdefault(key, _Group(disruption, disruption))
        group.last = disruption
        group.members.append(position)
    return list(by_key.values())


def _kept(found: list[_Disruption], groups: list[_Group]) -> list[dict[str, Any]]:
    group_of = {position: index for index, group in enumerate(groups) for position in group.members}
    firsts = {group.members[0] for group in groups}
    return [
        _anomaly(disruption, group_of[position])
        for position, disruption in enumerate(found)
        if position < ANOMALIES_KEPT or position in firsts
    ]


def _anomaly(disruption: _Disruption, group: int) -> dict[str, Any]:
    health = disruption.health
    return {
        "property": "disruption",
        "t": disruption.time_us,
        "phase": disruption.phase,
        "message": _message(disruption),
        "node": disruption.origin,
        "moved": disruption.node,
        "leader": health.leader,
        "leader_term": health.term,
        "leader_since_us": health.since_us,
        "term_before": disruption.term_before,
        "term_after": disruption.term_after,
        "reached": list(health.reached),
        "group": group,
    }


def _leader_words(health: _Health) -> str:
    nodes = " ".join(str(node) for node in health.reached)
    return (
        f"node {health.leader}, leader of term {health.term} since {format_seconds(health.since_us)}, "
        f"reached nodes {nodes} in both directions"
    )


def _message(disruption: _Disruption) -> str:
    """One line that needs no history: who, which term, when, and why the leader was fine."""
    when = format_seconds(disruption.time_us)
    if disruption.node == disruption.origin:
        what = f"node {disruption.node} began term {disruption.term_after} at {when}"
    else:
        what = (
            f"node {disruption.node} moved to term {disruption.term_after} (begun by node "
            f"{disruption.origin} at {format_seconds(disruption.origin_us)}) at {when}"
        )
    return f"{what} while {_leader_words(disruption.health)}"


def _group_cause(group: _Group) -> str:
    if len(group.members) == 1:
        return _message(group.first)
    first, last = group.first, group.last
    return (
        f"node {first.origin} began {plural(len(group.members), 'term')} over a healthy leader "
        f"(term {first.term_after} at {format_seconds(first.time_us)} to term {last.term_after} at "
        f"{format_seconds(last.time_us)}) while {_leader_words(first.health)}"
    )
