"""One-way link degradation (`[[links]]`) and the delay fault: the network carries them out
as written, a held message arrives late (never lost) and after the cluster moved on, and
every mistake in a file is one located line."""

from __future__ import annotations

import json
import random

import pytest
import simpy

from scenarios import loader
from scenarios.loader import ScenarioError
from scenarios.model import FaultSpec
from scenarios.resolve import resolve
from sim.nemesis import stream_name
from sim.network import Hold, LinkSpec, Network
from sim.world import World, run_scenario

FAST = LinkSpec(latency_us=1000, jitter_us=0)


def _network(seed: int = 1) -> tuple[simpy.Environment, Network, list[tuple[int, str, str, int]]]:
    """Two endpoints `a` and `b`; every arrival is recorded as (time, source, destination, payload)."""
    env = simpy.Environment()
    network = Network(env, random.Random(seed))
    arrivals: list[tuple[int, str, str, int]] = []
    for name in ("a", "b"):
        network.add_endpoint(name, lambda source, payload, name=name: arrivals.append((env.now, source, name, payload)))
    network.link("a", "b", FAST)
    return env, network, arrivals


def test_one_direction_of_a_link_is_slow_while_the_other_stays_fast() -> None:
    env, network, arrivals = _network()
    network.link_one_way("a", "b", LinkSpec(latency_us=50_000, jitter_us=0))
    network.send("a", "b", 1)
    network.send("b", "a", 2)
    env.run()
    assert arrivals == [(1000, "b", "a", 2), (50_000, "a", "b", 1)]


def test_one_direction_of_a_link_is_lossy_while_the_other_loses_nothing() -> None:
    env, network, arrivals = _network()
    network.link_one_way("a", "b", LinkSpec(latency_us=1000, jitter_us=0, loss=0.5))
    for number in range(200):
        network.send("a", "b", number)
        network.send("b", "a", number)
    env.run()
    forward = sum(1 for _, source, _, _ in arrivals if source == "a")
    back = sum(1 for _, source, _, _ in arrivals if source == "b")
    assert back == 200
    assert 60 < forward < 140, forward


def test_a_cut_one_way_link_heals_to_its_own_spec() -> None:
    env, network, arrivals = _network()
    network.cut([("a", "b")])
    network.link_one_way("a", "b", LinkSpec(latency_us=7000, jitter_us=0))
    network.send("a", "b", 1)  # cut: lost
    network.restore([("a", "b")])
    network.send("a", "b", 2)
    env.run()
    assert arrivals == [(7000, "a", "b", 2)]


def _hold(share: float = 1.0, until_us: int = 10**9, seed: int = 7) -> Hold:
    return Hold(frozenset({"a"}), frozenset({"b"}), share, 2_000_000, until_us, random.Random(seed))


def test_a_held_message_arrives_late_and_out_of_order_and_is_not_lost() -> None:
    env, network, arrivals = _network()
    network.hold(1, _hold())
    for number in range(20):
        network.send("a", "b", number)
        network.send("b", "a", number)  # the other direction is not held
    env.run()
    held = [(time, payload) for time, source, _, payload in arrivals if source == "a"]
    assert len(held) == 20
    assert all(1_001_000 <= time <= 2_001_000 for time, _ in held), held
    assert [payload for _, payload in held] != list(range(20))  # overtaken
    assert all(time == 1000 for time, source, _, _ in arrivals if source == "b")


def test_a_hold_ends_at_its_release_and_never_outlasts_the_fault() -> None:
    env, network, arrivals = _network()
    network.hold(1, _hold(until_us=300_000))
    network.send("a", "b", 1)
    env.run(until=100_000)
    network.release(1)
    network.send("a", "b", 2)
    env.run()
    assert arrivals == [(101_000, "a", "b", 2), (301_000, "a", "b", 1)]


def test_a_share_of_messages_is_held_and_the_network_dice_are_unchanged() -> None:
    """A hold draws from its own stream: which messages the link loses is the same with it."""
    outcomes = []
    for holding in (False, True):
        env, network, arrivals = _network(seed=3)
        network.link_one_way("a", "b", LinkSpec(latency_us=1000, jitter_us=0, loss=0.3))
        if holding:
            network.hold(1, _hold(share=0.5))
        for number in range(100):
            network.send("a", "b", number)
        env.run()
        outcomes.append(arrivals)
    plain, held = outcomes
    assert sorted(payload for *_, payload in plain) == sorted(payload for *_, payload in held)
    late = sum(1 for time, *_ in held if time > 1000)
    assert 15 < late < len(held) - 15, late


