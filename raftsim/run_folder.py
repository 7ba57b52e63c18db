"""A run folder: how it is staged, written so that a kill loses nothing, and read.

`raftsim.api` writes and judges runs, `raftsim.report` draws them, `raftsim.fuzz` keeps
the folders of failing seeds and `raftsim.shrink` starts from one; they all go through
this module, which imports neither of them, so that none imports another to read a folder.

A run is written into a staging folder and moved into place only when complete, so an
interrupted or failed run leaves nothing half-written under the name the user asked for.
Replacing an existing folder never deletes it first: the old folder is renamed aside
(`.NAME.old`), the new one renamed in, and only then is the old one deleted; the next
command that writes there finishes or undoes a swap a kill cut short (see
`recover_folder`). Single files that are rewritten in place go through a temporary file,
fsync and `os.replace`, so a reader sees the old bytes or the new ones, never a prefix.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from checkers.effects import EffectEvent, read_effects_jsonl
from checkers.errors import InputError
from checkers.history import Event, read_history_jsonl
from checkers.trace import TraceEvent, read_trace_jsonl
from checkers.verdict import RunVerdict
from checkers.watch_file import WatchFile, read_watch_jsonl
from reports.timeline import read_verdict_leniently
from scenarios import loader
from scenarios.model import Scenario
from sim.world import Crash, RunResult
from workloads import get as get_workload

RUN_FILES = (
    "scenario.toml",
    "history.jsonl",
    "trace.jsonl",
    "effects.jsonl",
    "watch.jsonl",
    "verdict.json",
    "events.json",
    "crash.txt",
    "target.json",
    "logs",
    "backup.json",
)
BACKUP_FILE = "backup.json"
"""A restored run's backup, kept beside its scenario so that the folder replays alone."""
MESSAGE_EVENTS = ("msg", "recv", "drop")
T = TypeVar("T")


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes, as `digest_of` gives for the text it was written from."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_messages(trace_text: str) -> tuple[str, list[str]]:
    """Separate message lines from the rest of a trace; the rest is what a run without
    message tracing writes."""
    kept: list[str] = []
    messages: list[str] = []
    for line in trace_text.splitlines(keepends=True):
        head = line[:40]
        if any(f',"ev":"{kind}",' in head for kind in MESSAGE_EVENTS):
            messages.append(line)
        else:
            kept.append(line)
    return "".join(kept), messages


def require_run_file(folder: Path, name: str) -> Path:
    """`folder/name`, which must be a readable file; anything else is one line naming it."""
    path = folder / name
    try:
        present = path.is_file()
    except OSError as error:  # a name too long, a loop of links
        raise InputError(str(folder), None, None, f"cannot read {name}: {error.strerror}") from None
    if not present:
        raise InputError(str(folder), None, None, f"not a run folder: {name} is missing")
    return path


def load_run_scenario(folder: Path) -> Scenario:
    return loader.load(str(require_run_file(folder, "scenario.toml")))


# --- writing run folders ---------------------------------------------------------------


def write_run(folder: Path, result: RunResult) -> None:
    """Write a run's files; a crashed run also gets `crash.txt` (when, where, traceback)."""
    folder.mkdir(parents=True, exist_ok=True)
    scenario = result.scenario
    if scenario.restore is not None:
        write_durable(folder / BACKUP_FILE, scenario.restore.text)
        scenario = dataclasses.replace(scenario, restore=dataclasses.replace(scenario.restore, backup=BACKUP_FILE))
    write_durable(folder / "scenario.toml", loader.to_toml(scenario))
    write_durable(folder / "history.jsonl", result.history_text)
    write_durable(folder / "trace.jsonl", result.trace_text)
    if result.effects_text is not None:
        write_durable(folder / "effects.jsonl", result.effects_text)
    if result.watch_text is not None:
        write_durable(folder / "watch.jsonl", result.watch_text)
    if result.crash is not None:
        write_durable(folder / "crash.txt", crash_text(result.crash))


def crash_text(crash: Crash) -> str:
    return (
        f"The system under test crashed at simulated time {crash.t_us / 1e6:.6f} s "
        f"(t = {crash.t_us} us), in the {crash.phase} phase.\n"
        f"{crash.message}\n\n{crash.traceback}"
    )


def stage(out: Path | None) -> Path:
    """The staging folder a run is written into before it is moved to `out`: the hidden
    sibling `.NAME.partial`, or a temporary folder when the run is kept nowhere. Leftovers of
    a kill beside `out` are recovered first, and a place that cannot be written is refused."""
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


