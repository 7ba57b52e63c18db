"""The terminal view of a linearizability result: one row per key, then each counterexample.

The search (`checkers.linearizability`) decides; this module only draws what it decided,
with rich, for `raftsim check` and anyone printing a `LinearizabilityResult`.
"""

from __future__ import annotations

from collections.abc import Hashable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from checkers.history import Operation
from checkers.linearizability import (
    CAUSE_CACHE_LIMIT,
    CAUSE_MEMORY,
    CAUSE_NOT_CHECKED,
    CAUSE_TIMEOUT,
    Counterexample,
    LinearizabilityResult,
    PartitionResult,
    format_instant,
)
from checkers.verdict import LINEARIZABILITY, Verdict

_PARTITIONS_SHOWN = 20  # beyond this, linearizable partitions are counted, not listed


def format_result(result: LinearizabilityResult) -> RenderableType:
    """A terminal view: one row per partition (only the undecided and illegal ones when
    there are many), then each counterexample.

    Every piece of the history (keys, values, descriptions, reasons) goes in as `Text`,
    never as markup, and through `_printable`, so that whatever a history holds prints
    as itself: `[bold]x` stays literal and a lone surrogate prints backslash-escaped.
    """
    if result.cause is not None:  # ran out before any key could be told apart
        return Text.assemble(
            (f"linearizability ({_printable(result.model)}): ", "bold"),
            (
                f"{_verdict_word(result.verdict)} ({_cause_words(result.cause)} before any key was checked)",
                _verdict_style(result.verdict),
            ),
            f", {_seconds_text(result.ms)}",
        )
    heading = Text.assemble(
        (f"linearizability ({_printable(result.model)}): ", "bold"),
        (_verdict_word(result.verdict), _verdict_style(result.verdict)),
        f", {_count(result.ops, 'operation')}, {_count(len(result.partitions), 'key')}, {_seconds_text(result.ms)}",
    )
    summary = Table()
    for column in ("key", "verdict", "operations", "time", "explored"):
        summary.add_column(column, justify="left" if column in ("key", "verdict") else "right")
    many = len(result.partitions) > _PARTITIONS_SHOWN
    for partition in result.partitions:
        if many and partition.verdict is Verdict.VALID:
            continue
        summary.add_row(
            Text(_key_text(partition.key)),
            _verdict_text(partition),
            str(partition.ops),
            _seconds_text(partition.ms),
            str(partition.explored),
        )
    if many:
        good = [partition for partition in result.partitions if partition.verdict is Verdict.VALID]
        summary.add_row(
            f"{_count(len(good), 'more key')}",
            Text(_verdict_word(Verdict.VALID), style=_verdict_style(Verdict.VALID)),
            str(sum(partition.ops for partition in good)),
            "",
            "",
        )
    parts: list[RenderableType] = [heading, summary]
    for partition in result.partitions:
        if partition.counterexample is not None:
            parts.append(_format_counterexample(partition.key, partition.counterexample))
    return Group(*parts)


_PREFIX_SHOWN = 8  # the end of a long prefix is what explains the state; the rest is noise


def _format_counterexample(key: Hashable, example: Counterexample) -> RenderableType:
    table = Table(
        title=Text(
            f"key {_key_text(key)}: {_verdict_word(Verdict.INVALID)}, no order of the operations explains what was seen"
        ),
        title_justify="left",
    )
    for column in ("", "process", "operation", "called", "returned"):
        table.add_column(column)
    shown = len(example.prefix) - _PREFIX_SHOWN
    if shown > 0:
        table.add_row("", "", Text(f"... {_count(shown, 'earlier operation')}", style="dim"), "", "")
    pairs = list(zip(example.prefix, example.prefix_descriptions, strict=True))
    for op, text in pairs[max(shown, 0) :]:
        table.add_row("placed", str(op.process), Text(_printable(text)), *_interval(op))
    table.add_row("", "", Text(f"state: {_printable(example.state)}", style="bold"), "", "")
    for position, (op, text) in enumerate(zip(example.operations, example.descriptions, strict=True)):
        reason = example.reason(position)
        shown_text = Text(_printable(text))
        if reason is not None:
            shown_text.append(f"\n{_printable(reason)}", style="dim")
        table.add_row(Text("cannot", style="bold red"), str(op.process), shown_text, *_interval(op))
    return table


def _printable(text: str) -> str:
    """`text` as it can be written to any terminal: characters that cannot be encoded (a
    lone surrogate) backslash-escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _seconds_text(ms: float) -> str:
    return f"{ms / 1000:.3f} s"


def _key_text(key: Hashable) -> str:
    return "(the whole history)" if key is None else _printable(str(key))


def _interval(op: Operation) -> tuple[str, str]:
    """When the call and return happened: seconds where the history has times, else the
    positions of the events (`#17`), which order them just as well."""
    called = f"#{op.call}" if op.call_time_us is None else format_instant(op.call_time_us)
    if op.ret is None:
        return called, "never"
    returned = f"#{op.ret}" if op.return_time_us is None else format_instant(op.return_time_us)
    return called, returned


def _cause_words(cause: str) -> str:
    return {
        CAUSE_TIMEOUT: "out of time",
        CAUSE_MEMORY: "out of memory",
        CAUSE_CACHE_LIMIT: "cache limit reached",
        CAUSE_NOT_CHECKED: "not checked",
    }.get(cause, cause)


def _verdict_word(verdict: Verdict) -> str:
    """One vocabulary for the whole history and each key alike (`LINEARIZABILITY`)."""
    return LINEARIZABILITY.word(verdict)


def _verdict_style(verdict: Verdict) -> str:
    return LINEARIZABILITY.style(verdict)


def _verdict_text(partition: PartitionResult) -> Text:
    word = _verdict_word(partition.verdict)
    if partition.verdict is Verdict.UNKNOWN:
        word += f" ({_cause_words(partition.cause or '')})"
    return Text(word, style=_verdict_style(partition.verdict))
