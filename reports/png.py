"""`timeline.png` and `latency.png`: a timeline drawn with matplotlib, for places where
HTML cannot go (a CI artifact list, an issue, a paper).

The rows are those of the HTML page, in its order: faults packed into as few rows as
they fit in, then one row per node showing its state, then one lane per client with each
operation a bar from invoke to completion. Both pictures are built on a private
`Figure` with the Agg canvas, never through pyplot, so that nothing global (the current
figure, the interactive backend) is touched and two threads can draw at once.

Speed decides the drawing style. A soak run has tens of thousands of operations and
node spans; one `PolyCollection` per kind of thing (bars, spans, faults) draws them in
one call, where a patch per operation would take minutes. Text is the other cost, so
labels are drawn only where there is room to read them and only up to a bound.

Every string shown comes from a history or a trace and is data: texts are made with
`parse_math=False`, so a `$` in a key never turns into mathtext (or an error).
A picture's bytes depend only on the timeline: PNG metadata carries no software version
and no date, and a picture is written to a temporary file beside its target and moved
into place, so a failure leaves nothing under the target's name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from checkers.verdict import PICTURE
from reports.model import OUTCOMES, OpBar, Timeline, plural
from reports.palette import (
    COUNTEREXAMPLE_COLOUR,
    LANE_MARK_COLOURS,
    NODE_STATE_COLOURS,
    OUTCOME_COLOURS,
    PHASE_COLOUR,
    PREFIX_COLOUR,
    fault_colour,
    operation_styles,
)

DPI = 100
WIDTH_IN = 16.0
ROW_IN = 0.26
"""Height of one row; rows shrink when a timeline has more than fit in `HEIGHT_MAX_IN`."""
HEIGHT_MAX_IN = 36.0
TOP_IN, BOTTOM_IN, LEFT_IN, RIGHT_IN = 0.6, 1.0, 1.35, 0.3
FAULT_ROW, NODE_ROW, LANE_ROW, GAP = 0.8, 1.0, 1.0, 0.5
"""Row heights in row units, as the HTML proportions them."""
ROW_LABELS_MAX = 80
"""More lanes than this and every k-th is labelled, or the names would overprint."""
TEXT_LABELS_MAX = 300
"""Bound on in-bar texts (fault, leader, operation labels) per picture."""
LABEL_WIDTH_MIN = 0.04
"""A bar gets its label only if at least this fraction of the time axis wide."""
STUCK_WIDTH_MIN = 0.003
"""An operation that cannot be linearized is outlined at least this fraction wide, so that
a millisecond read in a minute-long run is still a visible box."""
PREFIX_OUTLINED = 10
"""How many of the last linearizable operations are outlined, as the terminal lists them."""
LATENCY_FLOOR_MS = 0.001
"""A zero latency (invoke and completion in the same microsecond) drawn at 1 µs: a log
axis has no zero."""
PNG_METADATA = {"Software": None}


# ---------------------------------------------------------------------------------------
# Public


def write_timeline_png(timeline: Timeline, path: Path) -> None:
    """Draw the timeline's rows (faults, nodes, client lanes) into a PNG at `path`."""
    _save(_timeline_figure(timeline), Path(path))


def write_latency_png(timeline: Timeline, path: Path) -> None:
    """Draw each completed operation's latency against its invoke time, Jepsen's
    latency-raw plot, into a PNG at `path`."""
    _save(_latency_figure(timeline), Path(path))


def write_rate_png(timeline: Timeline, path: Path) -> None:
    """Draw the operations completed per second by outcome, faults shaded, Jepsen's rate
    plot, into a PNG at `path`."""
    _save(_rate_figure(timeline), Path(path))


PNG_FILES = ("timeline.png", "latency.png", "rate.png")


def write_pngs(timeline: Timeline, folder: Path) -> list[Path]:
    """Draw every picture of a timeline into `folder`; returns the files written, so that
    callers need not know their names."""
    folder = Path(folder)
    written = []
    for name, draw in zip(PNG_FILES, (write_timeline_png, write_latency_png, write_rate_png), strict=True):
        draw(timeline, folder / name)
        written.append(folder / name)
    return written


def _save(figure: Figure, path: Path) -> None:
    """Write atomically: the target appears complete or not at all."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            figure.savefig(stream, format="png", dpi=DPI, metadata=PNG_METADATA)
        # mkstemp makes the file private; a report's picture is as readable as the report.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _new_figure(width_in: float, height_in: float) -> Figure:
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    return figure


# ---------------------------------------------------------------------------------------
# The time axis


@dataclass(frozen=True, slots=True)
class _Axis:
    scale: float
    """Timeline units to axis units: microseconds to seconds, or events to events."""
    label: str
    end: float
    """The axis's right end, in axis units; never zero, so limits are never singular."""