@dataclass(frozen=True)
class RunFolder:
    """A run folder, each of whose files is read, parsed and validated at most once, when
    first asked for: the judge and the reports of one process share one value, and a
    command that needs only the scenario never parses the trace.

    The files of a folder do not change while a value of it is in use (a run folder is
    complete before anything reads it, and is replaced only as a whole), so what was read
    once stands for the folder. `moved_to` keeps what was read when a staging folder is
    renamed into place. Errors are those of the readers: one line naming the file."""

    path: Path
    _read: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def moved_to(self, path: Path) -> RunFolder:
        return RunFolder(path, self._read)

    def _once(self, name: str, read: Callable[[], T]) -> T:
        if name not in self._read:
            self._read[name] = read()
        return cast(T, self._read[name])

    def judged(self, verdict: RunVerdict) -> None:
        """Keep the verdict this process just wrote as the folder's, so that nothing reads
        `verdict.json` back."""
        assert "verdict" not in self._read, "a folder is judged once"
        self._read["verdict"] = verdict

    def require(self, name: str) -> Path:
        return require_run_file(self.path, name)

    @property
    def scenario(self) -> Scenario:
        return self._once("scenario", lambda: load_run_scenario(self.path))

    @property
    def history(self) -> list[Event]:
        """The history's events, each `f` one of the operations of the run's workload."""
        return self._once("history", self._read_history)

    def _read_history(self) -> list[Event]:
        # The workload's model judges the value shapes of `f`s the schema does not define.
        workload = get_workload(self.scenario.workload.kind)
        return read_history_jsonl(
            self.path / "history.jsonl", functions=workload.functions, model=workload.build_model()
        )

    @property
    def trace(self) -> list[TraceEvent]:
        """The trace's events, message events included when the run recorded them."""
        return self._once("trace", lambda: read_trace_jsonl(self.path / "trace.jsonl"))

    @property
    def effects(self) -> list[EffectEvent] | None:
        """Every command the stores executed (`effects.jsonl`); None for a folder written
        before runs recorded them."""
        return self._once("effects", self._read_effects)

    def _read_effects(self) -> list[EffectEvent] | None:
        path = self.path / "effects.jsonl"
        return read_effects_jsonl(path) if path.is_file() else None

    @property
    def target(self) -> dict[str, Any] | None:
        """`target.json`: the real cluster the run attacked; None for a simulated run."""
        return self._once("target", self._read_target)

    def _read_target(self) -> dict[str, Any] | None:
        path = self.path / "target.json"
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError, UnicodeDecodeError) as error:
            raise InputError(str(path), None, None, f"not a target file: {error}") from None
        if not isinstance(record, dict) or not isinstance(record.get("target"), str):
            raise InputError(str(path), None, "target", "missing: expected the name of the target")
        return record

    @property
    def watch(self) -> WatchFile | None:
        """What the run's watchers asked and were sent (`watch.jsonl`); None for a run
        without watchers."""
        return self._once("watch", self._read_watch)

    def _read_watch(self) -> WatchFile | None:
        path = self.path / "watch.jsonl"
        return read_watch_jsonl(path) if path.is_file() else None

    @property
    def verdict(self) -> RunVerdict:
        return self._once("verdict", lambda: read_verdict(self.require("verdict.json")))

    @property
    def drawn_verdict(self) -> RunVerdict:
        """The verdict as a report draws it: the judged one when this process read or wrote
        it, else `verdict.json` read leniently (a field it cannot read is drawn as unknown,
        and a run never judged has none)."""
        if "verdict" in self._read:
            return self.verdict
        return self._once("drawn_verdict", lambda: read_verdict_leniently(self.path / "verdict.json"))

    @property
    def trace_bytes(self) -> bytes:
        return self._once("trace_bytes", lambda: self.path.joinpath("trace.jsonl").read_bytes())

    @property
    def digest(self) -> str:
        """The sha256 of `trace.jsonl`'s bytes: the run's fingerprint."""
        return self._once("digest", lambda: hashlib.sha256(self.trace_bytes).hexdigest())

    @property
    def message_lines(self) -> list[str]:
        """The trace's message lines (`split_messages`). Bytes that are not UTF-8 are kept
        as they are (surrogate escapes), for the trace reader to report with their line."""
        return self._once("message_lines", self._split_message_lines)

    def _split_message_lines(self) -> list[str]:
        return split_messages(self.trace_bytes.decode("utf-8", errors="surrogateescape"))[1]


def read_verdict(path: Path) -> RunVerdict:
    """A run's `verdict.json`: an object whose `checkers` maps each name to an object with
    `valid` true, false or "unknown"; anything else is bad input naming the field."""
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
    return RunVerdict.from_json(verdict, str(path))


def pack(folder: Path) -> bytes:
    """A folder as a gzipped tar of its files, named relative to it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


def unpack(archive: bytes, folder: Path) -> None:
    """Write a packed folder in place of `folder`, whole or not at all (staged beside it,
    then swapped in), refusing any member that would land outside it."""
    staging = hidden_sibling(folder, "partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as packed:
            if hasattr(tarfile, "data_filter"):
                packed.extractall(staging, filter="data")
            else:  # Python before 3.11.4: the same refusals, by hand
                for member in packed.getmembers():
                    parts = Path(member.name).parts
                    if Path(member.name).is_absolute() or ".." in parts or not (member.isfile() or member.isdir()):
                        raise ValueError(f"a packed folder holds {member.name!r}")
                packed.extractall(staging)
        swap_into_place(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
