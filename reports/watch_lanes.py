"""One lane per watcher: what it was sent, over time, with the watch checker's findings.

`watch.html` beside `report.html` in a run with watchers: a self-contained page (one SVG,
no script) whose lanes show each watcher's responses as ticks at the time it took them
(events a full tick, progress notifications a short one), its watches asked for (a
triangle, on which member), its lists (a square) and the streams it gave up (a cross).
Every anomaly of the `watch` checker is a ring on its watcher's lane at its time, in the
colour all views give checkers' anomalies, with its message as the tooltip: a gap
(`reliable`), a duplicate (`unique`) or any other broken guarantee shows where it happened.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from checkers.watch_file import WatchFile
from reports.palette import COUNTEREXAMPLE_COLOUR, NODE_STATE_COLOURS, OUTCOME_COLOURS

LANE_HEIGHT = 36
LEFT = 90
WIDTH = 1200
TOP = 30


def render_watch_lanes(file: WatchFile, marks: Iterable[Mapping[str, Any]], title: str) -> str:
    """The page. `marks` are the watch checker's anomalies (`t`, `watcher`, `property`,
    `message`)."""
    watchers = sorted({watch.watcher for watch in file.watches} | {listed.watcher for listed in file.lists})
    times = [r.t for w in file.watches for r in w.responses] + [w.t for w in file.watches] + [1]
    end_us = max(times)
    row = {watcher: index for index, watcher in enumerate(watchers)}
    height = TOP + LANE_HEIGHT * max(1, len(watchers)) + 20

    def x(t: int) -> float:
        return LEFT + (WIDTH - LEFT - 10) * t / end_us

    def y(watcher: int) -> int:
        return TOP + LANE_HEIGHT * row[watcher] + LANE_HEIGHT // 2

    shapes: list[str] = []
    for watcher in watchers:
        shapes.append(f'<text x="4" y="{y(watcher) + 4}">watcher {watcher}</text>')
        shapes.append(f'<line x1="{LEFT}" x2="{WIDTH - 10}" y1="{y(watcher)}" y2="{y(watcher)}" stroke="#eceff1"/>')
    for watch in file.watches:
        cy = y(watch.watcher)
        tip = f"watch {watch.watch} on member {watch.member} from revision {watch.start_revision or 'now'}"
        shapes.append(
            _shape(f'<path d="M{x(watch.t):.1f},{cy - 9} l5,9 l-10,0 z" fill="{NODE_STATE_COLOURS["leader"]}">', tip)
        )
        for response in watch.responses:
            if response.events:
                revisions = sorted({event.kv.mod_revision for event in response.events})
                count = len(response.events)
                tip = f"revisions {revisions[0]}..{revisions[-1]}, {count} events (line {response.line})"
                at = f"{x(response.t):.1f}"
                line = f'<line x1="{at}" x2="{at}" y1="{cy - 8}" y2="{cy + 8}" stroke="{OUTCOME_COLOURS["ok"]}">'
                shapes.append(_shape(line, tip, "line"))
            elif response.progress:
                shapes.append(
                    _shape(
                        f'<circle cx="{x(response.t):.1f}" cy="{cy}" r="1.5" fill="{OUTCOME_COLOURS["pending"]}">',
                        f"progress at revision {response.revision}",
                        "circle",
                    )
                )
    for listed in file.lists:
        shapes.append(
            _shape(
                f'<rect x="{x(listed.t) - 4:.1f}" y="{y(listed.watcher) - 4}" width="8" height="8" fill="#6a1b9a">',
                f"list at revision {listed.revision}: {len(listed.kvs)} objects",
                "rect",
            )
        )
    for lost in file.lost:
        if lost.watcher in row:
            cx, cy = x(lost.t), y(lost.watcher)
            tip = f"gave up member {lost.member}: {lost.reason}"
            shapes.append(
                _shape(
                    f'<path d="M{cx - 4:.1f},{cy - 4} l8,8 m0,-8 l-8,8" '
                    f'stroke="{OUTCOME_COLOURS["fail"]}" stroke-width="2">',
                    tip,
                )
            )
    for mark in marks:
        marked = mark.get("watcher")
        if isinstance(marked, int) and marked in row:
            watcher = marked
            ring = (
                f'<circle cx="{x(int(mark["t"])):.1f}" cy="{y(watcher)}" r="7" fill="none" '
                f'stroke="{COUNTEREXAMPLE_COLOUR}" stroke-width="2">'
            )
            shapes.append(_shape(ring, f"{mark['property']}: {mark['message']}", "circle"))
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="sans-serif" font-size="12">{"".join(shapes)}</svg>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} \u2014 watchers</title></head>\n"
        f"<body><h1>{html.escape(title)}: watchers</h1><p>Time runs left to right over {end_us / 1e6:.1f} s. "
        "Ticks: responses with events; dots: progress notifications; triangles: watches asked for; "
        "squares: lists; crosses: streams given up; rings: the watch checker's anomalies (hover for each).</p>\n"
        f"{svg}\n</body></html>\n"
    )


def _shape(opening: str, tip: str, tag: str = "path") -> str:
    return f"{opening}<title>{html.escape(tip)}</title></{tag}>"


def write_watch_lanes(
    file: WatchFile | None, verdict_anomalies: Iterable[Mapping[str, Any]], folder: Path, title: str
) -> list[Path]:
    """Write `watch.html` into `folder` for a run with watchers; nothing otherwise."""
    if file is None:
        return []
    target = folder / "watch.html"
    staging = target.with_name(".watch.html.partial")
    staging.write_text(render_watch_lanes(file, verdict_anomalies, title), encoding="utf-8", errors="backslashreplace")
    os.replace(staging, target)
    return [target]
