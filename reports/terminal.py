"""A timeline printed in a terminal: verdicts, who led which term, faults, anomalies and
each counterexample, for a person who has a shell and no browser.

The node bars draw each node's states as characters over the console's width, one
character per slice of the run: `L` leader, `C` candidate, `c` pre-candidate, `F`
follower, `p` paused, `x` crashed, `l` learner, `-` removed from the membership, `X`
refused to start on a corrupt disk, blank before a node joined, each slice showing the
state the node spent most of it in. Beneath them, a row of snapshots (`I` one installed, `R` a restart
from one, `.` only taken) and one of membership (`M` a change first applied, `+` a member
joined, `-` one removed), each followed by its list. It is coarse (a 40 s run on 100
columns is 0.4 s a character), which is enough to see who led when and where a fault
struck; the HTML report has the detail.

Everything printed from the timeline is data from a history or trace. It goes to rich
only inside `Text` objects, which rich never parses for markup or emoji, so a key such
as `[bold]x[/]` prints as those characters. Only this module's own fixed words carry
styles.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from checkers.verdict import TERMINAL_REPORT, Verdict
from reports.model import (
    Counterexample,
    Election,
    Marker,
    NodeSpan,
    Tenure,
    Timeline,
    leader_tenures,
    plural,
)
from reports.palette import COUNTEREXAMPLE_COLOUR, FAULT_COLOURS, LANE_MARK_COLOURS, PREFIX_COLOUR

STATE_CHARACTERS = {
    "leader": "L",
    "candidate": "C",
    "pre-candidate": "c",
    "follower": "F",
    "paused": "p",
    "crashed": "x",
    "learner": "l",
    "removed": "-",
    "corrupt": "X",
}
STATE_STYLES = {
    # Terminal styles, not the palette's fills: a near-black "crashed" or a pale
    # "follower" fill would vanish on a dark or a light background respectively.
    "leader": "bold #1e88e5",
    "candidate": "#ffb300",
    "pre-candidate": "#ffb300",
    "follower": "dim",
    "paused": "#8d6e63",
    "crashed": "bold red",
    "learner": "#00897b",
    "removed": "dim",
    "corrupt": "bold green",
}
STATE_PRIORITY = (
    "corrupt",
    "crashed",
    "paused",
    "leader",
    "candidate",
    "pre-candidate",
    "learner",
    "follower",
    "removed",
)
"""Tie-break in a slice where two states held equally long: the rarer, louder one."""
TERMS_SHOWN = 40
"""Terms listed before the middle of a long run is elided."""
ROWS_SHOWN = 50
"""Faults and anomalies listed before the rest are counted, not printed."""
PREFIX_SHOWN = 10
LABEL_WIDTH = 9


def clean(text: str) -> str:
    """Text a terminal can print: a lone surrogate (undecodable bytes a history carried)
    becomes its escape, which any encoding can write, rather than an error."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _t(text: str, style: str = "") -> Text:
    return Text(clean(text), style=style)


def render_terminal(timeline: Timeline, console: Console) -> None:
    """Print the timeline's header, verdicts, terms, node bars, faults, anomalies and
    counterexamples to `console`."""
    sections: list[RenderableType] = [_header(timeline), _verdicts(timeline)]
    if timeline.elections:
        sections.append(_terms(timeline))
    if timeline.nodes or timeline.faults or timeline.markers:
        sections.append(_bars(timeline, console.width))
    if timeline.faults:
        sections.append(_faults(timeline))
    if timeline.membership:
        sections.append(_membership(timeline))
    if timeline.marks_of("snapshot", "snapshot-install", "restart-snapshot", "corrupt", "disk"):
        sections.append(_snapshots(timeline))
    if timeline.causes:
        sections.append(_causes(timeline))
    if timeline.markers:
        sections.append(_markers(timeline))
    sections += [_raft_state(timeline, marker) for marker in [m for m in timeline.markers if m.nodes][:RAFT_SHOWN]]
    for section in sections:
        console.print(section)
        console.print()
    for number, example in enumerate(timeline.counterexamples, start=1):
        _counterexample(timeline, example, number, console)
        console.print()


# ---------------------------------------------------------------------------------------
# Pieces


def _time(timeline: Timeline, value: int) -> str:
    if timeline.time_unit == "us":
        return f"{value / 1e6:.3f} s"
    return f"event {value}"


