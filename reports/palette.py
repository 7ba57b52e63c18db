"""The colours every view of a timeline uses, so that HTML, PNG and terminal agree.

One table, read by each renderer, is what makes "green is ok" true everywhere; a colour
changed here changes in every report. Colours are `#rrggbb` strings because both CSS and
matplotlib read that form unchanged.

Outcomes follow Jepsen's plots: ok green, fail (certainly did not happen) red-orange,
info (unknown) yellow, pending (never completed) grey. Node states run from quiet
(follower, pale) to loud (leader, saturated blue), with the two states that hide a role,
paused and crashed, in colours no role uses. Fault colours are pale so the bars drawn
over a fault band stay readable.
"""

from __future__ import annotations

from typing import Final

OUTCOME_COLOURS: Final[dict[str, str]] = {
    "ok": "#43a047",
    "fail": "#f4511e",
    "info": "#fdd835",
    "pending": "#9e9e9e",
}

NODE_STATE_COLOURS: Final[dict[str, str]] = {
    "follower": "#cfd8dc",
    "pre-candidate": "#ffe082",
    "candidate": "#ffb300",
    "leader": "#1e88e5",
    "paused": "#8d6e63",
    "crashed": "#212121",
    "learner": "#b2dfdb",
    "removed": "#eceff1",
    "corrupt": "#1b5e20",
}
"""`learner` is a follower's pale in the membership's teal; `removed` is nearly the page's
white (the node is gone, not failed), with its word written on it; `corrupt` is the disk
fault's green, darkened: a disk fault the node never recovers from."""

LANE_MARK_COLOURS: Final[dict[str, str]] = {
    "snapshot": "#a1887f",
    "snapshot-install": "#6d4c41",
    "restart-snapshot": "#6d4c41",
    "conf-apply": "#00838f",
    "member-added": "#00838f",
    "member-removed": "#00838f",
    "corrupt": "#c62828",
    "disk": "#2e7d32",
}
"""Snapshots in the brown of snapshot messages (drawn faint when merely taken),
membership in a teal no state or outcome uses, corruption in red, the disk's other
faults in the disk fault's green, darkened."""

FAULT_COLOURS: Final[dict[str, str]] = {
    "partition": "#ef9a9a",
    "crash": "#b0bec5",
    "pause": "#bcaaa4",
    "clock": "#ce93d8",
    "link": "#ffcc80",
    "disk": "#a5d6a7",
    "delay": "#90caf9",
    "member": "#80deea",
    "transfer": "#f48fb1",
    "other": "#e0e0e0",
}
"""By fault kind (`scenarios.model.FAULT_KINDS`); `other` for a kind added later."""

COUNTEREXAMPLE_COLOUR: Final = "#d500f9"
"""The outline of an operation that cannot be linearized, and every checker's anomaly
marker: a colour no bar is filled with, so that the eye finds it at once."""

PREFIX_COLOUR: Final = "#6a1b9a"
"""The numbers of the longest linearizable prefix, in the counterexample's family."""

PHASE_COLOUR: Final = "#9aa5b1"
"""Phase boundaries: dashed and quiet, so that they order the picture without hiding it."""


def fault_colour(kind: str) -> str:
    return FAULT_COLOURS.get(kind, FAULT_COLOURS["other"])


assert set(NODE_STATE_COLOURS) == {
    "follower",
    "pre-candidate",
    "candidate",
    "leader",
    "paused",
    "crashed",
    "learner",
    "removed",
    "corrupt",
}
assert set(OUTCOME_COLOURS) == {"ok", "fail", "info", "pending"}
assert COUNTEREXAMPLE_COLOUR not in {*OUTCOME_COLOURS.values(), *NODE_STATE_COLOURS.values(), *FAULT_COLOURS.values()}


OPERATION_COLOURS: Final[dict[str, str]] = {
    "read": "#1e88e5",
    "write": "#8e24aa",
    "cas": "#ef6c00",
}
"""Latency and rate plots tell operation types apart by colour (and marker); the
outcome is then the fill, as in Jepsen's latency plots."""
OTHER_OPERATION_COLOURS: Final = ("#00897b", "#6d4c41", "#c2185b", "#546e7a", "#7cb342", "#3949ab")
OPERATION_MARKERS: Final[dict[str, str]] = {"read": "o", "write": "s", "cas": "^"}
OTHER_OPERATION_MARKERS: Final = ("D", "v", "P", "X", "<", ">")


def operation_styles(kinds: list[str]) -> dict[str, tuple[str, str]]:
    """(colour, marker) for each operation type; types beyond read, write and cas take the
    spare styles in name order, so the same history always draws the same way."""
    styles = {}
    spare = 0
    for kind in sorted(set(kinds)):
        if kind in OPERATION_COLOURS:
            styles[kind] = (OPERATION_COLOURS[kind], OPERATION_MARKERS[kind])
        else:
            styles[kind] = (
                OTHER_OPERATION_COLOURS[spare % len(OTHER_OPERATION_COLOURS)],
                OTHER_OPERATION_MARKERS[spare % len(OTHER_OPERATION_MARKERS)],
            )
            spare += 1
    return styles