def _axis(timeline: Timeline) -> _Axis:
    if timeline.time_unit == "us":
        return _Axis(1e-6, "time (s)", max(timeline.end * 1e-6, 1e-3))
    return _Axis(1.0, "history event", float(max(timeline.end, 1)))


# ---------------------------------------------------------------------------------------
# timeline.png


@dataclass(frozen=True, slots=True)
class _Rows:
    """Where each row sits, in row units from the top (y grows downwards)."""

    fault_rows: tuple[tuple[int, ...], ...]
    fault_y: tuple[float, ...]
    node_y: dict[int, float]
    lane_y: dict[str, float]
    total: float


def pack_faults(timeline: Timeline) -> tuple[tuple[int, ...], ...]:
    """Faults into rows, first fit: a fault joins the first row whose last fault ended
    before it started. The HTML packs the same way, so both show the same rows."""
    rows: list[list[int]] = []
    for number, fault in enumerate(timeline.faults):
        for row in rows:
            if timeline.faults[row[-1]].end < fault.start:
                row.append(number)
                break
        else:
            rows.append([number])
    return tuple(tuple(row) for row in rows)


def _rows(timeline: Timeline) -> _Rows:
    fault_rows = pack_faults(timeline)
    y = 0.0
    fault_y = []
    for _row in fault_rows:
        fault_y.append(y)
        y += FAULT_ROW
    y += GAP if fault_rows else 0.0
    node_y = {}
    for node in timeline.nodes:
        node_y[node] = y
        y += NODE_ROW
    y += GAP if timeline.nodes else 0.0
    lane_y = {}
    for lane in timeline.lanes:
        lane_y[lane] = y
        y += LANE_ROW
    return _Rows(fault_rows, tuple(fault_y), node_y, lane_y, max(y, 1.0))


def _timeline_figure(timeline: Timeline) -> Figure:
    rows = _rows(timeline)
    axis = _axis(timeline)
    listed = _fault_list_lines(timeline)
    list_in = len(listed) * FAULT_LIST_LINE_IN + (0.1 if listed else 0.0)
    plot_in = min(rows.total * ROW_IN, HEIGHT_MAX_IN - TOP_IN - BOTTOM_IN)
    height_in = plot_in + TOP_IN + BOTTOM_IN + list_in
    bottom_in = BOTTOM_IN + list_in
    figure = _new_figure(WIDTH_IN, height_in)
    ax = figure.add_axes(
        (LEFT_IN / WIDTH_IN, bottom_in / height_in, 1 - (LEFT_IN + RIGHT_IN) / WIDTH_IN, plot_in / height_in)
    )
    ax.set_xlim(0, axis.end)
    ax.set_ylim(rows.total, 0)
    ax.set_yticks([])
    ax.set_xlabel(axis.label, fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="#eceff1", linewidth=0.6, zorder=0)
    labels = _Labels(axis)
    _draw_phases(ax, timeline, axis)
    _draw_faults(ax, timeline, axis, rows, labels)
    _draw_nodes(ax, timeline, axis, rows, labels)
    _draw_lane_marks(ax, timeline, axis, rows)
    _draw_operations(ax, timeline, axis, rows, labels)
    _draw_counterexamples(ax, timeline, axis, rows)
    _draw_markers(ax, timeline, axis, rows.total)
    _draw_row_names(ax, timeline, rows)
    figure.text(0.5, 1 - 0.2 / height_in, _title(timeline), ha="center", va="center", fontsize=11, parse_math=False)
    _legend(figure, timeline, height_in, list_in)
    _draw_fault_list(figure, listed, height_in)
    return figure


FAULT_LIST_LINE_IN = 0.17
FAULT_LIST_COLUMNS = 3
FAULTS_LISTED = 60
"""Faults spelled out under timeline.png; past that, the list says how many more."""
CHARACTER_IN = 0.058
"""The width of one character of a 7-point label, for deciding whether a label fits."""


def fault_tag(number: int) -> str:
    """The name a fault goes by where its label does not fit: F1, F2, ... in time order,
    as the HTML report and the terminal number them."""
    return f"F{number + 1}"


