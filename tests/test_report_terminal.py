"""The terminal view: verdicts, the leader of every term, node bars that fit the console,
the counterexample, and data printed as data."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from lane_traces import lane_timeline
from rich.console import Console
from tests_support import shortened

from checkers.verdict import Verdict
from raftsim import api
from reports.terminal import leader_terms, node_bar, render_terminal
from reports.timeline import (
    Counterexample,
    Election,
    FaultSpan,
    Marker,
    NodeSpan,
    OpBar,
    Timeline,
    VerdictLine,
    timeline_from_run,
)

EVIL = "[bold]x[/] <script>alert(1)</script> :smile: [red]"


def _run(folder: Path, bugs: tuple[str, ...]) -> Timeline:
    scenario = dataclasses.replace(shortened("partition-leader", 14000, 3000), seed=1, bugs=bugs)
    api.run(scenario, folder)
    return timeline_from_run(folder)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Timeline:
    return _run(tmp_path_factory.mktemp("good") / "run", ())


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Timeline:
    timeline = _run(tmp_path_factory.mktemp("bad") / "run", ("stale-local-read",))
    assert timeline.verdict is Verdict.INVALID and timeline.counterexamples
    return timeline


def _printed(timeline: Timeline, width: int = 120) -> str:
    console = Console(record=True, width=width, color_system="truecolor", force_terminal=True)
    render_terminal(timeline, console)
    return console.export_text(styles=False)


# --- a real run -------------------------------------------------------------------------


def test_verdicts_are_printed_for_every_checker(good: Timeline, bad: Timeline) -> None:
    for timeline, word in ((good, "valid"), (bad, "NOT VALID")):
        text = _printed(timeline)
        assert f"verdict: {word}" in text
        for verdict in timeline.verdicts:
            assert re.search(rf"^\s*{verdict.checker}\s*│", text, re.M), verdict.checker
    assert "counterexample" not in _printed(good)


def test_the_leader_of_every_term_is_listed(bad: Timeline) -> None:
    text = _printed(bad)
    assert len(bad.elections) >= 2
    for election in bad.elections:
        assert re.search(rf"^\s*{election.term}\s*│\s*node {election.node}\s*│", text, re.M), election


def test_a_term_lasts_until_its_leader_steps_down(bad: Timeline) -> None:
    terms = leader_terms(bad)
    assert [e for e, _until in terms] == sorted(bad.elections, key=lambda e: e.time)
    for election, until in terms:
        assert until > election.time
        spans = [s for s in bad.spans if (s.node, s.term, s.state) == (election.node, election.term, "leader")]
        assert until == max(span.end for span in spans)
    # The last leader of the run still leads at its end.
    assert terms[-1][1] == bad.end


def test_the_counterexample_shows_the_stuck_operation_the_prefix_and_the_state(bad: Timeline) -> None:
    text = _printed(bad)
    example = bad.counterexamples[0]
    stuck = bad.ops[example.stuck[0]]
    assert f"counterexample 1: key {example.key}" in text
    assert stuck.label in text
    for name, value in stuck.record:
        assert re.search(rf"{re.escape(name)}\s+{re.escape(value)}", text), (name, value)
    tail = [bad.ops[number].label for number in example.prefix[-10:]]
    positions = [text.index(label, text.index("linearizable prefix, in order")) for label in tail]
    assert positions == sorted(positions), "the prefix is printed in its linearization order"
    assert f"of {len(example.prefix):,} operation" in text
    assert f"model state after the prefix: {example.state}" in text


@pytest.mark.parametrize("width", [60, 120, 200])
def test_node_bars_fit_the_console(bad: Timeline, width: int) -> None:
    lines = _printed(bad, width).splitlines()
    bars = [line for line in lines if re.match(r"node \d+\s{2,}[LCcFpx ]+$", line)]
    assert len(bars) == len(bad.nodes)
    assert all(len(line) <= width for line in lines)
    assert all(len(line) == width - 1 for line in bars), "a bar fills the line but its last column"
    assert any("L" in line for line in bars)


# --- crafted timelines ------------------------------------------------------------------


def _crafted() -> Timeline:
    ops = (
        OpBar(0, "client 1", "write", EVIL, "ok", 0, 3_000_000, 0, f"write({EVIL}, 1)", (("value", EVIL),)),
        OpBar(1, "client 2", "read", EVIL, "ok", 4_000_000, 6_000_000, 2, f"read({EVIL}) -> 2", (("key", EVIL),)),
    )
    spans = (
        NodeSpan(1, "leader", 1, 1, 0, 5_000_000),
        NodeSpan(1, "crashed", 1, 1, 5_000_000, 10_000_000),
        NodeSpan(2, "follower", 1, 1, 0, 5_000_000),
        NodeSpan(2, "leader", 2, 2, 5_000_000, 10_000_000),
    )
    return Timeline(
        title=EVIL,
        meta=(("scenario", EVIL),),
        time_unit="us",
        end=10_000_000,
        verdicts=(VerdictLine("linearizability", Verdict.INVALID, EVIL), VerdictLine(EVIL, Verdict.UNKNOWN, EVIL)),
        ops=ops,
        lanes=("client 1", "client 2"),
        nodes=(1, 2),
        spans=spans,
        elections=(Election(0, 1, 1), Election(5_000_000, 2, 2)),
        faults=(FaultSpan(0, "crash", 5_000_000, 10_000_000, EVIL, (1,), ()),),
        markers=(Marker(4_000_000, "linearizability", EVIL),),
        counterexamples=(Counterexample(EVIL, (1,), (0,), EVIL, (EVIL,)),),
        replay=f"raftsim replay {EVIL}",
    )


def test_data_prints_literally_never_as_markup() -> None:
    text = _printed(_crafted(), width=200)
    # Title, meta, verdict summary, checker name, fault, anomaly, key, labels, record,
    # reason, model state and replay command: every one of them holds EVIL.
    assert text.count(EVIL) >= 12, text
    assert "😄" not in text


def test_verdict_words_are_coloured() -> None:
    console = Console(record=True, width=120, color_system="truecolor", force_terminal=True)
    render_terminal(_crafted(), console)
    coloured = console.export_text(styles=True)
    assert "\x1b[1;31mNOT VALID" in coloured
    assert "\x1b[1;33munknown" in coloured


def test_a_node_bar_shows_the_state_held_longest_in_each_slice() -> None:
    timeline = _crafted()
    assert node_bar(timeline, 1, 10).plain == "LLLLLxxxxx"
    assert node_bar(timeline, 2, 4).plain == "FFLL"  # the slice 2.5..5 s: follower throughout
    assert len(node_bar(timeline, 1, 1000).plain) == 1000


def test_a_history_without_nodes_or_verdicts_prints() -> None:
    empty = Timeline(
        title="h.edn", meta=(("history", "h.edn"),), time_unit="event", end=0, verdicts=(), ops=(), lanes=(), nodes=()
    )
    text = _printed(empty)
    assert "verdict: not checked" in text and "h.edn" in text and "leaders" not in text


# --- causes, commands and text a terminal cannot encode ---------------------------------


def _with_causes() -> Timeline:
    from reports.model import Cause

    timeline = _crafted()
    causes = (Cause("revisions", "read-revision", f"write {EVIL}", 1_000_000, 7, 0, 2),)
    markers = (
        Marker(1_000_000, "revisions", f"read-revision: effect {EVIL}", "read-revision", 7, 0, 0),
        Marker(1_000_000, "revisions", "read-revision: second effect", "read-revision", 9, 1, 0),
    )
    return dataclasses.replace(
        timeline,
        causes=causes,
        markers=markers,
        commands=(
            ("replay", "raftsim replay runs/x"),
            ("report", "raftsim report runs/x"),
            ("shrink", "raftsim shrink runs/x"),
        ),
    )


def test_causes_print_before_their_effects_and_commands_in_the_header() -> None:
    text = _printed(_with_causes(), width=200)
    assert text.index("1 cause of failure") < text.index("2 anomalies")
    row = r"^\s*1 │\s+1\.000 s │\s+7 │ revisions read-revision\s+│\s+2 │ write "
    assert re.search(row + re.escape(EVIL), text, re.M)
    for command in ("raftsim replay runs/x", "raftsim report runs/x", "raftsim shrink runs/x"):
        assert command in text
    assert text.index("raftsim shrink runs/x") < text.index("verdict:")


def test_a_lone_surrogate_prints_as_its_escape(tmp_path: Path) -> None:
    odd = "k\ud800[bold]y"
    timeline = dataclasses.replace(_with_causes(), title=odd, meta=(("key", odd),))
    path = tmp_path / "out.txt"
    with open(path, "w", encoding="utf-8") as stream:
        render_terminal(timeline, Console(file=stream, width=120, color_system=None))
    printed = path.read_text(encoding="utf-8")
    assert "k\\ud800[bold]y" in printed


# --- snapshots, membership and corrupt disks --------------------------------------------


def test_snapshot_and_membership_rows_and_lists(tmp_path: Path) -> None:
    timeline = lane_timeline(tmp_path, EVIL)
    text = _printed(timeline, width=200)
    rows = {line[:9].strip(): line[9:] for line in text.splitlines() if line[:9].strip() in ("snapshot", "members")}
    # 10 s on 190 columns: 19 columns a second. Node 2 snapshots at 1 s, node 3 installs at
    # 4 s and restarts from a snapshot at 6 s; node 2 is removed at 2 s, node 4 joins at 3 s.
    assert {column: c for column, c in enumerate(rows["snapshot"]) if c != " "} == {19: ".", 76: "I", 114: "R"}
    assert {column: c for column, c in enumerate(rows["members"]) if c != " "} == {38: "-", 57: "+"}
    assert "I snapshot installed" in text and "M membership change applied" in text
    assert "2 membership changes" in text and "add-learner 4" in text and f"remove 2 {EVIL}" in text
    assert "snapshots and disks (1 snapshot taken)" in text
    assert f"node 3 found its disk corrupt (entry {EVIL} 81) and refused to start" in text
    assert "node 3's write in flight was torn by the crash (entry 81)" in text
    assert "node 3's disk is full: a write was refused and the node stopped" in text
    # Node 4 joined at 3 s as a learner: blank before; node 2 removed at 2 s; node 3
    # corrupt from 8 s.
    assert node_bar(timeline, 4, 10).plain == "   lllllll"
    assert node_bar(timeline, 2, 10).plain == "FF--------"
    assert node_bar(timeline, 3, 10).plain == "FFFFFxFxXX"
    assert "l learner  - removed  X corrupt disk" in text


def test_no_snapshot_or_membership_rows_without_those_events(tmp_path: Path) -> None:
    text = _printed(lane_timeline(tmp_path, marks=False))
    for words in ("snapshot ", "members ", "membership change", "snapshots and disks", "- removed", "not yet a member"):
        assert words not in text