def _header(timeline: Timeline) -> Table:
    table = Table(
        show_header=False, box=None, padding=(0, 1), title=_t(timeline.title, style="bold"), title_justify="left"
    )
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in timeline.meta:
        table.add_row(_t(name), _t(value))
    table.add_row(_t("operations"), _t(f"{len(timeline.ops):,} in {plural(len(timeline.lanes), 'lane')}"))
    table.add_row(_t("length"), _t(_time(timeline, timeline.end)))
    commands = timeline.commands or ((("replay", timeline.replay),) if timeline.replay else ())
    for purpose, command in commands:
        table.add_row(_t(purpose), _t(command, style="cyan"))
    return table


def _verdict_text(verdict: Verdict) -> Text:
    return _t(TERMINAL_REPORT.word(verdict), style=TERMINAL_REPORT.style(verdict))


def _verdicts(timeline: Timeline) -> RenderableType:
    if not timeline.verdicts:
        return _t("verdict: not checked", style="bold")
    overall = _t("verdict: ", style="bold") + _verdict_text(timeline.verdict)
    table = Table(title=overall, title_justify="left", show_edge=False, header_style="bold")
    table.add_column("checker")
    table.add_column("verdict")
    table.add_column("summary", overflow="fold")
    for line in timeline.verdicts:
        table.add_row(_t(line.checker), _verdict_text(line.verdict), _t(line.summary))
    return table


def leader_terms(timeline: Timeline) -> list[tuple[Election, int]]:
    """Each election with the time its leader stopped leading that term: the end of the
    last leader span the node had in that term (the run's end if it still led)."""
    ends: dict[tuple[int, int], int] = {}
    for span in timeline.spans:
        if span.state == "leader":
            key = (span.node, span.term)
            ends[key] = max(ends.get(key, span.end), span.end)
    ordered = sorted(timeline.elections, key=lambda e: (e.time, e.term, e.node))
    return [
        (election, max(ends.get((election.node, election.term), election.time), election.time)) for election in ordered
    ]


def _terms(timeline: Timeline) -> Table:
    tenures = leader_tenures(timeline)
    table = Table(
        title=_t(f"leaders ({plural(len(tenures), 'election')})"),
        title_justify="left",
        show_edge=False,
        header_style="bold",
    )
    for name in ("term", "leader", "from", "to", "held", "how it ended"):
        table.add_column(name, justify="left" if name == "how it ended" else "right")
    shown: Sequence[Tenure | None] = tenures
    if len(tenures) > TERMS_SHOWN:
        half = TERMS_SHOWN // 2
        shown = [*tenures[:half], None, *tenures[-half:]]
    for row in shown:
        if row is None:
            table.add_row(_t("…"), _t(f"{len(tenures) - TERMS_SHOWN} more"), _t(""), _t(""), _t(""), _t(""))
            continue
        held = (row.end - row.start) / 1e6 if timeline.time_unit == "us" else row.end - row.start
        how = "" if row.how == "run ended" else row.describe(_time(timeline, row.end)).split(" at ")[0]
        table.add_row(
            _t(str(row.term)),
            _t(f"node {row.node}", style=STATE_STYLES["leader"]),
            _t(_time(timeline, row.start)),
            _t(_time(timeline, row.end)),
            _t(f"{held:.3f} s" if timeline.time_unit == "us" else f"{held} events"),
            _t("run ended" if row.how == "run ended" else how),
        )
    return table


# ---------------------------------------------------------------------------------------
# The bars