def _fault_list_lines(timeline: Timeline) -> list[list[str]]:
    """The faults in full, `FAULT_LIST_COLUMNS` to a line: every fault is named here
    even when its bar is too narrow to hold its label."""
    if not timeline.faults:
        return []
    entries = [
        f"{fault_tag(number)}  {fault.label}  ({_seconds(timeline, fault.start)} \u2013 "
        f"{_seconds(timeline, fault.end)})"
        for number, fault in enumerate(timeline.faults[:FAULTS_LISTED])
    ]
    if len(timeline.faults) > FAULTS_LISTED:
        entries.append(f"and {plural(len(timeline.faults) - FAULTS_LISTED, 'more fault')}: see report.html")
    return [entries[start : start + FAULT_LIST_COLUMNS] for start in range(0, len(entries), FAULT_LIST_COLUMNS)]


def _seconds(timeline: Timeline, value: int) -> str:
    return f"{value / 1e6:.3f} s" if timeline.time_unit == "us" else f"event {value}"


def _draw_fault_list(figure: Figure, lines: list[list[str]], height_in: float) -> None:
    """One text per column (text is what costs in a picture), its lines spaced as the rows
    the list was given room for."""
    if not lines:
        return
    width = (WIDTH_IN - LEFT_IN - RIGHT_IN) / FAULT_LIST_COLUMNS
    top = (len(lines) - 0.1) * FAULT_LIST_LINE_IN / height_in
    spacing = FAULT_LIST_LINE_IN * 72 / 7 / 1.2  # matplotlib spaces lines by 1.2 x size x linespacing
    for column in range(FAULT_LIST_COLUMNS):
        entries = [_shorten(entries[column], width) for entries in lines if column < len(entries)]
        if entries:
            figure.text(
                (LEFT_IN + column * width) / WIDTH_IN,
                top,
                "\n".join(entries),
                fontsize=7,
                va="top",
                ha="left",
                parse_math=False,
                color="#263238",
                linespacing=spacing,
            )


def _shorten(text: str, width_in: float) -> str:
    most = max(8, int(width_in / CHARACTER_IN))
    return text if len(text) <= most else text[: most - 1] + "\u2026"


def _title(timeline: Timeline) -> str:
    verdict = PICTURE.word(timeline.verdict)
    if not timeline.verdicts:
        verdict = "not checked"
    return f"{timeline.title}: {plural(len(timeline.ops), 'operation')}, {verdict}"


class _Labels:
    """Hands out the bounded number of in-bar texts, first come first served: faults, then
    leader spans, then operations, so that the rarer rows are always labelled."""

    def __init__(self, axis: _Axis) -> None:
        self.axis = axis
        self.left = TEXT_LABELS_MAX

    def wide_enough(self, start: float, end: float) -> bool:
        return end - start >= LABEL_WIDTH_MIN * self.axis.end

    def draw(
        self,
        ax: Axes,
        text: str,
        start: float,
        end: float,
        top: float,
        height: float,
        colour: str = "#111111",
        force: bool = False,
    ) -> None:
        if self.left <= 0 or not (force or self.wide_enough(start, end)):
            return
        self.left -= 1
        clip = Rectangle((start, top), end - start, height, transform=ax.transData)
        label = ax.text(
            start + 0.004 * self.axis.end,
            top + height / 2,
            text,
            fontsize=7,
            color=colour,
            va="center",
            ha="left",
            parse_math=False,
            zorder=6,
            clip_on=True,
        )
        label.set_clip_path(clip)


def _boxes(starts: Sequence[float], ends: Sequence[float], tops: Sequence[float], height: float) -> np.ndarray:
    """Rectangles as an (n, 4, 2) vertex array for a PolyCollection."""
    x0 = np.asarray(starts, dtype=float)
    x1 = np.asarray(ends, dtype=float)
    y0 = np.asarray(tops, dtype=float)
    y1 = y0 + height
    assert x0.shape == x1.shape == y0.shape
    return np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1)


def _polygons(boxes: np.ndarray) -> Sequence[Any]:
    """The (n, 4, 2) corner array as the polygon sequence matplotlib's stubs name.

    PolyCollection reads such an array as n polygons without copying it; the stubs only
    spell the argument as a sequence, so the array is passed on unchanged under that name.
    """
    assert boxes.ndim == 3, boxes.shape
    polygons: Sequence[Any] = boxes  # type: ignore[assignment]
    return polygons


