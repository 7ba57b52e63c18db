"""Jepsen's list-append reasoning on reads: what the lists alone prove, in one pass.

Appends of unique values make every read a witness of the whole order of appends before
it. Linearizability (the `list-append` model) already refuses every history this checker
refuses; this checker names the anomaly directly, costs time linear in the history
(the search may run out of budget on a long one), and its properties say what broke:

- duplicate-append: a read shows one value twice: an append took effect twice (a retried
  request executed again, a forwarded one executed by two nodes).
- phantom-append: a read shows a value no append of that key wrote.
- incompatible-reads: two reads of a key where neither list is a prefix of the other: the
  appends took effect in two orders, or one was lost and replaced. Lists only grow at the
  end, so all reads of a key must be prefixes of its longest read.
- read-went-back: a read invoked after another read of its key completed shows a shorter
  list: reads of a key are prefixes of each other in real-time order.
- lost-append: an append acknowledged before a read was invoked is missing from the read.

Reads that returned (`ok`) are judged; pending operations show nothing. Anomalies carry
`key`, the history `line` of the read that shows the anomaly and `other_line` of the
operation it contradicts; the first `ANOMALIES_KEPT_PER_PROPERTY` of each property are
kept, all counted in `stats.anomaly_counts`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from checkers.history import Operation
from checkers.models.list_append import APPEND, READ, show_list
from checkers.verdict import CheckerResult, Verdict

PROPERTIES = ("duplicate-append", "phantom-append", "incompatible-reads", "read-went-back", "lost-append")
ANOMALIES_KEPT_PER_PROPERTY = 10


@dataclass(slots=True)
class _Found:
    counts: dict[str, int]
    kept: list[dict[str, Any]]

    def add(self, name: str, op: Operation, message: str, other: Operation | None = None) -> None:
        assert name in self.counts, name
        self.counts[name] += 1
        if self.counts[name] > ANOMALIES_KEPT_PER_PROPERTY:
            return
        self.kept.append(
            {
                "property": name,
                "t": op.return_time_us,
                "key": op.key,
                "line": op.line,
                "other_line": None if other is None else other.line,
                "message": message,
            }
        )


def check_list_append(operations: Iterable[Operation]) -> CheckerResult:
    """Judge the reads of a list-append history (see the module docstring)."""
    by_key: dict[Any, list[Operation]] = {}
    for op in operations:
        if op.f in (APPEND, READ):
            by_key.setdefault(op.key, []).append(op)
    found = _Found({name: 0 for name in PROPERTIES}, [])
    for key in sorted(by_key, key=str):
        _check_key(by_key[key], found)
    return CheckerResult(
        Verdict.holds(sum(found.counts.values()) == 0),
        anomalies=tuple(found.kept),
        stats={"keys": len(by_key), "anomaly_counts": found.counts},
    )


def _check_key(ops: Sequence[Operation], found: _Found) -> None:
    reads = [op for op in ops if op.f == READ and op.status == "ok"]
    appends = {op.input: op for op in ops if op.f == APPEND}
    for read in reads:
        shown: Counter[int] = Counter(read.output)
        for value, times in shown.items():
            if times > 1:
                found.add("duplicate-append", read, f"{_said(read)} shows {value} {times} times", appends.get(value))
            if value not in appends:
                found.add("phantom-append", read, f"{_said(read)} shows {value}, which no append of {read.key} wrote")
    if not reads:
        return
    longest = max(reads, key=lambda read: (len(read.output), -read.id))
    for read in reads:
        if read.output != longest.output[: len(read.output)]:
            found.add(
                "incompatible-reads",
                read,
                f"{_said(read)} is not a prefix of {_said(longest)}: the appends took effect in two orders",
                longest,
            )
    _check_real_time(reads, appends, longest.output, found)


def _check_real_time(
    reads: list[Operation], appends: dict[Any, Operation], longest: tuple[int, ...], found: _Found
) -> None:
    """Sweep reads by invoke time, holding the longest read completed before and the
    appends acknowledged before: a read must be at least as long as that read, and hold
    every such append."""
    position = {value: index for index, value in reversed(list(enumerate(longest)))}
    events: list[tuple[int, int, Operation]] = [(read.call, 1, read) for read in reads]
    events += [(read.ret, 0, read) for read in reads if read.ret is not None]
    events += [(op.ret, 0, op) for op in appends.values() if op.status == "ok" and op.ret is not None]
    events.sort(key=lambda event: (event[0], event[1]))
    longest_done: Operation | None = None
    needed: Operation | None = None  # the acknowledged append furthest down the longest list
    for _time, is_invoke, op in events:
        if not is_invoke:
            if op.f == READ and (longest_done is None or len(op.output) > len(longest_done.output)):
                longest_done = op
            if op.f == APPEND and _rank(op, position) > (-1 if needed is None else _rank(needed, position)):
                needed = op
            continue
        if longest_done is not None and len(op.output) < len(longest_done.output):
            message = f"{_said(op)}, invoked after {_said(longest_done)} completed, is shorter"
            found.add("read-went-back", op, message, longest_done)
        if needed is not None and needed.input not in op.output[: _rank(needed, position) + 1]:
            message = f"{_said(op)} lacks {needed.input}, whose append was acknowledged before it was invoked"
            found.add("lost-append", op, message, needed)


def _rank(append: Operation, position: dict[Any, int]) -> int:
    """Where an append's value stands in the longest read; past every value when absent
    (a read after its acknowledgement then always lacks it)."""
    return position.get(append.input, len(position))


def _said(read: Operation) -> str:
    where = f" (line {read.line})" if read.line is not None else ""
    return f"read-list({read.key}) -> {show_list(read.output)}{where}"
