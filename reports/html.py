"""`report.html`: one self-contained file that opens offline and shows a run or history.

The page is static HTML for everything a person must be able to read without scripts
(the verdicts, the replay command, anomalies and counterexamples, all escaped with
`html.escape`), plus one inline script that draws the timeline on a canvas from the
timeline's JSON. The JSON sits in a `<script type="application/json">` block with `<`,
`>` and `&` written as `\\u003c` escapes, so no value can close the block or open a tag;
the script then puts text on the page only through `textContent`. Nothing is fetched:
styles and script are read from `reports/assets` and inlined.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from checkers.verdict import HTML_REPORT, Verdict
from reports.model import (
    LANE_MARK_KINDS,
    NODE_STATES,
    OUTCOMES,
    Counterexample,
    Marker,
    NodeState,
    Timeline,
    leader_tenures,
    plural,
)
from reports.palette import (
    COUNTEREXAMPLE_COLOUR,
    FAULT_COLOURS,
    LANE_MARK_COLOURS,
    NODE_STATE_COLOURS,
    OUTCOME_COLOURS,
    PREFIX_COLOUR,
    fault_colour,
)

MESSAGE_COLOURS = {
    "pre-vote": "#8e24aa",
    "pre-vote-response": "#ba68c8",
    "vote": "#3949ab",
    "vote-response": "#7986cb",
    "append": "#00897b",
    "append-response": "#4db6ac",
    "heartbeat": "#9e9e9e",
    "heartbeat-response": "#bdbdbd",
    "read-index": "#f9a825",
    "read-index-response": "#fdd835",
    "transfer-leader": "#e64a19",
    "timeout-now": "#ff8a65",
    "snapshot": "#6d4c41",
}
PREFIX_SHOWN = 20
"""How many of the last linearizable operations the static counterexample lists; the
timeline numbers every one of them."""

_DEFAULT_HINT = "Record messages with trace_messages = true in the scenario, or let `raftsim report` replay the run."


def render_html(timeline: Timeline, messages_hint: str = _DEFAULT_HINT, extra_sections: str = "") -> str:
    """The whole page as one string; `extra_sections` (HTML) go after the elections."""
    css = _asset("report.css")
    script = _asset("report.js")
    assert "</script" not in script.lower()
    assert "</style" not in css.lower()
    data = _data(timeline, messages_hint)
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{_e(timeline.title)} \u2014 raftsim report</title>\n",
        f"<style>\n{css}</style>\n</head>\n<body>\n",
        _header(timeline),
        "<main>\n",
        _causes(timeline),
        _anomalies(timeline),
        _toolbar(timeline),
        _legend(timeline),
        '<div id="timeline-wrap"><canvas id="timeline" height="200"></canvas></div>\n',
        '<noscript><p class="note">The timeline is drawn by the page\'s script; everything above '
        "and the counterexample below read without it.</p></noscript>\n",
        '<div id="tooltip"></div>\n<div class="panels">\n',
        '<section><h2>Selected</h2><div id="details" class="panel"></div></section>\n',
        "<section>",
        _counterexamples(timeline),
        "</section>\n</div>\n",
        _raft_states(timeline),
        _faults(timeline),
        _elections(timeline),
        _membership(timeline),
        _snapshots(timeline),
        extra_sections,
        _messages_section(timeline),
        "</main>\n",
        f'<script type="application/json" id="report-data">{data}</script>\n',
        f"<script>\n{script}</script>\n</body>\n</html>\n",
    ]
    return "".join(parts)


def write_html(
    timeline: Timeline, path: str | os.PathLike[str], messages_hint: str = _DEFAULT_HINT, extra_sections: str = ""
) -> None:
    """Write the page atomically: a reader never sees half a report."""
    target = Path(path)
    text = render_html(timeline, messages_hint, extra_sections)
    staging = target.with_name(f".{target.name}.partial")
    # A lone surrogate (undecodable bytes in a history) cannot be UTF-8; show its escape.
    staging.write_text(text, encoding="utf-8", errors="backslashreplace")
    os.replace(staging, target)


def _asset(name: str) -> str:
    return resources.files("reports").joinpath("assets", name).read_text(encoding="utf-8")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _json_for_script(value: Any) -> str:
    """JSON that is inert inside a script element: ASCII only, and no `<`, `>` or `&`."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _flat(pairs: Iterable[tuple[str, str]]) -> list[str]:
    return [text for pair in pairs for text in pair]


