"""Swarm weights that lean towards the configurations which reached rare events.

A swarm campaign that adapts runs in rounds of a fixed number of seeds. Round 0 draws as
`raftsim run swarm --seed N` does (`swarm.PLAIN`). Before each later round, the weights are
computed from every earlier round's recorded rare events and configurations, by this rule:

- an event is rare when at least one seed and at most a quarter of the seeds so far reached
  it (`RARE_SHARE`); an event every seed reaches says nothing about a configuration;
- each rare event gives each seed that reached it a weight of one over the number of seeds
  that reached it, so every rare event pulls with the same force however many seeds share it,
  and the rarest pull hardest per seed;
- for each on/off choice of the draw (PreVote, CheckQuorum, each fault kind), the share of
  that weight held by seeds which had it on is averaged with the plain chance, rounded to two
  decimals and kept within [0.1, 0.9], so no choice is ever ruled out.

Everything is a function of the seeds' recorded outcomes taken in seed order, with no other
randomness, so a round's weights are the same however many workers ran the earlier rounds
and whether the campaign was interrupted and resumed. The drawn configuration is written into
each seed's `scenario.toml` (the weights into its description), so a seed's folder replays
alone; `raftsim run swarm --seed N` draws with the plain weights, which equal a campaign's
only in round 0 and wherever no rare event was reached.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scenarios import swarm
from scenarios.model import FAULT_KINDS, Scenario

RARE_SHARE = 0.25
LOWEST_CHANCE, HIGHEST_CHANCE = 0.1, 0.9


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one finished seed contributes: its configuration's on/off choices and the rare
    events it reached."""

    seed: int
    features: Mapping[str, bool]
    reached: frozenset[str]


def features(drawn: Scenario) -> dict[str, bool]:
    """The on/off choices `swarm.Weights` weighs, as a drawn scenario made them."""
    chosen = {"pre_vote": drawn.cluster.pre_vote, "check_quorum": drawn.cluster.check_quorum}
    chosen.update({f"fault:{kind}": kind in drawn.nemesis.kinds for kind in FAULT_KINDS})
    return chosen


def next_weights(outcomes: Sequence[Outcome]) -> swarm.Weights:
    """The weights of the next round, from every earlier round's outcomes (by the rule above)."""
    ordered = sorted(outcomes, key=lambda outcome: outcome.seed)
    reach: dict[str, int] = {}
    for outcome in ordered:
        for event in sorted(outcome.reached):
            reach[event] = reach.get(event, 0) + 1
    rare = {event: count for event, count in reach.items() if count <= RARE_SHARE * len(ordered)}
    pull = [sum(1.0 / rare[event] for event in sorted(outcome.reached) if event in rare) for outcome in ordered]
    total = sum(pull)
    if total <= 0.0:
        return swarm.PLAIN

    def chance(feature: str, plain: float) -> float:
        share = sum(weight for weight, outcome in zip(pull, ordered, strict=True) if outcome.features[feature]) / total
        return min(HIGHEST_CHANCE, max(LOWEST_CHANCE, round((plain + share) / 2, 2)))

    plain = swarm.PLAIN
    return swarm.Weights(
        fault_kinds=tuple((kind, chance(f"fault:{kind}", plain.chance_of(kind))) for kind in FAULT_KINDS),
        pre_vote=chance("pre_vote", plain.pre_vote),
        check_quorum=chance("check_quorum", plain.check_quorum),
    )


def describe(weights: swarm.Weights) -> str:
    """The weights in a few words, each choice that differs from the plain draw."""
    plain = swarm.PLAIN
    parts = [f"{kind} {chance}" for kind, chance in weights.fault_kinds if chance != plain.chance_of(kind)]
    if weights.pre_vote != plain.pre_vote:
        parts.append(f"pre_vote {weights.pre_vote}")
    if weights.check_quorum != plain.check_quorum:
        parts.append(f"check_quorum {weights.check_quorum}")
    return ", ".join(parts) if parts else "plain"


def weights_json(weights: swarm.Weights) -> dict[str, float]:
    chances = {f"fault:{kind}": chance for kind, chance in weights.fault_kinds}
    return {"pre_vote": weights.pre_vote, "check_quorum": weights.check_quorum, **chances}


def drawn_seed(scenario: Scenario, seed: int, weights: swarm.Weights, round_number: int) -> Scenario:
    """A swarm seed drawn with `weights`; the description says so, so the folder tells how
    its configuration came about (the description changes nothing a run does)."""
    assert scenario.swarm, "only a swarm scenario adapts"
    drawn = swarm.draw(dataclasses.replace(scenario, seed=seed), weights)
    if weights == swarm.PLAIN:
        return drawn
    note = f"swarm round {round_number}, weights: {describe(weights)}"
    description = f"{drawn.description} ({note})" if drawn.description else note
    return dataclasses.replace(drawn, description=description[:1000])
