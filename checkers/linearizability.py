"""Linearizability checking: does some order of the operations explain what clients saw?

The search is Wing & Gong's, with Lowe's memoisation (the "WGL" algorithm of Knossos and
Porcupine). Call and return events of one partition sit in a doubly linked list in history
order. The operations that may take effect next (the candidates) are those called before
the first return still in the list: the operation owning that return must take effect
before it, and any operation called earlier may precede it. Linearizing an operation lifts
its call and return out of the list; backtracking puts them back (dancing links), so
moving up and down the search costs O(1) per operation.

Choices made here, and why. Every cut below keeps this promise: if some linearization
exists, the search still finds one. The argument is the same each time: from any
configuration that can be completed, the search tries the first step of at least one
completion. The brute-force twins in the tests check that promise on random histories.

- Memoisation: a configuration is (linearized operations, model state). Two paths reaching
  the same configuration have the same future, so the second is cut. The linearized set
  is stored as a frontier (every returned operation called before it is linearized) and a
  bitset of the few linearized beyond it, so an entry costs a few words even when a key
  has a million operations, not one bit per operation. The memo's size is bounded
  (`max_cache_entries`) and so is the process's memory (`checkers.budget`): reaching
  either ends the partition in "unknown".
- Candidates are tried earliest return first. The operation owning the first return must
  be placed before anything returning later, so trying it first finds the common
  "obvious" order at once and fails fast when it is impossible.
- Observers go first, alone. An operation that never changes the state when legal (a
  read, a cas whose compare failed; see `Model.observes_only`) and is legal now is
  linearized at once without trying alternatives: moving it earlier inside its interval
  changes what nobody sees. The same argument turns the other way: an observer that is
  legal now but that the order constraints (below) forbid here can never be placed in
  any completion of this configuration, which is therefore a dead end.
- What reads reveal (order constraints). A model may offer `order_constraints`: facts
  that hold in *every* legal linearization of the partition, which it reads off the
  results (for an append log, a read's string names exactly the writes before it and
  their order). `before` facts (a, b) say "b takes effect only after a did"; `outside`
  facts (w, s, e) say "w does not take effect after s unless e took effect before it".
  The search simply does not place an operation that a fact forbids. This is sound for
  any true facts, whatever the model: every other cut replaces one legal linearization by
  another legal one, and a legal one satisfies the facts, so it is never forbidden. The
  facts turn a search that guesses orders of concurrent writes into one that follows the
  reads, and a contradiction between two reads into a dead end at once.
- Look-alikes are tried once. Of candidates the model cannot tell apart (same f, input,
  output and status), only the one returning first is tried: taking a later-returning
  twin first can always be swapped for taking this one.
- Pending operations (never returned) have no return event. They may be linearized at any
  point after their call or never, so they never block the search: it succeeds as soon as
  every *returned* operation is linearized. They are tried only where every returned
  candidate failed, and four cuts keep them from multiplying the search: one that would
  leave the state unchanged is not tried; one whose effect right after another pending
  operation equals its effect right before it is not tried (the parent tries that order
  with one pending operation fewer); one after which no other candidate behaves
  differently is not tried (`_Search.pending_options`: dropping it leaves a completion
  the search tries anyway); and the memo treats a configuration as dominated by one with
  the same returned set and state but fewer pending operations linearized (`_Memo`).
  Those that let a waiting read see its value are tried first. A model's optional
  `state_test` (see `Model.state_test`) spares stepping pending operations that cannot react,
  and its optional `effect` (see `Model.effect`) files each pending operation under the
  state it can change (`_PendingIndex`): a step looks only at those that can change its
  state, and of those whose result no operation tells apart from other such states (a
  refused write of a value nobody read), at the earliest-called alone. Without this, a
  history whose client recorded thousands of refused connections as `info` paid, at
  every dead end, a look at every refusal made so far, and tried each of them in turn.
- Partitions (keys) are independent (P-compositionality) and checked one by one, smallest
  first. All are decided by default, so that every broken key is reported; `first=True`
  stops at the first illegal partition and reports the rest as not checked.
- The time budget (wall clock), the cache bound and the memory budget only ever turn a
  partition into "unknown"; they never decide a verdict. A search that finishes gives the
  same verdict and counterexample whatever the machine's speed. One `Budget` covers the
  whole check, reading included; every phase spends from it in proportion to the work it
  does (a search step as many units as it has candidates, the order facts one per fact),
  so that no phase runs long between two looks at the clock, however costly its steps.
- Counterexample: the dead end with the most returned operations linearized, i.e. the
  longest prefix the search could linearize, the model state after it, and the returned
  candidates there, each refused by the model or forbidden by an order constraint, which
  the counterexample names with the result it comes from (see `_Search.dead_end`). Facts
  cut the search early, so their dead ends can be shallow (two reads that disagree on the
  order of two writes stop it before either write); an illegal partition is therefore
  searched once more without facts, briefly (`COUNTEREXAMPLE_RETRY_CONFIGURATIONS`), and
  that deeper counterexample is shown when the short search finishes.
- Reasons: each stuck operation gets one line saying why, in the model's words, and the
  operations that line names (`_Explainer`): the order fact and the result showing it, a
  proof by real time that no write could have left the value it needs, or else the state
  the longest linearizable prefix leaves and the operation that left it.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import itertools
import math
import os
import sys
import time
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from checkers.budget import DEFAULT_MAX_MEMORY_BYTES, Budget, MemoryGauge, OutOfBudget
from checkers.errors import InputError
from checkers.formats import collector_paused, read_operations
from checkers.history import Operation
from checkers.models import Model, OrderFacts, State, get_model
from checkers.verdict import CheckerResult, Verdict

DEFAULT_MAX_CACHE_ENTRIES = 2_000_000
"""Each entry costs about 150 bytes plus its state (a tuple, two small ints, a set or dict
slot); the memory budget stops a search whose states are large before this does."""

CAUSE_TIMEOUT = "timeout"
CAUSE_CACHE_LIMIT = "cache-limit"
CAUSE_MEMORY = "memory"
CAUSE_NOT_CHECKED = "not-checked"

COUNTEREXAMPLE_RETRY_CONFIGURATIONS = 2_000
"""How many configurations the search without order facts may spend on an illegal
partition to find a deeper counterexample (a few tens of milliseconds)."""

_MEMO_ENTRY_BYTES = 150  # a memo entry without its state, for the memory gauge
_FRAME_BYTES = 120  # a frame of the search's stack, without its candidate list
_FACT_BYTES = 100  # an order fact: its tuple and its place in two lists
_SPEND_EVERY = 64  # cheap loop turns between two calls of `Budget.spend`, which weigh that much

_Reason = tuple[str, tuple[int, ...]]
"""Why a stuck operation cannot be placed (one line) and the operations (numbers in the
partition) that the line names."""


@dataclass(frozen=True, slots=True)
class Counterexample:
    """Why a partition is not linearizable (see the module docstring).

    `reasons[i]` says, in one line and in the model's words, why `operations[i]` cannot
    be placed: which completed operations rule its value out, or which order fact (read
    off other results) forbids it. `ruled_out_by[i]` lists the history lines of the
    operations that line names (those whose line is known).
    """

    operations: tuple[Operation, ...]
    prefix: tuple[Operation, ...]
    state: str
    descriptions: tuple[str, ...]
    prefix_descriptions: tuple[str, ...]
    reasons: tuple[str, ...] = ()
    ruled_out_by: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        assert self.operations, "a counterexample names at least one operation"
        assert len(self.descriptions) == len(self.operations)
        assert len(self.prefix_descriptions) == len(self.prefix)
        assert not self.reasons or len(self.reasons) == len(self.operations)
        assert not self.ruled_out_by or len(self.ruled_out_by) == len(self.operations)

    def reason(self, position: int) -> str | None:
        return self.reasons[position] if self.reasons else None

    def lines_ruling_out(self, position: int) -> tuple[int, ...]:
        return self.ruled_out_by[position] if self.ruled_out_by else ()

    def to_json(self) -> dict[str, Any]:
        stuck = []
        for position, (op, text) in enumerate(zip(self.operations, self.descriptions, strict=True)):
            record = _operation_json(op, text)
            record["reason"] = self.reason(position)
            record["ruled_out_by"] = list(self.lines_ruling_out(position))
            stuck.append(record)
        return {
            "operations": stuck,
            "prefix": [
                _operation_json(op, text) for op, text in zip(self.prefix, self.prefix_descriptions, strict=True)
            ],
            "state": self.state,
        }


def _operation_json(op: Operation, description: str) -> dict[str, Any]:
    record = op.to_json()
    record["description"] = description
    return record


@dataclass(frozen=True, slots=True)
class PartitionResult:
    """The verdict on one partition (one key for register models).

    `cause` says why the verdict is unknown: "timeout", "cache-limit", "memory" or
    "not-checked". `explored` counts the configurations the search memoised.
    """

    key: Hashable
    verdict: Verdict
    ops: int
    ms: float
    counterexample: Counterexample | None = None
    cause: str | None = None
    explored: int = 0

    def __post_init__(self) -> None:
        assert (self.verdict is Verdict.INVALID) == (self.counterexample is not None), self
        assert (self.verdict is Verdict.UNKNOWN) == (self.cause is not None), self

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "valid": self.verdict.to_json(),
            "ops": self.ops,
            "ms": round(self.ms, 3),
            "cause": self.cause,
            "explored": self.explored,
            "counterexample": None if self.counterexample is None else self.counterexample.to_json(),
        }


@dataclass(frozen=True, slots=True)
class LinearizabilityResult:
    """The verdict on a whole history, its partitions' verdicts combined
    (`Verdict.combine`). Partitions are listed in key order.

    `cause` is set only when the whole check ran out ("timeout" or "memory") before its
    partitions could be told apart (while reading, say): then there are none."""

    verdict: Verdict
    model: str
    ops: int
    ms: float
    partitions: tuple[PartitionResult, ...]
    cause: str | None = None

    def __post_init__(self) -> None:
        if self.cause is None:
            assert self.verdict is Verdict.combine(partition.verdict for partition in self.partitions), self
        else:
            assert self.verdict is Verdict.UNKNOWN, self
            assert not self.partitions, self

    def checker_result(self) -> CheckerResult:
        """The result as every checker gives one: no anomaly list of its own, the
        partitions (with their counterexamples) and figures in `details`."""
        details: dict[str, Any] = {
            "model": self.model,
            "ops": self.ops,
            "ms": round(self.ms, 3),
            "partitions": [partition.to_json() for partition in self.partitions],
        }
        if self.cause is not None:
            details["cause"] = self.cause
        return CheckerResult(self.verdict, details=details)

    def to_json(self) -> dict[str, Any]:
        return self.checker_result().to_json()


# ---------------------------------------------------------------------------------------
# The search over one partition


@dataclass(frozen=True, slots=True)
class _Outcome:
    verdict: Verdict
    cause: str | None
    explored: int
    prefix: tuple[int, ...] = ()
    stuck: tuple[int, ...] = ()
    state: State = None
    reasons: tuple[_Reason, ...] = ()


class _EventList:
    """Call and return events of some of a partition's operations as a doubly linked list
    (dancing links), in history order.

    Entry 0 is the head sentinel and the last entry the tail sentinel, whose position is
    infinite. `op_of[entry]` is the operation's local number and `is_call[entry]` tells
    calls from returns (sentinels count as returns, which stops a scan for candidates).
    """

    def __init__(self, ops: Sequence[Operation], numbers: Iterable[int]) -> None:
        events: list[tuple[int, int, int]] = []
        for number in numbers:
            events.append((ops[number].call, 1, number))
            ret = ops[number].ret
            if ret is not None:
                events.append((ret, 0, number))
        events.sort()
        self.position: list[float] = [-math.inf] + [e[0] for e in events] + [math.inf]
        assert all(a < b for a, b in itertools.pairwise(self.position)), "two events share a position"
        size = len(events) + 2
        self.op_of = [-1] + [number for _, _, number in events] + [-1]
        self.is_call = [False] + [kind == 1 for _, kind, _ in events] + [False]
        self.next = list(range(1, size + 1))
        self.previous = list(range(-1, size - 1))
        self.call_entry = [0] * len(ops)
        self.return_entry = [0] * len(ops)
        for entry in range(1, size - 1):
            target = self.call_entry if self.is_call[entry] else self.return_entry
            target[self.op_of[entry]] = entry

    def candidates(self) -> tuple[list[int], float]:
        """Operations called before the first return still in the list, and the position
        of that return."""
        found: list[int] = []
        entry = self.next[0]
        is_call, following, op_of = self.is_call, self.next, self.op_of
        while is_call[entry]:
            found.append(op_of[entry])
            entry = following[entry]
        return found, self.position[entry]

    def called_before(self, boundary: float) -> list[int]:
        """Operations still in the list whose call comes before `boundary`."""
        found: list[int] = []
        entry = self.next[0]
        position, following, op_of = self.position, self.next, self.op_of
        while position[entry] < boundary:
            found.append(op_of[entry])
            entry = following[entry]
        return found

    def lift(self, number: int) -> None:
        for entry in (self.call_entry[number], self.return_entry[number]):
            if entry:
                self.next[self.previous[entry]] = self.next[entry]
                self.previous[self.next[entry]] = self.previous[entry]

    def unlift(self, number: int) -> None:
        # Reverse order of `lift`, which is what makes dancing links restore exactly.
        for entry in (self.return_entry[number], self.call_entry[number]):
            if entry:
                self.next[self.previous[entry]] = entry
                self.previous[self.next[entry]] = entry


_Key = tuple[int, int, int]
"""A linearized set: (frontier, bits beyond it, pending bits). Returned operations are
numbered in call order; every one numbered below the frontier is linearized, and bit i of
the second int stands for number frontier + i. Pending operations get a bit each the
first time the search linearizes them (`_Search.pending_bit`)."""


class _Memo:
    """Configurations already visited, with pending operations handled by dominance.

    A configuration is (returned operations linearized, pending operations linearized,
    state). With the same returned set and state, the one that linearized *fewer* pending
    operations can do all the other can: a pending operation may still take effect later,
    or never. So a configuration is cut when a visited one has the same returned set and
    state and a subset of its pending operations; exact equality is the special case.
    Without pending operations this is the usual set of (set, state).
    """

    def __init__(self, with_pending: bool) -> None:
        self.with_pending = with_pending
        self.exact: set[tuple[int, int, State]] = set()
        self.pending_sets: dict[tuple[int, int, State], list[int]] = {}
        self.size = 0
        self.cost = 0  # pending sets compared by the last visit: work for the budget

    def visit(self, key: _Key, state: State) -> bool:
        """Record the configuration; False when it (or one dominating it) was seen."""
        frontier, beyond, pending = key
        if not self.with_pending:
            configuration = (frontier, beyond, state)
            if configuration in self.exact:
                return False
            self.exact.add(configuration)
            self.size += 1
            return True
        known = self.pending_sets.get((frontier, beyond, state))
        if known is None:  # the common case: nothing to compare with
            self.pending_sets[(frontier, beyond, state)] = [pending]
            self.size += 1
            self.cost = 0
            return True
        self.cost = len(known)
        if any(seen & ~pending == 0 for seen in known):
            return False
        kept = [seen for seen in known if pending & ~seen]  # drop the ones now dominated
        self.size += 1 - (len(known) - len(kept))
        known[:] = kept
        known.append(pending)
        return True


class _Order:
    """The model's order constraints (see `Model.order_constraints`), kept as counts so that
    asking whether an operation may be placed costs O(1) plus its few `outside` spans.

    `waiting[n]` counts n's `before` predecessors not yet placed; placing an operation
    lowers its successors' counts and backtracking raises them again, in step with the
    dancing links.
    """

    def __init__(
        self, size: int, before: Iterable[tuple[int, int, int]], outside: Iterable[tuple[int, int, int]], budget: Budget
    ) -> None:
        self.successors: list[list[int]] = [[] for _ in range(size)]
        self.predecessors: list[list[tuple[int, int]]] = [[] for _ in range(size)]
        self.waiting = [0] * size
        self.spans: list[list[tuple[int, int]]] = [[] for _ in range(size)]
        self.never: dict[int, int] = {}  # operation -> the one whose result shows it
        for first, then, witness in before:
            budget.spend(_FACT_BYTES)
            assert all(0 <= n < size for n in (first, then, witness)), (first, then, witness)
            self.waiting[then] += 1
            if first == then:
                self.never.setdefault(then, witness)
                continue
            self.successors[first].append(then)
            self.predecessors[then].append((first, witness))
        for number, start, end in outside:
            budget.spend(_FACT_BYTES)
            assert all(0 <= n < size for n in (number, start, end)), (number, start, end)
            assert number not in (start, end), (number, start, end)
            self.spans[number].append((start, end))
        self.empty = not any(self.waiting) and not any(self.spans)

    def allowed(self, number: int, placed: bytearray) -> bool:
        if self.waiting[number]:
            return False
        return all(not placed[start] or placed[end] for start, end in self.spans[number])

    def place(self, number: int) -> None:
        for then in self.successors[number]:
            self.waiting[then] -= 1

    def unplace(self, number: int) -> None:
        for then in self.successors[number]:
            self.waiting[then] += 1

    def why_not(self, number: int, placed: bytearray) -> tuple[str, int, int] | None:
        """Which fact forbids placing `number` now: ("never", n, r) when nothing allows
        it, ("after", a, r) for a predecessor a not yet placed (r's result shows either),
        ("outside", s, e) for a span it would fall into; None if none."""
        if number in self.never:
            return ("never", number, self.never[number])
        for first, witness in self.predecessors[number]:
            if not placed[first]:
                return ("after", first, witness)
        for start, end in self.spans[number]:
            if placed[start] and not placed[end]:
                return ("outside", start, end)
        return None


_Path = tuple[int, "_Path"] | None
"""The operations linearized so far, last first, as shared cells: remembering the path at
a dead end costs O(1) instead of a copy as long as the history."""

_Frame = tuple[list[int], int, bool, State, _Key, int, _Path]
"""(candidates, how many were tried, whether the pending ones were added, state,
linearized set, operation linearized next, path before it)"""


class _Search:
    """The search over one partition's operations (sorted by call, none inert).

    Returned and pending operations live in two event lists: pending calls never leave the
    candidate set once made, and scanning past them at every step would cost O(pending)
    each time. They are tried last, so they are only gathered when a configuration's
    returned candidates have all failed.
    """

    def __init__(
        self,
        ops: Sequence[Operation],
        model: Model,
        constraints: OrderFacts = ((), ()),
        budget: Budget | None = None,
    ) -> None:
        assert all(a.call < b.call for a, b in itertools.pairwise(ops)), "sorted by call"
        budget = budget or Budget()
        budget.spend(work=8 * len(ops))  # sorting and numbering below: n log n, looked at once
        self.ops = ops
        self.model = model
        self.step = model.step
        self.returned = [op.ret is not None for op in ops]
        self.events = _EventList(ops, (n for n in range(len(ops)) if self.returned[n]))
        order = sorted(range(len(ops)), key=lambda n: (math.inf if ops[n].ret is None else ops[n].ret, ops[n].call))
        self.rank = [0] * len(ops)
        for position, number in enumerate(order):
            self.rank[number] = position
        self.call_number = [0] * len(ops)  # among returned operations, in call order
        returned_so_far = 0
        for number in range(len(ops)):
            self.call_number[number] = returned_so_far
            returned_so_far += self.returned[number]
        self.pending_bit = [0] * len(ops)
        self.pending_bits_used = 0
        self.placed = bytearray(len(ops))
        self.order = _Order(len(ops), *constraints, budget=budget)
        # Placing these may make another operation allowed: they are always worth trying.
        self.releases = [bool(self.order.successors[n]) for n in range(len(ops))]
        for spans in self.order.spans:
            for _, end in spans:
                self.releases[end] = True
        self.observer = [model.observes_only(op) for op in ops]
        self.state_test = [model.state_test(op) for op in ops]
        assert all(test is None or len(test) <= 1 for test in self.state_test)
        self.signature = _signatures(ops, model)
        self.room = model.pending_room
        self.bit_group: list[int] = []  # the look-alike group of each pending bit given out
        self.group_calls: dict[int, list[float]] = {}
        for number in range(len(ops)):
            if not self.returned[number]:
                self.group_calls.setdefault(self.signature[number], []).append(ops[number].call)
        self.pending = _PendingIndex(self, [n for n in range(len(ops)) if not self.returned[n]])
        self.budget = budget
        budget.spend(work=4 * len(ops))

    def run(self, budget: Budget, max_cache_entries: int) -> _Outcome:
        """The verdict on the partition; "unknown" naming the cause when the budget or the
        cache runs out. Every step spends in proportion to the candidates it handles, so
        the clock is read at each step that costs much and every few that cost little."""
        self.budget = budget
        memo = _Memo(not all(self.returned))
        try:
            return self._run(budget, max_cache_entries, memo)
        except OutOfBudget as out:
            return _Outcome(Verdict.UNKNOWN, out.cause, memo.size)

    def _run(self, budget: Budget, max_cache_entries: int, memo: _Memo) -> _Outcome:
        ops, step, returned = self.ops, self.step, self.returned
        frames: list[_Frame] = []
        state, key = self.model.init(), (0, 0, 0)
        doomed = sorted((n for n in self.order.never if returned[n]), key=self.rank.__getitem__)
        if doomed:  # it must take effect and cannot: no need to search
            dead_end = _DeadEnd((doomed[0],), state, (self.order.why_not(doomed[0], self.placed),))
            return _Outcome(Verdict.INVALID, None, 0, (), dead_end.stuck, state, self.reasons(dead_end, None))
        remaining = sum(returned)
        (candidates, complete), tried = self.options(state), 0
        deepest, deepest_at = _DeadEnd((), state, ()), (remaining + 1, 0)
        path: _Path = None
        deepest_path: _Path = None
        work = 0
        while remaining:
            work += len(candidates) + memo.cost + 1
            if work >= _SPEND_EVERY:
                budget.spend(work=work)
                work = 0
            if tried == len(candidates) and not complete:
                candidates, complete = candidates + self.pending_options(state), True
            while tried < len(candidates):
                number = candidates[tried]
                tried += 1
                legal, new_state = step(state, ops[number])
                if not legal or (not returned[number] and self.pointless(number, state, new_state, frames)):
                    continue
                if memo.size >= max_cache_entries:
                    return _Outcome(Verdict.UNKNOWN, CAUSE_CACHE_LIMIT, memo.size)
                new_key = self.key_after(key, number)
                if not memo.visit(self.remembered(new_key, new_state), new_state):
                    continue
                budget.gauge.spent(
                    _MEMO_ENTRY_BYTES
                    + _FRAME_BYTES
                    + sys.getsizeof(new_state)
                    + (new_key[1].bit_length() + new_key[2].bit_length()) // 8
                    + 8 * len(candidates)
                )
                frames.append((candidates, tried, complete, state, key, number, path))
                path = (number, path)
                self.place(number)
                remaining -= returned[number]
                key, state = new_key, new_state
                (candidates, complete), tried = self.options(state), 0
                break
            else:
                if not complete:
                    continue  # gather the pending candidates first
                if (remaining, len(frames)) < deepest_at:
                    deepest, deepest_at = self.dead_end(state), (remaining, len(frames))
                    deepest_path = path
                if not frames:
                    return _Outcome(
                        Verdict.INVALID,
                        None,
                        memo.size,
                        _unwind(deepest_path),
                        deepest.stuck,
                        deepest.state,
                        self.reasons(deepest, deepest_path),
                    )
                candidates, tried, complete, state, key, number, path = frames.pop()
                self.unplace(number)
                remaining += returned[number]
        return _Outcome(Verdict.VALID, None, memo.size)

    def key_after(self, key: _Key, number: int) -> _Key:
        """The linearized set `key` with operation `number` added (see `_Key`)."""
        frontier, beyond, pending = key
        if not self.returned[number]:
            bit = self.pending_bit[number]
            if not bit:
                bit = self.pending_bit[number] = 1 << self.pending_bits_used
                self.pending_bits_used += 1
                self.bit_group.append(self.signature[number])
            assert not pending & bit, "a pending operation is linearized twice"
            return frontier, beyond, pending | bit
        offset = self.call_number[number] - frontier
        assert offset > 0 or (offset == 0 and not beyond & 1), (offset, beyond)
        beyond |= 1 << offset
        if offset:
            return frontier, beyond, pending
        ones = (~beyond & (beyond + 1)).bit_length() - 1  # trailing ones: now all placed
        return frontier + ones, beyond >> ones, pending

    def remembered(self, key: _Key, state: State) -> _Key:
        """The key the memo files a configuration under: `key`, less the pending
        operations of look-alike groups that can no longer run short.

        Look-alikes are stepped alike (`Model.look`), and once called any of them may take
        the place of any other. If, of a group, more are called and unused than pending
        operations can still take effect at all (`Model.pending_room`), every completion
        that uses some of them finds enough unused ones however many were used: two
        configurations with the same returned set and state that differ only in such
        groups have the same completions. (With the same returned set and state, a
        configuration that used fewer of a group has at least as many unused, so this
        keeps the memo's dominance sound.) Order facts can tell look-alikes apart, so
        with any, nothing is dropped."""
        frontier, beyond, pending = key
        if not pending or not self.order.empty:
            return key
        room = self.room(state)
        if room is None:
            return key
        used: dict[int, int] = {}
        bits: dict[int, int] = {}
        rest = pending
        while rest:
            lowest = rest & -rest
            group = self.bit_group[lowest.bit_length() - 1]
            used[group] = used.get(group, 0) + 1
            bits[group] = bits.get(group, 0) | lowest
            rest ^= lowest
        _, boundary = self.events.candidates()
        for group, count in used.items():
            if bisect.bisect_left(self.group_calls[group], boundary) - count >= room:
                pending &= ~bits[group]
        return frontier, beyond, pending

    def place(self, number: int) -> None:
        (self.events if self.returned[number] else self.pending).lift(number)
        self.placed[number] = 1
        self.order.place(number)

    def unplace(self, number: int) -> None:
        self.order.unplace(number)
        self.placed[number] = 0
        (self.events if self.returned[number] else self.pending).unlift(number)

    def options(self, state: State) -> tuple[list[int], bool]:
        """The returned candidates worth trying in `state`, in the order to try them: a
        legal observer alone, or else every allowed candidate but later-returning
        look-alikes; and whether that is all (true for a lone observer: if it fails, the
        configuration fails, so not even pending operations need trying). A legal observer
        that the order constraints forbid makes the configuration a dead end: nothing."""
        ops, step, observer, signature = self.ops, self.step, self.observer, self.signature
        order, placed = self.order, self.placed
        unique: list[int] = []
        seen: set[int] = set()
        found, _ = self.events.candidates()
        for number in sorted(found, key=self.rank.__getitem__):
            if order.empty or order.allowed(number, placed):
                if observer[number] and step(state, ops[number])[0]:
                    return [number], True
                if signature[number] not in seen:
                    seen.add(signature[number])
                    unique.append(number)
            elif observer[number] and step(state, ops[number])[0]:
                return [], True
        return unique, False

    def pending_options(self, state: State) -> list[int]:
        """Pending candidates (called before the first return still to place) worth
        trying, one per look-alike group: first those after which a returned candidate
        does something else than it does now (a read waiting for a pending write's value),
        then those that change what another pending candidate does, earliest call first.

        A pending operation p that changes what no other candidate does, and releases no
        order fact, is not tried. Take a completion that starts with p and its next
        operation c: if c is pending and does nothing after p, drop c; otherwise c does
        after p what it does now, and dropping p (it may never take effect) leaves a
        completion that starts with c, which the search tries from here anyway. (Both
        shorten the completion, so the argument ends.) This is what keeps the dead ends of
        a long history with many pending operations cheap: without it, each dead end tried
        every pending operation and, below each, every other one.
        """
        found, first_return = self.events.candidates()
        ops, step, order, placed = self.ops, self.step, self.order, self.placed
        self.budget.spend(work=len(found))
        pending = [
            number
            for number in self.pending.worth_looking_at(state, first_return)
            if order.empty or order.allowed(number, placed)
        ]
        if not pending:
            return pending
        returned = [number for number in found if order.empty or order.allowed(number, placed)]
        now = {number: step(state, ops[number]) for number in returned}
        seen: set[int] = set()
        helpful: list[int] = []
        useful: list[int] = []
        for looked, number in enumerate(pending):
            if looked % _SPEND_EVERY == _SPEND_EVERY - 1:
                self.budget.spend(work=_SPEND_EVERY * (len(returned) + 1))
            if self.signature[number] in seen:
                continue  # a look-alike: tried once (but still a candidate others may change)
            seen.add(self.signature[number])
            legal, new_state = step(state, ops[number])
            if not legal or new_state == state:
                continue  # pointless: see `pointless`
            if self.releases[number] or any(
                self.changed(ops[other], new_state, now[other], True) for other in returned
            ):
                helpful.append(number)
            elif self.changes_another(number, state, new_state, first_return):
                useful.append(number)
        return helpful + useful

    def changes_another(self, number: int, state: State, new_state: State, first_return: float) -> bool:
        """Whether some other pending candidate does something else after `number` (see
        `pending_options`); each one looked at is work for the budget."""
        ops, step, order, placed = self.ops, self.step, self.order, self.placed
        looked = 0
        for other in self.pending.reacting(state, new_state, first_return):
            looked += 1
            if looked % _SPEND_EVERY == 0:
                self.budget.spend(work=_SPEND_EVERY)
            if other == number or not (order.empty or order.allowed(other, placed)):
                continue
            if self.changed(ops[other], new_state, step(state, ops[other]), False):
                break
        else:
            self.budget.spend(work=looked % _SPEND_EVERY)
            return False
        self.budget.spend(work=looked % _SPEND_EVERY)
        return True

    def changed(self, op: Operation, new_state: State, outcome_now: tuple[bool, State], returned: bool) -> bool:
        """Whether `op`, stepped in `new_state` instead of `state`, can do something that
        matters differently (see `pending_options`): be legal with another outcome, unless
        it is a pending operation that would then do nothing."""
        legal, after = self.step(new_state, op)
        return legal and (legal, after) != outcome_now and (returned or after != new_state)

    def pointless(self, number: int, state: State, new_state: State, frames: list[_Frame]) -> bool:
        """Whether linearizing pending operation `number` here can be skipped.

        It can when it changes nothing (it may as well never take effect), and when the last
        step was another pending operation p and taking `number` before p would reach the
        same state: that sibling configuration has the same returned set and state and one
        pending operation fewer, so it dominates this one, and the parent tries it anyway.
        Without this, k pending writes would be chained in k! orders before the memo could
        cut them. (Both replace a legal linearization by another legal one, which therefore
        satisfies every order constraint: the search does reach it.)
        """
        if new_state == state:
            return True
        if not frames or self.returned[frames[-1][5]]:
            return False
        parent_state = frames[-1][3]
        return self.step(parent_state, self.ops[number]) == (True, new_state)

    def dead_end(self, state: State) -> _DeadEnd:
        """The counterexample at a dead end with more returned operations linearized than
        any before (or as many, with fewer pending ones: a prefix ending in guesses about
        pending operations explains less than the same prefix without them).

        No returned candidate here can owe its failure to the memo: a known configuration
        with one more returned operation would have produced a deeper dead end earlier. So
        each is refused by the model or forbidden by an order constraint, which the
        assertion checks; where a legal observer is forbidden, that observer alone is the
        culprit (no later place could suit it better). Why each is stuck is worked out
        only for the deepest dead end, at the end (`reasons`).
        """
        found, _ = self.events.candidates()
        self.budget.spend(work=2 * len(found))
        stuck = sorted(found, key=self.rank.__getitem__)
        legal = [self.step(state, self.ops[number])[0] for number in stuck]
        observers = [n for n, ok in zip(stuck, legal, strict=True) if ok and self.observer[n]]
        if observers:
            stuck, legal = observers[:1], [True]
        facts = tuple(
            self.order.why_not(number, self.placed) if ok else None for number, ok in zip(stuck, legal, strict=True)
        )
        assert stuck
        assert all(fact is not None or not ok for fact, ok in zip(facts, legal, strict=True))
        return _DeadEnd(tuple(stuck), state, facts)

    def reasons(self, dead_end: _DeadEnd, path: _Path) -> tuple[_Reason, ...]:
        """One reason per stuck operation of the deepest dead end (see `_Explainer`)."""
        explainer = _Explainer(self.ops, self.model, path)
        return tuple(
            explainer.fact(number, fact)
            if fact is not None
            else explainer.refusal(number, dead_end.state, detailed=position < _DETAILED)
            for position, (number, fact) in enumerate(zip(dead_end.stuck, dead_end.facts, strict=True))
        )


_DETAILED = 20
"""Stuck operations whose reason looks through the whole partition (O(n) each); any
beyond get the reason read off the dead end alone, so that a dead end among thousands
of candidates costs no more than the search did."""


@dataclass(frozen=True, slots=True)
class _DeadEnd:
    """Where the search got stuck: the returned candidates, the state, and for each the
    order fact that forbids it (None: the model refuses it in that state)."""

    stuck: tuple[int, ...]
    state: State
    facts: tuple[tuple[str, int, int] | None, ...]


class _Explainer:
    """One-line reasons, in the model's words, for the stuck operations of a dead end.

    An operation forbidden by an order fact is explained by that fact and the results
    that show it. One the model refuses is explained, where the model says what state it
    needs (`needs`) and what state each operation leaves (`sets`), by real time alone
    when that suffices: each operation that could have left the needed state either was
    invoked after the stuck one returned, or completed before some operation that surely
    left another state was invoked, which itself completed before the stuck one was
    invoked (and the initial state is ruled out by any such operation). When every
    operation leaving a state is of that kind, this is a proof: the last of them before
    the stuck one decides the state it sees. Otherwise, and for models without those
    hooks, the reason is the state the longest linearizable prefix leaves, and the
    operation that left it.
    """

    def __init__(self, ops: Sequence[Operation], model: Model, path: _Path) -> None:
        self.ops, self.model, self.path = ops, model, path
        self._setters: list[tuple[Hashable, ...]] | None = None
        self._looked = False

    def name(self, number: int) -> str:
        op = self.ops[number]
        return f"{self.model.describe_op(op)} at {_where(op)}"

    def head(self, number: int) -> str:
        return f"{self.model.describe_op(self.ops[number])} cannot be placed: "

    def fact(self, number: int, fact: tuple[str, int, int]) -> _Reason:
        kind, first, witness = fact
        named = tuple(n for n in dict.fromkeys((first, witness)) if n != number)
        shown_by = (
            "its own result"
            if witness == number
            else "that operation's result"
            if witness == first
            else self.name(witness)
        )
        if kind == "never":
            text = (
                "no order of the operations can produce its result"
                if witness == number
                else f"no order of the operations can produce its result, which contradicts {shown_by}"
            )
        elif kind == "after":
            text = f"{self.name(first)} must take effect before it, as {shown_by} shows"
        else:
            text = (
                f"it cannot take effect between {self.name(first)} and "
                f"{self.name(witness)}, as the latter's result shows"
            )
        return self.head(number) + text, named

    def setters(self) -> list[tuple[Hashable, ...]] | None:
        """What state each operation leaves (`()`: it changes nothing), or None when the
        model cannot say so for every operation of the partition."""
        if not self._looked:
            self._looked = True
            found = [self.model.sets(op) for op in self.ops]
            known: list[tuple[Hashable, ...]] = [leaves for leaves in found if leaves is not None]
            if len(known) == len(found):
                self._setters = known
        return self._setters

    def refusal(self, number: int, state: State, detailed: bool) -> _Reason:
        need = self.model.needs(self.ops[number])
        open_writers: list[int] = []
        if detailed and need is not None and self.setters() is not None:
            found = self.real_time(number, need[0], need[1], open_writers)
            if found is not None:
                return self.head(number) + found[0], found[1]
        return self.at_dead_end(number, state, need, open_writers)

    def real_time(
        self,
        number: int,
        value: Hashable,
        phrase: str,
        open_writers: list[int],
    ) -> _Reason | None:
        """The reason when real time alone rules out every operation that could have left
        `value`; else None, with those it does not rule out added to `open_writers`."""
        ops, setters, stuck = self.ops, self.setters(), self.ops[number]
        assert setters is not None
        stuck_ret = stuck.ret
        assert stuck_ret is not None, "a stuck operation has returned"
        writers = [n for n, leaves in enumerate(setters) if leaves == (value,) and n != number]
        blocker = None  # the latest-invoked operation surely leaving another state before
        for other, leaves in enumerate(setters):
            op = ops[other]
            if (
                leaves
                and leaves != (value,)
                and op.ret is not None
                and op.ret < stuck.call
                and (blocker is None or op.call > ops[blocker].call)
            ):
                blocker = other
        late = [w for w in writers if ops[w].call > stuck_ret]
        hidden = [
            w
            for w in writers
            if ops[w].call <= stuck_ret and blocker is not None and _returned_before(ops[w], ops[blocker].call)
        ]
        starved = [w for w in writers if w not in {*late, *hidden} and self.starved(w, blocker, number, setters)]
        initial = self.model.init() == value
        if len(late) + len(hidden) + len(starved) < len(writers) or (initial and blocker is None):
            ruled_out = {*late, *hidden, *starved}
            open_writers.extend(w for w in writers if w not in ruled_out)
            return None
        shown = self.model.describe_state(value)
        clauses: list[tuple[str, tuple[int | None, ...]]] = [
            (self.hidden_clause(w, blocker, number, shown), (w, blocker)) for w in hidden
        ]
        clauses += [(self.starved_clause(w, blocker, number), (w, blocker)) for w in starved]
        clauses += [
            (
                f"{self.name(w)} was invoked ({_at(ops[w].call, ops[w].call_time_us)}) "
                f"after this {stuck.f} returned ({_at(stuck_ret, stuck.return_time_us)})",
                (w,),
            )
            for w in late
        ]
        if initial:
            clauses.insert(0, (self.hidden_clause(None, blocker, number, shown), (blocker,)))
        if not clauses:
            return f"{phrase}, but no operation before it could have left {shown}", ()
        more = len(clauses) - _CLAUSES_SHOWN
        text = "; ".join(clause for clause, _ in clauses[:_CLAUSES_SHOWN])
        if more > 0:
            text += f"; and {more} more alike"
        if not initial and len(writers) == 1:
            text = "only " + text
        named = dict.fromkeys(n for _, numbers in clauses[:_CLAUSES_SHOWN] for n in numbers)
        return f"{phrase}: {text}", tuple(n for n in named if n is not None)

    def starved(self, writer: int, blocker: int | None, number: int, setters: list[tuple[Hashable, ...]]) -> bool:
        """Whether `writer`, which leaves its value only from one state e (a cas), cannot
        have found e: it would have to take effect after `blocker` (else the blocker's
        state would reach the stuck operation), which leaves another state than e, and no
        operation leaving e fits between the blocker's call and the stuck operation's (and
        the writer's) return."""
        if blocker is None:
            return False
        needed = self.model.requires(self.ops[writer])
        if not needed or setters[blocker] == needed:
            return False
        ops = self.ops
        until = min(ret for ret in (ops[number].ret, ops[writer].ret) if ret is not None)
        return all(
            _returned_before(ops[other], ops[blocker].call) or ops[other].call > until
            for other, leaves in enumerate(setters)
            if leaves == needed and other not in (writer, number)
        )

    def starved_clause(self, writer: int, blocker: int | None, number: int) -> str:
        ops, stuck = self.ops, self.ops[number]
        assert blocker is not None
        needed = self.model.requires(ops[writer])
        assert needed is not None, "a starved operation requires a state"
        other = ops[blocker]
        assert other.ret is not None
        state = self.model.describe_state(needed[0])
        return (
            f"{self.name(writer)} applies only to {state}, but it would have to follow "
            f"{self.name(blocker)}, which completed ({_at(other.ret, other.return_time_us)}) "
            f"before this {stuck.f} was invoked and left another state, and every "
            f"operation leaving {state} completed before that one was invoked "
            f"({_at(other.call, other.call_time_us)}) or was invoked too late"
        )

    def hidden_clause(self, writer: int | None, blocker: int | None, number: int, shown: str) -> str:
        ops, stuck = self.ops, self.ops[number]
        assert blocker is not None
        other = ops[blocker]
        assert other.ret is not None
        before = (
            f"completed ({_at(other.ret, other.return_time_us)}) before this {stuck.f} "
            f"was invoked ({_at(stuck.call, stuck.call_time_us)})"
        )
        if writer is None:
            return f"{shown} is the initial state, but {self.name(blocker)} {before}"
        op = ops[writer]
        assert op.ret is not None
        return (
            f"{self.name(writer)} left {shown}, but {self.name(blocker)}, invoked "
            f"({_at(other.call, other.call_time_us)}) after that one completed "
            f"({_at(op.ret, op.return_time_us)}), {before}"
        )

    def at_dead_end(
        self, number: int, state: State, need: tuple[Hashable, str] | None, open_writers: list[int]
    ) -> _Reason:
        last = self.last_change()
        left = "" if last is None else f", left by {self.name(last)}"
        found = (
            f"the state after the longest prefix the search could linearize is {self.model.describe_state(state)}{left}"
        )
        named = [] if last is None else [last]
        if need is None:
            why = self.model.why_refused(state, self.ops[number])
            if why is not None:
                return self.head(number) + f"{why} ({found})", tuple(named)
            return self.head(number) + f"{found}, and the model refuses it there", tuple(named)
        text = f"{need[1]}, but {found}"
        if open_writers:
            shown = [self.name(w) for w in open_writers[:_CLAUSES_SHOWN]]
            more = len(open_writers) - len(shown)
            text += (
                f"; {', '.join(shown)}{f' and {more} more' if more > 0 else ''} could "
                f"leave {self.model.describe_state(need[0])}, but the search found no "
                "order of the other operations in which one does so before it"
            )
            named += open_writers[:_CLAUSES_SHOWN]
        return self.head(number) + text, tuple(named)

    def last_change(self) -> int | None:
        """The last operation of the dead end's prefix that changed the state, found by
        replaying the prefix (once per counterexample)."""
        state, last = self.model.init(), None
        for number in _unwind(self.path):
            legal, after = self.model.step(state, self.ops[number])
            assert legal, "the prefix of a dead end is a legal order"
            if after != state:
                state, last = after, number
        return last


_CLAUSES_SHOWN = 3  # a reason stays one readable line; the rest is counted


def _where(op: Operation) -> str:
    return f"line {op.line}" if op.line is not None else f"event #{op.call}"


def _returned_before(op: Operation, position: int) -> bool:
    """Whether `op` completed, and did so before `position` in the history."""
    return op.ret is not None and op.ret < position


def _at(position: int, time_us: int | None) -> str:
    """A moment for people: seconds where the history has times, else the event's
    position in the history."""
    return f"event #{position}" if time_us is None else f"t={format_instant(time_us)}"


def format_instant(time_us: int) -> str:
    """A moment of a history as seconds, with as many decimals as it needs ("1.5 s"): the
    words of the reasons and of the terminal view alike."""
    text = f"{time_us / 1_000_000:.6f}".rstrip("0")
    return (text + "0" if text.endswith(".") else text) + " s"


class _Chains:
    """Operations filed under labels, each label's a doubly linked list in call order
    (dancing links, as `_EventList`): walking the members called before a position costs
    what it finds, and placing or unplacing one costs O(1).

    Numbers below `len(ops)` are operations; each chain has a head and a tail sentinel
    after them, the tail at an infinite position, which ends every walk.
    """

    def __init__(self, ops: Sequence[Operation], labelled: Iterable[tuple[Hashable, int]]) -> None:
        members: dict[Hashable, list[int]] = {}
        for label, number in labelled:
            members.setdefault(label, []).append(number)
        size = len(ops)
        self.position: list[float] = [op.call for op in ops] + [-math.inf, math.inf] * len(members)
        self.next = list(range(1, len(self.position) + 1))
        self.previous = list(range(-1, len(self.position) - 1))
        self.member = bytearray(size)
        self.head: dict[Hashable, int] = {}
        for chain, (label, numbers) in enumerate(members.items()):
            head = size + 2 * chain
            self.head[label] = head
            assert all(a < b for a, b in itertools.pairwise(numbers)), "a chain is in call order"
            linked = [head, *numbers, head + 1]
            for before, after in itertools.pairwise(linked):
                self.next[before], self.previous[after] = after, before
            for number in numbers:
                self.member[number] = 1

    def called_before(self, label: Hashable, boundary: float) -> list[int]:
        """The members of `label`'s chain still in it whose call comes before `boundary`."""
        head = self.head.get(label)
        if head is None:
            return []
        found: list[int] = []
        position, following = self.position, self.next
        entry = following[head]
        while position[entry] < boundary:
            found.append(entry)
            entry = following[entry]
        return found

    def first_before(self, label: Hashable, boundary: float) -> int | None:
        """The earliest-called member of `label`'s chain still in it, if called before
        `boundary`."""
        head = self.head.get(label)
        if head is None:
            return None
        entry = self.next[head]
        return entry if self.position[entry] < boundary else None

    def lift(self, number: int) -> None:
        if self.member[number]:
            self.next[self.previous[number]] = self.next[number]
            self.previous[self.next[number]] = self.previous[number]

    def unlift(self, number: int) -> None:
        if self.member[number]:
            self.next[self.previous[number]] = number
            self.previous[self.next[number]] = number


_OTHER = ("other",)
"""The chain of pending operations whose effect the model does not state."""


class _PendingIndex:
    """The pending operations of a partition, filed so that a search step looks only at
    those that can matter in its state, instead of at every pending operation called so
    far (a history whose client recorded thousands of refused connections as `info` has
    thousands of them).

    By `Model.effect`, as candidates: one that changes the state only from a state v is
    filed under v and looked at only in v (elsewhere it is illegal or changes nothing,
    which `pending_options` would skip); one whose effect is unknown is always looked at.
    A pending operation whose target t no operation of the partition tells apart from
    other such states (no `state_test` names t, and every operation has one) is one of a
    kind: from any state, all of those with the same source lead to states that every
    operation treats alike (each is equally legal in them and either leaves each as it
    was or sets one same state), so a completion that uses one of them can use the
    earliest-called one still free instead, and that one alone is tried. This is what lets
    refused writes of values nobody read cost nothing. (Order facts could tell such
    operations apart: with any, none is of a kind.)

    By `Model.state_test`, as operations that may react to a change from a state s to a
    state s': those testing for s or s', and those without a test (`reacting`).
    """

    def __init__(self, search: _Search, pending: list[int]) -> None:
        ops, model, tests = search.ops, search.model, search.state_test
        self.ops = ops
        self.acting = model.pending_acting
        self.placed = search.placed
        self.number_of = {ops[number].id: number for number in pending}
        self.acting_numbers: dict[Collection[int], list[int]] = {}
        told_apart: set[Hashable] | None = None
        if search.order.empty and all(test is not None for test in tests):
            told_apart = {test[0] for test in tests if test}
        candidate_labels: list[tuple[Hashable, int]] = []
        reacting_labels: list[tuple[Hashable, int]] = []
        for number in pending:
            effect = model.effect(ops[number])
            if effect is None:
                candidate_labels.append((_OTHER, number))
            elif told_apart is not None and effect.target not in told_apart:
                candidate_labels.append((("of-a-kind", effect.source), number))
            else:
                candidate_labels.append((("from", effect.source), number))
            test = tests[number]
            if test is None:
                reacting_labels.append((_OTHER, number))
            elif test:
                reacting_labels.append((("test", test[0]), number))
        self.candidates = _Chains(ops, candidate_labels)
        self.reactions = _Chains(ops, reacting_labels)
        # Where the model states nothing per operation (neither effects nor tests), the
        # operations the model says may act are found from that set alone, without a walk
        # over every pending operation called so far.
        self.plain = all(label == _OTHER for label, _ in candidate_labels) and all(
            label == _OTHER for label, _ in reacting_labels
        )

    def worth_looking_at(self, state: State, boundary: float) -> list[int]:
        """The pending operations called before `boundary` that may change `state`, in
        call order: every one whose effect is unknown or starts from any state or from
        `state`, and of each kind the earliest."""
        if self.plain:
            return self._plain(state, boundary)
        chains = self.candidates
        found = chains.called_before(_OTHER, boundary)
        for source in ((), (state,)):
            found += chains.called_before(("from", source), boundary)
            first = chains.first_before(("of-a-kind", source), boundary)
            if first is not None:
                found.append(first)
        found.sort()
        return self._acting(state, found)

    def _plain(self, state: State, boundary: float) -> list[int]:
        """Every pending operation called before `boundary`, not placed, that the model
        says may act in `state`, in call order (all of them are in both chains)."""
        acting = self.acting(state)
        if acting is None:
            return self.candidates.called_before(_OTHER, boundary)
        numbers = self.acting_numbers.get(acting)
        if numbers is None:
            numbers = self.acting_numbers[acting] = sorted(
                number for key in acting if (number := self.number_of.get(key)) is not None
            )
        ops, placed = self.ops, self.placed
        return [number for number in numbers if ops[number].call < boundary and not placed[number]]

    def _acting(self, state: State, found: list[int]) -> list[int]:
        """`found` less the operations the model says cannot act in `state`."""
        acting = self.acting(state)
        if acting is None:
            return found
        ops = self.ops
        return [number for number in found if ops[number].id in acting]

    def reacting(self, state: State, new_state: State, boundary: float) -> list[int]:
        """The pending operations called before `boundary` that may behave differently in
        `new_state` than in `state` (by their `state_test`) and may change `new_state`
        (by `Model.pending_acting`): one that cannot do nothing but leave it as it is,
        which `changes_another` does not count."""
        if self.plain:
            return self._plain(new_state, boundary)
        chains = self.reactions
        found = chains.called_before(_OTHER, boundary) + chains.called_before(("test", state), boundary)
        if new_state != state:
            found += chains.called_before(("test", new_state), boundary)
        return self._acting(new_state, found)

    def lift(self, number: int) -> None:
        self.candidates.lift(number)
        self.reactions.lift(number)

    def unlift(self, number: int) -> None:
        self.reactions.unlift(number)
        self.candidates.unlift(number)


def _unwind(path: _Path) -> tuple[int, ...]:
    """The operations of a path, first linearized first."""
    numbers: list[int] = []
    while path is not None:
        number, path = path
        numbers.append(number)
    return tuple(reversed(numbers))


def _signatures(ops: Sequence[Operation], model: Model) -> list[int]:
    """Number the operations so that two get the same number exactly when a model cannot
    tell them apart (`Model.look`: by default, as Porcupine's step, input and output).

    Of two such operations that are both candidates, only the one returning first need be
    tried: any linearization taking the other first stays valid with the two swapped, since
    the later-returning one may take the earlier one's place and the states are the same.
    """
    numbers: dict[Hashable, int] = {}
    look = model.look
    return [numbers.setdefault(look(op), len(numbers)) for op in ops]


# ---------------------------------------------------------------------------------------
# Whole histories


@collector_paused()  # the search's objects form no cycles; see `collector_paused`
def check_operations(
    operations: Iterable[Operation],
    model: Model,
    budget_s: float | None = None,
    first: bool = False,
    max_cache_entries: int = DEFAULT_MAX_CACHE_ENTRIES,
    max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES,
    budget: Budget | None = None,
) -> LinearizabilityResult:
    """Check a history given as operations against `model`.

    `budget` (or else `budget_s` seconds and `max_memory_bytes` from now) bounds the whole
    check: time is shared among partitions (smallest first, unused time passing on), and a
    partition that runs out of time or memory, in any phase, ends "unknown" with the cause
    named. Given a `budget` that started before reading, the answer comes within its
    deadline, reading included. Raises ValueError if an operation's `f` is not one the
    model knows.
    """
    if budget is None:
        budget = _budget_from(budget_s, max_memory_bytes)
    all_ops: list[Operation] = []
    try:
        for op in operations:
            all_ops.append(op)
            if len(all_ops) % _SPEND_EVERY == 0:
                budget.spend(work=_SPEND_EVERY)
        groups = _partitions(_with_implied(all_ops, model), model, budget)
    except OutOfBudget as out:
        return unknown_result(model.name, len(all_ops), out.cause, budget.elapsed_ms())
    by_size = sorted(groups, key=lambda key: (len(groups[key]), _key_order(key)))
    results: dict[Hashable, PartitionResult] = {}
    illegal_found = False
    for position, key in enumerate(by_size):
        if first and illegal_found:
            results[key] = PartitionResult(key, Verdict.UNKNOWN, len(groups[key]), 0.0, cause=CAUSE_NOT_CHECKED)
            continue
        share = budget.until(_share(budget.deadline, len(by_size) - position))
        results[key] = _check_partition(key, groups[key], model, share, max_cache_entries)
        illegal_found = illegal_found or results[key].verdict is Verdict.INVALID
    partitions = tuple(results[key] for key in sorted(results, key=_key_order))
    verdict = Verdict.combine(partition.verdict for partition in partitions)
    return LinearizabilityResult(verdict, model.name, len(all_ops), budget.elapsed_ms(), partitions)


def _with_implied(ops: list[Operation], model: Model) -> list[Operation]:
    """`ops` with the model's implied operations (`Model.implied`). Calls must be distinct,
    so where there are any, every event number is multiplied by one more than the most
    implied operations following one event, and those take the numbers just after it."""
    implied = model.implied(ops)
    if not implied:
        return ops
    following = collections.Counter(op.call for op in implied)
    factor = 1 + max(following.values())
    scaled = [
        dataclasses.replace(op, call=factor * op.call, ret=None if op.ret is None else factor * op.ret) for op in ops
    ]
    taken: collections.Counter[int] = collections.Counter()
    extra = []
    for op in implied:
        taken[op.call] += 1
        extra.append(dataclasses.replace(op, call=factor * op.call + taken[op.call]))
    return scaled + extra


def unknown_result(
    model_name: str,
    ops: int,
    cause: str,
    elapsed_ms: float,
) -> LinearizabilityResult:
    """The answer of a check that ran out (`cause` "timeout" or "memory") before any
    partition could be searched, for instance while reading the history: unknown, with no
    partitions, naming the cause."""
    assert cause in (CAUSE_TIMEOUT, CAUSE_MEMORY), cause
    return LinearizabilityResult(Verdict.UNKNOWN, model_name, ops, elapsed_ms, (), cause)


def _budget_from(budget_s: float | None, max_memory_bytes: int) -> Budget:
    """A budget of `budget_s` seconds from now; none left at all when it is not positive
    (every partition then ends "unknown" at once)."""
    if budget_s is None or budget_s > 0:
        return Budget.starting_now(budget_s, max_memory_bytes)
    now = time.monotonic()
    return Budget(now, MemoryGauge(max_memory_bytes), started=now)


def _partitions(
    all_ops: list[Operation],
    model: Model,
    budget: Budget,
) -> dict[Hashable, list[Operation]]:
    """The operations of each partition, in history order; ValueError for an operation
    the model does not know."""
    groups: dict[Hashable, list[Operation]] = {}
    for number, op in enumerate(all_ops):
        if number % _SPEND_EVERY == _SPEND_EVERY - 1:
            budget.spend(work=4 * _SPEND_EVERY)
        if op.f not in model.functions:
            raise ValueError(
                f"operation {op.id} (process {op.process}) is a {op.f!r}, which "
                f"model {model.name!r} does not have "
                f"({', '.join(sorted(model.functions))})"
            )
        groups.setdefault(model.partition(op), []).append(op)
    return groups


def _key_order(key: Hashable) -> tuple[bool, str]:
    return (key is not None, str(key))


def _share(deadline: float, partitions_left: int) -> float:
    """This partition's deadline: an equal share of what is left of the budget, but never
    less than `_SHARE_FLOOR_S` while that much is left: with many thousands of keys an
    equal share is a millisecond, which a pause of the process may take alone."""
    if math.isinf(deadline):
        return deadline
    now = time.monotonic()
    left = max(0.0, deadline - now)
    return now + max(left / partitions_left, min(left, _SHARE_FLOOR_S))


_SHARE_FLOOR_S = 0.05


def _check_partition(
    key: Hashable, ops: list[Operation], model: Model, budget: Budget, max_cache_entries: int
) -> PartitionResult:
    started = time.monotonic()
    try:
        budget.check_now()
        budget.spend(work=len(ops))  # the sort below
        searched = sorted((op for op in ops if not model.inert(op)), key=lambda op: op.call)
        outcome = _search_partition(searched, model, budget, max_cache_entries)
    except OutOfBudget as out:
        outcome = _Outcome(Verdict.UNKNOWN, out.cause, 0)
    counterexample = None
    if outcome.verdict is Verdict.INVALID:
        counterexample = _counterexample(searched, model, outcome)
    elapsed_ms = (time.monotonic() - started) * 1000
    return PartitionResult(key, outcome.verdict, len(ops), elapsed_ms, counterexample, outcome.cause, outcome.explored)


def _counterexample(
    searched: list[Operation],
    model: Model,
    outcome: _Outcome,
) -> Counterexample:
    stuck = tuple(searched[number] for number in outcome.stuck)
    prefix = tuple(searched[number] for number in outcome.prefix)
    assert len(outcome.reasons) == len(stuck), (outcome.reasons, stuck)
    return Counterexample(
        operations=stuck,
        prefix=prefix,
        state=model.describe_state(outcome.state),
        descriptions=tuple(model.describe_op(op) for op in stuck),
        prefix_descriptions=tuple(model.describe_op(op) for op in prefix),
        reasons=tuple(text for text, _ in outcome.reasons),
        ruled_out_by=tuple(
            tuple(sorted({line for n in numbers if (line := searched[n].line) is not None}))
            for _, numbers in outcome.reasons
        ),
    )


def _search_partition(searched: list[Operation], model: Model, budget: Budget, max_cache_entries: int) -> _Outcome:
    """The verdict, with the model's order facts when it offers them; for an illegal
    partition, the deeper counterexample of a short search without them if that search
    finishes (see the module docstring). Raises OutOfBudget when the budget runs out
    before the search starts."""
    constraints = model.order_constraints(searched, budget)
    if constraints is None:
        return _Search(searched, model, budget=budget).run(budget, max_cache_entries)
    budget.check_now()
    outcome = _Search(searched, model, constraints, budget).run(budget, max_cache_entries)
    if outcome.verdict is not Verdict.INVALID or COUNTEREXAMPLE_RETRY_CONFIGURATIONS <= 0:
        return outcome
    try:
        retry = _Search(searched, model, budget=budget).run(budget, COUNTEREXAMPLE_RETRY_CONFIGURATIONS)
    except OutOfBudget:  # the verdict stands; only the deeper counterexample is lost
        return outcome
    assert retry.verdict is not Verdict.VALID, "order facts contradicted: the model's facts are wrong"
    if retry.verdict is Verdict.INVALID:
        return _Outcome(
            Verdict.INVALID,
            None,
            outcome.explored + retry.explored,
            retry.prefix,
            retry.stuck,
            retry.state,
            retry.reasons,
        )
    return _Outcome(
        Verdict.INVALID,
        None,
        outcome.explored + retry.explored,
        outcome.prefix,
        outcome.stuck,
        outcome.state,
        outcome.reasons,
    )


def check_history_file(
    path: str | os.PathLike[str],
    model_name: str,
    initial: object = None,
    budget_s: float | None = None,
    first: bool = False,
    max_cache_entries: int = DEFAULT_MAX_CACHE_ENTRIES,
    history_format: str | None = None,
    max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES,
) -> LinearizabilityResult:
    """Read a history file and check it against the named model.

    The format is told by the content unless `history_format` names it (see
    `checkers.formats`). `budget_s` starts before reading, as `raftsim check`'s does; a
    check that runs out while reading is unknown (`unknown_result`). Raises InputError for
    a malformed file or an operation the model does not know, and ValueError for an
    unknown model or format name.
    """
    model = get_model(model_name, initial)
    budget = _budget_from(budget_s, max_memory_bytes)
    try:
        operations = read_operations(path, history_format, model, budget=budget)
    except OutOfBudget as out:
        return unknown_result(model.name, 0, out.cause, budget.elapsed_ms())
    try:
        return check_operations(operations, model, first=first, max_cache_entries=max_cache_entries, budget=budget)
    except ValueError as error:
        raise InputError(path, None, "f", str(error)) from None