def _data(timeline: Timeline, messages_hint: str) -> str:
    lane_index = {lane: number for number, lane in enumerate(timeline.lanes)}
    node_index = {node: number for number, node in enumerate(timeline.nodes)}
    outcome_index = {outcome: number for number, outcome in enumerate(OUTCOMES)}
    state_index = {state: number for number, state in enumerate(NODE_STATES)}
    mark_index = {kind: number for number, kind in enumerate(LANE_MARK_KINDS)}
    data = {
        "unit": timeline.time_unit,
        "start": timeline.start,
        "end": timeline.end,
        "lanes": list(timeline.lanes),
        "nodes": list(timeline.nodes),
        "outcomes": list(OUTCOMES),
        "states": list(NODE_STATES),
        "ops": [
            [
                lane_index[op.lane],
                op.start,
                -1 if op.end is None else op.end,
                outcome_index[op.outcome],
                op.label,
                _flat(op.record),
            ]
            for op in timeline.ops
        ],
        "spans": [
            [node_index[span.node], state_index[span.state], span.term, span.leader, span.start, span.end]
            for span in timeline.spans
            if span.node in node_index
        ],
        "elections": [[election.time, election.node, election.term] for election in timeline.elections],
        "markKinds": list(LANE_MARK_KINDS),
        "marks": [
            [node_index[mark.node], mark.time, mark_index[mark.kind], mark.label, _flat(mark.record)]
            for mark in timeline.lane_marks
        ],
        "faults": [
            [fault.id, fault.kind, fault.start, fault.end, fault.label, list(fault.nodes), _flat(fault.record)]
            for fault in timeline.faults
        ],
        "phases": [[name, start] for name, start in timeline.phases],
        "messages": [
            [
                m.id,
                m.source,
                m.target,
                m.type,
                m.term,
                m.sent,
                -1 if m.received is None else m.received,
                m.dropped,
                m.label,
            ]
            for m in timeline.messages
        ],
        "messagesTraced": timeline.messages_traced,
        "messagesHint": messages_hint,
        "markers": [
            [
                marker.time,
                marker.checker,
                marker.message,
                -1 if marker.op is None else marker.op,
                -1 if marker.cause is None else marker.cause,
            ]
            for marker in timeline.markers
        ],
        "causes": [
            [cause.time, cause.checker, cause.text, -1 if cause.op is None else cause.op, cause.count]
            for cause in timeline.causes
        ],
        "cex": [
            {
                "key": c.key,
                "stuck": list(c.stuck),
                "prefix": list(c.prefix),
                "state": c.state,
                "why": [[why.op, why.text, list(why.ruled_out_by), list(why.lines)] for why in c.why],
            }
            for c in timeline.counterexamples
        ],
        "focus": list(timeline.focus) if timeline.focus else None,
        "colours": {
            "outcomes": OUTCOME_COLOURS,
            "states": NODE_STATE_COLOURS,
            "marks": LANE_MARK_COLOURS,
            "faults": FAULT_COLOURS,
            "messages": MESSAGE_COLOURS,
            "counterexample": COUNTEREXAMPLE_COLOUR,
            "prefix": PREFIX_COLOUR,
        },
    }
    return _json_for_script(data)


