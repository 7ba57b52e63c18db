"""Callbacks at a later simulated time, for the simulator's hot path.

`call_later(env, delay, f)` does what `env.timeout(delay).callbacks.append(f)` does, in the
same place of simpy's queue (same time, same priority, the next event id), so runs are
event for event the same; it only skips what a Timeout keeps that nobody here reads (its
environment, delay and value). Messages, disk syncs and ticks, the bulk of a run's events,
go this way; processes (clients, the nemesis, the phases) keep simpy's timeouts.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy
from simpy.events import NORMAL


class _Call(simpy.Event):
    """An event that is born triggered and runs one callback when its time comes."""

    def __init__(self, callback: Callable[[simpy.Event], None]) -> None:
        # Deliberately not Event.__init__: simpy's loop reads only `callbacks` and `_ok`.
        self.callbacks = [callback]
        self._ok = True


def call_later(env: simpy.Environment, delay_us: int, callback: Callable[[simpy.Event], None]) -> simpy.Event:
    """Schedule `callback`; the event returned is the one it will be called with, so a
    caller that may plan again before it runs can tell its latest plan from a stale one."""
    assert delay_us >= 0, f"a callback cannot run {-delay_us} us in the past"
    event = _Call(callback)
    env.schedule(event, NORMAL, delay_us)
    return event
