"""The `raftsim` command.

Exit codes: 0 every check passed, 1 an anomaly was found, 2 bad input or usage, 3 a checker
ran out of budget. Bad input of any kind prints one line naming what and where, never a
traceback.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from checkers.errors import InputError

EXIT_OK, EXIT_ANOMALY, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3

console = Console(highlight=False)


def exit_code(valid: bool | str) -> int:
    if valid is True:
        return EXIT_OK
    if valid is False:
        return EXIT_ANOMALY
    return EXIT_UNKNOWN


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Deterministic simulation testing for a Raft key-value store."""


@cli.command()
def scenarios() -> None:
    """List the built-in scenarios."""
    from scenarios import loader

    table = Table("scenario", "purpose", box=None)
    for name in loader.builtin_names():
        table.add_row(name, loader.load(name).description)
    console.print(table)


@cli.command()
def bugs() -> None:
    """List the planted bugs that --bug can turn on."""
    from raftcore.bugs import BUGS

    table = Table("bug", "what goes wrong", box=None)
    for name in sorted(BUGS):
        table.add_row(name, BUGS[name])
    console.print(table)


@cli.command()
@click.argument("scenario")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Seed of the run (default: the scenario's).")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: runs/SCENARIO-SEED).")
@click.option("--bug", "bug_names", multiple=True, help="Turn on a planted bug (see `raftsim bugs`); repeatable.")
@click.option("--budget", type=click.FloatRange(min=0.001), default=60.0, show_default=True,
              help="Seconds the linearizability checker may spend before answering unknown.")
@click.option("--no-report", is_flag=True, help="Write no report.html or PNGs (the run is faster).")
def run(scenario: str, seed: int | None, out: Path | None, bug_names: tuple[str, ...], budget: float,
        no_report: bool) -> None:
    """Run SCENARIO (a built-in name or a .toml file), check it and write its run folder."""
    from raftsim import api

    chosen = _scenario_with_bugs(scenario, seed, bug_names)
    folder = out if out is not None else Path("runs") / f"{chosen.name}-{chosen.seed}"
    outcome = api.run(chosen, folder, budget, report=not no_report)
    print_summary(outcome, folder)
    if not no_report:
        console.print(f" report  {folder / 'report.html'}", soft_wrap=True, markup=False)
    sys.exit(exit_code(outcome.verdict["valid"]))


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
def replay(folder: Path) -> None:
    """Re-run a run folder from its scenario.toml and compare digests (0 equal, 1 differ)."""
    from raftsim import api

    same, recorded, replayed, _result = api.replay(folder)
    if same:
        console.print(f"[green]identical[/] digest {replayed}")
        sys.exit(EXIT_OK)
    console.print(f"[red]DIFFERENT[/] recorded {recorded} replayed {replayed}")
    sys.exit(EXIT_ANOMALY)


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--terminal", is_flag=True, help="Print verdicts, leaders and the counterexample here; write no file.")
@click.option("--messages", type=click.Choice(("auto", "trace", "replay", "none")), default="auto",
              show_default=True, help="Where the message diagram's messages come from: the trace, a replay "
              "with message tracing (checked against the digest), the trace if it has any else a replay, "
              "or nowhere.")
@click.option("--window", default=None, help="The message diagram's window in simulated seconds, START:END "
              "(default: around the first anomaly).")
@click.option("--no-png", is_flag=True, help="Write report.html only.")
def report(folder: Path, terminal: bool, messages: str, window: str | None, no_png: bool) -> None:
    """Write FOLDER/report.html, timeline.png and latency.png for a run folder; exit with the run's verdict."""
    from raftsim import report as reporting

    focus = _parse_window(window) if window else None
    if terminal:
        timeline, _note = reporting.build_timeline(folder, "trace" if messages == "auto" else messages)
        reporting.print_terminal(timeline, console)
        sys.exit(exit_code(timeline.valid))
    written = reporting.write_reports(folder, messages, png=not no_png, focus=focus)
    for path in written.files:
        console.print(f" wrote  {path}", soft_wrap=True, markup=False)
    console.print(f" {written.messages_note}", soft_wrap=True, markup=False)
    sys.exit(exit_code(written.timeline.valid))


def _parse_window(text: str) -> tuple[int, int]:
    start, colon, end = text.partition(":")
    try:
        window = (round(float(start) * 1e6), round(float(end) * 1e6))
    except ValueError:
        window = (0, -1)
    if not colon or window[0] < 0 or window[1] <= window[0]:
        raise InputError("--window", None, None, f"expected START:END in seconds with START < END, got {text!r}")
    return window


HISTORY_FORMATS = ("auto", "jsonl", "edn", "porcupine-log", "porcupine-kv")
CHECK_MODELS = ("register", "cas-register", "kv", "multi-register", "mutex")


@cli.command()
@click.argument("history", type=click.Path(path_type=Path))
@click.option("--model", required=True, help=f"One of: {', '.join(CHECK_MODELS)}.")
@click.option("--format", "history_format", type=click.Choice(HISTORY_FORMATS), default="auto",
              show_default=True, help="The history's format; auto tells them apart by content.")
@click.option("--initial", default=None,
              help="Initial state: an integer for registers, a map such as '{:x 0 :y 0}' for "
              "multi-register, a string for kv, locked/unlocked for mutex.")
@click.option("--budget", type=click.FloatRange(min=0.001), default=60.0, show_default=True,
              help="Seconds before the search gives up with unknown (exit 3).")
@click.option("--first", is_flag=True, help="Stop at the first key found not linearizable.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), default=None,
              help="Also write an HTML timeline of the history and its verdict to this file.")
def check(history: Path, model: str, history_format: str, initial: str | None, budget: float,
          first: bool, as_json: bool, report_path: Path | None) -> None:
    """Check a history file for linearizability."""
    from checkers.linearizability import format_result

    if report_path is not None and not report_path.parent.resolve().is_dir():
        raise InputError("--report", None, None, f"{report_path.parent} is not a folder")
    operations, result, checked_model = check_history(history, model, history_format, initial, budget, first)
    if report_path is not None:
        from reports.html import write_html
        from reports.timeline import timeline_from_operations

        timeline = timeline_from_operations(operations, result.to_json(), str(history), model,
                                            checked_model.describe_op)
        write_html(timeline, report_path)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        console.print(format_result(result))
    sys.exit(exit_code(result.valid))


def check_history(history: Path, model_name: str, history_format: str, initial_text: str | None,
                  budget_s: float, first: bool) -> Any:
    """Build the model (flags first, so a bad flag is reported before the file is read),
    read the history against it, and search. Every mistake is an InputError."""
    from checkers.formats import read_operations
    from checkers.linearizability import check_operations
    from checkers.models import get_model, parse_initial

    try:
        get_model(model_name)
    except ValueError as error:
        raise InputError("--model", None, None, str(error)) from None
    try:
        initial = None if initial_text is None else parse_initial(model_name, initial_text)
        model = get_model(model_name, initial)
    except ValueError as error:
        raise InputError("--initial", None, None, str(error)) from None
    if not history.is_file():
        raise InputError(str(history), None, None, "no such file")
    operations = read_operations(history, history_format, model)
    try:
        return operations, check_operations(operations, model, budget_s=budget_s, first=first), model
    except ValueError as error:  # the readers check every call first; kept as a backstop
        raise InputError(str(history), None, "f", str(error)) from None


@cli.command()
@click.argument("scenario")
@click.option("--seeds", "count", type=click.IntRange(min=1), required=True, help="How many seeds to run.")
@click.option("--start", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True, help="First seed.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Fuzz folder (default: fuzz/SCENARIO).")
@click.option("--bug", "bug_names", multiple=True, help="Turn on a planted bug; repeatable.")
@click.option("--shard", default=None, help="i/n: run only every n-th seed of the range, from the i-th.")
@click.option("--recheck", type=click.FloatRange(0.0, 1.0), default=0.05, show_default=True,
              help="Share of seeds run twice to compare digests.")
@click.option("--budget", type=click.FloatRange(min=0.001), default=60.0, show_default=True,
              help="Seconds the linearizability checker may spend per seed.")
@click.option("--no-report", is_flag=True, help="Keep failing seeds' folders without report.html and PNGs.")
def fuzz(scenario: str, count: int, start: int, jobs: int | None, out: Path | None, bug_names: tuple[str, ...],
         shard: str | None, recheck: float, budget: float, no_report: bool) -> None:
    """Run many seeds of SCENARIO in parallel; keep the folders of failing seeds."""
    from raftsim import fuzz as fuzzing

    chosen = _scenario_with_bugs(scenario, None, bug_names)
    plan = fuzzing.FuzzPlan(
        scenario=chosen,
        seeds=fuzzing.shard_seeds(start, count, fuzzing.parse_shard(shard) if shard else None),
        out=out if out is not None else Path("fuzz") / chosen.name,
        jobs=jobs or fuzzing.default_jobs(),
        recheck_share=recheck,
        budget_s=budget,
        reports=not no_report,
    )
    results = fuzzing.prepare(plan)
    began, ran = time.perf_counter(), 0
    try:
        with _progress() as progress:
            bar = progress.add_task(chosen.name, total=len(plan.seeds), completed=len(results))
            for result in fuzzing.execute(plan, results):
                fuzzing.record(plan, result)
                results[result.seed] = result
                ran += 1
                progress.update(bar, advance=1, description=f"{chosen.name}  {_failures(results)} failed")
    except KeyboardInterrupt:
        fuzzing.summarise(plan, results, time.perf_counter() - began, ran)
        console.print(f"interrupted after {len(results)} of {len(plan.seeds)} seeds; the same command resumes")
        sys.exit(130)
    summary = fuzzing.summarise(plan, results, time.perf_counter() - began, ran)
    print_fuzz_summary(summary, plan.out)
    if summary["failed"] or summary["determinism_failures"]:
        sys.exit(EXIT_ANOMALY)
    sys.exit(EXIT_UNKNOWN if summary["unknown"] else EXIT_OK)


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where to write the shrunk run (default: FOLDER-shrunk).")
@click.option("--attempts", type=click.IntRange(min=1), default=200, show_default=True, help="Most runs to try.")
@click.option("--budget", type=click.FloatRange(min=0.001), default=60.0, show_default=True,
              help="Seconds the linearizability checker may spend per attempt.")
@click.option("--no-report", is_flag=True, help="Write the shrunk run without report.html and PNGs.")
def shrink(folder: Path, out: Path | None, attempts: int, budget: float, no_report: bool) -> None:
    """Find a smaller fault schedule that fails the same checker as the run in FOLDER."""
    from raftsim import api
    from raftsim import shrink as shrinking

    target = out if out is not None else folder.parent / f"{folder.name}-shrunk"
    with console.status("shrinking…") as status:
        def report(tries: int, size: shrinking.Size) -> None:
            status.update(f"shrinking: attempt {tries}, now {size.describe()}")

        result = shrinking.shrink(folder, budget, attempts, report)
    outcome = api.run(result.shrunk, target, budget, report=not no_report)
    before, after = shrinking.Size.of(result.original), shrinking.Size.of(result.shrunk)
    console.print(f"still fails {', '.join(sorted(result.checkers))} after {result.attempts} attempts")
    console.print(f"  before: {before.describe()}")
    console.print(f"  after:  {after.describe()}")
    print_summary(outcome, target)
    sys.exit(exit_code(outcome.verdict["valid"]))


def _scenario_with_bugs(scenario: str, seed: int | None, bug_names: tuple[str, ...]) -> Any:
    from raftcore.bugs import validate_bugs
    from scenarios import loader

    chosen = loader.load(scenario)
    try:
        enabled = validate_bugs(bug_names)
    except ValueError as error:
        raise InputError("--bug", None, None, str(error)) from None
    return dataclasses.replace(
        chosen,
        seed=chosen.seed if seed is None else seed,
        bugs=tuple(sorted(set(chosen.bugs) | enabled)),
    )


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=False)


