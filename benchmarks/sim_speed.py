"""How fast the simulator runs `mixed`: 60 simulated seconds, 5 nodes, 4 clients offering
100 operations per second in all.

Prints, per seed and as medians: the simulator's events per CPU second, a bare simpy loop
of timeouts measured in the same process just before (what simpy itself costs per event,
so the ratio says how much the simulator adds to it), Raft messages per client operation,
and seeds per minute on one core for the simulation alone and with every check (what a
fuzzing job pays per seed: the run's files written and judged).

Times are CPU seconds of this process (`time.process_time`), not wall time, so that a
machine shared with other work still gives comparable figures; the spread between seeds
shows what noise remains.

    .venv/bin/python benchmarks/sim_speed.py [--seeds 5] [--start 1] [--scenario mixed]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import simpy

from raftsim import api
from scenarios import loader
from scenarios.resolve import resolve
from sim.world import run_scenario

BARE_LOOP_EVENTS = 200_000


@dataclass(frozen=True, slots=True)
class SeedFigures:
    seed: int
    simulate_s: float
    checked_s: float
    events: int
    operations: int
    raft_messages: int
    bare_events_per_s: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.simulate_s

    @property
    def ratio_to_bare(self) -> float:
        return self.events_per_s / self.bare_events_per_s

    @property
    def messages_per_operation(self) -> float:
        return self.raft_messages / max(1, self.operations)


def bare_loop_events_per_s(events: int = BARE_LOOP_EVENTS) -> float:
    """Events per CPU second of one simpy process doing nothing but `yield timeout(1)`."""
    env = simpy.Environment()

    def ticker() -> Generator[simpy.Event, object, None]:
        for _ in range(events):
            yield env.timeout(1)

    env.process(ticker())
    began = time.process_time()
    env.run()
    return events / (time.process_time() - began)


def measure(scenario_name: str, seed: int) -> SeedFigures:
    scenario = resolve(loader.with_seed(loader.load(scenario_name), seed))
    bare = bare_loop_events_per_s()
    began = time.process_time()
    result = run_scenario(scenario)
    simulate_s = time.process_time() - began
    with tempfile.TemporaryDirectory() as folder:
        began = time.process_time()
        outcome = api.run(scenario, Path(folder) / "run")
        checked_s = time.process_time() - began
    assert outcome.result.digest == result.digest, "the same seed must give the same trace"
    stats = result.stats
    return SeedFigures(
        seed, simulate_s, checked_s, stats["sim_events"], stats["operations"], stats["raft_messages"], bare
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--start", type=int, default=1)
    parser.add_argument("--scenario", default="mixed")
    arguments = parser.parse_args()
    figures = []
    for seed in range(arguments.start, arguments.start + arguments.seeds):
        seed_figures = measure(arguments.scenario, seed)
        figures.append(seed_figures)
        print(
            f"seed {seed}: {seed_figures.simulate_s:.2f} s simulate, {seed_figures.checked_s:.2f} s with checks, "
            f"{seed_figures.events:,} events ({seed_figures.events_per_s:,.0f}/s, bare simpy "
            f"{seed_figures.bare_events_per_s:,.0f}/s), {seed_figures.operations} operations, "
            f"{seed_figures.messages_per_operation:.2f} messages/operation"
        )
    median = statistics.median

    def spread(values: list[float]) -> str:
        return f"(min {min(values):,.2f}, max {max(values):,.2f})"

    events = [f.events_per_s for f in figures]
    bare = [f.bare_events_per_s for f in figures]
    ratios = [f.ratio_to_bare for f in figures]
    per_minute_simulate = [60 / f.simulate_s for f in figures]
    per_minute_checked = [60 / f.checked_s for f in figures]
    print(f"\n{arguments.scenario}, {arguments.seeds} seeds, medians of CPU-time figures:")
    print(f"  simulator events per second   {median(events):,.0f}")
    print(f"  bare simpy loop events/s      {median(bare):,.0f}")
    print(f"  simulator / bare loop         {median(ratios):.3f} {spread(ratios)}")
    print(f"  Raft messages per operation   {median(f.messages_per_operation for f in figures):.2f}")
    print(f"  operations per seed           {median(f.operations for f in figures):.0f}")
    print(f"  seeds per minute (simulate)   {median(per_minute_simulate):.1f} {spread(per_minute_simulate)}")
    print(f"  seeds per minute (+ checks)   {median(per_minute_checked):.1f} {spread(per_minute_checked)}")


if __name__ == "__main__":
    main()
