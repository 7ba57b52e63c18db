"""The `raftsim` command.

Exit codes: 0 every check passed, 1 an anomaly was found, 2 bad input or usage, 3 a checker
ran out of budget, 70 an internal error (a bug of raftsim: one line, the traceback saved to a
file), 130 interrupted. Bad input of any kind prints one line naming what and where, never a
traceback, and nothing is left half-written.

Everything a user or an input file provides (scenario names, keys, values, paths) is printed
as plain text: the console never parses markup or emoji, styles are attached to `Text`
objects, and the output streams replace what they cannot encode (a lone surrogate in a key)
instead of failing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shlex
import stat
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from checkers.errors import InputError
from checkers.verdict import RUN_SUMMARY, CheckerResult, RunVerdict, Verdict

EXIT_OK, EXIT_ANOMALY, EXIT_UNKNOWN = (
    verdict.exit_code for verdict in (Verdict.VALID, Verdict.INVALID, Verdict.UNKNOWN)
)
EXIT_USAGE = 2
EXIT_INTERNAL, EXIT_INTERRUPTED = 70, 130
MAX_SEED = 2**63 - 1
MAX_SECONDS = 10_000_000.0
"""Upper bound of every flag in seconds (about 116 days): larger values are mistakes, and
deadlines computed from them must stay finite."""
JOBS_PER_CORE = 4
SEEDS_WITH_COMMANDS = 3
PLAIN_PROGRESS_EVERY_S = 30.0
DEFAULT_COVERAGE_SHARE = 0.02
DEFAULT_SHRINK_ATTEMPTS = 60
"""Runs a campaign spends shrinking each new failure signature (`raftsim shrink` takes 200:
a campaign shrinks to describe, a person shrinks to read)."""
"""A measured seed's simulation takes about three times as long: 2% of seeds (and the first)
costs a campaign about 4% more time."""
UNREACHED_SHOWN_PER_FILE = 12

console = Console(highlight=False, markup=False, emoji=False)
_current_input: ContextVar[str | None] = ContextVar("raftsim_input", default=None)

_EXITS = {
    "all": "Exit codes: 0 valid, 1 anomaly, 2 bad input or usage, 3 unknown (a checker ran out of budget), "
    "70 internal error (a bug: one line, the traceback saved to a file), 130 interrupted; each command's "
    "--help says what they mean for it.",
    "list": "Exit codes: 0 done, 2 bad input, 70 internal error.",
    "run": "Exit codes: 0 valid, 1 anomaly, 2 bad input, 3 unknown (a checker ran out of budget), "
    "70 internal error, 130 interrupted.",
    "fuzz": "Exit codes: 0 every seed passed, 1 a seed failed or a determinism re-check differed, "
    "2 bad input, 3 unknowns only, 70 internal error, 130 interrupted (the same command resumes).",
    "shrink": "Exit codes: 1 the shrunk run fails (as it should), 0 or 3 it no longer does, 2 bad input "
    "or a run with no anomaly, 70 internal error, 130 interrupted.",
    "report": "Exit codes: the run's verdict (0 valid, 1 anomaly, 3 unknown), 2 bad input, 70 internal error, "
    "130 interrupted.",
    "backup": "Exit codes: 0 written, 2 bad input (no such node, the node down then, not a run folder; nothing "
    "written), 70 internal error, 130 interrupted.",
    "replay": "Exit codes: 0 identical digest, 1 different, 2 bad input, 70 internal error, 130 interrupted.",
    "campaign": "Exit codes: 0 no seed failed, 1 seeds failed (the summary groups them by signature), 2 bad input "
    "(not a campaign store, stores of different campaigns, a merge target that exists), 70 internal error, "
    "130 interrupted.",
    "check": "Exit codes: 0 linearizable (revisions consistent), 1 not, 2 bad input, 3 unknown (out of budget), "
    "70 internal error, 130 interrupted.",
}


class FiniteFloat(click.FloatRange):
    """A float flag that refuses nan and infinities by name: nan passes every range
    comparison, and an infinite budget or window is never what was meant."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


def _budget_option(help_text: str) -> Any:
    return click.option(
        "--budget", type=FiniteFloat(min=0.001, max=MAX_SECONDS), default=60.0, show_default=True, help=help_text
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=_EXITS["all"])
@click.version_option(package_name="raftsim", prog_name="raftsim", message="%(prog)s %(version)s")
def cli() -> None:
    """Deterministic simulation testing for a Raft key-value store."""


@cli.command(epilog=_EXITS["list"])
@click.option(
    "--show",
    metavar="NAME",
    default=None,
    help="Print the built-in scenario NAME's TOML text. Its [workload] table holds the settings every kind "
    "shares (README, scenario format); a kind may add settings of its own, declared and documented in its "
    "module workloads/KIND.py and listed by `raftsim scenarios`.",
)
def scenarios(show: str | None) -> None:
    """List the built-in scenarios, or print one of them; then the settings a workload
    kind adds to the [workload] table, for each kind that declares some."""
    from importlib import resources

    from scenarios import loader

    if show is not None:
        if show not in loader.builtin_names():
            raise InputError("--show", None, None, f"unknown scenario {show!r}; {loader.unknown_builtin(show)}")
        click.echo((resources.files("scenarios") / "builtin" / f"{show}.toml").read_text("utf-8"), nl=False)
        sys.exit(EXIT_OK)
    table = Table("scenario", "purpose", box=None)
    for name in loader.builtin_names():
        table.add_row(name, loader.load(name).description)
    console.print(table)
    _print_workload_options()


def _print_workload_options() -> None:
    """The settings each workload kind declares for itself, from the declarations (a kind
    that declares none, like `register`, adds no line)."""
    import workloads

    for kind, workload in workloads.discover().items():
        for option in workload.options:
            if option.choices:
                allowed = " | ".join(option.choices)
            elif option.kind is bool:
                allowed = "true | false"
            else:
                allowed = f"{option.low} to {option.high}"
            click.echo(
                f"[workload] kind = {kind!r}: {option.name} ({allowed}, default {option.default!r}): {option.help}"
            )


@cli.command(epilog=_EXITS["list"])
def bugs() -> None:
    """List the planted bugs that --bug can turn on."""
    from raftcore.bugs import BUGS

    table = Table("bug", "what goes wrong", box=None)
    for name in sorted(BUGS):
        table.add_row(name, BUGS[name])
    console.print(table)


