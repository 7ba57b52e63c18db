"""report.html: built from a run folder or any history, self-contained, escaped, and
rendered by a real browser without errors."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import shutil
from pathlib import Path

import pytest
from browser import load
from click.testing import CliRunner
from lane_traces import SECOND, lane_timeline
from tests_support import shortened

from checkers.verdict import RunVerdict, Verdict
from raftsim import api
from raftsim.cli import cli
from reports.html import render_html, write_html
from reports.model import LANE_MARK_KINDS
from reports.timeline import Marker, ParsedRun, Timeline, timeline_from_run

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
EVIL = "</script><script>document.body.setAttribute('data-pwned','1')</script>"
EVIL_IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">"


def _run(folder: Path, bugs: tuple[str, ...]) -> Path:
    scenario = dataclasses.replace(shortened("partition-leader", 14000, 3000), seed=1, bugs=bugs)
    api.run(scenario, folder)
    return folder


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("good") / "run", ())


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = _run(tmp_path_factory.mktemp("bad") / "run", ("stale-local-read",))
    assert json.loads((folder / "verdict.json").read_text())["valid"] is False
    return folder


def _data_block(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert found is not None
    return json.loads(found.group(1))


# --- the timeline a run folder gives ----------------------------------------------------


def test_timeline_of_a_run_has_lanes_roles_elections_and_faults(good_run: Path) -> None:
    timeline = timeline_from_run(good_run)
    assert timeline.verdict is Verdict.VALID and timeline.time_unit == "us"
    assert timeline.lanes == ("client 0", "client 1", "client 2", "client 3")
    assert timeline.nodes == (1, 2, 3, 4, 5)
    leaders = [span for span in timeline.spans if span.state == "leader"]
    assert leaders and all(span.end > span.start for span in leaders)
    assert [e.term for e in timeline.elections] == sorted(e.term for e in timeline.elections)
    # partition-leader isolates the current leader: the fault's label names that node alone.
    first = timeline.faults[0]
    assert first.kind == "partition" and len(first.nodes) == 1 and first.end > first.start
    leader_then = [s.node for s in leaders if s.start <= first.start < s.end]
    assert list(first.nodes) == leader_then
    # Node lanes cover the whole run without gaps or overlaps.
    for node in timeline.nodes:
        spans = [span for span in timeline.spans if span.node == node]
        assert spans[0].start == 0 and spans[-1].end == timeline.end
        assert all(a.end == b.start for a, b in itertools.pairwise(spans))
    assert not timeline.counterexamples and not timeline.markers


def test_timeline_of_a_failing_run_locates_the_counterexample(bad_run: Path) -> None:
    timeline = timeline_from_run(bad_run)
    assert timeline.verdict is Verdict.INVALID
    [example] = timeline.counterexamples
    verdict = json.loads((bad_run / "verdict.json").read_text())
    partition = next(p for p in verdict["checkers"]["linearizability"]["partitions"] if p["counterexample"])
    stuck = [timeline.ops[number] for number in example.stuck]
    assert [op.call for op in stuck] == [op["call"] for op in partition["counterexample"]["operations"]]
    assert len(example.prefix) == len(partition["counterexample"]["prefix"])
    assert example.state == str(partition["counterexample"]["state"])
    assert timeline.first_anomaly == stuck[0].start
    assert timeline.focus is not None and timeline.focus[0] <= stuck[0].start <= timeline.focus[1]


# --- the page, as text -----------------------------------------------------------------


def test_page_is_self_contained(bad_run: Path) -> None:
    page = render_html(timeline_from_run(bad_run))
    assert page.count("<script") == 2  # the data block and the inline script, nothing else
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page
    data = _data_block(page)
    assert len(data["ops"]) == len(timeline_from_run(bad_run).ops)
    assert "raftsim replay" in page and json.loads((bad_run / "verdict.json").read_text())["digest"] in page


def test_everything_embedded_is_escaped(bad_run: Path) -> None:
    timeline = timeline_from_run(bad_run)
    op = timeline.ops[0]
    evil_op = dataclasses.replace(op, label=EVIL + EVIL_IMG, record=(("key", EVIL), ("error", EVIL_IMG + "\x00\"'")))
    evil = dataclasses.replace(
        timeline,
        title=EVIL,
        meta=(("scenario", EVIL_IMG),),
        ops=(evil_op, *timeline.ops[1:]),
    )
    page = render_html(evil)
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert "<img" not in page
    assert EVIL not in page and "&lt;/script&gt;" in page
    data = _data_block(page)  # the data block still parses back to the very strings
    assert data["ops"][0][4] == EVIL + EVIL_IMG
    assert data["ops"][0][5][3] == EVIL_IMG + "\x00\"'"


# --- the page, in a browser -------------------------------------------------------------


def test_report_renders_in_a_browser_without_console_errors(good_run: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_html(timeline_from_run(good_run), page)
    rendered = load(page)
    assert rendered.console == []
    assert 'data-rendered="true"' in rendered.dom
    assert 'id="verdict">valid<' in rendered.dom


def test_counterexample_is_shown_and_screenshot_saved(bad_run: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "report-counterexample.html"
    timeline = timeline_from_run(bad_run)
    write_html(timeline, page)
    shot = ARTIFACTS / "report-counterexample.png"
    rendered = load(page, screenshot=shot)
    assert rendered.console == []
    assert 'data-rendered="true"' in rendered.dom
    assert 'id="verdict">invalid<' in rendered.dom
    example = timeline.counterexamples[0]
    stuck_label = timeline.ops[example.stuck[0]].label
    assert "Cannot be linearized after the prefix" in rendered.dom
    assert stuck_label.replace(">", "&gt;") in rendered.dom
    assert f"{example.state}</span>" in rendered.dom
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one


def test_a_history_holding_script_runs_no_script(tmp_path: Path) -> None:
    """Keys and values from a history recorded elsewhere reach the page as text only."""
    history = tmp_path / "evil.txt"
    lines = [
        '{:process 0, :type :invoke, :f :put, :key "K", :value "V"}',
        '{:process 0, :type :ok, :f :put, :key "K", :value "V"}',
        '{:process 1, :type :invoke, :f :get, :key "K", :value nil}',
        '{:process 1, :type :ok, :f :get, :key "K", :value "never written"}',
    ]
    key, value = json.dumps(EVIL), json.dumps(EVIL_IMG + "\" ' & \u2028")
    history.write_text("\n".join(line.replace('"K"', key).replace('"V"', value) for line in lines) + "\n")
    report = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["check", str(history), "--model", "kv", "--report", str(report)])
    assert result.exit_code == 1, result.output
    rendered = load(report)
    assert rendered.console == []
    assert 'data-rendered="true"' in rendered.dom
    assert "data-pwned" not in rendered.dom.split("<body", 1)[1].split(">", 1)[0]
    assert "&lt;/script&gt;&lt;script&gt;" in rendered.dom  # shown, as text
    assert "Cannot be linearized after the prefix" in rendered.dom


# --- the commands ------------------------------------------------------------------------


def test_check_report_for_histories_without_times(tmp_path: Path) -> None:
    source = Path(__file__).parent / "testdata/histories/porcupine/jepsen/etcd_000.log"
    report = tmp_path / "etcd.html"
    result = CliRunner().invoke(cli, ["check", str(source), "--model", "cas-register", "--report", str(report)])
    assert result.exit_code == 1, result.output
    data = _data_block(report.read_text())
    assert data["unit"] == "event" and data["cex"] and data["cex"][0]["key"] == "(the whole history)"
    assert data["nodes"] == [] and "Messages" not in report.read_text().split("<script")[0]


def test_check_report_into_a_missing_folder_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from raftsim.cli import main

    source = Path(__file__).parent / "testdata/histories/porcupine/jepsen/etcd_002.log"
    with pytest.raises(SystemExit) as raised:
        main(["check", str(source), "--model", "cas-register", "--report", str(tmp_path / "nowhere" / "r.html")])
    assert raised.value.code == 2
    assert "--report" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("window", ["5", "5:4", "a:b", "-1:2"])
def test_report_window_must_be_a_range(good_run: Path, window: str) -> None:
    from raftsim.cli import main

    with pytest.raises(SystemExit) as raised:
        main(["report", str(good_run), "--window", window, "--no-png", "--messages", "none"])
    assert raised.value.code == 2


def test_report_of_a_folder_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from raftsim.cli import main

    with pytest.raises(SystemExit) as raised:
        main(["report", str(tmp_path), "--no-png"])
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not a run folder" in error and "Traceback" not in error


def test_report_recovers_messages_by_a_replay_that_matches_the_digest(bad_run: Path) -> None:
    from raftsim.report import build_timeline
    from raftsim.run_folder import RunFolder

    assert '"ev":"msg"' not in (bad_run / "trace.jsonl").read_text()
    timeline, note = build_timeline(RunFolder(bad_run), "auto")
    assert timeline.messages_traced and timeline.messages and "matched digest" in note
    stuck = timeline.ops[timeline.counterexamples[0].stuck[0]]
    assert timeline.focus is not None
    near = [m for m in timeline.messages if timeline.focus[0] <= m.sent <= timeline.focus[1]]
    assert near, "the messages kept are those around the anomaly"
    assert any(m.received is None and m.dropped for m in timeline.messages)  # a partition drops some
    assert stuck.start - 200_000 <= near[0].sent


def test_report_refuses_messages_from_a_replay_that_differs(bad_run: Path, tmp_path: Path) -> None:
    from raftsim.report import build_timeline
    from raftsim.run_folder import RunFolder

    copy = tmp_path / "run"
    shutil.copytree(bad_run, copy)
    trace = copy / "trace.jsonl"
    trace.write_text(trace.read_text().replace('"role":"leader"', '"role":"follower"', 1))
    timeline, note = build_timeline(RunFolder(copy), "replay")
    assert not timeline.messages and not timeline.messages_traced
    assert "another trace" in note
    none, _ = build_timeline(RunFolder(copy), "none")
    assert not none.messages_traced


def test_check_report_of_our_own_history_has_client_lanes_and_times(bad_run: Path, tmp_path: Path) -> None:
    report = tmp_path / "ours.html"
    result = CliRunner().invoke(
        cli, ["check", str(bad_run / "history.jsonl"), "--model", "cas-register", "--report", str(report)]
    )
    assert result.exit_code == 1, result.output
    data = _data_block(report.read_text())
    assert data["unit"] == "us" and data["lanes"] == ["client 0", "client 1", "client 2", "client 3"]
    run_timeline = timeline_from_run(bad_run)
    stuck_in_run = run_timeline.ops[run_timeline.counterexamples[0].stuck[0]]
    [example] = data["cex"]
    assert data["ops"][example["stuck"][0]][1] == stuck_in_run.start


def test_a_wide_message_window_is_cut_to_what_stays_readable(bad_run: Path, tmp_path: Path) -> None:
    from raftsim.report import build_timeline
    from raftsim.run_folder import RunFolder

    timeline, _note = build_timeline(RunFolder(bad_run), "replay", focus=(0, timeline_from_run(bad_run).end))
    page = tmp_path / "wide.html"
    write_html(timeline, page)
    rendered = load(page)
    assert rendered.console == [] and 'data-rendered="true"' in rendered.dom
    assert re.search(r"Showing the first 600 of the \d+ messages in this window", rendered.dom)
    assert "<svg" in rendered.dom and "leader of term" in rendered.dom


def test_a_long_history_is_cut_around_its_counterexample(tmp_path: Path) -> None:
    from checkers.formats import read_operations
    from checkers.linearizability import check_operations
    from checkers.models import get_model
    from reports.timeline import timeline_from_operations

    source = Path(__file__).parent / "testdata/histories/porcupine/jepsen/etcd_000.log"
    model = get_model("cas-register")
    operations = read_operations(source, None, model)
    result = check_operations(operations, model).checker_result()
    whole = timeline_from_operations(operations, result, str(source), "cas-register")
    cut = timeline_from_operations(operations, result, str(source), "cas-register", max_ops=20)
    assert len(whole.ops) == len(operations) > 20 and len(cut.ops) == 20
    stuck_call = whole.ops[whole.counterexamples[0].stuck[0]].call
    assert stuck_call in {op.call for op in cut.ops}
    assert cut.counterexamples[0].stuck and cut.start == cut.ops[0].start > 0
    assert dict(cut.meta)["shown"] == f"20 of {len(operations)} operations, around the first counterexample"
    page = tmp_path / "cut.html"
    write_html(cut, page)
    rendered = load(page)
    assert rendered.console == [] and 'data-rendered="true"' in rendered.dom


def test_new_fields_are_escaped_and_lone_surrogates_written(bad_run: Path, tmp_path: Path) -> None:
    from reports.model import Cause, LogEntry, NodeState, StuckWhy

    timeline = timeline_from_run(bad_run)
    odd = EVIL + "\ud800" + EVIL_IMG
    example = timeline.counterexamples[0]
    example = dataclasses.replace(example, reasons=(odd,), why=(StuckWhy(example.stuck[0], odd, (0,), (1, 2)),))
    nodes = (NodeState(1, odd, 2, 1, 1, (LogEntry(1, 2, odd, odd, odd, 1, 0),)),)
    evil = dataclasses.replace(
        timeline,
        counterexamples=(example,),
        causes=(Cause(odd, odd, odd, 5, 1, 0, 3),),
        markers=(Marker(5, odd, odd, odd, 1, 0, 0, nodes),),
        commands=(("replay", odd),),
    )
    page = tmp_path / "odd.html"
    write_html(evil, page)
    text = page.read_text(encoding="utf-8")
    assert text.count("<script") == 2 and text.count("</script>") == 2 and "<img" not in text
    assert "\\ud800" in text and EVIL not in text
    assert _data_block(text)["causes"][0][2] == odd
    rendered = load(page)
    assert rendered.console == [] and 'data-rendered="true"' in rendered.dom
    assert "data-pwned" not in rendered.dom.split("<body", 1)[1].split(">", 1)[0]


# --- snapshots, membership and corrupt disks on the node lanes ----------------------------


def _kinds(timeline: Timeline) -> set[str]:
    return {mark.kind for mark in timeline.lane_marks}


def test_lanes_follow_members_snapshots_and_a_corrupt_disk(tmp_path: Path) -> None:
    timeline = lane_timeline(tmp_path)
    assert timeline.nodes == (1, 2, 3, 4)  # node 4 joined: the start event listed 1-3
    assert _kinds(timeline) == set(LANE_MARK_KINDS)
    spans = {node: [span for span in timeline.spans if span.node == node] for node in timeline.nodes}
    # A member that joins has no lane before it joins; a removed one stays removed.
    assert spans[4][0].start == 3 * SECOND + 10 and spans[4][-1].end == timeline.end
    assert {span.state for span in spans[4]} == {"learner"}  # never promoted
    assert [span.state for span in spans[2]][-1] == "removed" and spans[2][-1].start == 2 * SECOND + 10
    # A corrupt disk from the first refusal to the end; the second refusal adds no mark.
    assert (spans[3][-1].state, spans[3][-1].start) == ("corrupt", 8 * SECOND)
    assert len(timeline.marks_of("corrupt")) == 1
    [fault] = timeline.faults  # and a disk fault of that node in the band, to the end
    assert (fault.kind, fault.nodes, fault.start, fault.end) == ("disk", (3,), 8 * SECOND, timeline.end)
    [restart] = timeline.marks_of("restart-snapshot")
    assert ("snapshot index", "80") in restart.record and restart.node == 3
    [removal, join] = timeline.membership
    assert (removal.index, removal.voters, removal.proposer, removal.applied) == (60, (1, 3), 1, 2 * SECOND + 10)
    assert (join.change, join.learners) == ("add-learner 4", (4,))
    [applied] = [m for m in timeline.marks_of("conf-apply") if "add-learner" in m.label]
    assert ("voters", "[1, 3]") in applied.record and ("learners", "[4]") in applied.record
    assert timeline.states_shown()[-3:] == ["learner", "removed", "corrupt"]


def test_a_trace_without_those_events_has_no_marks(tmp_path: Path, good_run: Path) -> None:
    for timeline in (lane_timeline(tmp_path, marks=False), timeline_from_run(good_run)):
        assert not timeline.lane_marks and not timeline.membership
        assert not {"learner", "removed", "corrupt"} & set(timeline.states_shown())
        page = render_html(timeline)
        assert _data_block(page)["marks"] == []
        for words in ("snapshot installed", "membership change applied", 'id="membership"', "Snapshots and disks"):
            assert words not in page


def test_the_page_draws_marks_and_lists_membership_and_snapshots(tmp_path: Path) -> None:
    page = render_html(lane_timeline(tmp_path))
    data = _data_block(page)
    kinds = [data["markKinds"][mark[2]] for mark in data["marks"]]
    assert sorted(set(kinds)) == sorted(LANE_MARK_KINDS)
    assert all(data["nodes"][mark[0]] in (1, 2, 3, 4) for mark in data["marks"])
    install = data["marks"][kinds.index("snapshot-install")]
    assert install[4][install[4].index("index") + 1] == "80"  # the tooltip's record
    for words in ("snapshot installed", "restarted from a snapshot", "membership change applied", "disk corrupt"):
        assert words in page
    assert "dropped the torn tail of its disk at the restart (entry 81)" in page
    assert 'id="membership"' in page and "add-learner 4" in page and 'id="snapshots"' in page
    assert "1 snapshot taken (node 2: 1)" in page


def test_membership_and_corruption_strings_are_escaped(tmp_path: Path) -> None:
    page = render_html(lane_timeline(tmp_path, EVIL + EVIL_IMG))
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert "<img" not in page and EVIL not in page
    data = _data_block(page)
    labels = [mark[3] for mark in data["marks"]]
    assert any(f"remove 2 {EVIL}{EVIL_IMG}" in label for label in labels)
    assert any(f"entry {EVIL}{EVIL_IMG}" in label for label in labels)


def test_a_page_with_lane_marks_renders_in_a_browser(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_html(lane_timeline(tmp_path, EVIL + EVIL_IMG), page)
    rendered = load(page)
    assert rendered.console == []
    assert 'data-rendered="true"' in rendered.dom
    assert "data-pwned" not in rendered.dom.split("<body", 1)[1].split(">", 1)[0]


@pytest.mark.parametrize(("name", "duration_ms"), [("membership-churn", 9000), ("snapshot-install", 15000)])
def test_a_real_run_has_a_mark_for_every_event(tmp_path: Path, name: str, duration_ms: int) -> None:
    folder = tmp_path / "run"
    api.run(dataclasses.replace(shortened(name, duration_ms, 1000), seed=1), folder)
    trace = [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]
    timeline = timeline_from_run(folder)
    counts = {kind: sum(1 for event in trace if event["ev"] == kind) for kind in LANE_MARK_KINDS}
    counts["restart-snapshot"] = sum(1 for event in trace if event["ev"] == "restart" and "snapshot" in event)
    assert {kind: len(timeline.marks_of(kind)) for kind in LANE_MARK_KINDS} == counts
    wanted = ("member-added", "member-removed", "conf-apply") if name == "membership-churn" else ("snapshot-install",)
    assert all(counts[kind] > 0 for kind in wanted), counts
    for event in trace:
        spans = [span for span in timeline.spans if span.node == event.get("node")]
        if event["ev"] == "member-added":  # a lane from the moment it joined, as a learner
            assert spans[0].start == event["t"] and spans[-1].end == timeline.end
            assert spans[0].state == "learner"
        elif event["ev"] == "conf-apply" and event["change"] == f"promote {event['node']}":
            # The node applied its own promotion: no longer drawn as a learner from then.
            assert all(span.state != "learner" for span in spans if span.start >= event["t"])
            assert any(span.state == "learner" and span.end == event["t"] for span in spans)
        elif event["ev"] == "member-removed":
            assert spans[-1].state == "removed" and spans[-1].start <= event["t"]
    start = trace[0]
    assert set(start["nodes"]) <= set(timeline.nodes)
    assert len(timeline.nodes) == len(start["nodes"]) + counts["member-added"]


def test_a_real_clusters_member_replaced_keeps_its_lane(tmp_path: Path) -> None:
    """On a real cluster a removed member is added back under its id, as a voter: its
    lane shows the gap as removed, then the member again (no learner: etcd's member add
    names no voters)."""
    trace = [
        {"t": 0, "ev": "start", "scenario": "real", "seed": 1, "nodes": [1, 2, 3], "clients": 0},
        {"t": 1 * SECOND, "ev": "member-removed", "node": 2},
        {"t": 3 * SECOND, "ev": "member-added", "node": 2},
        {"t": 4 * SECOND, "ev": "end"},
    ]
    timeline = timeline_from_run(tmp_path, parsed=ParsedRun([], trace, RunVerdict({}), []))
    spans = [(span.state, span.start, span.end) for span in timeline.spans if span.node == 2]
    assert spans == [("follower", 0, SECOND), ("removed", SECOND, 3 * SECOND), ("follower", 3 * SECOND, 4 * SECOND)]
    assert timeline.nodes == (1, 2, 3)


def test_a_restore_from_a_backup_marks_every_lane(tmp_path: Path) -> None:
    trace = [
        {"t": 0, "ev": "start", "scenario": "restored", "seed": 1, "nodes": [1, 2, 3], "clients": 0},
        {"t": 0, "ev": "restore", "nodes": [1, 2, 3], "index": 130, "term": 2, "revision": 103, "keys": 3},
        {"t": SECOND, "ev": "end"},
    ]
    timeline = timeline_from_run(tmp_path, parsed=ParsedRun([], trace, RunVerdict({}), []))
    marks = timeline.marks_of("restart-snapshot")
    assert [mark.node for mark in marks] == [1, 2, 3]
    assert all(("snapshot index", "130") in mark.record and ("revision", "103") in mark.record for mark in marks)