def _header(timeline: Timeline) -> str:
    word, css = HTML_REPORT.word(timeline.verdict), HTML_REPORT.style(timeline.verdict)
    rows = "".join(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in timeline.meta)
    # A checker's cell is classed by its JSON value (`v-true`, `v-false`, `v-unknown`).
    verdicts = "".join(
        f'<tr><td>{_e(line.checker)}</td><td class="v-{_e(str(line.verdict.to_json()).lower())}">'
        f"{_e(HTML_REPORT.word(line.verdict))}</td><td>{_e(line.summary)}</td></tr>"
        for line in timeline.verdicts
    )
    commands = timeline.commands or ((("replay", timeline.replay),) if timeline.replay else ())
    replay = "".join(
        f'<li><span class="note">{_e(purpose)}:</span> <code class="replay">{_e(command)}</code></li>'
        for purpose, command in commands
    )
    if replay:
        replay = f'<ul class="commands" id="commands">{replay}</ul>'
    return (
        f'<header>\n<h1>{_e(timeline.title)} <span class="badge {css}" id="verdict">{word}</span></h1>\n'
        f'<dl class="meta">{rows}</dl>\n'
        + (f'<table class="verdicts">{verdicts}</table>\n' if verdicts else "")
        + replay
        + "\n</header>\n"
    )


def _time(timeline: Timeline, value: int) -> str:
    return f"event {value}" if timeline.time_unit == "event" else f"{value / 1e6:.6f} s"


ANOMALIES_SHOWN = 50
"""Individual anomalies listed on the page; the rest are counted."""
CAUSES_SHOWN = 200
CAUSES_FIRST = 8
"""Causes shown open at the top of the page; the others sit in a folded list below them."""


def _op_anchor(timeline: Timeline, op: int | None, text: str) -> str:
    if op is None:
        return _e(text)
    return f'<a data-ops="{op}" href="#timeline">{_e(text)}</a>'


def _short_time(timeline: Timeline, value: int) -> str:
    return f"event {value}" if timeline.time_unit == "event" else f"{value / 1e6:.3f} s"


def _causes(timeline: Timeline) -> str:
    """The first thing a reader of a failed run sees: what went wrong, once per cause,
    at the operation that caused it, before the list of every effect."""
    if not timeline.causes:
        return ""
    rows = []
    for number, cause in enumerate(timeline.causes[:CAUSES_SHOWN], start=1):
        where = f"line {cause.line}" if cause.line is not None else ""
        rows.append(
            f'<tr><td>{number}</td><td><a data-time="{cause.time}" href="#timeline">'
            f"{_e(_short_time(timeline, cause.time))}</a></td><td>{_op_anchor(timeline, cause.op, where)}</td>"
            f"<td><b>{_e(cause.checker)}</b> {_e(cause.property)}</td>"
            f'<td>{_e(plural(cause.count, "anomaly", "anomalies"))}</td><td class="cause">{_e(cause.text)}</td></tr>'
        )
    more = len(timeline.causes) - CAUSES_SHOWN
    tail = f'<p class="note">and {_e(plural(more, "more cause"))}</p>' if more > 0 else ""
    head = "<thead><tr><th>#</th><th>at</th><th>history</th><th>checker</th><th>effects</th><th>cause</th></tr></thead>"
    # The first few open, the rest one click away: the timeline stays on the first screen.
    rest = ""
    if len(rows) > CAUSES_FIRST:
        rest = (
            f"<details><summary>{_e(plural(len(rows) - CAUSES_FIRST, 'more cause'))}</summary>"
            f'<table class="causes">{head}<tbody>{"".join(rows[CAUSES_FIRST:])}</tbody></table>{tail}</details>'
        )
    return (
        f'<section class="causes"><h2>{_e(plural(len(timeline.causes), "cause"))} of failure</h2>'
        f'<table class="causes" id="causes">{head}<tbody>{"".join(rows[:CAUSES_FIRST])}</tbody></table>'
        f"{rest}</section>\n"
    )


def _anomaly_item(timeline: Timeline, marker: Marker) -> str:
    link = (
        f'<a data-ops="{marker.op}" href="#timeline">'
        if marker.op is not None
        else f'<a data-time="{marker.time}" href="#timeline">'
    )
    where = f' <span class="note">history line {marker.line}</span>' if marker.line is not None else ""
    cause = f' <span class="note">(cause {marker.cause + 1})</span>' if marker.cause is not None else ""
    return (
        f"<li>{link}{_e(_time(timeline, marker.time))}</a> <b>{_e(marker.checker)}</b>: "
        f"{_e(marker.message)}{where}{cause}</li>"
    )