DELAYED = """\
name = "delayed"
duration_ms = 8000
trace_messages = true

[cluster]
nodes = 3

[phases]
quiet_ms = 3000

[[faults]]
kind = "delay"
target = "leader"
delay_ms = 3000
start_ms = 2000
duration_ms = 4000
"""


def test_a_delayed_message_arrives_after_its_receiver_moved_to_a_later_term() -> None:
    """The leader's messages are held for seconds: its followers elect another leader, and
    the old leader's messages of the old term arrive afterwards, late, and are stale."""
    result = run_scenario(loader.parse(DELAYED, "delayed.toml"))
    events = [json.loads(line) for line in result.trace_text.splitlines()]
    terms: dict[int, int] = {}
    sent: dict[int, dict[str, int]] = {}
    stale = []
    for event in events:
        if event["ev"] in ("role", "hard_state"):
            terms[event["node"]] = max(terms.get(event["node"], 0), event["term"])
        elif event["ev"] == "msg":
            sent[event["id"]] = event
        elif event["ev"] == "recv":
            message = sent[event["id"]]
            if message["term"] < terms.get(event["node"], 0) and event["t"] - message["t"] >= 1_500_000:
                stale.append((message, event))
    assert stale, "no message of an old term arrived seconds late"
    assert result.stats["faults"] == 1
    assert '"kind":"delay"' in result.trace_text


def test_older_faults_keep_their_dice_and_their_text() -> None:
    """The delay fault's fields are left out of a fault's stream name and of written files
    while at their defaults, so every scenario written before them runs as it did."""
    crash = FaultSpec("crash", 1, 2, target="leader")
    assert stream_name(crash) == repr(crash)
    assert "delay_ms" not in repr(crash)
    delay = FaultSpec("delay", 1, 2, delay_ms=500)
    assert stream_name(delay) == repr(delay) + " delay_ms=500"
    for name in loader.builtin_names():
        if name in ("delayed-messages", "swarm"):  # these use them
            continue
        text = loader.to_toml(resolve(loader.load(name)))
        assert "[[links]]" not in text, name
        for added in ("delay_ms", "share", "burst_faults", "burst_window_ms"):
            assert f"\n{added} = " not in text, (name, added)


GOOD = """\
name = "demo"
[network]
loss = 0.1
[cluster]
nodes = 3
[[links]]
from_nodes = [1]
to_nodes = [2, 3]
extra_latency_us = 20000
"""