def _bars(timeline: Timeline, console_width: int) -> Text:
    width = max(10, console_width - LABEL_WIDTH - 1)
    end = max(timeline.end, 1)
    lines = Text()
    per = f"{end / width / 1e6:.3g} s" if timeline.time_unit == "us" else f"{end / width:.3g} events"
    lines.append(_t(f"states over the run, one character per {per}\n", style="bold"))
    for node in timeline.nodes:
        lines.append(f"node {node}".ljust(LABEL_WIDTH)[:LABEL_WIDTH])
        lines.append(node_bar(timeline, node, width))
        lines.append("\n")
    if timeline.faults:
        lines.append("faults".ljust(LABEL_WIDTH))
        lines.append(_fault_bar(timeline, width))
        lines.append("\n")
    snapshots = _snapshot_bar(timeline, width)
    if snapshots is not None:
        lines.append("snapshot".ljust(LABEL_WIDTH))
        lines.append(snapshots, style=LANE_MARK_COLOURS["snapshot-install"])
        lines.append("\n")
    members = _membership_bar(timeline, width)
    if members is not None:
        lines.append("members".ljust(LABEL_WIDTH))
        lines.append(members, style=LANE_MARK_COLOURS["conf-apply"])
        lines.append("\n")
    if timeline.markers:
        lines.append("anomaly".ljust(LABEL_WIDTH))
        lines.append(_marker_bar(timeline, width), style=f"bold {COUNTEREXAMPLE_COLOUR}")
        lines.append("\n")
    left, right = _time(timeline, 0), _time(timeline, timeline.end)
    lines.append(" " * LABEL_WIDTH + left + right.rjust(max(width - len(left), len(right) + 1)), style="dim")
    words = "L leader  C candidate  c pre-candidate  F follower  p paused  x crashed"
    lines.append("\n" + " " * LABEL_WIDTH + words, style="dim")
    states = {span.state for span in timeline.spans}
    lasting = "  ".join(
        text
        for state, text in (("learner", "l learner"), ("removed", "- removed"), ("corrupt", "X corrupt disk"))
        if state in states
    )
    if timeline.marks_of("member-added"):
        lasting += ("  " if lasting else "") + "(blank: not yet a member)"
    if lasting:
        lines.append("\n" + " " * LABEL_WIDTH + lasting, style="dim")
    if snapshots is not None:
        lines.append(
            "\n" + " " * LABEL_WIDTH + "I snapshot installed  R restarted from a snapshot  . snapshot taken",
            style="dim",
        )
    if members is not None:
        lines.append(
            "\n" + " " * LABEL_WIDTH + "M membership change applied  + member joined  - member removed", style="dim"
        )
    return lines


