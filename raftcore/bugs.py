"""Planted bugs: named switches that make the system wrong on purpose.

A test harness is only as good as the mistakes it can be shown to catch. Each switch here
turns on one well-known way to break Raft or the key-value server on top of it, so that a
run with the switch on must end in a verdict that names the damage. All are off unless a
`Config.bugs` set names them.
"""

from __future__ import annotations

from collections.abc import Iterable

COMMIT_OLD_TERM = "commit-old-term"
SEND_BEFORE_PERSIST = "send-before-persist"
STALE_LOCAL_READ = "stale-local-read"

BUGS: dict[str, str] = {
    COMMIT_OLD_TERM: (
        "a new leader appends no entry of its own term and commits entries of earlier terms by "
        "counting replicas (Raft paper, figure 8)"
    ),
    SEND_BEFORE_PERSIST: (
        "the host sends a batch's messages before its entries and hard state are durable, so "
        "votes and append acknowledgements escape before a crash can lose them"
    ),
    STALE_LOCAL_READ: ("the leader answers reads from its own state without confirming it is still leader"),
}


def validate_bugs(names: Iterable[str]) -> frozenset[str]:
    """Return `names` as a frozenset, refusing any name that is not a known bug."""
    chosen = frozenset(names)
    for name in sorted(chosen):
        if name not in BUGS:
            raise ValueError(f"unknown bug {name!r}; known: {', '.join(sorted(BUGS))}")
    return chosen
