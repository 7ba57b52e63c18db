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

from reports.palette import (
    COUNTEREXAMPLE_COLOUR,
    FAULT_COLOURS,
    NODE_STATE_COLOURS,
    OUTCOME_COLOURS,
    PREFIX_COLOUR,
    fault_colour,
)
from reports.timeline import NODE_STATES, OUTCOMES, Counterexample, Timeline

MESSAGE_COLOURS = {
    "pre-vote": "#8e24aa", "pre-vote-response": "#ba68c8", "vote": "#3949ab", "vote-response": "#7986cb",
    "append": "#00897b", "append-response": "#4db6ac", "heartbeat": "#9e9e9e", "heartbeat-response": "#bdbdbd",
}
PREFIX_SHOWN = 20
"""How many of the last linearizable operations the static counterexample lists; the
timeline numbers every one of them."""

_DEFAULT_HINT = "Record messages with trace_messages = true in the scenario, or let `raftsim report` replay the run."


def render_html(timeline: Timeline, messages_hint: str = _DEFAULT_HINT) -> str:
    """The whole page as one string."""
    css = _asset("report.css")
    script = _asset("report.js")
    assert "</script" not in script.lower() and "</style" not in css.lower()
    data = _data(timeline, messages_hint)
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        f"<title>{_e(timeline.title)} \u2014 raftsim report</title>\n",
        f"<style>\n{css}</style>\n</head>\n<body>\n",
        _header(timeline),
        "<main>\n",
        _anomalies(timeline),
        _toolbar(timeline),
        _legend(timeline),
        "<div id=\"timeline-wrap\"><canvas id=\"timeline\" height=\"200\"></canvas></div>\n",
        "<noscript><p class=\"note\">The timeline is drawn by the page's script; everything above "
        "and the counterexample below read without it.</p></noscript>\n",
        "<div id=\"tooltip\"></div>\n<div class=\"panels\">\n",
        "<section><h2>Selected</h2><div id=\"details\" class=\"panel\"></div></section>\n",
        "<section>", _counterexamples(timeline), "</section>\n</div>\n",
        _messages_section(timeline),
        "</main>\n",
        f"<script type=\"application/json\" id=\"report-data\">{data}</script>\n",
        f"<script>\n{script}</script>\n</body>\n</html>\n",
    ]
    return "".join(parts)


def write_html(timeline: Timeline, path: str | os.PathLike[str], messages_hint: str = _DEFAULT_HINT) -> None:
    """Write the page atomically: a reader never sees half a report."""
    target = Path(path)
    text = render_html(timeline, messages_hint)
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
    data = {
        "unit": timeline.time_unit, "start": timeline.start, "end": timeline.end,
        "lanes": list(timeline.lanes), "nodes": list(timeline.nodes),
        "outcomes": list(OUTCOMES), "states": list(NODE_STATES),
        "ops": [[lane_index[op.lane], op.start, -1 if op.end is None else op.end, outcome_index[op.outcome],
                 op.label, _flat(op.record)] for op in timeline.ops],
        "spans": [[node_index[span.node], state_index[span.state], span.term, span.leader, span.start, span.end]
                  for span in timeline.spans if span.node in node_index],
        "elections": [[election.time, election.node, election.term] for election in timeline.elections],
        "faults": [[fault.id, fault.kind, fault.start, fault.end, fault.label, list(fault.nodes), _flat(fault.record)]
                   for fault in timeline.faults],
        "phases": [[name, start] for name, start in timeline.phases],
        "messages": [[m.id, m.source, m.target, m.type, m.term, m.sent, -1 if m.received is None else m.received,
                      m.dropped, m.label] for m in timeline.messages],
        "messagesTraced": timeline.messages_traced, "messagesHint": messages_hint,
        "markers": [[marker.time, marker.checker, marker.message] for marker in timeline.markers],
        "cex": [{"key": c.key, "stuck": list(c.stuck), "prefix": list(c.prefix), "state": c.state}
                for c in timeline.counterexamples],
        "focus": list(timeline.focus) if timeline.focus else None,
        "colours": {
            "outcomes": OUTCOME_COLOURS, "states": NODE_STATE_COLOURS, "faults": FAULT_COLOURS,
            "messages": MESSAGE_COLOURS, "counterexample": COUNTEREXAMPLE_COLOUR, "prefix": PREFIX_COLOUR,
        },
    }
    return _json_for_script(data)


def _verdict_word(valid: bool | str) -> tuple[str, str]:
    if valid is True:
        return "valid", "valid"
    if valid is False:
        return "invalid", "invalid"
    return "unknown", "unknown"


def _header(timeline: Timeline) -> str:
    word, css = _verdict_word(timeline.valid)
    rows = "".join(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in timeline.meta)
    verdicts = "".join(
        f"<tr><td>{_e(v.checker)}</td><td class=\"v-{_e(str(v.valid).lower())}\">{_e(_verdict_word(v.valid)[0])}"
        f"</td><td>{_e(v.summary)}</td></tr>" for v in timeline.verdicts
    )
    replay = ""
    if timeline.replay:
        replay = f"<p>Replay: <code class=\"replay\">{_e(timeline.replay)}</code></p>"
    return (
        f"<header>\n<h1>{_e(timeline.title)} <span class=\"badge {css}\" id=\"verdict\">{word}</span></h1>\n"
        f"<dl class=\"meta\">{rows}</dl>\n"
        + (f"<table class=\"verdicts\">{verdicts}</table>\n" if verdicts else "")
        + replay + "\n</header>\n"
    )


def _time(timeline: Timeline, value: int) -> str:
    return f"event {value}" if timeline.time_unit == "event" else f"{value / 1e6:.6f} s"


