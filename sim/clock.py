"""A host's local clock: true time scaled by a drift rate, plus an offset.

Everything a node times runs on this clock: the host ticks the Raft node whenever the local
clock passes the next tick's deadline (`sim.host`), so a fast clock makes a node time out
elections early and a slow one late, a clock set forward fires the timers of the time it
skipped at once, and a clock set back holds every timer until local time has caught up.
The nemesis changes drift and offset while the run goes on.
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
    """Local time is `base_local + elapsed + elapsed * drift // PPM + offset`, where
    `elapsed` is the true time since the last change (`set`). Between changes it only moves
    forward (the rate `PPM + drift_ppm` is positive); a change of `offset_us` is a jump."""

    drift_ppm: int = 0
    offset_us: int = 0
    _base_true_us: int = 0
    _base_local_us: int = 0

    def local_us(self, true_us: int) -> int:
        elapsed = true_us - self._base_true_us
        return self._base_local_us + elapsed + elapsed * self.drift_ppm // PPM + self.offset_us

    def true_at(self, local_us: int) -> int:
        """The earliest true time at which this clock reads `local_us` or later, on its
        current setting (earlier than the last change if it read that much already).

        Exact, not a rate estimate: `elapsed + elapsed * drift // PPM` is
        `elapsed * (PPM + drift) // PPM`, which reaches `need` first at the ceiling of
        `need * PPM / (PPM + drift)`; so ticks planned from deadlines carry no rounding error
        from one tick to the next."""
        rate = PPM + self.drift_ppm
        assert rate > 0, "a clock never runs backwards"
        need = local_us - self._base_local_us - self.offset_us
        return self._base_true_us - (-need * PPM // rate)

    def set(self, true_us: int, drift_ppm: int, offset_us: int) -> None:
        """Change drift and offset from `true_us` on, keeping local time continuous
        except for the jump the offset change asks for."""
        assert PPM + drift_ppm > 0, f"a drift of {drift_ppm} ppm stops or reverses the clock"
        self._base_local_us = self.local_us(true_us) - self.offset_us
        self._base_true_us = true_us
        self.drift_ppm = drift_ppm
        self.offset_us = offset_us