def _anomalies(timeline: Timeline) -> str:
    if not timeline.markers:
        return ""
    shown = timeline.markers[:ANOMALIES_SHOWN]
    items = "".join(_anomaly_item(timeline, marker) for marker in shown)
    more = len(timeline.markers) - len(shown)
    tail = f'<p class="note">and {_e(plural(more, "more anomaly", "more anomalies"))}</p>' if more > 0 else ""
    # Closed when there are many: the causes above are what a reader needs first.
    state = " open" if len(timeline.markers) <= 5 else ""
    title = plural(len(timeline.markers), "anomaly", "anomalies")
    return (
        f'<details class="anomalies"{state}><summary><h2>{_e(title)}</h2></summary>'
        f'<ol id="anomalies">{items}</ol>{tail}</details>\n'
    )


def _toolbar(timeline: Timeline) -> str:
    jump = ""
    if timeline.counterexamples or timeline.markers:
        jump = '<button id="jump-anomaly" title="Zoom to the first anomaly">Jump to the anomaly</button>'
    return (
        '<div class="toolbar"><button id="zoom-in" title="Zoom in (+)">+</button>'
        '<button id="zoom-out" title="Zoom out (-)">\u2212</button>'
        '<button id="zoom-fit" title="Whole run (0)">Fit</button>'
        + jump
        + ('<button id="messages-visible">Messages of the visible range</button>' if timeline.nodes else "")
        + '<span class="range" id="range"></span>'
        '<span class="note">wheel: zoom \u00b7 drag: pan \u00b7 click: details \u00b7 '
        "shift-drag: message window</span>"
        "</div>\n"
    )


def _messages_section(timeline: Timeline) -> str:
    # A history recorded elsewhere has clients but no nodes, so no messages to draw; the
    # script looks the section's elements up and does nothing when they are absent.
    if not timeline.nodes:
        return ""
    return (
        '<section><h2>Messages <span id="messages-window" class="note"></span></h2>'
        '<p class="note">Shift-drag on the timeline to pick another window, or show the visible range.</p>'
        '<div id="messages"></div></section>\n'
    )


def _swatch(colour: str, text: str, border: str | None = None) -> str:
    style = f"background:{colour}" + (f";border:2px solid {border}" if border else "")
    return f'<span><span class="swatch" style="{_e(style)}"></span>{_e(text)}</span>'


def _legend(timeline: Timeline) -> str:
    items = [_swatch(OUTCOME_COLOURS[outcome], outcome) for outcome in OUTCOMES]
    if timeline.nodes:
        items += [_swatch(NODE_STATE_COLOURS[state], state) for state in timeline.states_shown()]
    # A history checked on its own has faults (its fault lines) but no nodes.
    kinds = sorted({fault.kind for fault in timeline.faults})
    items += [_swatch(fault_colour(kind), f"{kind} fault") for kind in kinds]
    if timeline.nodes:
        items.append("<span>\u25b6 election</span><span>\u2506 phase boundary</span>")
        kinds_marked = {mark.kind for mark in timeline.lane_marks}
        items += [
            f'<span class="mark-{kind}" style="color:{LANE_MARK_COLOURS[kind]}">{_e(text)}</span>'
            for kind, text in MARK_LEGEND.items()
            if kind in kinds_marked
        ]
    if timeline.counterexamples:
        items.append(_swatch("#fff", "cannot be linearized", COUNTEREXAMPLE_COLOUR))
        items.append(_swatch("#fff", "#n: linearizable prefix", PREFIX_COLOUR))
    if timeline.markers:
        items.append(f'<span style="color:{COUNTEREXAMPLE_COLOUR}">\u25bc anomaly</span>')
    return f'<div class="legend" id="legend">{"".join(items)}</div>\n'


