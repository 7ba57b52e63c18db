"""How fast the simulator runs `mixed`: 60 simulated seconds, 5 nodes, 4 clients offering
100 operations per second in all.

Prints, as medians over the seeds: simulated events per second of wall time, the ratio of
simulated to wall time, and seeds per minute on one core, for the simulation alone and for
simulation plus every checker (what a fuzzing job pays).

    .venv/bin/python benchmarks/sim_speed.py [--seeds 10] [--start 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from raftsim import api
from scenarios import loader
from scenarios.resolve import resolve
from sim.world import run_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--start", type=int, default=1)
    parser.add_argument("--scenario", default="mixed")
    arguments = parser.parse_args()
    base = loader.load(arguments.scenario)
    sim_walls, full_walls, events_rates, ratios, operations = [], [], [], [], []
    for seed in range(arguments.start, arguments.start + arguments.seeds):
        scenario = resolve(loader.with_seed(base, seed))
        began = time.perf_counter()
        result = run_scenario(scenario)
        sim_wall = time.perf_counter() - began
        with tempfile.TemporaryDirectory() as folder:
            began = time.perf_counter()
            outcome = api.run(scenario, Path(folder) / "run")
            full_wall = time.perf_counter() - began
        assert outcome.result.digest == result.digest, "the same seed must give the same trace"
        stats = result.stats
        sim_walls.append(sim_wall)
        full_walls.append(full_wall)
        events_rates.append(stats["sim_events"] / sim_wall)
        ratios.append(stats["simulated_us"] / 1e6 / sim_wall)
        operations.append(stats["operations"])
        print(
            f"seed {seed}: {sim_wall:.2f} s simulate, {full_wall:.2f} s with checks, "
            f"{stats['sim_events']} events, {stats['operations']} operations, "
            f"verdict {outcome.verdict.verdict.to_json()}"
        )
    median = statistics.median
    print(f"\n{arguments.scenario}, {arguments.seeds} seeds, medians:")
    print(f"  simulated events per second   {median(events_rates):,.0f}")
    print(f"  simulated / wall time         {median(ratios):.1f}x")
    print(f"  operations per seed           {median(operations):.0f}")
    print(f"  seeds per minute (simulate)   {60 / median(sim_walls):.1f}")
    print(f"  seeds per minute (+ checks)   {60 / median(full_walls):.1f}")


if __name__ == "__main__":
    main()