def _target_options(command: Any) -> Any:
    """`--target`, `--etcd` and `--members`, the same for `run` and `fuzz`."""
    command = click.option(
        "--members",
        type=click.IntRange(1, 5),
        default=None,
        help="With --target etcd: the cluster's members, 1, 3 or 5 (default: the scenario's nodes).",
    )(command)
    command = click.option(
        "--etcd", "etcd_path", help="With --target etcd: the etcd binary (default: etcd on the PATH)."
    )(command)
    return click.option(
        "--target",
        type=click.Choice(("sim", "etcd")),
        default="sim",
        show_default=True,
        help="What is attacked: the simulated cluster, or a real etcd cluster started on loopback.",
    )(command)


def _chosen_target(
    target: str, etcd_path: str | None, members: int | None, scenario: Any, bugs: tuple[str, ...]
) -> Any:
    """The real cluster to attack (`targets.etcd.run.EtcdTarget`), or None for the simulator;
    flags that only mean something for a real cluster are refused without one."""
    if target == "sim":
        if etcd_path is not None or members is not None:
            raise InputError("--etcd" if etcd_path is not None else "--members", None, None, "needs --target etcd")
        return None
    if bugs:
        raise InputError("--bug", None, None, "planted bugs are the simulator's; a real etcd has its own")
    from targets.etcd.run import EtcdTarget, find_etcd

    return EtcdTarget(find_etcd(etcd_path), members if members is not None else scenario.cluster.nodes)


@cli.command(epilog=_EXITS["run"])
@click.argument("scenario")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), help="Seed of the run (default: the scenario's).")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: runs/SCENARIO-SEED).")
@click.option("--bug", "bug_names", multiple=True, help="Turn on a planted bug (see `raftsim bugs`); repeatable.")
@_budget_option("Seconds the linearizability checker may spend before answering unknown.")
@click.option("--no-report", is_flag=True, help="Write no report.html or PNGs (the run is faster).")
@_target_options
def run(
    scenario: str,
    seed: int | None,
    out: Path | None,
    bug_names: tuple[str, ...],
    budget: float,
    no_report: bool,
    target: str,
    etcd_path: str | None,
    members: int | None,
) -> None:
    """Run SCENARIO (a built-in name or a .toml file), check it and write its run folder."""
    from raftsim import api

    _current_input.set(scenario)
    if target == "sim" and (etcd_path is not None or members is not None):
        _chosen_target(target, etcd_path, members, None, bug_names)
    chosen = _scenario_with_bugs(scenario, seed, bug_names)
    chosen_target = _chosen_target(target, etcd_path, members, chosen, bug_names)
    folder = out if out is not None else Path("runs") / f"{chosen.name}-{chosen.seed}"
    check_run_destination(folder)
    if chosen_target is not None:
        outcome = api.run_on_etcd(chosen, chosen_target, folder, budget, report=not no_report)
    else:
        outcome = api.run(chosen, folder, budget, report=not no_report)
    print_summary(outcome, folder)
    if not no_report:
        console.print(f" html    {folder / 'report.html'}", soft_wrap=True)
    sys.exit(outcome.verdict.verdict.exit_code)


@cli.command(epilog=_EXITS["replay"])
@click.argument("folder", type=click.Path(path_type=Path))
def replay(folder: Path) -> None:
    """Re-run a run folder from its scenario.toml and compare digests (0 equal, 1 differ)."""
    from raftsim import api

    _current_input.set(str(folder))
    from raftsim.run_folder import RunFolder

    if RunFolder(folder).target is not None:
        before, after = api.replay_on_etcd(folder)
        same_verdict = before.verdict is after.verdict and before.failing() == after.failing()
        words = f"recorded {before.verdict.word} {before.failing()} replayed {after.verdict.word} {after.failing()}"
        note = " (a real cluster: verdicts compared, not digests)"
        if same_verdict:
            console.print(Text.assemble(("same verdict", "green"), f" {words}{note}"))
            sys.exit(EXIT_OK)
        console.print(Text.assemble(("DIFFERENT verdict", "red"), f" {words}{note}"))
        sys.exit(EXIT_ANOMALY)
    same, recorded, replayed, _result = api.replay(folder)
    if same:
        console.print(Text.assemble(("identical", "green"), f" digest {replayed}"))
        sys.exit(EXIT_OK)
    console.print(Text.assemble(("DIFFERENT", "red"), f" recorded {recorded} replayed {replayed}"))
    sys.exit(EXIT_ANOMALY)


