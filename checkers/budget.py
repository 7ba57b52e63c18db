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

import os
import resource
import sys
from dataclasses import dataclass, field

GIB = 1 << 30
DEFAULT_MAX_MEMORY_BYTES = 3 * GIB + GIB // 2
"""Resident memory at which a search gives up: half a GiB under the 4 GiB a run must
never exceed, because memory is only looked at between steps and freed memory is not
always handed back to the system at once."""

CHECK_EVERY_STEPS = 256
CHECK_EVERY_BYTES = 32 << 20  # stored since the last look; then look at once

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
    """The most resident memory this process has held so far."""
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