def _add_boxes(ax: Axes, boxes: np.ndarray, colours: Sequence[str], zorder: float, **style: Any) -> None:
    if len(boxes) == 0:
        return
    # An edge in the fill colour gives every bar a width of at least a hairline: a 1 ms
    # operation in a 40 s run is a 0.04 pixel rectangle and would vanish otherwise.
    collection = PolyCollection(
        _polygons(boxes),
        facecolors=colours,
        edgecolors=style.pop("edgecolors", colours),
        linewidths=style.pop("linewidths", 0.4),
        zorder=zorder,
        **style,
    )
    ax.add_collection(collection, autolim=False)


def _draw_faults(ax: Axes, timeline: Timeline, axis: _Axis, rows: _Rows, labels: _Labels) -> None:
    starts, ends, tops, colours = [], [], [], []
    for row, y in zip(rows.fault_rows, rows.fault_y, strict=True):
        for number in row:
            fault = timeline.faults[number]
            starts.append(fault.start * axis.scale)
            ends.append(fault.end * axis.scale)
            tops.append(y + 0.06)
            colours.append(fault_colour(fault.kind))
    _add_boxes(ax, _boxes(starts, ends, tops, FAULT_ROW - 0.12), colours, 2)
    inches = (WIDTH_IN - LEFT_IN - RIGHT_IN) / axis.end
    for row, y in zip(rows.fault_rows, rows.fault_y, strict=True):
        for number in row:
            fault = timeline.faults[number]
            room = (fault.end - fault.start) * axis.scale * inches / CHARACTER_IN - 1
            tag = fault_tag(number)
            text = next(
                (candidate for candidate in (fault.label, f"{tag} {fault.kind}", tag) if len(candidate) <= room), None
            )
            if text is not None:
                labels.draw(
                    ax, text, fault.start * axis.scale, fault.end * axis.scale, y + 0.06, FAULT_ROW - 0.12, force=True
                )
                continue
            # Too narrow even for its number: the number goes just after the bar when the
            # row is free there; the list under the plot names the fault in any case.
            following = row.index(number) + 1
            free_until = timeline.faults[row[following]].start if following < len(row) else timeline.end
            if labels.left > 0 and (free_until - fault.end) * axis.scale * inches / CHARACTER_IN >= len(tag) + 1:
                labels.left -= 1
                ax.text(
                    fault.end * axis.scale,
                    y + FAULT_ROW / 2,
                    f" {tag}",
                    fontsize=7,
                    va="center",
                    ha="left",
                    parse_math=False,
                    zorder=6,
                    clip_on=True,
                    color="#111111",
                )


SPAN_LABELS = {
    "leader": ("leader t{term}", "white"),
    "corrupt": ("corrupt disk", "white"),
    "removed": ("removed", "#607d8b"),
}
"""The words written on a node's span wide enough for them."""


def _draw_nodes(ax: Axes, timeline: Timeline, axis: _Axis, rows: _Rows, labels: _Labels) -> None:
    spans = timeline.spans
    boxes = _boxes(
        [s.start * axis.scale for s in spans],
        [s.end * axis.scale for s in spans],
        [rows.node_y[s.node] + 0.12 for s in spans],
        NODE_ROW - 0.24,
    )
    _add_boxes(ax, boxes, [NODE_STATE_COLOURS[s.state] for s in spans], 2)
    for span in spans:
        if span.state in SPAN_LABELS:
            text, colour = SPAN_LABELS[span.state]
            labels.draw(
                ax,
                text.format(term=span.term),
                span.start * axis.scale,
                span.end * axis.scale,
                rows.node_y[span.node] + 0.12,
                NODE_ROW - 0.24,
                colour=colour,
            )
    elections = timeline.elections
    if not elections:
        return
    xs = [e.time * axis.scale for e in elections]
    ys = [rows.node_y[e.node] + 0.12 for e in elections if e.node in rows.node_y]
    if len(ys) != len(xs):  # an election by a node the trace's start did not list
        return
    ax.scatter(xs, ys, marker="v", s=18, color="black", zorder=5, linewidths=0)
    if len(elections) <= TEXT_LABELS_MAX // 2:
        for election, x, y in zip(elections, xs, ys, strict=True):
            ax.text(
                x + 0.002 * axis.end,
                y,
                str(election.term),
                fontsize=6,
                va="center",
                ha="left",
                zorder=6,
                parse_math=False,
                clip_on=True,
            )