MARK_LEGEND = {
    "snapshot": "\u2502 snapshot taken",
    "snapshot-install": "\u25c6 snapshot installed",
    "restart-snapshot": "\u25c7 restarted from a snapshot",
    "conf-apply": "\u25a0 membership change applied",
    "member-added": "+ joined",
    "member-removed": "\u2212 removed",
    "corrupt": "\u2716 disk corrupt",
    "disk": "\u25b2 disk: write torn, tail dropped, full",
}
"""The legend's word for each lane mark, with the glyph the timeline draws for it."""
assert set(MARK_LEGEND) == set(LANE_MARK_KINDS)


def _op_link(timeline: Timeline, number: int, css: str = "") -> str:
    op = timeline.ops[number]
    when = _time(timeline, op.start)
    klass = f' class="{css}"' if css else ""
    return (
        f'<li{klass}><a data-ops="{number}" href="#timeline">{_e(op.label)}</a> '
        f'<span class="note">{_e(op.lane)}, {_e(when)}</span></li>'
    )


def _counterexamples(timeline: Timeline) -> str:
    if not timeline.counterexamples:
        line = next((line for line in timeline.verdicts if line.checker == "linearizability"), None)
        text = (
            "No counterexample: the history is linearizable."
            if line and line.verdict is Verdict.VALID
            else ("No counterexample was found." if line else "Linearizability was not checked.")
        )
        return f'<h2>Linearizability</h2><div class="panel"><p class="note">{_e(text)}</p></div>'
    return "<h2>Counterexamples</h2>" + "".join(_counterexample(timeline, c) for c in timeline.counterexamples)


def _stuck_item(timeline: Timeline, example: Counterexample, number: int) -> str:
    """A stuck operation, why it is stuck, and the operations that rule its value out."""
    item = _op_link(timeline, number, "stuck").removesuffix("</li>")
    why = example.why_of(number)
    if why is not None and why.text:
        item += f'<div class="why">{_e(why.text)}</div>'
    if why is not None and why.lines:
        links = [
            _op_anchor(timeline, op, f"line {line}: {timeline.ops[op].label}")
            for op, line in zip(why.ruled_out_by, why.lines, strict=False)
        ]
        links += [_e(f"line {line}") for line in why.lines[len(why.ruled_out_by) :]]
        item += f'<div class="why">ruled out by: {"; ".join(links)}</div>'
    return item + "</li>"


def _counterexample(timeline: Timeline, example: Counterexample) -> str:
    stuck = "".join(_stuck_item(timeline, example, number) for number in example.stuck)
    shown = example.prefix[-PREFIX_SHOWN:]
    first = len(example.prefix) - len(shown) + 1
    prefix = "".join(_op_link(timeline, number) for number in shown)
    explained = {why.text for why in example.why}
    reasons = "".join(f"<li>{_e(reason)}</li>" for reason in example.reasons if reason not in explained)
    everything = " ".join(str(number) for number in (*example.stuck, *shown[-3:]))
    return (
        f'<div class="panel cex" data-key="{_e(example.key)}">'
        f"<p><b>key {_e(example.key)}</b>: no order of these operations agrees with the model "
        f'<a data-ops="{everything}" href="#timeline">show on the timeline</a></p>'
        f'<p>Cannot be linearized after the prefix:</p><ol class="stuck-ops">{stuck}</ol>'
        + (f"<p>Why:</p><ul>{reasons}</ul>" if reasons else "")
        + f'<p>Model state at the end of the longest linearizable prefix: <span class="state">'
        f"{_e(example.state)}</span></p>"
        f"<p>The prefix ({plural(len(example.prefix), 'operation')}), last {len(shown)} in linearization order:</p>"
        f'<ol start="{first}">{prefix}</ol></div>'
    )


RAFT_STATES_SHOWN = 10
"""Raft safety anomalies whose node states are drawn in full."""


