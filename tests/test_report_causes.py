"""From a failure to its cause in every view: the commands to run next, the causes of the
anomalies before their effects and on the operation that caused them, why each stuck
operation is stuck, each node's log at a Raft safety anomaly, and the elections and
faults spelled out in full."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from browser import load
from rich.console import Console
from tests_support import shortened

from checkers.history import read_history_jsonl
from checkers.verdict import Verdict
from raftsim import api
from reports.html import render_html, write_html
from reports.model import leader_tenures, plural
from reports.png import write_pngs
from reports.terminal import render_terminal
from reports.timeline import Timeline, timeline_from_run

EVIL = "</script><script>document.body.setAttribute('data-pwned','1')</script>"
MARKUP = "[bold]x[/] [/y] :smile:"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run") / "run"
    api.run(dataclasses.replace(shortened("partition-leader", 14000, 3000), seed=1), folder)
    return folder


def _copy_with_verdict(source: Path, target: Path, checkers: dict[str, Any]) -> Path:
    shutil.copytree(source, target)
    verdict = json.loads((source / "verdict.json").read_text())
    verdict["checkers"].update(checkers)
    verdict["valid"] = all(result.get("valid") is True for result in verdict["checkers"].values())
    (target / "verdict.json").write_text(json.dumps(verdict))
    return target


def _invokes(folder: Path) -> list[Any]:
    return [event for event in read_history_jsonl(folder / "history.jsonl") if event.type == "invoke"]


def _printed(timeline: Timeline, width: int = 160) -> str:
    console = Console(record=True, width=width, color_system=None, file=io.StringIO())
    render_terminal(timeline, console)
    return console.export_text(styles=False)


def _static(page: str) -> str:
    return page.split('<script type="application/json"', 1)[0]


# --- the commands to run next -----------------------------------------------------------


def test_the_header_names_the_folder_shown_and_the_next_commands(run_folder: Path, tmp_path: Path) -> None:
    clean = timeline_from_run(run_folder, shown_folder=Path("runs/final run"))
    assert clean.commands == (
        ("replay", "raftsim replay 'runs/final run'"),
        ("report", "raftsim report 'runs/final run'"),
    )
    assert "partial" not in render_html(clean) and "raftsim replay &#x27;runs/final run&#x27;" in render_html(clean)
    failed = _copy_with_verdict(run_folder, tmp_path / "failed", {"revisions": {"valid": False, "anomalies": []}})
    commands = dict(timeline_from_run(failed).commands)
    assert commands == {
        "replay": f"raftsim replay {failed}",
        "report": f"raftsim report {failed}",
        "shrink": f"raftsim shrink {failed}",
    }
    text = _printed(timeline_from_run(failed))
    assert all(command in text for command in commands.values())


# --- causes first, on their operation ----------------------------------------------------


def _grouped(folder: Path) -> dict[str, Any]:
    """A revisions result as the checker groups it: two effects of one faulty write."""
    invokes = _invokes(folder)
    cause, effect_a, effect_b = invokes[40], invokes[60], invokes[80]
    anomalies = [
        {
            "property": "read-revision",
            "t": cause.time,
            "line": cause.index + 1,
            "group": 0,
            "message": f"read {EVIL} at line {effect_a.index + 1}",
        },
        {
            "property": "read-revision",
            "t": cause.time,
            "line": effect_b.index + 1,
            "group": 0,
            "message": f"read {MARKUP} at line {effect_b.index + 1}",
        },
    ]
    groups = [
        {
            "group": 0,
            "cause": f"write at line {cause.index + 1} {EVIL} {MARKUP}",
            "t": cause.time,
            "line": cause.index + 1,
            "count": 2,
            "property": "read-revision",
        }
    ]
    return {"revisions": {"valid": False, "anomalies": anomalies, "groups": groups}}


def test_grouped_anomalies_make_one_cause_on_its_operation(run_folder: Path, tmp_path: Path) -> None:
    folder = _copy_with_verdict(run_folder, tmp_path / "grouped", _grouped(run_folder))
    timeline = timeline_from_run(folder)
    [cause] = timeline.causes
    invoke = _invokes(run_folder)[40]
    assert cause.count == 2 and cause.time == invoke.time and cause.line == invoke.index + 1
    assert cause.op is not None and timeline.ops[cause.op].start == invoke.time
    assert all(marker.cause == 0 for marker in timeline.markers)
    assert [timeline.ops[marker.op].line for marker in timeline.markers if marker.op is not None] == [
        invoke.index + 1,
        _invokes(run_folder)[80].index + 1,
    ]
    page = render_html(timeline)
    static = _static(page)
    # The cause comes first, then the effects, then the timeline.
    assert static.index('id="causes"') < static.index('id="anomalies"') < static.index('id="timeline"')
    assert "1 cause of failure" in static and "2 anomalies" in static
    assert f'data-ops="{cause.op}"' in static[static.index('id="causes"') : static.index('id="anomalies"')]
    assert EVIL not in page and page.count("</script>") == 2
    summary = next(v.summary for v in timeline.verdicts if v.checker == "revisions")
    assert summary.startswith("2 anomalies from 1 cause; first cause: write at line")


def test_anomalies_without_groups_are_each_their_own_cause(run_folder: Path, tmp_path: Path) -> None:
    grouped = _grouped(run_folder)["revisions"]
    loose = {"valid": False, "anomalies": [{k: v for k, v in a.items() if k != "group"} for a in grouped["anomalies"]]}
    loose["anomalies"][1]["t"] = _invokes(run_folder)[80].time
    timeline = timeline_from_run(_copy_with_verdict(run_folder, tmp_path / "loose", {"revisions": loose}))
    assert [cause.count for cause in timeline.causes] == [1, 1]
    assert [cause.time for cause in timeline.causes] == sorted(cause.time for cause in timeline.causes)
    assert [marker.cause for marker in timeline.markers] == [0, 1]
    assert "2 causes of failure" in render_html(timeline)


@pytest.mark.parametrize(
    "checkers",
    [
        {"revisions": {"valid": False, "anomalies": "nope", "groups": {"a": 1}}},
        {
            "revisions": {
                "valid": False,
                "anomalies": [1, None, {"t": "x"}, {"t": 5, "line": "7", "group": []}],
                "groups": [{"group": "0"}, {"group": 0, "t": None}, 3],
            }
        },
        {
            "linearizability": {
                "valid": False,
                "partitions": [
                    {
                        "key": "k",
                        "valid": False,
                        "counterexample": {
                            "operations": [
                                {"call": "x"},
                                {"call": 3, "reason": 5, "ruled_out_by": "all", "explanation": []},
                            ],
                            "prefix": "none",
                            "state": {"v": EVIL},
                        },
                    }
                ],
            }
        },
        {
            "raft-safety": {
                "valid": False,
                "anomalies": [{"t": 1000, "nodes": [1, 2]}, {"t": 2000, "nodes": [{"node": "x"}, {"node": 1}]}],
            }
        },
    ],
)
def test_a_verdict_of_the_wrong_shape_still_draws(run_folder: Path, tmp_path: Path, checkers: dict[str, Any]) -> None:
    timeline = timeline_from_run(_copy_with_verdict(run_folder, tmp_path / "odd", checkers))
    assert timeline.verdict is Verdict.INVALID
    write_html(timeline, tmp_path / "odd.html")
    assert _printed(timeline)


# --- why each stuck operation is stuck -------------------------------------------------


def _stuck_verdict(folder: Path, explanation: str | None) -> dict[str, Any]:
    invokes = _invokes(folder)
    stuck, writer = invokes[50], invokes[45]
    operation = {
        "call": stuck.index,
        "reason": f"read 7, but write {EVIL} completed before",
        "ruled_out_by": [writer.index + 1, 999_999],
    }
    if explanation is not None:
        operation["explanation"] = explanation
    partition = {
        "key": stuck.key,
        "valid": False,
        "counterexample": {"operations": [operation], "prefix": [{"call": writer.index}], "state": 7},
    }
    return {"linearizability": {"valid": False, "model": "kv", "ops": 10, "partitions": [partition]}}


def test_a_stuck_operation_says_why_and_links_what_rules_it_out(run_folder: Path, tmp_path: Path) -> None:
    explanation = f"key k0: read -> 7 by node 1 (leader of term 2, deposed at 12.03 s) {MARKUP} {EVIL}"
    folder = _copy_with_verdict(run_folder, tmp_path / "why", _stuck_verdict(run_folder, explanation))
    timeline = timeline_from_run(folder)
    [example] = timeline.counterexamples
    [why] = example.why
    writer = _invokes(run_folder)[45]
    assert why.text == explanation and why.lines == (writer.index + 1, 999_999)
    assert [timeline.ops[op].line for op in why.ruled_out_by] == [writer.index + 1]
    page = render_html(timeline)
    static = _static(page)
    assert "key k0: read -&gt; 7 by node 1 (leader of term 2, deposed at 12.03 s)" in static
    assert f'<a data-ops="{why.ruled_out_by[0]}" href="#timeline">line {writer.index + 1}: ' in static
    assert "line 999999" in static and EVIL not in page
    text = _printed(timeline)
    assert f"why: {explanation}" in text.replace("\n", " ") or explanation[:60] in text
    assert f"ruled out by: line {writer.index + 1}" in text and MARKUP in text
    # Without an explanation, the checker's reason is the why.
    plain = timeline_from_run(_copy_with_verdict(run_folder, tmp_path / "reason", _stuck_verdict(run_folder, None)))
    assert plain.counterexamples[0].why[0].text.startswith("read 7, but write </script>")


# --- each node's log at a Raft safety anomaly ----------------------------------------


def _trace(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]


def test_a_raft_safety_anomaly_shows_each_node_log_and_who_proposed_each_entry(
    run_folder: Path, tmp_path: Path
) -> None:
    trace = _trace(run_folder)
    moment = [event for event in trace if event["ev"] == "ack"][30]["t"]
    anomaly = {"property": "log-matching", "t": moment, "phase": "safety", "message": f"logs differ {EVIL}"}
    safety = {"raft-safety": {"valid": False, "anomalies": [anomaly]}}
    folder = _copy_with_verdict(run_folder, tmp_path / "raft", safety)
    timeline = timeline_from_run(folder)
    [marker] = [marker for marker in timeline.markers if marker.checker == "raft-safety"]
    assert [state.node for state in marker.nodes] == list(timeline.nodes)
    before = [event for event in trace if event["t"] <= moment]
    for state in marker.nodes:
        hard = [e for e in before if e["ev"] == "hard_state" and e["node"] == state.node]
        assert state.commit == hard[-1]["commit"] and state.term == hard[-1]["term"]
        assert state.tail and state.tail[-1].index == state.log_length >= state.commit
    leader = next(state for state in marker.nodes if state.role == "leader")
    linked = [entry for entry in leader.tail if entry.op is not None]
    assert linked, "an acknowledged entry leads to the client operation that proposed it"
    invokes = {event.index + 1: event for event in _invokes(run_folder)}
    for entry in linked:
        ack = next(e for e in trace if e["ev"] == "ack" and e["digest"] == entry.digest)
        assert entry.request == ack["request"] and invokes[entry.line].client == int(ack["client"][1:])
        assert timeline.ops[entry.op].line == entry.line
    static = _static(render_html(timeline))
    assert "Each node at the Raft safety anomaly" in static
    assert f'data-ops="{linked[0].op}"' in static and f"{linked[0].index}:t{linked[0].term}:" in static
    assert f"{leader.log_length}:t" in _printed(timeline)


def test_a_checker_given_node_state_is_drawn_escaped(run_folder: Path, tmp_path: Path) -> None:
    nodes = [
        {
            "node": 1,
            "term": 3,
            "commit": 2,
            "role": EVIL,
            "log_tail": [{"index": 2, "term": 3, "digest": EVIL, "client": MARKUP, "request": "c0-1", "line": 1}],
        }
    ]
    anomaly = {"property": "log-matching", "t": 5, "message": "m", "nodes": nodes}
    safety = {"raft-safety": {"valid": False, "anomalies": [anomaly]}}
    folder = _copy_with_verdict(run_folder, tmp_path / "given", safety)
    timeline = timeline_from_run(folder)
    [marker] = [marker for marker in timeline.markers if marker.checker == "raft-safety"]
    [state] = marker.nodes
    assert state.role == EVIL and state.tail[0].digest == EVIL and state.tail[0].op == 0
    page = render_html(timeline)
    assert EVIL not in page and page.count("</script>") == 2 and "&lt;/script&gt;" in _static(page)
    assert "c0-1" in _printed(timeline)


# --- elections and faults in full ----------------------------------------------------


def test_elections_say_how_each_ended(run_folder: Path) -> None:
    timeline = timeline_from_run(run_folder)
    tenures = leader_tenures(timeline)
    assert [t.term for t in tenures] == [e.term for e in sorted(timeline.elections, key=lambda e: e.time)]
    assert tenures[-1].how == "run ended"
    # partition-leader cuts the first leader off: it loses its quorum and steps down
    # (check quorum). CheckQuorum looks once per election timeout, so the majority may
    # elect the next term before or after that look: only the order of starts is fixed.
    first = tenures[0]
    assert first.how == "stepped down"
    assert first.start < first.end
    assert first.start < tenures[1].start
    assert first.node != tenures[1].node, "the cut-off leader cannot win the majority's election"
    follows = next(s for s in timeline.spans if s.node == first.node and s.start == first.end)
    assert follows.state != "leader"
    static = _static(render_html(timeline))
    table = static[static.index('id="elections"') :]
    assert f"stepped down at {first.end / 1e6:.3f} s" in table and "led until the run ended" in table
    assert f"{plural(len(tenures), 'election')}</h2>" in static
    assert "stepped down" in _printed(timeline)


def test_a_leader_deposed_by_a_higher_term_says_so() -> None:
    from reports.model import Election, NodeSpan

    spans = (
        NodeSpan(1, "leader", 1, 1, 0, 50),
        NodeSpan(1, "follower", 4, 2, 50, 80),
        NodeSpan(1, "crashed", 4, 2, 80, 100),
        NodeSpan(2, "follower", 1, 1, 0, 60),
        NodeSpan(2, "leader", 4, 2, 60, 90),
        NodeSpan(2, "paused", 4, 2, 90, 100),
    )
    timeline = Timeline(
        title="t",
        meta=(),
        time_unit="us",
        end=100,
        verdicts=(),
        ops=(),
        lanes=(),
        nodes=(1, 2),
        spans=spans,
        elections=(Election(0, 1, 1), Election(60, 2, 4)),
    )
    deposed, paused = leader_tenures(timeline)
    assert (deposed.how, deposed.by_term, deposed.end) == ("deposed", 4, 50)
    assert deposed.describe("0.000 s") == "deposed by term 4 at 0.000 s"
    assert (paused.how, paused.end) == ("paused", 90)


def test_every_fault_is_listed_in_full_with_its_number(run_folder: Path) -> None:
    timeline = timeline_from_run(run_folder)
    static = _static(render_html(timeline))
    listed = static[static.index('id="faults"') :]
    for number, fault in enumerate(timeline.faults, start=1):
        assert f"<td>F{number}</td>" in listed
        assert fault.label.replace(">", "&gt;") in listed
    partition = next(fault for fault in timeline.faults if fault.kind == "partition")
    assert re.fullmatch(r"partition isolate-leader: \d \| \d \d \d \d", partition.label), partition.label
    assert f"{plural(len(timeline.faults), 'fault')}</h2>" in static
    assert plural(1, "fault") == "1 fault" and plural(2, "anomaly", "anomalies") == "2 anomalies"


# --- in a browser ----------------------------------------------------------------------


def test_the_page_renders_causes_logs_and_the_message_diagram_cleanly(run_folder: Path, tmp_path: Path) -> None:
    from raftsim.report import build_timeline
    from raftsim.run_folder import RunFolder

    checkers = _grouped(run_folder) | _stuck_verdict(run_folder, "because")
    moment = [event for event in _trace(run_folder) if event["ev"] == "ack"][30]["t"]
    checkers["raft-safety"] = {"valid": False, "anomalies": [{"property": "p", "t": moment, "message": "m"}]}
    folder = _copy_with_verdict(run_folder, tmp_path / "all", checkers)
    timeline, _note = build_timeline(RunFolder(folder), "replay")
    assert timeline.messages
    page = tmp_path / "report.html"
    write_html(timeline, page)
    rendered = load(page)
    assert rendered.console == [] and 'data-rendered="true"' in rendered.dom
    assert "data-pwned" not in rendered.dom.split("<body", 1)[1].split(">", 1)[0]
    # Node headers are pinned above the diagram, with each node's role and term.
    heads = re.findall(r'<div class="lamport-node"[^>]*>(node \d+)\n(\w[\w-]*) t(\d+)</div>', rendered.dom)
    assert [int(name.split()[1]) for name, _role, _term in heads] == list(timeline.nodes)
    # Every label sits in the gutter right of the last node column: none lies on an arrow.
    svg = rendered.dom[rendered.dom.index("<svg") : rendered.dom.index("</svg>")]
    columns = [float(x) for x in re.findall(r'<line x1="([\d.]+)" y1="0"', svg)]
    arrows = [float(x) for pair in re.findall(r'<line x1="([\d.]+)" y1="[\d.]+" x2="([\d.]+)"', svg) for x in pair]
    texts = [(float(x), text) for x, text in re.findall(r'<text x="([\d.]+)" y="[\d.]+"[^>]*>([^<]*)</text>', svg)]
    labels = [x for x, text in texts if text != "\u00d7" and not re.fullmatch(r"[\d.]+ s", text)]
    assert labels and columns and min(labels) > max(columns) >= max(arrows)


def test_a_clean_run_opens_its_messages_on_the_first_election(run_folder: Path) -> None:
    timeline = timeline_from_run(run_folder)
    assert timeline.verdict is Verdict.VALID and not timeline.causes
    first = min(election.time for election in timeline.elections)
    assert timeline.focus is not None and timeline.focus[0] < first < timeline.focus[1]


def test_write_pngs_returns_every_picture(run_folder: Path, tmp_path: Path) -> None:
    written = write_pngs(timeline_from_run(run_folder), tmp_path)
    assert [path.name for path in written] == ["timeline.png", "latency.png", "rate.png"]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(path.name for path in written)


def test_a_trace_that_is_not_utf8_is_bad_input(run_folder: Path, tmp_path: Path) -> None:
    from checkers.errors import InputError

    folder = tmp_path / "latin"
    shutil.copytree(run_folder, folder)
    with open(folder / "trace.jsonl", "ab") as stream:
        stream.write(b'{"t":99999999999,"ev":"end","note":"\xff"}\n')
    with pytest.raises(InputError, match="not UTF-8"):
        timeline_from_run(folder)


@pytest.mark.parametrize(
    ("event", "label"),
    [
        (
            {"kind": "clock", "nodes": [2, 5], "drift_ppm": 100, "offset_us": 2_500_000},
            "clock 2 5: drift 100 ppm, offset 2.500000 s",
        ),
        ({"kind": "link", "loss": 0.322, "duplicate": 0.079}, "link: duplicate 7.9%, loss 32.2%"),
        ({"kind": "pause", "nodes": []}, "pause (no node)"),
        (
            {"kind": "partition", "shape": "bridge", "one_way": True, "sides": [[1, 2], [3, 4]], "cut": [[1, 3]]},
            "partition bridge (one way): 1 2 | 3 4",
        ),
        ({"kind": "partition", "sides": "odd", "nodes": ["x", 3]}, "partition 3: sides odd"),
    ],
)
def test_a_fault_label_says_everything_in_words_and_units(event: dict[str, Any], label: str) -> None:
    from reports.timeline import _fault_span

    fault = _fault_span({"t": 0, "ev": "fault", "id": 0, **event}, 0, 10)
    assert fault.label == label
    assert all(not name.endswith("_us") for name, _value in fault.record)