MARK_STYLES: dict[str, tuple[str, str]] = {
    "snapshot-install": ("D", "snapshot installed"),
    "restart-snapshot": ("d", "restarted from a snapshot"),
    "conf-apply": ("s", "membership change applied"),
    "member-added": ("P", "joined"),
    "member-removed": ("_", "removed"),
    "corrupt": ("X", "disk corrupt"),
    "disk": ("^", "disk: write torn, tail dropped, full"),
}
"""Marker and legend words of each lane mark but snapshots taken, which are faint ticks."""


def _draw_lane_marks(ax: Axes, timeline: Timeline, axis: _Axis, rows: _Rows) -> None:
    """Snapshots taken as faint ticks at the top of their node's row, one collection for
    all; every other mark as one scatter per kind over the row's middle."""
    taken = timeline.marks_of("snapshot")
    if taken:
        ax.vlines(
            [mark.time * axis.scale for mark in taken],
            [rows.node_y[mark.node] + 0.02 for mark in taken],
            [rows.node_y[mark.node] + 0.3 for mark in taken],
            colors=LANE_MARK_COLOURS["snapshot"],
            linewidths=0.6,
            alpha=0.6,
            zorder=4,
        )
    for kind, (marker, _words) in MARK_STYLES.items():
        marks = timeline.marks_of(kind)
        if not marks:
            continue
        xs = [mark.time * axis.scale for mark in marks]
        ys = [rows.node_y[mark.node] + NODE_ROW / 2 for mark in marks]
        colour = LANE_MARK_COLOURS[kind]
        if marker == "_":  # a line marker has no face: its colour is its stroke's
            ax.scatter(xs, ys, marker=marker, s=40, color=colour, linewidths=1.6, zorder=5)
            continue
        hollow = kind == "restart-snapshot"
        ax.scatter(
            xs,
            ys,
            marker=marker,
            s=22,
            facecolors="white" if hollow else colour,
            edgecolors=colour if hollow else "white",
            linewidths=1.2 if hollow else 0.5,
            zorder=5,
        )


def _draw_operations(ax: Axes, timeline: Timeline, axis: _Axis, rows: _Rows, labels: _Labels) -> None:
    done = [op for op in timeline.ops if op.end is not None]
    pending = [op for op in timeline.ops if op.end is None]
    boxes = _boxes(
        [op.start * axis.scale for op in done],
        [_end(op, timeline) * axis.scale for op in done],
        [rows.lane_y[op.lane] + 0.18 for op in done],
        LANE_ROW - 0.36,
    )
    _add_boxes(ax, boxes, [OUTCOME_COLOURS[op.outcome] for op in done], 3)
    boxes = _boxes(
        [op.start * axis.scale for op in pending],
        [_end(op, timeline) * axis.scale for op in pending],
        [rows.lane_y[op.lane] + 0.18 for op in pending],
        LANE_ROW - 0.36,
    )
    _add_boxes(
        ax,
        boxes,
        [_faded(OUTCOME_COLOURS["pending"])] * len(pending),
        3,
        edgecolors=OUTCOME_COLOURS["pending"],
        linewidths=0.6,
        hatch="////",
    )
    for op in timeline.ops:
        labels.draw(
            ax,
            op.label,
            op.start * axis.scale,
            _end(op, timeline) * axis.scale,
            rows.lane_y[op.lane] + 0.18,
            LANE_ROW - 0.36,
        )


def _end(op: OpBar, timeline: Timeline) -> int:
    return timeline.end if op.end is None else op.end