def _raft_states(timeline: Timeline) -> str:
    with_states = [marker for marker in timeline.markers if marker.nodes][:RAFT_STATES_SHOWN]
    if not with_states:
        return ""
    parts = [
        f'<section class="raft-states"><h2>Each node at the Raft safety '
        f"{'anomaly' if len(with_states) == 1 else 'anomalies'}</h2>"
    ]
    for marker in with_states:
        parts.append(
            f'<div class="panel raft"><p><a data-time="{marker.time}" href="#timeline">'
            f"{_e(_time(timeline, marker.time))}</a> {_e(marker.message)}</p>"
            f"{_node_table(marker.nodes)}</div>"
        )
    return "".join(parts) + "</section>\n"


def _node_table(nodes: tuple[NodeState, ...]) -> str:
    rows = []
    for state in nodes:
        entries = []
        if state.tail and state.tail[0].index > 1:
            entries.append("\u2026 ")
        for entry in state.tail:
            text = f"{entry.index}:t{entry.term}:{entry.digest[:8]}"
            title = f"index {entry.index}, term {entry.term}, digest {entry.digest}"
            if entry.request:
                title += f", request {entry.request}" + (f" (history line {entry.line})" if entry.line else "")
            committed = " committed" if entry.index <= state.commit else ""
            if entry.op is not None:
                entries.append(
                    f'<a class="entry{committed}" data-ops="{entry.op}" href="#timeline" '
                    f'title="{_e(title)}">{_e(text)}</a>'
                )
            else:
                entries.append(f'<span class="entry{committed}" title="{_e(title)}">{_e(text)}</span>')
        rows.append(
            f"<tr><td>node {state.node}</td><td>{_e(state.role)}</td><td>{state.term}</td>"
            f"<td>{state.commit}</td><td>{state.log_length}</td>"
            f'<td class="log">{" ".join(entries)}</td></tr>'
        )
    return (
        '<table class="nodes"><thead><tr><th>node</th><th>role</th><th>term</th><th>commit</th>'
        f"<th>log length</th><th>last entries (index:term:digest; bold = committed)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


FAULTS_LISTED = 200


def _faults(timeline: Timeline) -> str:
    """Every fault in full, numbered as the timeline's tags number them: a label too long
    for its bar is never lost."""
    if not timeline.faults:
        return ""
    rows = "".join(
        f'<tr id="fault-{number}"><td>F{number}</td><td>{_e(fault.kind)}</td>'
        f'<td><a data-time="{fault.start}" href="#timeline">{_e(_short_time(timeline, fault.start))}</a></td>'
        f"<td>{_e(_short_time(timeline, fault.end))}</td><td>{_e(fault.label)}</td></tr>"
        for number, fault in enumerate(timeline.faults[:FAULTS_LISTED], start=1)
    )
    more = len(timeline.faults) - FAULTS_LISTED
    tail = f'<p class="note">and {_e(plural(more, "more fault"))}</p>' if more > 0 else ""
    return (
        f"<section><details{' open' if len(timeline.faults) <= 30 else ''}><summary><h2>"
        f'{_e(plural(len(timeline.faults), "fault"))}</h2></summary><table class="list" id="faults"><thead><tr>'
        "<th>#</th><th>kind</th><th>from</th><th>to</th><th>fault</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{tail}</details></section>\n"
    )


ELECTIONS_LISTED = 200


def _elections(timeline: Timeline) -> str:
    if not timeline.elections:
        return ""
    tenures = leader_tenures(timeline)
    rows = "".join(
        f"<tr><td>{tenure.term}</td><td>node {tenure.node}</td>"
        f'<td><a data-time="{tenure.start}" href="#timeline">{_e(_short_time(timeline, tenure.start))}</a></td>'
        f"<td>{_e(_seconds_held(tenure.end - tenure.start))}</td>"
        f"<td>{_e(tenure.describe(_short_time(timeline, tenure.end)))}</td></tr>"
        for tenure in tenures[:ELECTIONS_LISTED]
    )
    more = len(tenures) - ELECTIONS_LISTED
    tail = f'<p class="note">and {_e(plural(more, "more election"))}</p>' if more > 0 else ""
    return (
        f"<section><details{' open' if len(tenures) <= 12 else ''}><summary><h2>"
        f'{_e(plural(len(tenures), "election"))}</h2></summary><table class="list" id="elections"><thead><tr>'
        "<th>term</th><th>leader</th><th>elected at</th><th>led for</th><th>how it ended</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{tail}</details></section>\n"
    )


MEMBERSHIP_LISTED = 200


def _membership(timeline: Timeline) -> str:
    """Each membership change: proposed by which leader, first applied when, and the
    voters and learners it left."""
    if not timeline.membership:
        return ""

    def ids(nodes: tuple[int, ...]) -> str:
        return " ".join(str(node) for node in nodes) or "none"

    rows = "".join(
        f"<tr><td>{change.index}</td><td>{_e(change.change)}</td>"
        + (
            f'<td><a data-time="{change.proposed}" href="#timeline">{_e(_short_time(timeline, change.proposed))}</a>'
            f" by node {change.proposer} (term {change.term})</td>"
            if change.proposed is not None
            else "<td></td>"
        )
        + (
            f'<td><a data-time="{change.applied}" href="#timeline">{_e(_short_time(timeline, change.applied))}</a></td>'
            if change.applied is not None
            else "<td>never</td>"
        )
        + f"<td>{_e(ids(change.voters))}</td><td>{_e(ids(change.learners))}</td><td>{change.applied_by}</td></tr>"
        for change in timeline.membership[:MEMBERSHIP_LISTED]
    )
    more = len(timeline.membership) - MEMBERSHIP_LISTED
    tail = f'<p class="note">and {_e(plural(more, "more change"))}</p>' if more > 0 else ""
    count = plural(len(timeline.membership), "membership change")
    return (
        f"<section><details{' open' if len(timeline.membership) <= 12 else ''}><summary><h2>{_e(count)}</h2>"
        '</summary><table class="list" id="membership"><thead><tr><th>index</th><th>change</th><th>proposed</th>'
        "<th>first applied</th><th>voters after</th><th>learners after</th><th>nodes that applied it</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>{tail}</details></section>\n"
    )


SNAPSHOT_EVENTS_LISTED = 200


def _snapshots(timeline: Timeline) -> str:
    """How many snapshots each node took, then every install, restart from a snapshot,
    disk found corrupt and other disk fault: the rare events, in time order."""
    taken: dict[int, int] = {}
    for mark in timeline.marks_of("snapshot"):
        taken[mark.node] = taken.get(mark.node, 0) + 1
    rare = timeline.marks_of("snapshot-install", "restart-snapshot", "corrupt", "disk")
    if not taken and not rare:
        return ""
    total = sum(taken.values()) + timeline.snapshots_uncounted
    counts = ", ".join(f"node {node}: {count:,}" for node, count in sorted(taken.items()))
    if timeline.snapshots_uncounted:
        counts += f"; {timeline.snapshots_uncounted:,} more not drawn"
    summary = f"<p>{_e(plural(total, 'snapshot'))} taken" + (f" ({_e(counts)})" if counts else "") + ".</p>"
    if not total:
        summary = ""
    rows = "".join(
        f'<tr><td><a data-time="{mark.time}" href="#timeline">{_e(_short_time(timeline, mark.time))}</a></td>'
        f"<td>node {mark.node}</td><td>{_e(mark.label)}</td></tr>"
        for mark in rare[:SNAPSHOT_EVENTS_LISTED]
    )
    more = len(rare) - SNAPSHOT_EVENTS_LISTED
    tail = f'<p class="note">and {_e(plural(more, "more event"))}</p>' if more > 0 else ""
    table = (
        '<table class="list" id="snapshots"><thead><tr><th>at</th><th>node</th><th>what</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>{tail}"
        if rows
        else ""
    )
    return f"<section><h2>Snapshots and disks</h2>{summary}{table}</section>\n"


def _seconds_held(us: int) -> str:
    return f"{us / 1e6:.3f} s"


__all__ = ["render_html", "write_html"]