def test_a_links_entry_degrades_one_direction_in_the_run() -> None:
    scenario = loader.parse(GOOD, "demo.toml")
    assert scenario.links[0].pairs() == [(1, 2), (1, 3)]
    assert loader.parse(loader.to_toml(scenario), "again.toml") == scenario


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("to_nodes = [2, 3]", "to_nodes = [2, 4]"), "demo.toml:8: links[0].to_nodes: node 4 does not"),
        (GOOD.replace("to_nodes = [2, 3]", "to_nodes = [1]"), "demo.toml:8: links[0].to_nodes: names no link"),
        (GOOD.replace("from_nodes = [1]", "from_nodes = []"), "demo.toml:7: links[0].from_nodes: must be a non-empty"),
        (GOOD.replace("from_nodes = [1]", "from_nodes = [1, 1]"), "demo.toml:7: links[0].from_nodes: node 1 is listed"),
        (GOOD.replace("from_nodes = [1]\n", ""), "demo.toml:6: links[0]: missing field 'from_nodes'"),
        (GOOD.replace("extra_latency_us = 20000", ""), "demo.toml:6: links[0]: sets neither extra_latency_us"),
        (GOOD.replace("extra_latency_us = 20000", "loss = 0.05"), "demo.toml:9: links[0].loss: 0.05 has no effect"),
        (GOOD.replace("extra_latency_us", "latency_us"), "demo.toml:9: links[0].latency_us: unknown key"),
        (
            GOOD + "[[links]]\nfrom_nodes = [3, 1]\nto_nodes = [2]\nloss = 0.5\n",
            "demo.toml:12: links[1].to_nodes: link 1->2",
        ),
        ('name = "demo"\nswarm = true\n[[links]]\n', "demo.toml:3: links: swarm = true draws this table"),
        ('name = "demo"\nlinks = 1\n', "demo.toml:2: links: must be an array of tables"),
        (
            'name = "demo"\n[[faults]]\nkind = "crash"\nstart_ms = 1\nduration_ms = 1\ndelay_ms = 10\n',
            "demo.toml:6: faults[0].delay_ms: has no effect on a crash fault",
        ),
        (
            'name = "demo"\n[[faults]]\nkind = "delay"\nstart_ms = 1\nduration_ms = 1\nshare = 0\n',
            "demo.toml:6: faults[0].share: 0 is out of range",
        ),
        (
            'name = "demo"\n[[faults]]\nkind = "delay"\nstart_ms = 1\nduration_ms = 1\nloss = 0.5\n',
            "demo.toml:6: faults[0].loss: has no effect on a delay fault",
        ),
        ('name = "demo"\n[nemesis]\nburst_window_ms = 100\n', "demo.toml:3: nemesis.burst_window_ms: has no effect"),
        ('name = "demo"\n[nemesis]\nburst_faults = [5, 2]\n', "demo.toml:3: nemesis.burst_faults: minimum exceeds"),
    ],
)
def test_mistakes_in_links_delays_and_bursts_are_one_located_line(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        loader.parse(text, "demo.toml")
    message = str(caught.value)
    assert message.startswith(expected), message
    assert "\n" not in message, message


def test_a_burst_starts_several_faults_within_its_window() -> None:
    text = (
        'name = "demo"\nduration_ms = 60000\n[nemesis]\nmode = "random"\nkinds = ["crash"]\n'
        "interval_ms = 20000\nburst_faults = [3, 3]\nburst_window_ms = 50\n"
    )
    faults = resolve(loader.with_seed(loader.parse(text, "demo.toml"), 4)).faults
    assert len(faults) >= 3
    for first in range(0, len(faults) - 2, 3):
        starts = [fault.start_ms for fault in faults[first : first + 3]]
        assert max(starts) - min(starts) <= 50, starts


OVERLAPPING_CLOCKS = """\
name = "clocks"
duration_ms = 6000

[cluster]
nodes = 3

[phases]
quiet_ms = 1000
final_reads = false

[[faults]]
kind = "clock"
target = [1]
drift_ppm = -400000
start_ms = 1000
duration_ms = 2000

[[faults]]
kind = "clock"
target = [1]
drift_ppm = -200000
start_ms = 2000
duration_ms = 3000
"""


@pytest.mark.parametrize(("first_ms", "second_ms"), [(2000, 3000), (4000, 1000)])
def test_overlapping_clock_faults_give_the_node_its_own_clock_back(first_ms: int, second_ms: int) -> None:
    """Whichever of two overlapping clock faults ends first, the node runs the other's
    drift until that one ends, then its own. Ending the first fault before the second once
    left the node on the first fault's drift for the rest of the run (a two-node swarm seed
    then never elected the node with the longer log, as its clock ran at a quarter speed)."""
    text = OVERLAPPING_CLOCKS.replace("duration_ms = 2000", f"duration_ms = {first_ms}").replace(
        "duration_ms = 3000", f"duration_ms = {second_ms}"
    )
    world = World(resolve(loader.parse(text, "clocks.toml")))
    clock = world.hosts[1].clock
    world.env.process(world.nemesis.run(world.scenario.faults, 6_000_000))
    drifts = {}
    for at_ms in (1500, 2500, 3500, 4500, 5500):
        world.env.run(until=at_ms * 1000)
        drifts[at_ms] = clock.drift_ppm
    first_end, second_end = 1000 + first_ms, 2000 + second_ms
    for at_ms, drift in drifts.items():
        active = [
            d
            for d, (start, end) in ((-400000, (1000, first_end)), (-200000, (2000, second_end)))
            if start <= at_ms < end
        ]
        assert drift == (active[-1] if active else 0), (at_ms, drift, drifts)