def _faded(colour: str) -> str:
    """The colour mixed two parts white to one, for a bar that has not finished."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{(value + 2 * 255) // 3:02x}" for value in (red, green, blue))


def _draw_counterexamples(ax: Axes, timeline: Timeline, axis: _Axis, rows: _Rows) -> None:
    minimum = STUCK_WIDTH_MIN * axis.end
    for colour, ids, width, zorder in (
        (PREFIX_COLOUR, _prefix_tail(timeline), 1.0, 7),
        (COUNTEREXAMPLE_COLOUR, _stuck(timeline), 2.5, 8),
    ):
        ops = [timeline.ops[number] for number in ids]
        starts = [op.start * axis.scale for op in ops]
        ends = [max(_end(op, timeline) * axis.scale, start + minimum) for op, start in zip(ops, starts, strict=True)]
        boxes = _boxes(starts, ends, [rows.lane_y[op.lane] + 0.06 for op in ops], LANE_ROW - 0.12)
        _add_boxes(ax, boxes, ["none"] * len(ops), zorder, edgecolors=colour, linewidths=width)


def _stuck(timeline: Timeline) -> list[int]:
    return sorted({number for example in timeline.counterexamples for number in example.stuck})


def _prefix_tail(timeline: Timeline) -> list[int]:
    stuck = set(_stuck(timeline))
    tail = {number for example in timeline.counterexamples for number in example.prefix[-PREFIX_OUTLINED:]}
    return sorted(tail - stuck)


def _draw_phases(ax: Axes, timeline: Timeline, axis: _Axis) -> None:
    """Dashed lines over the rows (a boundary hidden under a leader span tells nothing),
    named above the plot; phases that begin together share one name."""
    for time, name in _phase_names(timeline):
        x = time * axis.scale
        ax.axvline(x, color=PHASE_COLOUR, linewidth=1, linestyle=(0, (4, 4)), zorder=4)
        at_end = x >= 0.97 * axis.end
        ax.text(
            x,
            1.0,
            name if at_end else f" {name}",
            transform=ax.get_xaxis_transform(),
            fontsize=7,
            color="#37474f",
            va="bottom",
            ha="right" if at_end else "left",
            parse_math=False,
            clip_on=False,
        )


def _phase_names(timeline: Timeline) -> list[tuple[int, str]]:
    names: dict[int, list[str]] = {}
    for name, time in timeline.phases:
        names.setdefault(time, []).append(name)
    return [(time, " / ".join(names[time])) for time in sorted(names)]


def _draw_markers(ax: Axes, timeline: Timeline, axis: _Axis, total: float) -> None:
    if not timeline.markers:
        return
    times = [cause.time for cause in timeline.causes] or [marker.time for marker in timeline.markers]
    xs = sorted({time * axis.scale for time in times})
    ax.vlines(xs, 0, total, colors=COUNTEREXAMPLE_COLOUR, linewidths=1.0, alpha=0.7, zorder=4)
    ax.scatter(xs, [0.0] * len(xs), marker="v", s=45, color=COUNTEREXAMPLE_COLOUR, zorder=9, clip_on=False)


def _draw_row_names(ax: Axes, timeline: Timeline, rows: _Rows) -> None:
    names: list[tuple[float, float, str]] = []
    if rows.fault_rows:
        names.append((rows.fault_y[0], FAULT_ROW, "faults"))
    names += [(rows.node_y[node], NODE_ROW, f"node {node}") for node in timeline.nodes]
    lanes = [(rows.lane_y[lane], LANE_ROW, lane) for lane in timeline.lanes]
    step = max(1, -(-len(lanes) // ROW_LABELS_MAX))
    names += lanes[::step]
    for y, height, name in names:
        ax.text(
            -0.006,
            y + height / 2,
            name,
            transform=ax.get_yaxis_transform(),
            fontsize=8,
            ha="right",
            va="center",
            parse_math=False,
            clip_on=False,
        )


def _legend(figure: Figure, timeline: Timeline, height_in: float, list_in: float = 0.0) -> None:
    handles: list[Patch | Line2D] = [Patch(facecolor=OUTCOME_COLOURS[o], label=o) for o in OUTCOMES if o != "pending"]
    handles.append(
        Patch(
            facecolor=_faded(OUTCOME_COLOURS["pending"]),
            edgecolor=OUTCOME_COLOURS["pending"],
            hatch="////",
            label="pending",
        )
    )
    if timeline.nodes:
        handles += [Patch(facecolor=NODE_STATE_COLOURS[state], label=state) for state in timeline.states_shown()]
        handles.append(Line2D([], [], marker="v", color="black", linestyle="none", label="elected (term)"))
        if timeline.marks_of("snapshot"):
            handles.append(
                Line2D(
                    [], [], marker="|", color=LANE_MARK_COLOURS["snapshot"], linestyle="none", label="snapshot taken"
                )
            )
        for kind, (marker, words) in MARK_STYLES.items():
            if timeline.marks_of(kind):
                hollow = kind == "restart-snapshot"
                handles.append(
                    Line2D(
                        [],
                        [],
                        marker=marker,
                        linestyle="none",
                        color=LANE_MARK_COLOURS[kind],
                        markerfacecolor="white" if hollow else LANE_MARK_COLOURS[kind],
                        label=words,
                    )
                )
    for kind in sorted({fault.kind for fault in timeline.faults}):
        handles.append(Patch(facecolor=fault_colour(kind), label=f"{kind} fault"))
    if timeline.phases:
        handles.append(Line2D([], [], color=PHASE_COLOUR, linestyle=(0, (4, 4)), label="phase"))
    if timeline.counterexamples:
        handles.append(
            Patch(facecolor="none", edgecolor=COUNTEREXAMPLE_COLOUR, linewidth=2.5, label="cannot be linearized")
        )
        handles.append(Patch(facecolor="none", edgecolor=PREFIX_COLOUR, label="last linearizable"))
    if timeline.markers:
        handles.append(Line2D([], [], marker="v", color=COUNTEREXAMPLE_COLOUR, label="anomaly"))
    legend = figure.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, (0.05 + list_in) / height_in),
        ncol=min(len(handles), max(9, -(-len(handles) // 2))),
        fontsize=8,
        frameon=False,
        handlelength=1.6,
    )
    _plain_text(legend.get_texts())


def _plain_text(texts: Iterable[object]) -> None:
    for text in texts:
        text.set_parse_math(False)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------
# latency.png


def _latency(op: OpBar, timeline: Timeline) -> float:
    assert op.end is not None
    if timeline.time_unit == "us":
        return max((op.end - op.start) / 1000, LATENCY_FLOOR_MS)
    return float(max(op.end - op.start, 1))


def _latency_figure(timeline: Timeline) -> Figure:
    axis = _axis(timeline)
    figure = _new_figure(12.0, 6.0)
    ax = figure.add_axes((0.08, 0.2, 0.9, 0.7))
    ax.set_yscale("log")
    ax.set_xlim(0, axis.end)
    ax.set_xlabel(axis.label, fontsize=9)
    unit = "ms" if timeline.time_unit == "us" else "history events"
    ax.set_ylabel(f"latency ({unit}, log scale)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(color="#eceff1", linewidth=0.6, zorder=0)
    _latency_faults(ax, timeline, axis)
    _draw_phases(ax, timeline, axis)
    handles = _latency_points(ax, timeline, axis)
    done = sum(1 for op in timeline.ops if op.end is not None)
    pending = len(timeline.ops) - done
    title = f"{timeline.title}: latency of {plural(done, 'operation')}"
    if pending:
        title += f" ({pending} pending, not drawn)"
    figure.text(0.5, 0.965, title, ha="center", va="center", fontsize=11, parse_math=False)
    for kind in sorted({fault.kind for fault in timeline.faults}):
        handles.append(Patch(facecolor=fault_colour(kind), alpha=0.5, label=f"{kind} fault"))
    if handles:
        legend = figure.legend(
            handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False
        )
        _plain_text(legend.get_texts())
    return figure


def _latency_faults(ax: Axes, timeline: Timeline, axis: _Axis) -> None:
    faults = timeline.faults
    if not faults:
        return
    boxes = _boxes(
        [f.start * axis.scale for f in faults], [f.end * axis.scale for f in faults], [0.0] * len(faults), 1.0
    )
    colours = [fault_colour(f.kind) for f in faults]
    ax.add_collection(
        PolyCollection(
            _polygons(boxes),
            facecolors=colours,
            edgecolors="none",
            alpha=0.35,
            zorder=0.5,
            transform=ax.get_xaxis_transform(),
        ),
        autolim=False,
    )


FillStyle = Literal["full", "left", "right", "bottom", "top", "none"]
OUTCOME_FILLS: dict[str, FillStyle] = {"ok": "full", "info": "bottom", "fail": "none"}
"""Outcome by fill: ok solid, info (unknown) half, fail hollow; colour is the type."""
TYPES_DRAWN_MAX = 12
"""Operation types given their own style; the rest share the last."""


def _latency_points(ax: Axes, timeline: Timeline, axis: _Axis) -> list[Patch | Line2D]:
    handles: list[Patch | Line2D] = []
    done = [op for op in timeline.ops if op.end is not None]
    styles = operation_styles([op.f for op in done][:100_000])
    kinds = sorted(styles)[:TYPES_DRAWN_MAX]
    for kind in kinds:
        colour, marker = styles[kind]
        count = 0
        for outcome in ("ok", "info", "fail"):
            ops = [op for op in done if op.f == kind and op.outcome == outcome]
            count += len(ops)
            if ops:
                ax.plot(
                    [op.start * axis.scale for op in ops],
                    [_latency(op, timeline) for op in ops],
                    linestyle="none",
                    marker=marker,
                    markersize=3.2,
                    color=colour,
                    fillstyle=OUTCOME_FILLS[outcome],
                    markerfacecoloralt="white",
                    markeredgewidth=0.6,
                    zorder=3,
                )
        handles.append(Line2D([], [], marker=marker, color=colour, linestyle="none", label=f"{kind} ({count})"))
    for outcome in ("ok", "info", "fail"):
        count = sum(1 for op in done if op.outcome == outcome)
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                color="#546e7a",
                linestyle="none",
                fillstyle=OUTCOME_FILLS[outcome],
                markerfacecoloralt="white",
                label=f"{outcome} ({count})",
            )
        )
    stuck = [timeline.ops[number] for number in _stuck(timeline) if timeline.ops[number].end is not None]
    if stuck:
        ax.scatter(
            [op.start * axis.scale for op in stuck],
            [_latency(op, timeline) for op in stuck],
            s=90,
            facecolors="none",
            edgecolors=COUNTEREXAMPLE_COLOUR,
            linewidths=2,
            zorder=4,
        )
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                markerfacecolor="none",
                color=COUNTEREXAMPLE_COLOUR,
                linestyle="none",
                label="cannot be linearized",
            )
        )
    if not done:
        ax.set_ylim(0.1, 10)  # a log axis with no data has no range of its own
    return handles


# ---------------------------------------------------------------------------------------
# rate.png


RATE_BINS_MAX = 400
"""At most this many bins across a run: one second each, wider for a longer run."""


def _rate_bin(timeline: Timeline) -> tuple[int, str]:
    """The bin width on the timeline's axis and how the y axis names it."""
    if timeline.time_unit == "us":
        seconds = max(1, -(-max(timeline.end, 1) // (RATE_BINS_MAX * 1_000_000)))
        return seconds * 1_000_000, "per second" if seconds == 1 else f"per {seconds} s"
    width = max(1, -(-max(timeline.end, 1) // 100))
    return width, f"per {width} history events"


def _rate_figure(timeline: Timeline) -> Figure:
    """Completions per bin by outcome, Jepsen's rate plot: a fault shows as a dip in ok
    and a rise in fail or info inside its shaded band."""
    axis = _axis(timeline)
    figure = _new_figure(12.0, 6.0)
    ax = figure.add_axes((0.08, 0.2, 0.9, 0.7))
    ax.set_xlim(0, axis.end)
    ax.set_xlabel(axis.label, fontsize=9)
    width, per = _rate_bin(timeline)
    ax.set_ylabel(f"operations completed {per}", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(color="#eceff1", linewidth=0.6, zorder=0)
    _latency_faults(ax, timeline, axis)
    _draw_phases(ax, timeline, axis)
    bins = max(1, -(-max(timeline.end, 1) // width))
    edges = np.arange(bins + 1, dtype=float) * width * axis.scale
    handles: list[Patch | Line2D] = []
    highest = 0
    for outcome in ("ok", "info", "fail"):
        counts = np.zeros(bins, dtype=int)
        for op in timeline.ops:
            if op.outcome == outcome and op.end is not None:
                counts[min(bins - 1, op.end // width)] += 1
        highest = max(highest, int(counts.max(initial=0)))
        ax.stairs(counts, edges, color=OUTCOME_COLOURS[outcome], linewidth=1.4, zorder=3, baseline=None)
        handles.append(
            Line2D([], [], color=OUTCOME_COLOURS[outcome], linewidth=2, label=f"{outcome} ({int(counts.sum())})")
        )
    ax.set_ylim(0, max(1, highest) * 1.1)
    causes = sorted({cause.time * axis.scale for cause in timeline.causes})
    if causes:
        # Where each cause of an anomaly happened, as on the timeline.
        ax.vlines(
            causes,
            0,
            1,
            transform=ax.get_xaxis_transform(),
            colors=COUNTEREXAMPLE_COLOUR,
            linewidths=1.0,
            alpha=0.8,
            zorder=4,
        )
        handles.append(
            Line2D([], [], color=COUNTEREXAMPLE_COLOUR, label=plural(len(causes), "cause") + " of anomalies")
        )
    figure.text(
        0.5,
        0.965,
        f"{timeline.title}: operations completed {per}, by outcome",
        ha="center",
        va="center",
        fontsize=11,
        parse_math=False,
    )
    for kind in sorted({fault.kind for fault in timeline.faults}):
        handles.append(Patch(facecolor=fault_colour(kind), alpha=0.5, label=f"{kind} fault"))
    legend = figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False)
    _plain_text(legend.get_texts())
    return figure


__all__ = [
    "PNG_FILES",
    "fault_tag",
    "pack_faults",
    "write_latency_png",
    "write_pngs",
    "write_rate_png",
    "write_timeline_png",
]
