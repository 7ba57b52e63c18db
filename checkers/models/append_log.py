"""Order facts for append logs: what a read's string, cut into written values, says about
the order of the writes before it.

What a model whose state is a string that puts replace and appends extend (the kv model)
offers the search as its `order_constraints` (see `checkers.models.base.Model`); the
search knows nothing of append logs.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections import Counter
from collections.abc import Container, Iterable, Sequence

from checkers.budget import Budget
from checkers.history import Operation

_FACT_BYTES = 100  # an order fact: its tuple and its place in two lists


def append_log_constraints(
    ops: Sequence[Operation],
    *,
    read: str = "get",
    put: str = "put",
    append: str = "append",
    budget: Budget | None = None,
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """Order facts for a model whose state is a string that starts empty, that `put`
    replaces, `append` extends and `read` returns whole (Porcupine's kv model, one key).

    A read's string, cut into written values, names the writes since the last put and
    their order. The facts, for a returned read r whose string cuts into v1 ... vk:

    - writes whose value only one operation wrote and that appear in the string take
      effect in the string's order, all before r;
    - if no put wrote v1 (or k = 0), no put precedes r, so a write whose value is not in
      the string takes effect after r, if at all;
    - if one operation alone wrote v1 and it is a put p, a write whose value is not in the
      string does not take effect between p and r;
    - r never takes effect (so the partition is illegal) when its string does not cut into
      written values, shows a value more often than it was written or a put's value after
      the start, or, with no put before it, lacks a write that returned before r was called
      (an acknowledged append lost).

    Each holds in every legal linearization because the string is the state at r. Cutting
    is trusted only when no written value is empty or a prefix of another (then a string
    cuts one way at most); otherwise there are no facts at all. Facts of the second and
    third kinds are stated only for writes that overlap r in time: a later write follows r
    by real time anyway, and an earlier returned one that is missing makes r impossible,
    as said. That keeps the facts linear in the history's length.

    When every value was written once, each read that extends the string of the read
    before it (a growing log) is cut and checked only beyond that string, and its chain
    facts are the new links only (`_GrowingLog`): facts and work stay linear in the
    history even when every read returns the whole log. The work is spent from `budget`.
    """
    budget = budget or Budget()
    owners = _written_values(ops, (put, append))
    budget.spend(work=4 * len(ops))
    if owners is None:
        return [], []
    lengths = sorted({len(value) for value in owners})
    write_returns = sorted(op.ret for op in ops if op.f != read and op.ret is not None)
    growing = (
        _GrowingLog(ops, owners, lengths, put, read, budget)
        if all(len(writers) == 1 for writers in owners.values())
        else None
    )
    before: list[tuple[int, int, int]] = []
    outside: list[tuple[int, int, int]] = []
    for number, overlapping in _reads_with_overlapping_writes(ops, read, budget):
        facts_before = len(before) + len(outside)
        if growing is not None:
            witness, chain, shown, first = growing.read(number)
        else:
            witness, chain, shown, first = _cut_read(ops, number, owners, lengths, put, write_returns)
        budget.spend(work=len(chain) + len(overlapping) + 1)
        if witness is not None:
            before.append((number, number, witness))
            continue
        before.extend((first_op, then, number) for first_op, then in itertools.pairwise([*chain, number]))
        from_start = all(ops[writer].f == append for writer in first)
        reset = first[0] if len(first) == 1 and ops[first[0]].f == put else None
        _overlap_facts(ops, number, overlapping, shown, from_start, reset, before, outside)
        budget.spend(_FACT_BYTES * (len(before) + len(outside) - facts_before), work=0)
    return before, outside


def _overlap_facts(
    ops: Sequence[Operation],
    number: int,
    overlapping: list[int],
    shown: Container[str],
    from_start: bool,
    reset: int | None,
    before: list[tuple[int, int, int]],
    outside: list[tuple[int, int, int]],
) -> None:
    """The facts about writes overlapping read `number` that its string does not show
    (see `append_log_constraints`)."""
    for writer in overlapping:
        if ops[writer].input in shown:
            continue
        if from_start:
            before.append((number, writer, number))
        elif reset is not None:
            outside.append((writer, reset, number))


_ReadCut = tuple[int | None, list[int], Container[str], list[int]]
"""What a read's string says (see `append_log_constraints`): the operation showing it is
impossible (None: nothing found), the writes to chain in order before it, the values it
shows, and the operations that wrote its first value."""


def _cut_read(
    ops: Sequence[Operation],
    number: int,
    owners: dict[str, list[int]],
    lengths: list[int],
    put: str,
    write_returns: list[int],
) -> _ReadCut:
    """A read's string cut on its own (values written more than once)."""
    values = _cut(ops[number].output, owners, lengths)
    if values is None:
        return number, [], (), []
    witness = _contradiction(ops, number, values, owners, put, write_returns)
    alone = [owners[value][0] for value in values if len(owners[value]) == 1]
    return witness, alone, set(values), owners[values[0]] if values else []


class _GrowingLog:
    """Reads of a log whose values were each written once, cut incrementally: a read
    whose string extends the last string cut is cut only beyond it (one C-speed
    `startswith`), and is checked only for what it adds. Reads come in call order.

    `unshown` holds the writes returned before the current read's call whose values the
    last string does not show (None when not worked out: the string starts with a put,
    which may hide earlier writes). Any left once the new values are added is an
    acknowledged write lost, as `_contradiction` says.
    """

    def __init__(
        self,
        ops: Sequence[Operation],
        owners: dict[str, list[int]],
        lengths: list[int],
        put: str,
        read: str,
        budget: Budget,
    ) -> None:
        self.ops, self.lengths, self.put, self.budget = ops, lengths, put, budget
        self.owner = {value: writers[0] for value, writers in owners.items()}
        self.returned = sorted((op.ret, number) for number, op in enumerate(ops) if op.f != read and op.ret is not None)
        self.pointer = 0
        self.text: str | None = None
        self.values: list[str] = []
        self.shown: set[str] = set()
        self.unshown: set[int] | None = set()

    def read(self, number: int) -> _ReadCut:
        ops, owner = self.ops, self.owner
        text = ops[number].output
        self.advance(ops[number].call)
        if type(text) is not str:
            return number, [], (), []
        extends = self.text is not None and text.startswith(self.text)
        if not extends:  # cut from the start: as much work as the string is long
            self.budget.spend(work=len(text) // 8)
        prior = self.values if extends else []
        new = _cut(text, owner, self.lengths, len(self.text) if extends else 0)  # type: ignore[arg-type]
        if new is None:
            return number, new or [], (), []
        fresh: set[str] = set()
        for position, value in enumerate(new):
            if (
                value in fresh
                or (extends and value in self.shown)
                or ((position or prior) and ops[owner[value]].f == self.put)
            ):
                return number, [], (), []
            fresh.add(value)
        first_value = prior[0] if prior else (new[0] if new else None)
        unshown = None
        if first_value is None or ops[owner[first_value]].f != self.put:
            unshown = self.still_unshown(extends, fresh)
            if unshown:
                return min(unshown), [], (), []
        chain = ([owner[prior[-1]]] if prior else []) + [owner[value] for value in new]
        if extends:
            self.values.extend(new)
            self.shown |= fresh
        else:
            self.values, self.shown = new, fresh
        self.text, self.unshown = text, unshown
        return None, chain, self.shown, [] if first_value is None else [owner[first_value]]

    def advance(self, called: int) -> None:
        """Count the writes returned before `called` (reads come in call order)."""
        while self.pointer < len(self.returned) and self.returned[self.pointer][0] < called:
            writer = self.returned[self.pointer][1]
            self.pointer += 1
            if self.unshown is not None and self.ops[writer].input not in self.shown:
                self.unshown.add(writer)

    def still_unshown(self, extends: bool, fresh: set[str]) -> set[int]:
        """The writes returned before the read that its string, with `fresh` added to
        the last one (or alone), does not show."""
        ops = self.ops
        if extends and self.unshown is not None:
            return {writer for writer in self.unshown if ops[writer].input not in fresh}
        shown = (self.shown | fresh) if extends else fresh
        self.budget.spend(work=self.pointer)
        return {writer for _, writer in self.returned[: self.pointer] if ops[writer].input not in shown}


def _returned_before(op: Operation, called: int) -> bool:
    """Whether `op` returned before history line `called` (never, if it never returned)."""
    return op.ret is not None and op.ret < called


def _contradiction(
    ops: Sequence[Operation],
    number: int,
    values: list[str],
    owners: dict[str, list[int]],
    put: str,
    write_returns: list[int],
) -> int | None:
    """An operation showing that no order of the writes makes the state equal read
    `number`'s string (see `append_log_constraints`): a write it lacks, or the read itself;
    None when this cheap look finds nothing wrong."""
    counts = Counter(values)
    if any(count > len(owners[value]) for value, count in counts.items()):
        return number
    if any(len(owners[value]) == 1 and ops[owners[value][0]].f == put for value in values[1:]):
        return number
    if values and any(ops[writer].f == put for writer in owners[values[0]]):
        return None  # a put may precede the read: writes before that put are not shown
    called = ops[number].call
    shown_before = 0
    for value, count in counts.items():
        returned_before = sum(1 for writer in owners[value] if _returned_before(ops[writer], called))
        if returned_before > count:
            return number
        shown_before += returned_before
    if shown_before == bisect.bisect_left(write_returns, called):
        return None
    return next(
        writer
        for writer, op in enumerate(ops)  # once per broken read: O(n) is fine
        if op.input not in counts and owners.get(op.input) and op.ret is not None and op.ret < called
    )


def _written_values(
    ops: Sequence[Operation],
    writes: tuple[str, str],
) -> dict[str, list[int]] | None:
    """Value -> the operations that write it, or None when strings cannot be cut safely."""
    owners: dict[str, list[int]] = {}
    for number, op in enumerate(ops):
        if op.f in writes:
            if type(op.input) is not str or not op.input:
                return None
            owners.setdefault(op.input, []).append(number)
    # Sorted, a value that is a prefix of another sorts right before one that starts with it.
    if any(b.startswith(a) for a, b in itertools.pairwise(sorted(owners))):
        return None
    return owners


def _cut(
    text: object,
    owners: Container[str],
    lengths: list[int],
    position: int = 0,
) -> list[str] | None:
    """`text` from `position` on as a sequence of written values (unique, the values
    being prefix-free)."""
    if type(text) is not str:
        return None
    values: list[str] = []
    while position < len(text):
        for length in lengths:
            value = text[position : position + length]
            if value in owners:
                break
        else:
            return None
        values.append(value)
        position += len(value)
    return values


def _reads_with_overlapping_writes(
    ops: Sequence[Operation],
    read: str,
    budget: Budget,
) -> Iterable[tuple[int, list[int]]]:
    """Each returned read (numbers in `ops`, sorted by call) with the writes whose interval
    overlaps its own: returned writes still open at its call, and every write called
    before it returned. Costs O(overlap) per read, not O(history)."""
    open_writes: list[tuple[int, int]] = []  # heap of (return, number)
    for number, op in enumerate(ops):
        if op.f != read:
            if op.ret is not None:
                heapq.heappush(open_writes, (op.ret, number))
            continue
        while open_writes and open_writes[0][0] < op.call:
            heapq.heappop(open_writes)
        if op.ret is None:
            continue
        overlapping = sorted(writer for _, writer in open_writes)
        for later in range(number + 1, len(ops)):
            if ops[later].call > op.ret:
                break
            if ops[later].f != read:
                overlapping.append(later)
            budget.spend()
        yield number, overlapping
