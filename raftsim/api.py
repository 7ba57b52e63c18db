"""The public Python API: run a scenario, judge a run, replay it, check a history.

A run's folder is the contract between the parts; it is written into a staging folder and
moved into place only when complete, so an interrupted or failed run leaves nothing
half-written under the name the user asked for. Replacing an existing folder never deletes
it first: the old folder is renamed aside (`.NAME.old`), the new one renamed in, and only
then is the old one deleted; the next command that writes there finishes or undoes a swap
a kill cut short (see `recover_folder`). Single files that are rewritten in place go
through a temporary file, fsync and `os.replace`, so a reader sees the old bytes or the
new ones, never a prefix.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkers.budget import Budget
from checkers.errors import InputError
from checkers.explain import explain_linearizability
from checkers.history import operations_from_events, read_history_jsonl
from checkers.linearizability import check_operations
from checkers.liveness import check_liveness
from checkers.models import get_model
from checkers.raft_safety import check_raft_safety
from checkers.revisions import check_revisions
from checkers.trace import read_trace_jsonl
from raftsim.run_folder import file_digest, load_run_scenario, require_run_file
from scenarios import loader
from scenarios.model import Scenario
from scenarios.resolve import resolve
from sim.trace import digest_of
from sim.world import Crash, RunResult, run_scenario

DEFAULT_BUDGET_S = 60.0
RUN_FILES = ("scenario.toml", "history.jsonl", "trace.jsonl", "verdict.json", "crash.txt")


@dataclass(frozen=True, slots=True)
class RunOutcome:
    result: RunResult
    verdict: dict[str, Any]
    folder: Path | None


def combine(results: dict[str, dict[str, Any]]) -> bool | str:
    """The top-level verdict: false if any checker found an anomaly, else unknown if any
    ran out of budget, else true."""
    values = [result["valid"] for result in results.values()]
    if any(value is False for value in values):
        return False
    if any(value == "unknown" for value in values):
        return "unknown"
    return True


def judge(folder: Path, budget_s: float = DEFAULT_BUDGET_S, crash: Crash | None = None) -> dict[str, Any]:
    """Run every checker on a run's files. A run that crashed gets a `crash` checker entry
    first; the safety checkers still judge what happened up to the crash (a prefix of a
    history is a history), but liveness is not judged, since the run never reached its
    quiet period and every "no progress" it found would be the crash again."""
    budget = Budget.starting_now(budget_s)  # one deadline for the whole check, reading included
    history = read_history_jsonl(folder / "history.jsonl")
    trace = read_trace_jsonl(folder / "trace.jsonl")
    # history.jsonl holds one event per line, `index` counting from 0, so a call's line is
    # its index + 1: reasons and `ruled_out_by` then name lines a person can open.
    operations = [dataclasses.replace(op, line=op.call + 1) for op in operations_from_events(history)]
    linear = check_operations(operations, get_model("cas-register"), budget=budget)
    results: dict[str, dict[str, Any]] = {}
    if crash is not None:
        results["crash"] = crash_result(crash)
    results["linearizability"] = _explained(linear.to_json(), history, trace)
    results["raft-safety"] = check_raft_safety(trace, history)
    if crash is None:
        results["liveness"] = check_liveness(trace, history)
    results["revisions"] = check_revisions(history, trace)
    return {
        "valid": combine(results),
        "digest": file_digest(folder / "trace.jsonl"),
        "checkers": results,
    }


def crash_result(crash: Crash) -> dict[str, Any]:
    """The `crash` checker entry: always a failure, with the moment, phase and culprit."""
    anomaly = {
        "property": "crash",
        "t": crash.t_us,
        "phase": crash.phase,
        "message": crash.message,
        "exception": crash.error_type,
        "where": crash.where,
        "file": "crash.txt",
    }
    return {
        "valid": False,
        "anomalies": [anomaly],
        "note": "the system under test raised an exception; liveness is not judged on a crashed run",
    }


def _explained(linear: dict[str, Any], history: list[Any], trace: list[Any]) -> dict[str, Any]:
    """Counterexample operations of our own runs say which node served them, in which term
    and at which revision."""
    if linear.get("valid") is not False:
        return linear
    return explain_linearizability(linear, history, trace)


def run(scenario: Scenario, out: Path | None, budget_s: float = DEFAULT_BUDGET_S, report: bool = False) -> RunOutcome:
    """Run a scenario, write its folder (when `out` is given) and judge it; with `report`,
    also write `report.html` and the PNGs into the folder. The staging folder is created
    before the simulation, so an `out` that cannot be written is refused at once."""
    resolved = resolve(scenario)
    staging = _staging_folder(out)
    try:
        result, messages = _run_capturing_messages(resolved) if report else (run_scenario(resolved), None)
        write_run(staging, result)
        verdict = judge(staging, budget_s, result.crash)
        write_durable(staging / "verdict.json", json.dumps(verdict, indent=2) + "\n")
        if report:
            from raftsim.report import write_reports

            write_reports(staging, "trace" if messages is None else "none", extra_messages=messages, shown_folder=out)
        if out is None:
            return RunOutcome(result, verdict, None)
        swap_into_place(staging, out)
        return RunOutcome(result, verdict, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _run_capturing_messages(resolved: Scenario) -> tuple[RunResult, list[dict[str, Any]] | None]:
    """Run with message tracing on and take the message lines out of the trace, so that the
    report gets its message diagram without a second run. Tracing messages consumes no
    randomness and moves no other event, so what remains is the trace (and the digest) of
    the scenario as written; the tests hold the simulator to that."""
    if resolved.trace_messages:
        return run_scenario(resolved), None
    from raftsim.report import split_messages

    traced = run_scenario(dataclasses.replace(resolved, trace_messages=True))
    rest, lines = split_messages(traced.trace_text)
    stats = dict(traced.stats, trace_events=traced.stats["trace_events"] - len(lines))
    result = dataclasses.replace(traced, scenario=resolved, trace_text=rest, digest=digest_of(rest), stats=stats)
    return result, [json.loads(line) for line in lines]


def write_run(folder: Path, result: RunResult) -> None:
    """Write a run's files; a crashed run also gets `crash.txt` (when, where, traceback)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_durable(folder / "scenario.toml", loader.to_toml(result.scenario))
    write_durable(folder / "history.jsonl", result.history_text)
    write_durable(folder / "trace.jsonl", result.trace_text)
    if result.crash is not None:
        write_durable(folder / "crash.txt", crash_text(result.crash))