def _failures(results: dict[int, Any]) -> int:
    return sum(1 for result in results.values() if result.valid is False)


def print_fuzz_summary(summary: dict[str, Any], folder: Path) -> None:
    table = Table(title=f"fuzz {summary['scenario']}", box=None, show_header=False)
    table.add_row("seeds", f"{summary['finished']} of {summary['seeds']}")
    table.add_row("failed", _seed_list(summary["failed"]))
    for checker, count in summary["anomalies_by_checker"].items():
        table.add_row(f"  {checker}", str(count))
    table.add_row("unknown", _seed_list(summary["unknown"]))
    differed = summary["determinism_failures"]
    table.add_row("determinism", f"{summary['rechecked']} rechecked, digests differed for {_seed_list(differed)}")
    table.add_row("seeds/minute", str(summary["seeds_per_minute"]))
    console.print(table)
    console.print(f" folder  {folder}", soft_wrap=True, markup=False)


def _seed_list(seeds: list[int]) -> str:
    if not seeds:
        return "0"
    shown = ", ".join(map(str, seeds[:10]))
    return f"{len(seeds)}: {shown}" + (" …" if len(seeds) > 10 else "")


def print_summary(outcome: Any, folder: Path) -> None:
    result, verdict = outcome.result, outcome.verdict
    stats = result.stats
    history_counts = {kind: stats[f"operations_{kind}"] for kind in ("ok", "fail", "info")
                      if stats[f"operations_{kind}"]}
    leaders = _leaders_by_term(result.trace_text)
    table = Table(title=f"{result.scenario.name}  seed {result.scenario.seed}", box=None, show_header=False)
    table.add_row("operations", ", ".join(f"{n} {kind}" for kind, n in history_counts.items()) or "none")
    table.add_row("faults", str(stats["faults"]))
    table.add_row("simulated", f"{stats['simulated_us'] / 1e6:.1f} s, {stats['messages_sent']} messages")
    table.add_row("leaders", _describe_leaders(leaders))
    for name, checked in verdict["checkers"].items():
        table.add_row(name, _styled(checked["valid"]) + _first_anomaly(checked))
    table.add_row("verdict", _styled(verdict["valid"]))
    console.print(table)
    # Printed whole, never folded or cut, so they can be copied from any terminal.
    console.print(f" digest  {verdict['digest']}", soft_wrap=True)
    console.print(f" replay  raftsim replay {folder}", soft_wrap=True, markup=False)