@cli.command(epilog=_EXITS["backup"])
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--node", "node_id", type=click.IntRange(1, 1_000_000), required=True, help="The member to back up.")
@click.option(
    "--at-ms",
    type=click.IntRange(0, 24 * 3600 * 1000),
    default=None,
    help="Simulated time to take it at, in ms (default: the end of the run).",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The backup file to write (JSON).")
def backup(folder: Path, node_id: int, at_ms: int | None, out: Path) -> None:
    """Replay a run folder up to a moment and write node N's backup: its store as of its applied
    index, as `etcdctl snapshot save` takes one; a scenario's [restore] table starts a cluster from it."""
    from raftsim import api

    _current_input.set(str(folder))
    _refuse_unnamed(out, "--out")
    kind = _existing_kind(out, "--out")
    if kind not in (None, "file"):
        raise InputError(str(out), None, "--out", f"is a {kind}; refusing to overwrite it")
    check_writable_place(out, "--out", create_parents=False)
    taken = api.backup(folder, node_id, at_ms, out)
    snapshot = taken.snapshot
    at = f"at {taken.t_us // 1000} ms: index {snapshot.index}, term {snapshot.term}"
    console.print(Text(f"backup of node {node_id} {at} -> {out}"))
    sys.exit(EXIT_OK)


@cli.command(epilog=_EXITS["report"])
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--terminal", is_flag=True, help="Print verdicts, leaders and the counterexample here; write no file.")
@click.option(
    "--messages",
    type=click.Choice(("auto", "trace", "replay", "none")),
    default="auto",
    show_default=True,
    help="Where the message diagram's messages come from: the trace, a replay "
    "with message tracing (checked against the digest), the trace if it has any else a replay, "
    "or nowhere.",
)
@click.option(
    "--window",
    default=None,
    help="The message diagram's window in simulated seconds, START:END (default: around the first anomaly).",
)
@click.option("--no-png", is_flag=True, help="Write report.html only.")
def report(folder: Path, terminal: bool, messages: str, window: str | None, no_png: bool) -> None:
    """Write FOLDER/report.html, timeline.png, latency.png and rate.png for a run folder; exit with the
    run's verdict."""
    from raftsim import report as reporting
    from raftsim.run_folder import RunFolder

    _current_input.set(str(folder))
    focus = parse_window(window) if window is not None else None
    if terminal:
        timeline, _note = reporting.build_timeline(RunFolder(folder), "trace" if messages == "auto" else messages)
        reporting.print_terminal(timeline, console)
        sys.exit(timeline.verdict.exit_code)
    written = reporting.write_reports(RunFolder(folder), messages, png=not no_png, focus=focus)
    for path in written.files:
        console.print(f" wrote  {path}", soft_wrap=True)
    console.print(f" {written.messages_note}", soft_wrap=True)
    sys.exit(written.timeline.verdict.exit_code)


def parse_window(text: str) -> tuple[int, int]:
    """START:END in simulated seconds, as whole microseconds; both finite, 0 <= START < END."""
    start_text, colon, end_text = text.partition(":")
    try:
        start, end = float(start_text), float(end_text)
    except ValueError:
        start = end = math.nan
    finite = math.isfinite(start) and math.isfinite(end) and 0 <= start < end <= MAX_SECONDS
    window = (round(start * 1e6), round(end * 1e6)) if finite else (0, 0)
    if not colon or window[1] <= window[0]:
        raise InputError(
            "--window",
            None,
            None,
            f"expected START:END in seconds with 0 <= START < END <= {MAX_SECONDS:.0f}, got {text!r}",
        )
    return window


HISTORY_FORMATS = ("auto", "jsonl", "edn", "porcupine-log", "porcupine-kv")
CHECK_MODELS = ("register", "cas-register", "kv", "list-append", "multi-register", "mutex", "etcd")
CHECKERS = ("linearizability", "revisions")


@cli.command(epilog=_EXITS["check"])
@click.argument("history", type=click.Path(path_type=Path))
@click.option("--model", required=True, help=f"One of: {', '.join(CHECK_MODELS)}.")
@click.option(
    "--format",
    "history_format",
    type=click.Choice(HISTORY_FORMATS),
    default="auto",
    show_default=True,
    help="The history's format; auto tells them apart by content.",
)
@click.option(
    "--initial",
    default=None,
    help="Initial state: an integer for registers, a map such as '{:x 0 :y 0}' for "
    "multi-register, a string for kv, locked/unlocked for mutex.",
)
@_budget_option("Seconds the whole check (reading included) may take before it answers unknown (exit 3).")
@click.option("--first", is_flag=True, help="Stop at the first key found not linearizable.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write an HTML timeline of the history and its verdict to this file.",
)
@click.option(
    "--checker",
    type=click.Choice(CHECKERS),
    default="linearizability",
    show_default=True,
    help="linearizability against --model, or revisions: the revisions a history.jsonl reports "
    "(etcd's kvs too), its f values read as --model names them (--initial, --first, --budget "
    "and --report apply to linearizability only).",
)
def check(
    history: Path,
    model: str,
    history_format: str,
    initial: str | None,
    budget: float,
    first: bool,
    as_json: bool,
    report_path: Path | None,
    checker: str,
) -> None:
    """Check a history file for linearizability (or its revisions)."""
    from reports.linearizability_view import format_result

    _current_input.set(str(history))
    if checker == "revisions":
        check_revisions_of(history, model, history_format, as_json)
    if report_path is not None:
        check_report_destination(report_path, history)
    read, result, checked_model = check_history(history, model, history_format, initial, budget, first)
    if report_path is not None and read is not None:
        from reports.html import write_html
        from reports.timeline import timeline_from_operations

        timeline = timeline_from_operations(
            read.operations,
            result.checker_result(),
            str(history),
            model,
            checked_model.describe_op,
            faults=read.faults,
        )
        write_html(timeline, report_path)
        # With --json, stdout holds the one JSON object and nothing else.
        Console(stderr=as_json, highlight=False, markup=False, emoji=False).print(
            f" wrote  {report_path}", soft_wrap=True
        )
    elif report_path is not None:
        click.echo(f"raftsim: {report_path}: not written, the budget ran out while reading the history", err=True)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        console.print(format_result(result))
    sys.exit(result.verdict.exit_code)


def check_revisions_of(history: Path, model_name: str, history_format: str, as_json: bool) -> None:
    """`raftsim check --checker revisions`: the revisions checker on a history.jsonl, whose
    `f` values are read as the model names them; exits with the verdict's code."""
    from checkers.formats import detect_format
    from checkers.history import FUNCTIONS, read_history_jsonl
    from checkers.revisions import check_revisions

    model = _model_from_flags(model_name, None)
    chosen = detect_format(history) if history_format == "auto" else history_format
    if chosen != "jsonl":
        raise InputError(
            str(history), None, "--format", f"the revisions checker reads history.jsonl only, not {chosen}"
        )
    events = read_history_jsonl(history, functions=frozenset(FUNCTIONS) | model.functions, model=model)
    result = check_revisions(events)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        words = {Verdict.VALID: "consistent", Verdict.INVALID: "NOT consistent", Verdict.UNKNOWN: "unknown"}
        counted = (result.stats or {}).get("operations_with_revision", 0)
        console.print(
            f"revisions: {words[result.verdict]}, {counted} operations with a revision",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
        for anomaly in result.found:
            line = f"  {anomaly['property']}: line {anomaly['line']}: {anomaly['message']}"
            console.print(line, soft_wrap=True, markup=False, highlight=False)
    sys.exit(result.verdict.exit_code)


def check_history(
    history: Path, model_name: str, history_format: str, initial_text: str | None, budget_s: float, first: bool
) -> Any:
    """Build the model (flags first, so a bad flag is reported before the file is read),
    read the history against it (the readers say what a path is when it is not a regular
    file, without opening a named pipe), and search, all within one budget that starts now.
    Returns (the history read, operations and faults, or None when reading ran out of
    budget; result; model). Only the operations are checked: faults are for the report."""
    from checkers.budget import Budget, OutOfBudget
    from checkers.formats import read_history
    from checkers.linearizability import check_operations, unknown_result

    model = _model_from_flags(model_name, initial_text)
    budget = Budget.starting_now(budget_s)
    try:
        read = read_history(history, history_format, model, budget=budget)
    except OutOfBudget as out:
        return None, unknown_result(model_name, 0, out.cause, budget.elapsed_ms()), model
    try:
        return read, check_operations(read.operations, model, first=first, budget=budget), model
    except ValueError as error:  # the readers check every call first; kept as a backstop
        raise InputError(str(history), None, "f", str(error)) from None


def _model_from_flags(model_name: str, initial_text: str | None) -> Any:
    from checkers.models import get_model, parse_initial

    try:
        get_model(model_name)
    except ValueError as error:
        raise InputError("--model", None, None, str(error)) from None
    try:
        initial = None if initial_text is None else parse_initial(model_name, initial_text)
        return get_model(model_name, initial)
    except ValueError as error:
        raise InputError("--initial", None, None, str(error)) from None


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISFIFO(mode):
        return "is a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device"
    if stat.S_ISSOCK(mode):
        return "is a socket"
    return "is not a regular file"


# Destinations are checked before any work, so that a run never fails after its simulation.


def _existing_kind(path: Path, flag: str) -> str | None:
    """None if nothing is at `path`, else what is there ("folder", "file", or a kind)."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise InputError(str(path), None, flag, f"cannot use this path: {error.strerror or error}") from None
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else _kind_of(mode)


def check_writable_place(path: Path, flag: str, create_parents: bool) -> None:
    """The folder that will hold `path` exists (or can be made, with `create_parents`) and
    accepts new entries. Probed by creating and removing an empty folder in it."""
    parent = path.absolute().parent
    while _existing_kind(parent, flag) is None and parent != parent.parent:
        if not create_parents:
            raise InputError(str(path), None, flag, f"folder {path.parent} does not exist")
        parent = parent.parent
    if _existing_kind(parent, flag) != "folder":
        raise InputError(str(path), None, flag, f"{parent} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".raftsim-probe-", dir=parent))
    except OSError as error:
        raise InputError(str(path), None, flag, f"cannot write in {parent}: {error.strerror or error}") from None


def _refuse_unnamed(path: Path, flag: str) -> None:
    """`.`, `..`, `/` and the empty path name a folder that exists for other reasons: the
    current one, or one of its parents. Writing a result there would replace it."""
    if path.name in ("", ".", ".."):
        raise InputError(str(path), None, flag, "names no new file or folder; give a name such as runs/mine")


def check_run_destination(folder: Path, flag: str = "--out") -> None:
    from raftsim.run_folder import is_run_folder

    _refuse_unnamed(folder, flag)
    kind = _existing_kind(folder, flag)
    if kind is not None and (kind != "folder" or not is_run_folder(folder)):
        raise InputError(str(folder), None, flag, f"exists and is not a run folder ({kind}); refusing to overwrite it")
    check_writable_place(folder, flag, create_parents=True)


def check_fuzz_destination(folder: Path) -> None:
    """Whether the folder's contents belong to a fuzz run is for `fuzz.prepare` to say; here,
    only that it can be a folder at all."""
    _refuse_unnamed(folder, "--out")
    kind = _existing_kind(folder, "--out")
    if kind is not None and kind != "folder":
        raise InputError(str(folder), None, "--out", f"exists and is not a folder ({kind})")
    check_writable_place(folder, "--out", create_parents=True)


def check_report_destination(path: Path, history: Path) -> None:
    _refuse_unnamed(path, "--report")
    kind = _existing_kind(path, "--report")
    if kind is not None and kind != "file":
        raise InputError(
            str(path),
            None,
            "--report",
            f"{'is a directory' if kind == 'folder' else kind}; give the name of an HTML file",
        )
    if kind == "file" and _existing_kind(history, "--report") == "file" and path.samefile(history):
        raise InputError(str(path), None, "--report", "is the history being checked; refusing to overwrite it")
    check_writable_place(path, "--report", create_parents=False)


@cli.command(epilog=_EXITS["fuzz"])
@click.argument("scenario")
@click.option("--seeds", "count", type=click.IntRange(min=1), required=True, help="How many seeds to run.")
@click.option("--start", type=click.IntRange(0, MAX_SEED), default=0, show_default=True, help="First seed.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help=f"Worker processes (default: all cores; at most {JOBS_PER_CORE} per core, never more than seeds).",
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Fuzz folder (default: fuzz/SCENARIO).")
@click.option("--bug", "bug_names", multiple=True, help="Turn on a planted bug; repeatable.")
@click.option("--shard", default=None, help="i/n: run only every n-th seed of the range, from the i-th.")
@click.option(
    "--recheck",
    type=FiniteFloat(0.0, 1.0),
    default=0.05,
    show_default=True,
    help="Share of seeds run twice to compare digests (at least one seed per campaign).",
)
@click.option(
    "--coverage",
    "coverage_share",
    type=FiniteFloat(0.0, 1.0),
    default=DEFAULT_COVERAGE_SHARE,
    show_default=True,
    help="Share of seeds whose simulation is measured for raftcore's branch coverage (and the first seed).",
)
@click.option(
    "--adapt",
    "adapt_round_seeds",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Swarm only: after every this many seeds, shift the swarm weights towards rare events (0: never).",
)
@click.option("--stop-at-first", is_flag=True, help="End the campaign at the first failing seed it runs (exit 1).")
@_budget_option("Seconds the linearizability checker may spend per seed.")
@click.option("--no-report", is_flag=True, help="Keep failing seeds' folders without report.html and PNGs.")
@click.option(
    "--cluster",
    default=None,
    help="Run the seeds on Dask: local[:WORKERS] starts a LocalCluster (default WORKERS: --jobs), "
    "tcp://HOST:PORT uses a running scheduler.",
)
@click.option(
    "--store",
    "store_path",
    type=click.Path(path_type=Path),
    default=None,
    help="The campaign's SQLite store (default: campaign.db in the fuzz folder).",
)
@click.option(
    "--shrink-attempts",
    type=click.IntRange(min=0),
    default=DEFAULT_SHRINK_ATTEMPTS,
    show_default=True,
    help="Runs to shrink each new failure signature's first seed with at the end (0: no shrinking).",
)
@_target_options
def fuzz(
    scenario: str,
    count: int,
    start: int,
    jobs: int | None,
    out: Path | None,
    bug_names: tuple[str, ...],
    shard: str | None,
    recheck: float,
    coverage_share: float,
    adapt_round_seeds: int,
    stop_at_first: bool,
    budget: float,
    no_report: bool,
    cluster: str | None,
    store_path: Path | None,
    shrink_attempts: int,
    target: str,
    etcd_path: str | None,
    members: int | None,
) -> None:
    """Run many seeds of SCENARIO in parallel; keep the folders of failing seeds."""
    from raftsim import fuzz as fuzzing

    _current_input.set(scenario)
    if start + count - 1 > MAX_SEED:
        raise InputError(
            "--seeds", None, None, f"seeds {start}..{start + count - 1} go past the largest seed, 2^63-1 = {MAX_SEED}"
        )
    workers = _workers(jobs, fuzzing.default_jobs()) if cluster is None else jobs or fuzzing.default_jobs()
    sharding = fuzzing.parse_shard(shard) if shard is not None else None
    if cluster is not None:
        from raftsim import cluster as clustering

        clustering.parse(cluster, workers)  # refused now, before any folder is made
        if target != "sim":
            raise InputError("--cluster", None, None, "a real etcd target runs on this machine, not on a Dask cluster")
    if target == "sim" and (etcd_path is not None or members is not None):
        _chosen_target(target, etcd_path, members, None, bug_names)
    chosen = _scenario_with_bugs(scenario, None, bug_names)
    chosen_target = _chosen_target(target, etcd_path, members, chosen, bug_names)
    if chosen_target is not None:
        from targets.etcd.run import prepared

        prepared(chosen, chosen_target)  # refused now, not once per seed
        recheck = coverage_share = 0.0  # a real run has no digest to recheck, no raftcore to measure
        if jobs is None:
            workers = 1  # one cluster at a time unless asked: each member is a process of its own
    folder = out if out is not None else Path("fuzz") / chosen.name
    check_fuzz_destination(folder)
    plan = fuzzing.FuzzPlan(
        scenario=chosen,
        seeds=fuzzing.shard_seeds(start, count, sharding),
        out=folder,
        jobs=workers,
        recheck_share=recheck,
        budget_s=budget,
        reports=not no_report,
        coverage_share=coverage_share,
        adapt_round_seeds=adapt_round_seeds,
        target=chosen_target,
        cluster=cluster,
        store=store_path,
        shrink_attempts=0 if chosen_target is not None else shrink_attempts,
    )
    if store_path is not None:
        _refuse_unnamed(store_path, "--store")
        if _existing_kind(store_path, "--store") not in (None, "file"):
            raise InputError(str(store_path), None, "--store", "exists and is not a file")
    results = fuzzing.prepare(plan)
    sys.exit(_run_campaign(fuzzing, plan, results, stop_at_first))


@cli.command(epilog=_EXITS["campaign"])
@click.argument("arguments", nargs=-1, required=True, metavar="DB | merge OUT DB...")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def campaign(arguments: tuple[str, ...], as_json: bool) -> None:
    """Summarise a campaign store (seeds, seeds per minute overall and per worker, failures
    by signature with the commands to replay, report and shrink each); or, as `merge OUT
    DB...`, combine the stores of a campaign's shards into a new store OUT."""
    from raftsim import store

    if arguments[0] == "merge":
        if len(arguments) < 3:
            raise InputError("merge", None, None, "usage: raftsim campaign merge OUT DB...")
        out, sources = Path(arguments[1]), [Path(name) for name in arguments[2:]]
        _current_input.set(str(out))
        seeds, signatures = store.merge(out, sources)
        console.print(
            f"merged {_plural(len(sources), 'store')} into {out}: {_plural(seeds, 'seed')}, "
            f"{_plural(signatures, 'signature')}",
            soft_wrap=True,
        )
        sys.exit(EXIT_OK)
    if len(arguments) != 1:
        raise InputError(arguments[1], None, None, "one store at a time; `merge OUT DB...` combines several")
    path = Path(arguments[0])
    _current_input.set(str(path))
    with store.CampaignStore(path, create=False) as opened:
        summary = store.summary(opened)
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
    else:
        _print_campaign(summary, path)
    sys.exit(EXIT_ANOMALY if summary.failed else EXIT_OK)


def _print_campaign(summary: Any, path: Path) -> None:
    table = Table(title=f"campaign {summary.scenario} ({path})", box=None, show_header=False)
    table.add_row("seeds", str(summary.seeds))
    table.add_row("failed", str(summary.failed))
    table.add_row("unknown", str(summary.unknown))
    if summary.errors:
        table.add_row("harness errors", str(summary.errors))
    if summary.determinism_failures:
        table.add_row("determinism", f"digests differed for {_seed_list(list(summary.determinism_failures))}")
    table.add_row("seeds/minute", str(summary.seeds_per_minute))
    for name, count, rate in summary.workers:
        table.add_row(f"  {name}", f"{_plural(count, 'seed')}, {rate} seeds/minute")
    console.print(table)
    for group in summary.groups:
        signature = group.signature
        console.print(
            f" {signature.describe()}: {_plural(len(group.seeds), 'seed')}, smallest {group.seeds[0]}", soft_wrap=True
        )
        if signature.shrunk_folder:
            console.print(f"   shrunk    {signature.shrunk_folder}", soft_wrap=True)
        elif signature.note:
            console.print(f"   not shrunk: {signature.note}", soft_wrap=True)
        if group.folder:
            _print_next_commands(Path(group.folder), failed=True)


def _workers(jobs: int | None, cores: int) -> int:
    if jobs is None:
        return cores
    if jobs > cores * JOBS_PER_CORE:
        raise InputError(
            "--jobs", None, None, f"{jobs} is too many for {_plural(cores, 'core')}; at most {cores * JOBS_PER_CORE}"
        )
    return jobs


def _run_campaign(fuzzing: Any, plan: Any, results: dict[int, Any], stop_at_first: bool = False) -> int:
    """Run the seeds left, recording each; with `stop_at_first`, end at the first failing seed
    that finishes (with several workers, the first observed, not necessarily the lowest: the
    seeds still running are abandoned and run again when the same command resumes)."""
    began, ran, stopped_at = time.perf_counter(), 0, None
    opened = fuzzing.open_store(plan)
    try:
        with _FuzzProgress(plan.scenario.name, len(plan.seeds), len(results)) as progress:
            campaign = fuzzing.execute(plan, results)
            for result in campaign:
                results[result.seed] = fuzzing.record(plan, result, opened)
                ran += 1
                progress.advance(_failures(results))
                if stop_at_first and (result.verdict is Verdict.INVALID or result.determinism_failure):
                    stopped_at = result.seed
                    campaign.close()  # stops the workers
                    break
        summary = fuzzing.summarise(plan, results, time.perf_counter() - began, ran, stopped_at)
        if any(signature.status == "pending" for signature in opened.signatures()):
            with console.status("shrinking the first seed of each new failure signature…"):
                fuzzing.shrink_signatures(plan, opened)
        print_fuzz_summary(summary, plan.out)
        _print_signatures(opened, plan.out)
    except KeyboardInterrupt:
        fuzzing.summarise(plan, results, time.perf_counter() - began, ran)
        console.print(
            f"interrupted after {len(results)} of {_plural(len(plan.seeds), 'seed')}; the same command resumes",
            soft_wrap=True,
        )
        return EXIT_INTERRUPTED
    finally:
        opened.close()
    if summary["failed"] or summary["determinism_failures"]:
        return EXIT_ANOMALY
    return EXIT_UNKNOWN if summary["unknown"] else EXIT_OK


class _FuzzProgress:
    """A progress bar on a terminal; elsewhere (CI logs) a plain line every few seeds or
    every 30 s, so a long campaign shows it is alive without filling the log."""

    def __init__(self, name: str, total: int, done: int) -> None:
        self.name, self.total, self.done = name, total, done
        self.every = max(1, total // 20)
        self.began = self.last_line = time.monotonic()
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _FuzzProgress:
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(self.name, total=self.total, completed=self.done)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def advance(self, failed: int) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(self.task, advance=1, description=f"{self.name}  {failed} failed")
            return
        now = time.monotonic()
        if self.done % self.every == 0 or self.done == self.total or now - self.last_line >= PLAIN_PROGRESS_EVERY_S:
            self.last_line = now
            console.print(
                f"fuzz {self.name}: {self.done} of {_plural(self.total, 'seed')} done, {failed} failed, "
                f"{now - self.began:.0f} s",
                soft_wrap=True,
            )


@cli.command(epilog=_EXITS["shrink"])
@click.argument("folder", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the shrunk run (default: FOLDER-shrunk).",
)
@click.option("--attempts", type=click.IntRange(1, 1_000_000), default=200, show_default=True, help="Most runs to try.")
@_budget_option("Seconds the linearizability checker may spend per attempt.")
@click.option("--no-report", is_flag=True, help="Write the shrunk run without report.html and PNGs.")
def shrink(folder: Path, out: Path | None, attempts: int, budget: float, no_report: bool) -> None:
    """Find a smaller fault schedule that fails the same checker as the run in FOLDER."""
    from raftsim import api
    from raftsim import shrink as shrinking

    _current_input.set(str(folder))
    from raftsim.run_folder import RunFolder

    if _is_real_run(folder) and RunFolder(folder).target is not None:
        raise InputError(
            str(folder), None, None, "a real cluster's run does not fail the same way twice; shrink needs the simulator"
        )
    target = out if out is not None else folder.parent / f"{folder.name}-shrunk"
    check_run_destination(target)
    with console.status("shrinking…") as status:

        def report(tries: int, size: Any) -> None:
            status.update(f"shrinking: attempt {tries}, now {describe_size(size)}")

        result = shrinking.shrink(folder, budget, attempts, report)
    outcome = api.keep(result.outcome.result, target, budget, report=not no_report)
    failing = sorted(outcome.verdict.failing())
    attempts_text = _plural(result.attempts, "attempt")
    console.print(
        f"still fails {', '.join(failing)} after {attempts_text}"
        if failing
        else f"the shrunk run fails no checker after {attempts_text}",
        soft_wrap=True,
    )
    console.print(f"  before: {describe_size(result.before)}", soft_wrap=True)
    console.print(f"  after:  {describe_size(result.after)}", soft_wrap=True)
    print_summary(outcome, target)
    sys.exit(outcome.verdict.verdict.exit_code)


def describe_size(size: Any) -> str:
    phases = f"{_seconds(size.quiet_ms / 1000)} quiet" if size.quiet_ms else "no quiet period"
    return (
        f"{_plural(size.faults, 'fault')} ({_seconds(size.fault_ms / 1000)}), "
        f"{_plural(size.operations, 'operation')}, {_seconds(size.duration_ms / 1000)} run, {phases}"
        f"{', final reads' if size.final_reads else ''}, {_plural(size.clients, 'client')}, "
        f"{_plural(size.keys, 'key')}, {size.rate} ops/s"
    )


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


def _failures(results: dict[int, Any]) -> int:
    return sum(1 for result in results.values() if result.verdict is Verdict.INVALID)


# Summaries


def _plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {nouns or noun + 's'}"


def _seconds(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.1f} s"


def _is_real_run(folder: Path) -> bool:
    """Whether `folder` holds a real cluster's run (`target.json`); a path the system cannot
    even look at is not one, and the command reading it says what is wrong with it."""
    try:
        return (folder / "target.json").is_file()
    except OSError:
        return False


def next_commands(folder: Path, failed: bool) -> list[str]:
    """The commands that lead from a run folder to its cause, quoted for a POSIX shell."""
    quoted = shlex.quote(str(folder))
    commands = [f"raftsim replay {quoted}", f"raftsim report {quoted}"]
    real = _is_real_run(folder)  # a real cluster's run: shrinking needs the simulator
    return [*commands, f"raftsim shrink {quoted}"] if failed and not real else commands


def _print_next_commands(folder: Path, failed: bool) -> None:
    for command in next_commands(folder, failed):
        # Printed whole, never folded or cut, so they can be copied from any terminal.
        console.print(f" {command.split()[1]:<7} {command}", soft_wrap=True)


def _print_signatures(opened: Any, folder: Path) -> None:
    """The campaign's failures by signature, each with its smallest seed and shrunk run."""
    from raftsim import store

    groups = store.summary(opened).groups
    if not groups:
        return
    console.print(f" signatures  {_plural(len(groups), 'kind')} of failure (raftsim campaign {opened.path})")
    for group in groups:
        signature = group.signature
        line = f"  {signature.describe()}: {_plural(len(group.seeds), 'seed')}, smallest {group.seeds[0]}"
        if signature.shrunk_folder:
            line += f", shrunk in {signature.shrunk_folder}"
        elif signature.note:
            line += f", not shrunk ({signature.note})"
        console.print(line, soft_wrap=True)


def print_fuzz_summary(summary: dict[str, Any], folder: Path) -> None:
    table = Table(title=f"fuzz {summary['scenario']}", box=None, show_header=False)
    table.add_row("seeds", f"{summary['finished']} of {summary['seeds']}")
    table.add_row("failed", _seed_list(summary["failed"]))
    for checker, count in summary["anomalies_by_checker"].items():
        table.add_row(f"  {checker}", str(count))
    table.add_row("unknown", _seed_list(summary["unknown"]))
    differed = summary["determinism_failures"]
    table.add_row("determinism", f"{summary['rechecked']} rechecked, digests differed for {_seed_list(differed)}")
    if summary.get("crashed"):
        table.add_row("  crashed", _seed_list(summary["crashed"]))
    if summary.get("errors"):
        table.add_row("harness errors", _seed_list([error["seed"] for error in summary["errors"]]))
    table.add_row("seeds/minute", str(summary["seeds_per_minute"]))
    if summary.get("stopped_at_first") is not None:
        table.add_row("stopped", f"at the first failing seed, {summary['stopped_at_first']} (--stop-at-first)")
    _add_event_rows(table, summary)
    console.print(table)
    _print_coverage(summary.get("coverage"))
    console.print(f" folder  {folder}", soft_wrap=True)
    failed = summary["failed"]
    for seed in failed[:SEEDS_WITH_COMMANDS]:
        console.print(f" seed {seed}" + (" (crash)" if seed in summary.get("crashed", ()) else ""), soft_wrap=True)
        _print_next_commands(folder / f"seed-{seed}", failed=True)
    if len(failed) > SEEDS_WITH_COMMANDS:
        more = len(failed) - SEEDS_WITH_COMMANDS
        console.print(
            f" …and {more} more failing {'seed' if more == 1 else 'seeds'}, each in {folder / 'seed-N'}", soft_wrap=True
        )


def _add_event_rows(table: Table, summary: dict[str, Any]) -> None:
    """Seeds reaching each rare event, the unreached ones named together; then the rounds."""
    events = summary.get("events") or {}
    finished = summary["finished"]
    if events:  # none for a real cluster, whose inner events are not seen
        table.add_row("rare events", f"seeds reaching each, of {finished}")
    for name, seeds in events.items():
        if seeds:
            table.add_row(f"  {name}", str(seeds))
    unreached = [name for name, seeds in events.items() if not seeds]
    if unreached:
        table.add_row("  reached by none", ", ".join(unreached))
    from raftsim.adapt import weights_json
    from scenarios.swarm import PLAIN

    plain = weights_json(PLAIN)
    for entry in summary.get("rounds") or ():
        changed = {name: chance for name, chance in entry["weights"].items() if chance != plain.get(name)}
        described = ", ".join(f"{name} {chance}" for name, chance in changed.items()) or "plain"
        table.add_row(f"round {entry['round']}", f"seeds {entry['seeds'][0]}..{entry['seeds'][1]}: {described}")


def _print_coverage(coverage: dict[str, Any] | None) -> None:
    if not coverage:
        return
    if coverage.get("stale_seeds"):
        console.print(
            f" coverage: {_plural(coverage['stale_seeds'], 'measured seed')} left out, measured on raftcore "
            "source other than today's",
            soft_wrap=True,
        )
    if not coverage["seeds"]:
        return
    from raftsim.coverage_sampling import compact

    lines_reached, lines_total = coverage["lines"]
    branches_reached, branches_total = coverage["branches"]
    console.print(
        f" coverage of raftcore over {_plural(coverage['seeds'], 'measured seed')}: "
        f"lines {lines_reached}/{lines_total}, branches {branches_reached}/{branches_total}; reached by no seed:",
        soft_wrap=True,
    )
    files = sorted(set(coverage["unreached_lines"]) | set(coverage["unreached_branches"]))
    for name in files:
        lines = coverage["unreached_lines"].get(name, [])
        branches = coverage["unreached_branches"].get(name, [])
        shown = branches[:UNREACHED_SHOWN_PER_FILE]
        more = f" …{len(branches) - len(shown)} more" if len(branches) > len(shown) else ""
        parts = [f"lines {compact(lines)}" if lines else "", f"branches {' '.join(shown)}{more}" if shown else ""]
        console.print(f"   {name}: " + "; ".join(part for part in parts if part), soft_wrap=True)


def _seed_list(seeds: list[int]) -> str:
    if not seeds:
        return "0"
    shown = ", ".join(map(str, seeds[:10]))
    return f"{len(seeds)}: {shown}" + (" …" if len(seeds) > 10 else "")


def print_summary(outcome: Any, folder: Path) -> None:
    """The run in a few lines, then why it failed (causes first, each stuck operation's
    reason), then the commands to look closer."""
    result, verdict = outcome.result, outcome.verdict
    stats = result.stats
    history_counts = {
        kind: stats[f"operations_{kind}"] for kind in ("ok", "fail", "info") if stats[f"operations_{kind}"]
    }
    leaders = _leaders_by_term(outcome.loaded.trace)
    table = Table(title=f"{result.scenario.name}  seed {result.scenario.seed}", box=None, show_header=False)
    table.add_row("operations", ", ".join(f"{n} {kind}" for kind, n in history_counts.items()) or "none")
    table.add_row("faults", str(stats["faults"]))
    if "simulated_us" in stats:
        simulated = f"{_seconds(stats['simulated_us'] / 1e6)}, {_plural(stats['messages_sent'], 'message')}"
        table.add_row("simulated", simulated)
    else:
        table.add_row("real", f"{_seconds(stats['wall_s'])} on a real etcd cluster (not replayable byte for byte)")
    table.add_row("leaders", _describe_leaders(leaders))
    for name, checked in verdict.checkers.items():
        table.add_row(name, Text.assemble(_verdict_text(checked.verdict), _checker_detail(checked)))
    for name, why in verdict.not_judged.items():
        table.add_row(name, Text.assemble(("not judged", "dim"), f"  {why}"))
    table.add_row("verdict", _verdict_text(verdict.verdict))
    console.print(table)
    for line in why_it_failed(verdict):
        console.print(f" {line}", soft_wrap=True)
    console.print(f" digest  {verdict.digest}", soft_wrap=True)
    _print_next_commands(folder, failed=verdict.verdict is Verdict.INVALID)


def _leaders_by_term(trace: Iterable[Mapping[str, Any]]) -> dict[int, list[int]]:
    leaders: dict[int, list[int]] = defaultdict(list)
    for event in trace:
        if event["ev"] != "role" or event["role"] != "leader":
            continue
        if event["node"] not in leaders[event["term"]]:
            leaders[event["term"]].append(event["node"])
    return dict(sorted(leaders.items()))


def _describe_leaders(leaders: dict[int, list[int]]) -> str:
    if not leaders:
        return "none elected"
    shown = [f"t{term}:{'/'.join(map(str, nodes))}" for term, nodes in leaders.items()]
    if len(shown) > 12:
        shown = [*shown[:6], "…", *shown[-5:]]
    return f"{_plural(len(leaders), 'term')} with a leader  " + " ".join(shown)


def _verdict_text(verdict: Verdict) -> Text:
    return Text(RUN_SUMMARY.word(verdict), style=RUN_SUMMARY.style(verdict))


def _checker_detail(checked: CheckerResult) -> str:
    """One line beside a checker's verdict: its first cause, else its first anomaly, else
    the keys that are not linearizable, else why it is unknown."""
    groups = checked.groups or ()
    anomalies = checked.found
    if groups:
        # Every anomaly is counted in its group, while only the first few are kept in full.
        counts = [group.get("count") for group in groups]
        whole = [count for count in counts if isinstance(count, int)]
        total = sum(whole) if len(whole) == len(counts) else len(anomalies)
        stats = checked.stats or {}
        raw_total = stats.get("groups_total")
        group_total = raw_total if isinstance(raw_total, int) else len(groups)
        return f"  {_plural(total, 'anomaly', 'anomalies')} from {_plural(group_total, 'cause')} (below)"
    if anomalies:
        first = anomalies[0]
        more = f" (and {len(anomalies) - 1} more)" if len(anomalies) > 1 else ""
        return f"  {first.get('phase') or ''} {first.get('message', '')}".replace("   ", "  ").rstrip() + more
    illegal = checked.partitions_with(Verdict.INVALID)
    if illegal:
        if [p.get("key") for p in illegal] == [None]:
            return "  not linearizable (one partition: the whole history)"
        return f"  {_plural(len(illegal), 'key')} not linearizable: {', '.join(str(p.get('key')) for p in illegal[:5])}"
    undecided = checked.partitions_with(Verdict.UNKNOWN)
    if undecided or checked.details.get("cause"):
        causes = sorted({str(p.get("cause")) for p in undecided} | {str(checked.details.get("cause"))} - {"None"})
        return f"  {_plural(len(undecided), 'key')} undecided ({', '.join(causes)})"
    return ""


STUCK_SHOWN = 3


def why_it_failed(verdict: RunVerdict) -> list[str]:
    """Lines naming the causes of a failure: each checker's groups of anomalies (first cause
    first), then the operations of the first counterexample that cannot be linearized, each
    with its explanation or, failing that, its reason."""
    lines: list[str] = []
    for name, checked in verdict.checkers.items():
        for group in (checked.groups or ())[:STUCK_SHOWN]:
            count = group.get("count")
            effects = f" [{_plural(count, 'anomaly', 'anomalies')}]" if isinstance(count, int) else ""
            lines.append(f"cause   {name}: {group.get('cause', '')}{effects}")
    linear = verdict.checkers.get("linearizability")
    for partition in linear.partitions_with(Verdict.INVALID) if linear is not None else ():
        example = partition.get("counterexample")
        if not example:
            continue
        for op in example.get("operations", [])[:STUCK_SHOWN]:
            text = op.get("explanation") or (
                f"key {partition.get('key')}: {op.get('description', '')}: {op.get('reason') or 'cannot be placed'}"
            )
            lines.append(f"stuck   {text}")
        break
    return lines


# The front door


def _tolerant_streams() -> None:
    """Whatever is printed reaches the terminal: characters the stream cannot encode (a lone
    surrogate from a file name or a key) are written as backslash escapes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError, TypeError):
                reconfigure(errors="backslashreplace")


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"raftsim: {' '.join(message.split())}", err=True)
    sys.exit(code)


def _where() -> str:
    where = _current_input.get()
    return f"{where}: " if where else ""


def _internal_error(error: BaseException) -> NoReturn:
    """A bug of raftsim itself: one line, and the traceback kept in a file for the report."""
    try:
        descriptor, name = tempfile.mkstemp(prefix="raftsim-traceback-", suffix=".txt")
        with os.fdopen(descriptor, "w", encoding="utf-8", errors="backslashreplace") as stream:
            traceback.print_exception(error, file=stream)
        kept = f"traceback in {name}"
    except OSError:
        kept = "traceback not saved"
    detail = str(error).splitlines()[0] if str(error) else ""
    _fail(f"internal error: {type(error).__name__}: {detail[:300]} (please report; {kept})", EXIT_INTERNAL)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: usage and input errors become one line and exit status 2; anything else
    unforeseen becomes one line and exit status 70, never a traceback on the terminal."""
    _tolerant_streams()
    _current_input.set(None)
    try:
        code = cli.main(args=argv, prog_name="raftsim", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as error:
        click.echo(error.ctx.get_help() if error.ctx else "", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as error:
        _fail(error.format_message())
    except InputError as error:
        _fail(str(error))
    except (click.exceptions.Abort, KeyboardInterrupt):
        _fail("interrupted", EXIT_INTERRUPTED)
    except RecursionError:
        _fail(f"{_where()}input nested too deeply")
    except MemoryError:
        _fail(f"{_where()}out of memory: the input is too large")
    except UnicodeError as error:
        _fail(f"{_where()}not valid text: {error}")
    except OSError as error:
        where = f"{error.filename}: " if error.filename is not None else _where()
        _fail(f"{where}{error.strerror or error}")
    except Exception as error:
        _internal_error(error)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