def _column(time: int, width: int, end: int) -> int:
    return min(width - 1, time * width // end)


def _mark_bar(width: int, end: int, marks: list[tuple[int, str]], order: str) -> str:
    """One character per slice: of the marks in it, the one first in `order`."""
    columns = [" "] * width
    for time, character in marks:
        column = _column(time, width, end)
        if columns[column] == " " or order.index(character) < order.index(columns[column]):
            columns[column] = character
    return "".join(columns)


def _snapshot_bar(timeline: Timeline, width: int) -> str | None:
    characters = {"snapshot-install": "I", "restart-snapshot": "R", "snapshot": "."}
    marks = [(mark.time, characters[mark.kind]) for mark in timeline.marks_of(*characters)]
    return _mark_bar(width, max(timeline.end, 1), marks, "IR.") if marks else None


def _membership_bar(timeline: Timeline, width: int) -> str | None:
    """A change where the cluster first applied it (every node applies it, within a few
    milliseconds: one mark says it), and each member joining or removed."""
    marks = [(change.applied, "M") for change in timeline.membership if change.applied is not None]
    marks += [
        (mark.time, "+" if mark.kind == "member-added" else "-")
        for mark in timeline.marks_of("member-added", "member-removed")
    ]
    return _mark_bar(width, max(timeline.end, 1), marks, "-+M") if marks else None


def _slice(column: int, width: int, end: int) -> tuple[int, int]:
    return column * end // width, (column + 1) * end // width


def node_bar(timeline: Timeline, node: int, width: int) -> Text:
    """One character per slice of the run: the state the node held longest in it."""
    end = max(timeline.end, 1)
    spans = sorted((s for s in timeline.spans if s.node == node), key=lambda s: (s.start, s.end))
    bar = Text()
    cursor = 0
    for column in range(width):
        low, high = _slice(column, width, end)
        while cursor < len(spans) and spans[cursor].end <= low:
            cursor += 1
        state = _dominant(spans, cursor, low, high)
        if state is None:
            bar.append(" ")
        else:
            bar.append(STATE_CHARACTERS[state], style=STATE_STYLES[state])
    assert len(bar) == width
    return bar


def _dominant(spans: list[NodeSpan], cursor: int, low: int, high: int) -> str | None:
    high = max(high, low + 1)  # a slice narrower than one time unit shows the state at its start
    held: dict[str, int] = {}
    index = cursor
    while index < len(spans) and spans[index].start < high:
        span = spans[index]
        overlap = min(span.end, high) - max(span.start, low)
        if overlap > 0:
            held[span.state] = held.get(span.state, 0) + overlap
        index += 1
    if not held:
        return None
    return max(held, key=lambda state: (held[state], -STATE_PRIORITY.index(state)))


def _fault_bar(timeline: Timeline, width: int) -> Text:
    end = max(timeline.end, 1)
    bar = Text()
    for column in range(width):
        low, high = _slice(column, width, end)
        active = sorted({f.kind for f in timeline.faults if f.start < max(high, low + 1) and f.end > low})
        if not active:
            bar.append(" ")
        else:
            kind = active[0]
            bar.append("*" if len(active) > 1 else kind[:1], style=FAULT_COLOURS.get(kind, FAULT_COLOURS["other"]))
    return bar


def _marker_bar(timeline: Timeline, width: int) -> str:
    end = max(timeline.end, 1)
    columns = {min(width - 1, marker.time * width // end) for marker in timeline.markers}
    return "".join("!" if column in columns else " " for column in range(width))


# ---------------------------------------------------------------------------------------
# Lists


def _elided(count: int, noun: str) -> Text:
    return _t(f"… and {count - ROWS_SHOWN} more {noun}", style="dim")


def _faults(timeline: Timeline) -> Table:
    table = Table(
        title=_t(plural(len(timeline.faults), "fault")), title_justify="left", show_edge=False, header_style="bold"
    )
    for name, justify in (("#", "right"), ("kind", "left"), ("from", "right"), ("to", "right"), ("fault", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for number, fault in enumerate(timeline.faults[:ROWS_SHOWN], start=1):
        table.add_row(
            _t(f"F{number}"),
            _t(fault.kind),
            _t(_time(timeline, fault.start)),
            _t(_time(timeline, fault.end)),
            _t(fault.label),
        )
    if len(timeline.faults) > ROWS_SHOWN:
        table.caption = _elided(len(timeline.faults), "faults")
    return table


def _ids(nodes: tuple[int, ...]) -> str:
    return " ".join(str(node) for node in nodes) or "none"


def _membership(timeline: Timeline) -> Table:
    table = Table(
        title=_t(plural(len(timeline.membership), "membership change")),
        title_justify="left",
        show_edge=False,
        header_style="bold",
    )
    for name, justify in (
        ("index", "right"),
        ("change", "left"),
        ("proposed", "right"),
        ("by", "left"),
        ("applied", "right"),
        ("voters after", "left"),
        ("learners", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold", no_wrap=name in ("change", "by"))  # type: ignore[arg-type]
    for change in timeline.membership[:ROWS_SHOWN]:
        table.add_row(
            _t(str(change.index)),
            _t(change.change),
            _t("" if change.proposed is None else _time(timeline, change.proposed)),
            _t("" if change.proposer is None else f"{change.proposer} (t{change.term})"),
            _t("never" if change.applied is None else _time(timeline, change.applied)),
            _t(_ids(change.voters)),
            _t(_ids(change.learners)),
        )
    if len(timeline.membership) > ROWS_SHOWN:
        table.caption = _elided(len(timeline.membership), "changes")
    return table


def _snapshots(timeline: Timeline) -> Table:
    """Snapshots taken, counted; installs, restarts from a snapshot and disk faults, listed."""
    taken = len(timeline.marks_of("snapshot")) + timeline.snapshots_uncounted
    rare = timeline.marks_of("snapshot-install", "restart-snapshot", "corrupt", "disk")
    table = Table(
        title=_t("snapshots and disks" + (f" ({plural(taken, 'snapshot')} taken)" if taken else "")),
        title_justify="left",
        show_edge=False,
        header_style="bold",
    )
    table.add_column("at", justify="right")
    table.add_column("node", justify="right")
    table.add_column("what", overflow="fold")
    for mark in rare[:ROWS_SHOWN]:
        table.add_row(_t(_time(timeline, mark.time)), _t(str(mark.node)), _t(mark.label))
    if len(rare) > ROWS_SHOWN:
        table.caption = _elided(len(rare), "events")
    return table


def _causes(timeline: Timeline) -> Table:
    """What went wrong, once per cause, before the list of every effect."""
    table = Table(
        title=_t(f"{plural(len(timeline.causes), 'cause')} of failure", style="bold red"),
        title_justify="left",
        show_edge=False,
        header_style="bold",
    )
    for name, justify in (
        ("#", "right"),
        ("at", "right"),
        ("line", "right"),
        ("checker", "left"),
        ("effects", "right"),
        ("cause", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for number, cause in enumerate(timeline.causes[:ROWS_SHOWN], start=1):
        line = "" if cause.line is None else str(cause.line)
        table.add_row(
            _t(str(number)),
            _t(_time(timeline, cause.time)),
            _t(line),
            _t(f"{cause.checker} {cause.property}"),
            _t(str(cause.count)),
            _t(cause.text),
        )
    if len(timeline.causes) > ROWS_SHOWN:
        table.caption = _elided(len(timeline.causes), "causes")
    return table


RAFT_SHOWN = 3
"""Raft safety anomalies whose node states are printed."""


def _raft_state(timeline: Timeline, marker: Marker) -> Table:
    title = _t(f"each node at {_time(timeline, marker.time)}: {marker.message}", style="bold")
    table = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for name in ("node", "role", "term", "commit", "log", "last entries (index:term:digest, request)"):
        table.add_column(name, overflow="fold")
    for state in marker.nodes:
        entries = " ".join(
            f"{entry.index}:t{entry.term}:{entry.digest[:8]}"
            + (f"({entry.request}, line {entry.line})" if entry.request and entry.line else "")
            for entry in state.tail
        )
        table.add_row(
            _t(str(state.node)),
            _t(state.role),
            _t(str(state.term)),
            _t(str(state.commit)),
            _t(str(state.log_length)),
            _t(entries),
        )
    return table


def _markers(timeline: Timeline) -> Table:
    table = Table(
        title=_t(plural(len(timeline.markers), "anomaly", "anomalies"), style="bold red"),
        title_justify="left",
        show_edge=False,
        header_style="bold",
    )
    table.add_column("at", justify="right")
    table.add_column("line", justify="right")
    table.add_column("checker")
    table.add_column("anomaly", overflow="fold")
    for marker in timeline.markers[:ROWS_SHOWN]:
        table.add_row(
            _t(_time(timeline, marker.time)),
            _t("" if marker.line is None else str(marker.line)),
            _t(marker.checker),
            _t(marker.message),
        )
    if len(timeline.markers) > ROWS_SHOWN:
        table.caption = _elided(len(timeline.markers), "anomalies")
    return table


def _counterexample(timeline: Timeline, example: Counterexample, number: int, console: Console) -> None:
    console.print(
        Text.assemble(
            ("counterexample ", f"bold {COUNTEREXAMPLE_COLOUR}"),
            (str(number), "bold"),
            (": key ", "bold"),
            (clean(example.key), "bold"),
        )
    )
    console.print(_t("these operations cannot be linearized after the longest linearizable prefix:"))
    for op_id in example.stuck:
        op = timeline.ops[op_id]
        console.print(Text.assemble("  ", (clean(op.label), f"bold {COUNTEREXAMPLE_COLOUR}"), f"  ({clean(op.lane)})"))
        why = example.why_of(op_id)
        if why is not None and why.text:
            console.print(Text.assemble("    why: ", (clean(why.text), "italic")))
        if why is not None and why.lines:
            for position, line in enumerate(why.lines):
                by = timeline.ops[why.ruled_out_by[position]].label if position < len(why.ruled_out_by) else ""
                console.print(Text.assemble("    ruled out by: ", (f"line {line}", "bold"), f" {clean(by)}"))
        record = Table(show_header=False, box=None, padding=(0, 1, 0, 4))
        record.add_column(style="dim")
        record.add_column(overflow="fold")
        for name, value in op.record:
            record.add_row(_t(name), _t(value))
        console.print(record)
    explained = {why.text for why in example.why}
    for reason in example.reasons:
        if reason not in explained:
            console.print(Text.assemble("  why: ", (clean(reason), "italic")))
    console.print(_prefix(timeline, example))
    console.print(Text.assemble("model state after the prefix: ", (clean(example.state), "bold")))


def _prefix(timeline: Timeline, example: Counterexample) -> Table:
    total = len(example.prefix)
    shown = example.prefix[-PREFIX_SHOWN:]
    title = _t(f"the last {len(shown)} of {plural(total, 'operation')} of the linearizable prefix, in order")
    table = Table(title=title, title_justify="left", show_edge=False, header_style="bold", title_style=PREFIX_COLOUR)
    table.add_column("#", justify="right")
    table.add_column("operation", overflow="fold")
    table.add_column("lane")
    table.add_column("invoked", justify="right")
    table.add_column("completed", justify="right")
    for position, op_id in enumerate(shown, start=total - len(shown) + 1):
        op = timeline.ops[op_id]
        done = "pending" if op.end is None else _time(timeline, op.end)
        table.add_row(_t(str(position)), _t(op.label), _t(op.lane), _t(_time(timeline, op.start)), _t(done))
    return table


__all__ = ["STATE_CHARACTERS", "leader_terms", "node_bar", "render_terminal"]
