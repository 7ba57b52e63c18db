"""A host's local clock: true time scaled by a drift rate, plus an offset.

Raft ticks come from this clock, so a fast clock makes a node time out elections early and
a slow one late; the nemesis changes drift and offset while the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

PPM = 1_000_000
# Simulated time is counted in microseconds; scenarios speak in milliseconds.
MS = 1000


def now_us(env: simpy.Environment) -> int:
    """The simulated time as whole microseconds.

    simpy types `now` as int or float; every delay this simulator schedules is an int, so the
    clock stays an int, and a float here would mean some delay slipped in as a float and
    would change how times print in the trace and history.
    """
    now = env.now
    assert isinstance(now, int), f"simulated time {now!r} is not whole microseconds"
    return now


@dataclass(slots=True)
class LocalClock:
    drift_ppm: int = 0
    offset_us: int = 0
    _base_true_us: int = 0
    _base_local_us: int = 0

    def local_us(self, true_us: int) -> int:
        elapsed = true_us - self._base_true_us
        return self._base_local_us + elapsed + elapsed * self.drift_ppm // PPM + self.offset_us

    def true_delay_us(self, local_delay_us: int) -> int:
        """How long in true time until this clock has advanced by `local_delay_us`."""
        rate = PPM + self.drift_ppm
        assert rate > 0, "a clock never runs backwards"
        return max(1, -(-local_delay_us * PPM // rate))

    def set(self, true_us: int, drift_ppm: int, offset_us: int) -> None:
        """Change drift and offset from `true_us` on, keeping local time continuous
        except for the jump the offset change asks for."""
        self._base_local_us = self.local_us(true_us) - self.offset_us
        self._base_true_us = true_us
        self.drift_ppm = drift_ppm
        self.offset_us = offset_us
