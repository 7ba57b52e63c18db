"""When each node's timers run again, as the trace records its clock jumps.

A node times everything on its local clock (`sim.host`). A clock set back leaves the node's
next tick further off, and until it comes the node's timers stand still: a leader sends no
heartbeat and runs no CheckQuorum, a follower never times out and keeps the lease it holds
on its leader. The nemesis records, on every line where it changed clocks (a clock fault's
`fault` and `heal` lines, a strobe's `clock` lines), each touched node's `next_tick_us`: the
true time of its next tick as planned after the change, which for a clock set back is the
end of the stall. A checker whose bounds count in election timeouts reads them here, so
that it judges a node's timing only from when its timers run again: otherwise a heal that
sets a clock back by ten seconds would make the cluster look ten seconds slow to recover.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from checkers.trace import TraceEvent

CLOCK_LINES = frozenset({"fault", "heal", "clock"})
"""The trace events that may carry `next_tick_us`."""


def next_ticks(event: TraceEvent) -> Iterator[tuple[int, int]]:
    """(node, true time of its next tick) for each node the line planned anew; a field this
    reader cannot read plans nothing."""
    planned = event.get("next_tick_us")
    if not isinstance(planned, dict):
        return
    for node, time_us in planned.items():
        if isinstance(node, str) and node.isdigit() and type(time_us) is int:
            yield int(node), time_us


@dataclass(slots=True)
class ClockStalls:
    """The latest planned next tick of each node whose clock was changed; a later change
    plans again and replaces it."""

    next_tick_us: dict[int, int] = field(default_factory=dict)

    def observe(self, event: TraceEvent) -> None:
        if event["ev"] in CLOCK_LINES:
            self.next_tick_us.update(next_ticks(event))

    def resumes_us(self, node: int) -> int:
        """When `node`'s timers run again (0: never stalled)."""
        return self.next_tick_us.get(node, 0)

    def settled_us(self) -> int:
        """When every node's timers run again."""
        return max(self.next_tick_us.values(), default=0)
