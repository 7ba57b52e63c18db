"""What a Dask cluster costs a campaign: seeds per minute on a `LocalCluster` of N
single-threaded workers against the local process pool of N processes, on the same machine,
the same scenario and the same seeds.

Each side runs `raftsim fuzz` as a user would (a fresh fuzz folder each time, no reports,
no coverage, no determinism re-checks, no shrinking), and its wall time counts from the
command's start to its end, so the LocalCluster's start-up is charged to Dask. Prints each
side's seconds and seeds per minute per repeat, their medians, and the overhead: how much
longer the Dask campaign took (the goal is under 10%). Both sides' stores must hold the
same digest for every seed, or the benchmark stops: a faster wrong answer is no answer.

    .venv/bin/python benchmarks/campaign_speed.py [--scenario mixed] [--seeds 60] [--workers 2]
                                                  [--repeat 3] [--duration-ms 20000]
"""

from __future__ import annotations

import argparse
import dataclasses
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scenarios import loader


def campaign(scenario: Path, seeds: int, out: Path, extra: list[str]) -> float:
    command = [
        sys.executable, "-m", "raftsim", "fuzz", str(scenario), "--seeds", str(seeds), "--out", str(out),
        "--no-report", "--coverage", "0", "--recheck", "0", "--shrink-attempts", "0", *extra,
    ]  # fmt: skip
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"campaign_speed: {' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
    return wall


def digests(out: Path) -> dict[int, str]:
    with sqlite3.connect(out / "campaign.db") as connection:
        return dict(connection.execute("SELECT seed, digest FROM seeds"))


def running_s(out: Path) -> float:
    """The seeds' own span, from the first seed's start to the last one's end (the store's
    `finished_at - wall_s` and `finished_at`): the campaign without its start-up and end."""
    with sqlite3.connect(out / "campaign.db") as connection:
        began, ended = connection.execute("SELECT min(finished_at - wall_s), max(finished_at) FROM seeds").fetchone()
    return float(ended - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="mixed")
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration-ms", type=int, default=20_000, help="the scenario's length, shortened to this")
    options = parser.parse_args()
    base = loader.load(options.scenario)
    shortened = dataclasses.replace(base, duration_ms=min(base.duration_ms, options.duration_ms))
    local_walls, dask_walls, local_spans, dask_spans = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="raftsim-campaign-speed-") as scratch:
        folder = Path(scratch)
        scenario = folder / "scenario.toml"
        scenario.write_text(loader.to_toml(shortened), encoding="utf-8")
        for repeat in range(options.repeat):
            local_out, dask_out = folder / f"local-{repeat}", folder / f"dask-{repeat}"
            local = campaign(scenario, options.seeds, local_out, ["--jobs", str(options.workers)])
            dask = campaign(scenario, options.seeds, dask_out, ["--cluster", f"local:{options.workers}"])
            if digests(local_out) != digests(dask_out):
                raise SystemExit("campaign_speed: the two campaigns recorded different digests")
            local_walls.append(local)
            dask_walls.append(dask)
            local_spans.append(running_s(local_out))
            dask_spans.append(running_s(dask_out))
            print(
                f"repeat {repeat + 1}: local pool {local:.1f} s ({60 * options.seeds / local:.1f} seeds/min), "
                f"LocalCluster {dask:.1f} s ({60 * options.seeds / dask:.1f} seeds/min); seeds running "
                f"{local_spans[-1]:.1f} s and {dask_spans[-1]:.1f} s"
            )
    local_s, dask_s = statistics.median(local_walls), statistics.median(dask_walls)
    local_run, dask_run = statistics.median(local_spans), statistics.median(dask_spans)
    print(
        f"{options.scenario} ({options.duration_ms} ms), {options.seeds} seeds, {options.workers} workers, "
        f"median of {options.repeat}:"
    )
    print(f"  local pool   {local_s:.1f} s, {60 * options.seeds / local_s:.1f} seeds/min")
    print(f"  LocalCluster {dask_s:.1f} s, {60 * options.seeds / dask_s:.1f} seeds/min")
    print(f"  overhead     {100 * (dask_s / local_s - 1):+.1f}% of the command's wall time (goal: under 10%)")
    print(
        f"  with the seeds running: {60 * options.seeds / local_run:.1f} against "
        f"{60 * options.seeds / dask_run:.1f} seeds/min, {100 * (dask_run / local_run - 1):+.1f}% "
        "(start-up and end left out: what a long campaign pays per seed)"
    )


if __name__ == "__main__":
    main()