def crash_text(crash: Crash) -> str:
    return (
        f"The system under test crashed at simulated time {crash.t_us / 1e6:.6f} s "
        f"(t = {crash.t_us} us), in the {crash.phase} phase.\n"
        f"{crash.message}\n\n{crash.traceback}"
    )


def _staging_folder(out: Path | None) -> Path:
    if out is None:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="raftsim-"))
    if out.name in ("", ".", ".."):  # `''`, `.`, `..` and `/` name no folder of their own
        raise InputError(str(out), None, "--out", "names no folder of its own; give a folder name")
    try:
        recover_folder(out)
        if (out.exists() or out.is_symlink()) and not is_run_folder(out):
            raise InputError(str(out), None, "--out", "exists and is not a run folder; refusing to overwrite it")
        staging = hidden_sibling(out, "partial")
        staging.mkdir(parents=True)
    except OSError as error:  # a name too long, a parent that is a file, a place not writable
        raise InputError(str(out), None, "--out", f"cannot create a folder there: {error.strerror}") from None
    return staging


def is_run_folder(folder: Path) -> bool:
    return (
        folder.is_dir()
        and not folder.is_symlink()
        and all(p.name in RUN_FILES or p.suffix in (".html", ".png") for p in folder.iterdir())
    )


# --- writes that survive a kill at any point --------------------------------------------


def hidden_sibling(folder: Path, role: str) -> Path:
    """`.NAME.partial` (being written) or `.NAME.old` (being replaced) beside `folder`."""
    return folder.parent / f".{folder.name}.{role}"


