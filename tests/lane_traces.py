"""A small trace that has every event the reports draw on a node's lane: snapshots taken and
installed, a restart from a snapshot, membership changes proposed and applied, a member
removed and one joining mid-run, a torn write and its repair, a full disk, and a disk found
corrupt at a restart; and the same run without any of them. `text` is put into every string
field a renderer shows, so that a test can hand in a hostile one."""

from __future__ import annotations

from pathlib import Path

from checkers.trace import TraceEvent
from checkers.verdict import RunVerdict
from reports.timeline import ParsedRun, Timeline, timeline_from_run

SECOND = 1_000_000


def lane_trace(text: str = "x", marks: bool = True) -> list[TraceEvent]:
    """Nodes 1-3 start; node 1 leads. With `marks`: node 2 snapshots, is removed; node 4
    joins as a learner; node 3 installs a snapshot, crashes (tearing a write), restarts
    from a snapshot (dropping the torn tail), stops on a full disk and finds its disk
    corrupt at the next restart."""
    events: list[TraceEvent] = [
        {"t": 0, "ev": "start", "scenario": text, "seed": 1, "nodes": [1, 2, 3], "clients": 0},
        {"t": 100, "ev": "role", "node": 1, "role": "leader", "term": 1, "leader": 1},
        {"t": 100, "ev": "role", "node": 2, "role": "follower", "term": 1, "leader": 1},
        {"t": 100, "ev": "role", "node": 3, "role": "follower", "term": 1, "leader": 1},
    ]
    if marks:
        events += [
            {"t": 1 * SECOND, "ev": "snapshot", "node": 2, "index": 50, "term": 1, "compacted": 40},
            {"t": 2 * SECOND, "ev": "conf-propose", "node": 1, "term": 1, "index": 60, "change": f"remove 2 {text}"},
            {
                "t": 2 * SECOND + 10,
                "ev": "conf-apply",
                "node": 1,
                "index": 60,
                "change": f"remove 2 {text}",
                "voters": [1, 3],
                "learners": [],
            },
            {"t": 2 * SECOND + 10, "ev": "member-removed", "node": 2},
            {"t": 3 * SECOND, "ev": "conf-propose", "node": 1, "term": 1, "index": 70, "change": "add-learner 4"},
            {
                "t": 3 * SECOND + 10,
                "ev": "conf-apply",
                "node": 1,
                "index": 70,
                "change": "add-learner 4",
                "voters": [1, 3],
                "learners": [4],
            },
            {"t": 3 * SECOND + 10, "ev": "member-added", "node": 4, "voters": [1, 3]},
            {"t": 3 * SECOND + 20, "ev": "role", "node": 4, "role": "follower", "term": 1, "leader": 1},
            {"t": 4 * SECOND, "ev": "snapshot-install", "node": 3, "index": 80, "term": 1},
            {"t": 5 * SECOND, "ev": "crash", "node": 3},
            {"t": 5 * SECOND, "ev": "torn", "node": 3, "record": "entry", "index": 81},
            {"t": 6 * SECOND, "ev": "repair", "node": 3, "record": "entry", "index": 81},
            {
                "t": 6 * SECOND,
                "ev": "restart",
                "node": 3,
                "term": 1,
                "vote": 1,
                "commit": 80,
                "log": [],
                "snapshot": [80, 1],
            },
            {"t": 7 * SECOND, "ev": "disk-full", "node": 3, "refused": "write"},
            {"t": 7 * SECOND, "ev": "crash", "node": 3},
            {"t": 8 * SECOND, "ev": "corrupt", "node": 3, "record": f"entry {text}", "index": 81},
            {"t": 8 * SECOND + 500_000, "ev": "corrupt", "node": 3, "record": f"entry {text}", "index": 81},
        ]
    events += [{"t": 10 * SECOND, "ev": "phase", "phase": "end"}, {"t": 10 * SECOND, "ev": "end"}]
    return events


def lane_timeline(folder: Path, text: str = "x", marks: bool = True) -> Timeline:
    """The timeline of that trace, with no history and no verdict."""
    return timeline_from_run(folder, parsed=ParsedRun([], lane_trace(text, marks), RunVerdict({}), []))