def _anomalies(timeline: Timeline) -> str:
    if not timeline.markers:
        return ""
    shown = timeline.markers[:50]
    items = "".join(
        f"<li><a data-time=\"{marker.time}\" href=\"#timeline\">{_e(_time(timeline, marker.time))}</a> "
        f"<b>{_e(marker.checker)}</b>: {_e(marker.message)}</li>" for marker in shown
    )
    more = f"<p class=\"note\">and {len(timeline.markers) - len(shown)} more</p>" if len(timeline.markers) > 50 else ""
    return f"<section class=\"anomalies\"><h2>Anomalies</h2><ol id=\"anomalies\">{items}</ol>{more}</section>\n"


def _toolbar(timeline: Timeline) -> str:
    jump = ""
    if timeline.counterexamples or timeline.markers:
        jump = "<button id=\"jump-anomaly\" title=\"Zoom to the first anomaly\">Jump to the anomaly</button>"
    return (
        "<div class=\"toolbar\"><button id=\"zoom-in\" title=\"Zoom in (+)\">+</button>"
        "<button id=\"zoom-out\" title=\"Zoom out (-)\">\u2212</button>"
        "<button id=\"zoom-fit\" title=\"Whole run (0)\">Fit</button>"
        + jump + ("<button id=\"messages-visible\">Messages of the visible range</button>" if timeline.nodes else "")
        + "<span class=\"range\" id=\"range\"></span>"
        "<span class=\"note\">wheel: zoom \u00b7 drag: pan \u00b7 click: details \u00b7 "
        "shift-drag: message window</span>"
        "</div>\n"
    )


def _messages_section(timeline: Timeline) -> str:
    # A history recorded elsewhere has clients but no nodes, so no messages to draw; the
    # script looks the section's elements up and does nothing when they are absent.
    if not timeline.nodes:
        return ""
    return (
        "<section><h2>Messages <span id=\"messages-window\" class=\"note\"></span></h2>"
        "<p class=\"note\">Shift-drag on the timeline to pick another window, or show the visible range.</p>"
        "<div id=\"messages\"></div></section>\n"
    )


def _swatch(colour: str, text: str, border: str | None = None) -> str:
    style = f"background:{colour}" + (f";border:2px solid {border}" if border else "")
    return f"<span><span class=\"swatch\" style=\"{_e(style)}\"></span>{_e(text)}</span>"


def _legend(timeline: Timeline) -> str:
    items = [_swatch(OUTCOME_COLOURS[outcome], outcome) for outcome in OUTCOMES]
    if timeline.nodes:
        items += [_swatch(NODE_STATE_COLOURS[state], state) for state in NODE_STATES]
        kinds = sorted({fault.kind for fault in timeline.faults})
        items += [_swatch(fault_colour(kind), f"{kind} fault") for kind in kinds]
        items.append("<span>\u25b6 election</span><span>\u2506 phase boundary</span>")
    if timeline.counterexamples:
        items.append(_swatch("#fff", "cannot be linearized", COUNTEREXAMPLE_COLOUR))
        items.append(_swatch("#fff", "#n: linearizable prefix", PREFIX_COLOUR))
    if timeline.markers:
        items.append(f"<span style=\"color:{COUNTEREXAMPLE_COLOUR}\">\u25bc anomaly</span>")
    return f"<div class=\"legend\" id=\"legend\">{''.join(items)}</div>\n"


def _op_link(timeline: Timeline, number: int, css: str = "") -> str:
    op = timeline.ops[number]
    when = _time(timeline, op.start)
    klass = f" class=\"{css}\"" if css else ""
    return (f"<li{klass}><a data-ops=\"{number}\" href=\"#timeline\">{_e(op.label)}</a> "
            f"<span class=\"note\">{_e(op.lane)}, {_e(when)}</span></li>")


def _counterexamples(timeline: Timeline) -> str:
    if not timeline.counterexamples:
        verdict = next((v for v in timeline.verdicts if v.checker == "linearizability"), None)
        text = "No counterexample: the history is linearizable." if verdict and verdict.valid is True else (
            "No counterexample was found." if verdict else "Linearizability was not checked.")
        return f"<h2>Linearizability</h2><div class=\"panel\"><p class=\"note\">{_e(text)}</p></div>"
    return "<h2>Counterexamples</h2>" + "".join(_counterexample(timeline, c) for c in timeline.counterexamples)


def _counterexample(timeline: Timeline, example: Counterexample) -> str:
    stuck = "".join(_op_link(timeline, number, "stuck") for number in example.stuck)
    shown = example.prefix[-PREFIX_SHOWN:]
    first = len(example.prefix) - len(shown) + 1
    prefix = "".join(_op_link(timeline, number) for number in shown)
    reasons = "".join(f"<li>{_e(reason)}</li>" for reason in example.reasons)
    everything = " ".join(str(number) for number in (*example.stuck, *shown[-3:]))
    return (
        f"<div class=\"panel cex\" data-key=\"{_e(example.key)}\">"
        f"<p><b>key {_e(example.key)}</b>: no order of these operations agrees with the model "
        f"<a data-ops=\"{everything}\" href=\"#timeline\">show on the timeline</a></p>"
        f"<p>Cannot be linearized after the prefix:</p><ol class=\"stuck-ops\">{stuck}</ol>"
        + (f"<p>Why:</p><ul>{reasons}</ul>" if reasons else "")
        + f"<p>Model state at the end of the longest linearizable prefix: <span class=\"state\">"
        f"{_e(example.state)}</span></p>"
        f"<p>The prefix ({len(example.prefix)} operations), last {len(shown)} in linearization order:</p>"
        f"<ol start=\"{first}\">{prefix}</ol></div>"
    )


__all__ = ["render_html", "write_html"]
