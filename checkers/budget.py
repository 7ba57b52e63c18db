"""How much a check may spend: wall-clock seconds and resident memory.

A budget never decides a verdict; running out only turns a partition into "unknown", with
the cause named. Time is read from the monotonic clock and memory from the kernel's count
of resident pages, so that what is limited is what the operating system would kill us
for, not an estimate of what Python objects might cost.

Reading `/proc/self/statm` costs a few microseconds, so the search looks at it every few
hundred steps, and sooner when it has just stored large states (`MemoryGauge.spent`): a
search that stores a megabyte-long state per step must not run a thousand steps blind.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from dataclasses import dataclass, field

GIB = 1 << 30
DEFAULT_MAX_MEMORY_BYTES = 3 * GIB + GIB // 2
"""Resident memory at which a search gives up: half a GiB under the 4 GiB a run must
never exceed, because memory is only looked at between steps and freed memory is not
always handed back to the system at once."""

CHECK_EVERY_STEPS = 256
CHECK_EVERY_BYTES = 8 << 20  # stored since the last look; then look at once

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """Resident memory of this process now (Linux), or else the peak so far (which can
    only overstate: never lets a run grow past its budget unnoticed)."""
    try:
        with open("/proc/self/statm", "rb") as stream:
            return int(stream.read().split()[1]) * _PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return peak_resident_bytes()


def peak_resident_bytes() -> int:
    """The most resident memory this process has held so far. On Linux the kernel's VmHWM,
    because `ru_maxrss` keeps the peak of the image a process had before exec (a benchmark
    forked from a large parent would report the parent's)."""
    try:
        with open("/proc/self/status", "rb") as stream:
            for line in stream:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS counts bytes, Linux KiB


@dataclass(slots=True)
class MemoryGauge:
    """Looks at resident memory often enough that the limit cannot be overrun by much.

    `spent(bytes)` is told roughly what the search just stored; `over()` answers whether
    the process holds more than `limit_bytes`, reading the kernel's figure only every
    `CHECK_EVERY_STEPS` calls or after `CHECK_EVERY_BYTES` were stored.
    """

    limit_bytes: int = DEFAULT_MAX_MEMORY_BYTES
    _steps: int = 0
    _stored_bytes: int = 0
    readings: int = field(default=0)

    def __post_init__(self) -> None:
        assert self.limit_bytes > 0, self.limit_bytes

    def spent(self, stored_bytes: int) -> None:
        self._stored_bytes += stored_bytes

    def over(self) -> bool:
        self._steps += 1
        if self._steps < CHECK_EVERY_STEPS and self._stored_bytes < CHECK_EVERY_BYTES:
            return False
        self._steps, self._stored_bytes = 0, 0
        self.readings += 1
        return resident_bytes() > self.limit_bytes


class OutOfBudget(Exception):
    """A phase of a check (reading, building order facts, searching) ran past its budget.

    `cause` is "timeout" or "memory", the words a partition's `cause` uses. Whoever runs
    the check turns this into an `unknown` verdict naming the cause; it is never an error
    of the input.
    """

    def __init__(self, cause: str) -> None:
        assert cause in ("timeout", "memory"), cause
        self.cause = cause
        super().__init__(cause)


CLOCK_EVERY_CALLS = 64
"""Units of work (`Budget.spend`'s `work`) between two looks at the clock. A unit stands
for a bounded piece of work of a microsecond or so (a record read, a fact derived, a
candidate stepped), so 64 of them are far below the 10% of a budget that a check may
overshoot. Work that is costlier is spent with a weight, never as one unit: a search step
that handles 20,000 candidates spends 20,000 units, and the clock is read at that step."""


@dataclass(slots=True)
class Budget:
    """What a whole check may spend: wall time from its start (reading included) and
    resident memory.

    One value is created when the check starts and handed to every phase: the readers, the
    models' order facts and the search all call `spend()` in their loops, which raises
    `OutOfBudget` once the deadline has passed or memory is over the guard. That is what
    makes "answered within 10% of the budget" hold whatever phase the time goes to.
    """

    deadline: float = math.inf
    gauge: MemoryGauge = field(default_factory=MemoryGauge)
    _calls: int = 0
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def starting_now(cls, seconds: float | None, max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES) -> Budget:
        assert seconds is None or seconds > 0, seconds
        now = time.monotonic()
        deadline = math.inf if seconds is None else now + seconds
        return cls(deadline, MemoryGauge(max_memory_bytes), started=now)

    def until(self, deadline: float) -> Budget:
        """A share of this budget ending at `deadline` (or sooner, never later), with the
        same memory guard: what one partition of a check may spend."""
        return Budget(min(deadline, self.deadline), self.gauge, started=self.started)

    def elapsed_ms(self) -> float:
        """Milliseconds since the check started (reading included)."""
        return (time.monotonic() - self.started) * 1000

    def remaining_s(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def spend(self, stored_bytes: int = 0, work: int = 1) -> None:
        """Account for `work` units of bounded work (see `CLOCK_EVERY_CALLS`) that stored
        about `stored_bytes`; raise OutOfBudget when time or memory has run out. Cheap
        enough to call per record or per step."""
        self._calls += work
        gauge = self.gauge
        if stored_bytes:
            gauge.spent(stored_bytes)
        if self._calls >= CLOCK_EVERY_CALLS:
            self._calls = 0
            if time.monotonic() > self.deadline:
                raise OutOfBudget("timeout")
        # `gauge.over()`'s own test, inlined: this runs once per search step.
        if (gauge._steps + 1 >= CHECK_EVERY_STEPS or gauge._stored_bytes >= CHECK_EVERY_BYTES) and gauge.over():
            raise OutOfBudget("memory")
        gauge._steps += 1

    def check_now(self) -> None:
        """Look at the clock at once (before or after a phase whose work cannot be cut
        into units); memory as often as `spend` does, since reading it costs more and a
        check may have a phase per key."""
        self._calls = CLOCK_EVERY_CALLS
        self.spend(work=0)
