"""Swarm mode: every seed draws its own configuration.

After TigerBeetle's VOPR and FoundationDB's BUGGIFY: rather than one configuration tried
with many seeds, each seed picks a cluster size, timings, link and disk behaviour, which
fault kinds are on and how often, and the workload mix. Bugs that only show under an
unusual mix (tiny messages, no CheckQuorum, a lossy network and slow disks together) then
get their chance. The draw is written into the run's scenario, so a failing seed replays
from its folder with no other input.

The ranges keep every configuration one a careful operator could run: the election
timeout stays well above the network's round trip and the disk's fsync, so that a
liveness failure points at the code rather than at the settings.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from scenarios import model
from scenarios.model import (
    FAULT_KINDS,
    ClockSpec,
    ClusterSpec,
    DiskSpec,
    NemesisSpec,
    NetworkSpec,
    Scenario,
    WorkloadSpec,
)
from scenarios.rng import stream

NODE_CHOICES = (1, 2, 3, 3, 4, 5, 5, 5, 6, 7)


@dataclass(frozen=True, slots=True)
class Weights:
    """The chances of the draw's on/off choices; the defaults are the plain draw, which
    `raftsim run swarm --seed N` makes. A fuzz campaign that adapts (`raftsim.adapt`) passes
    others. Each choice consumes the same one die whatever its chance, so the rest of the
    draw is the same and only the choices weighed here can differ."""

    fault_kinds: tuple[tuple[str, float], ...] = tuple((kind, 0.5) for kind in FAULT_KINDS)
    pre_vote: float = 0.75
    check_quorum: float = 0.75

    def __post_init__(self) -> None:
        assert tuple(kind for kind, _ in self.fault_kinds) == FAULT_KINDS, self.fault_kinds
        for chance in (self.pre_vote, self.check_quorum, *(chance for _, chance in self.fault_kinds)):
            assert 0.0 <= chance <= 1.0, f"a chance of {chance}"

    def chance_of(self, kind: str) -> float:
        return dict(self.fault_kinds)[kind]


PLAIN = Weights()


def draw(scenario: Scenario, weights: Weights = PLAIN) -> Scenario:
    """The scenario with a configuration drawn from its seed; `swarm` is cleared."""
    rng = stream(scenario.seed, "swarm")
    network = _network(rng)
    disk = DiskSpec(fsync_us=rng.choice((100, 1000, 2000, 8000)), fsync_jitter_us=rng.choice((0, 500, 4000)))
    cluster = _cluster(rng, network, disk, model.named_nodes(scenario.faults), weights)
    election_ms = cluster.tick_ms * cluster.election_ticks
    return dataclasses.replace(
        scenario,
        swarm=False,
        cluster=cluster,
        network=network,
        disk=disk,
        clock=ClockSpec(drift_ppm_max=rng.choice((0, 0, 1000, 50_000))),
        workload=_workload(rng),
        nemesis=_nemesis(rng, scenario.duration_ms, weights),
        phases=dataclasses.replace(
            scenario.phases,
            quiet_ms=max(scenario.phases.quiet_ms, 20 * election_ms),
            leader_bound_ms=max(scenario.phases.leader_bound_ms, 8 * election_ms),
        ),
    )


def _network(rng: random.Random) -> NetworkSpec:
    latency_us = rng.choice((100, 1000, 1000, 5000, 20_000))
    return NetworkSpec(
        latency_us=latency_us,
        jitter_us=rng.choice((0, latency_us // 2, latency_us * 2)),
        loss=rng.choice((0.0, 0.0, 0.01, 0.05)),
        duplicate=rng.choice((0.0, 0.0, 0.01, 0.05)),
        client_latency_us=rng.choice((100, 500, 2000)),
    )


def _cluster(rng: random.Random, network: NetworkSpec, disk: DiskSpec, named: int, weights: Weights) -> ClusterSpec:
    """`named` is the highest node a written fault names: the cluster is never smaller, and
    when no fault names one the draw is what it always was."""
    tick_ms = rng.choice((10, 20, 50, 100))
    # The slowest round trip plus an fsync, which an election needs at least, ten times over.
    worst_round_trip_us = 2 * (network.latency_us + network.jitter_us) + disk.fsync_us + disk.fsync_jitter_us
    minimum_ticks = max(5, -(-10 * worst_round_trip_us // (tick_ms * 1000)))
    election_ticks = rng.randint(minimum_ticks, minimum_ticks * 2)
    return ClusterSpec(
        nodes=rng.choice(tuple(n for n in NODE_CHOICES if n >= named) or (named,)),
        tick_ms=tick_ms,
        election_ticks=election_ticks,
        heartbeat_ticks=rng.randint(1, max(1, election_ticks // 5)),
        pre_vote=rng.random() < weights.pre_vote,
        check_quorum=rng.random() < weights.check_quorum,
        max_entries_per_message=rng.choice((1, 4, 64, 1024)),
    )


def _workload(rng: random.Random) -> WorkloadSpec:
    timeout_ms = rng.choice((500, 1000, 3000))
    return WorkloadSpec(
        clients=rng.randint(1, 8),
        keys=rng.randint(1, 5),
        rate=rng.choice((10, 50, 100, 200)),
        read=round(rng.random(), 2),
        write=min(1.0, round(rng.random(), 2) + 0.01),  # never 0, never past the loader's range
        cas=round(rng.random(), 2),
        timeout_ms=timeout_ms,
        attempt_timeout_ms=min(timeout_ms, rng.choice((100, 250, 1000))),
    )


def _nemesis(rng: random.Random, duration_ms: int, weights: Weights) -> NemesisSpec:
    kinds = tuple(kind for kind in FAULT_KINDS if rng.random() < weights.chance_of(kind)) or (rng.choice(FAULT_KINDS),)
    shortest_ms = rng.choice((200, 500, 2000))
    return NemesisSpec(
        mode="random",
        kinds=kinds,
        # A very long run draws rarer faults, so the schedule stays one a file can hold.
        interval_ms=max(rng.choice((500, 1000, 3000, 8000)), -(-duration_ms // model.MAX_DRAWN_FAULTS)),
        fault_duration_ms=(shortest_ms, shortest_ms * rng.choice((2, 5, 10))),
    )