def recover_folder(folder: Path) -> None:
    """Finish or undo a swap that a kill cut short. An `.old` copy beside a present folder
    is a swap that completed but whose old copy was not yet deleted; an `.old` copy with no
    folder is a swap cut between its two renames, and the previous result comes back. A
    `.partial` folder is a run that never finished; it is deleted. Either name holding
    anything but a folder was not written by a swap and is deleted too."""
    aside = hidden_sibling(folder, "old")
    if aside.is_dir() and not aside.is_symlink() and not (folder.exists() or folder.is_symlink()):
        os.rename(aside, folder)
    _remove(aside)
    _remove(hidden_sibling(folder, "partial"))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def swap_into_place(staging: Path, folder: Path) -> None:
    """Replace `folder` by the complete folder `staging`; at every instant one of them is
    whole under a name `recover_folder` knows. Where the system can exchange two names in
    one step (Linux's renameat2), `folder` is never absent; elsewhere the old folder is
    renamed aside first, and a kill between the two renames leaves it as `.NAME.old`."""
    aside = hidden_sibling(folder, "old")
    _remove(aside)
    if folder.exists() and exchange_names(staging, folder):
        _fsync_folder(folder.parent)
        shutil.rmtree(staging)  # it now holds the old folder
        return
    if folder.exists():
        os.rename(folder, aside)
    os.rename(staging, folder)
    _fsync_folder(folder.parent)
    _remove(aside)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_names(first: Path, second: Path) -> bool:
    """Swap two existing paths atomically; False where the system or file system cannot,
    and the caller falls back to two renames."""
    if sys.platform != "linux":
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(first))


def write_durable(path: Path, text: str) -> None:
    """Write a file that nothing else can see yet (it sits in a staging folder), and fsync it
    so that the rename that publishes the folder publishes whole files."""
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())


def write_atomic(path: Path, text: str) -> None:
    """Replace a file's contents: a temporary file beside it, fsync, `os.replace`. A kill at
    any point leaves the old contents or the new, and at worst a `.NAME.tmp` file, which is
    overwritten by the next write."""
    temporary = path.parent / f".{path.name}.tmp"
    write_durable(temporary, text)
    os.replace(temporary, path)
    _fsync_folder(path.parent)


def append_line(path: Path, line: str) -> None:
    """Append one line and fsync it: a kill leaves every earlier line whole and at most the
    last one cut short, which its reader drops."""
    assert "\n" not in line, "one record per line"
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable; some file systems cannot open a folder, which only means the
    rename is as durable as they make it."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# --- reading run folders ------------------------------------------------------------------


def read_verdict(path: Path) -> dict[str, Any]:
    """A run's `verdict.json`, checked for the shape shrinking and summaries rely on: an
    object whose `checkers` maps each name to an object with `valid` true, false or
    "unknown"."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(str(path), None, None, "not UTF-8 text") from None
    except OSError as error:
        raise InputError(str(path), None, None, f"cannot read: {error.strerror}") from None
    try:
        verdict = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(str(path), error.lineno, None, f"not JSON: {error.msg}") from None
    except (ValueError, RecursionError):
        raise InputError(
            str(path), None, None, "not JSON this reader accepts (nested too deep or a number too long)"
        ) from None
    if not isinstance(verdict, dict):
        raise InputError(str(path), None, None, "expected a JSON object")
    checkers = verdict.get("checkers")
    if not isinstance(checkers, dict):
        problem = "missing" if checkers is None else "expected an object of checker results"
        raise InputError(str(path), None, "checkers", problem)
    for name, result in checkers.items():
        if not isinstance(result, dict) or "valid" not in result:
            raise InputError(str(path), None, f"checkers.{name}.valid", "missing")
        valid = result["valid"]
        if not (valid is True or valid is False or (isinstance(valid, str) and valid == "unknown")):
            raise InputError(str(path), None, f"checkers.{name}.valid", 'expected true, false or "unknown"')
    return verdict


def replay(folder: Path) -> tuple[bool, str, str, RunResult]:
    """Re-run a folder's scenario; say whether the new trace's digest equals the recorded one."""
    scenario = load_run_scenario(folder)
    trace_path = require_run_file(folder, "trace.jsonl")
    try:
        recorded = file_digest(trace_path)
    except OSError as error:
        raise InputError(str(trace_path), None, None, f"cannot read: {error.strerror}") from None
    result = run_scenario(scenario)
    return result.digest == recorded, recorded, result.digest, result
