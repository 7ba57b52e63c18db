"""Write a run folder's reports: `report.html` and the PNGs (`timeline.png`, `latency.png`, `rate.png`).

`reports` draws from files and never runs the simulation; this module is where the two
meet. A message sequence diagram needs the messages, which a run records only when its
scenario asks (`trace_messages`, off by default because it triples the trace). Since a
run is a pure function of its scenario, the messages of any run can be had afterwards by
running it again with message tracing on. The replay is trusted only if its trace,
without the message lines, is byte for byte the recorded one (the same digest); otherwise
the report says so and draws no messages rather than draw someone else's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.errors import InputError
from checkers.trace import TraceEvent
from raftsim.run_folder import RunFolder, split_messages
from reports.html import write_html
from reports.leases import lease_lane_html
from reports.timeline import ParsedRun, Timeline, timeline_from_run
from reports.watch_lanes import write_watch_lanes

MESSAGE_MODES = ("auto", "trace", "replay", "none")


@dataclass(frozen=True, slots=True)
class Written:
    timeline: Timeline
    files: tuple[Path, ...]
    messages_note: str


def replayed_messages(folder: RunFolder) -> tuple[list[TraceEvent] | None, str]:
    """Re-run the folder's scenario with message tracing and return its message events,
    or None and the reason they cannot be trusted."""
    from sim.world import run_scenario

    scenario = folder.scenario
    recorded = folder.digest
    result = run_scenario(dataclasses.replace(scenario, trace_messages=True))
    rest, lines = split_messages(result.trace_text)
    digest = hashlib.sha256(rest.encode("utf-8")).hexdigest()
    if digest != recorded:
        return None, (
            f"a replay with message tracing gave another trace (digest {digest[:12]}, recorded "
            f"{recorded[:12]}); messages are not shown"
        )
    return [json.loads(line) for line in lines], f"messages from a replay that matched digest {recorded[:12]}"


def build_timeline(
    folder: RunFolder,
    messages: str = "auto",
    extra: Iterable[TraceEvent] | None = None,
    focus: tuple[int, int] | None = None,
    shown_folder: Path | None = None,
) -> tuple[Timeline, str]:
    """The run's timeline with messages as `messages` says: `trace` only those recorded,
    `replay` replay for them, `auto` the trace's if it has any else a replay, `none`.
    `shown_folder` is the folder the user will find the run in, when the timeline is drawn
    from a staging folder that is renamed afterwards."""
    if messages not in MESSAGE_MODES:
        raise InputError("--messages", None, None, f"expected one of {', '.join(MESSAGE_MODES)}")
    for name in ("scenario.toml", "history.jsonl", "trace.jsonl"):
        if not (folder.path / name).is_file():
            raise InputError(str(folder.path), None, None, f"not a run folder: {name} is missing")
    note = "messages were not asked for"
    events: Iterable[TraceEvent] | None = extra
    if folder.target is not None and messages in ("auto", "replay"):
        if messages == "replay":
            raise InputError(str(folder.path), None, "--messages", "a real cluster's run has no replay to draw from")
        note = "a real cluster's messages are not recorded"
    elif extra is not None:
        note = "messages recorded during the run"
    elif messages in ("auto", "replay") and not (messages == "auto" and folder.message_lines):
        replayed, note = replayed_messages(folder)
        events = replayed
    elif messages != "none":
        note = "messages from the trace"
    return _timeline_shown_as(folder, events, focus, shown_folder), note


def _timeline_shown_as(
    folder: RunFolder, events: Iterable[TraceEvent] | None, focus: tuple[int, int] | None, shown_folder: Path | None
) -> Timeline:
    """The timeline, naming `shown_folder` (the folder the user will find the run in) in the
    commands it prints."""
    parsed = ParsedRun(folder.history, folder.trace, folder.drawn_verdict)
    return timeline_from_run(folder.path, messages=events, focus=focus, shown_folder=shown_folder, parsed=parsed)


def write_reports(
    loaded: RunFolder,
    messages: str = "auto",
    png: bool = True,
    extra_messages: Iterable[TraceEvent] | None = None,
    focus: tuple[int, int] | None = None,
    shown_folder: Path | None = None,
) -> Written:
    """Write `report.html` (and the PNGs) into a run folder; `shown_folder` is the folder
    the report names in its commands (default `folder`), for reports drawn in a staging
    folder that is renamed once complete."""
    timeline, note = build_timeline(loaded, messages, extra_messages, focus, shown_folder)
    folder = loaded.path
    named = folder if shown_folder is None else shown_folder
    hint = (
        "Run `raftsim report " + str(named) + " --messages replay` to replay the run with message tracing."
        if not timeline.messages_traced
        else note
    )
    files = [folder / "report.html"]
    write_html(timeline, files[0], messages_hint=hint, extra_sections=lease_lane_html(loaded.history, loaded.trace))
    watch_result = loaded.drawn_verdict.checkers.get("watch")
    files += write_watch_lanes(loaded.watch, (watch_result and watch_result.anomalies) or (), folder, timeline.title)
    if png:
        from reports.png import write_pngs

        files += write_pngs(timeline, folder)
    return Written(timeline, tuple(files), note)


def print_terminal(timeline: Timeline, console: Any) -> None:
    from reports.terminal import render_terminal

    render_terminal(timeline, console)