def _leaders_by_term(trace_text: str) -> dict[int, list[int]]:
    leaders: dict[int, list[int]] = defaultdict(list)
    for line in trace_text.splitlines():
        if '"role":"leader"' in line:
            event = json.loads(line)
            if event["node"] not in leaders[event["term"]]:
                leaders[event["term"]].append(event["node"])
    return dict(sorted(leaders.items()))


def _describe_leaders(leaders: dict[int, list[int]]) -> str:
    if not leaders:
        return "none elected"
    shown = [f"t{term}:{'/'.join(map(str, nodes))}" for term, nodes in leaders.items()]
    if len(shown) > 12:
        shown = [*shown[:6], "…", *shown[-5:]]
    return f"{len(leaders)} terms with a leader  " + " ".join(shown)


def _styled(valid: bool | str) -> str:
    if valid is True:
        return "[green]valid[/]"
    if valid is False:
        return "[red bold]ANOMALY[/]"
    return "[yellow]unknown[/]"


def _first_anomaly(checked: dict[str, Any]) -> str:
    anomalies = checked.get("anomalies") or []
    if anomalies:
        first = anomalies[0]
        return f"  {first.get('phase') or ''} {first.get('message', '')}".replace("   ", "  ").rstrip()
    for partition in checked.get("partitions", []):
        if partition.get("valid") is False:
            return f"  key {partition.get('key')!s} not linearizable"
    return ""


def main(argv: list[str] | None = None) -> None:
    """Entry point: turns usage and input errors into one line and exit status 2."""
    try:
        cli.main(args=argv, prog_name="raftsim", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as error:
        click.echo(error.ctx.get_help() if error.ctx else "", err=True)
        sys.exit(EXIT_USAGE)
    except click.UsageError as error:
        click.echo(f"raftsim: {error.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
    except InputError as error:
        click.echo(f"raftsim: {error}", err=True)
        sys.exit(EXIT_USAGE)
    except click.exceptions.Abort:
        click.echo("raftsim: interrupted", err=True)
        sys.exit(130)
    sys.exit(EXIT_OK)
