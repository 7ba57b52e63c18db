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

import errno
import hashlib
import os
import shutil
import sys
from pathlib import Path

from checkers.errors import InputError
from scenarios import loader
from scenarios.model import Scenario
from sim.world import Crash, RunResult

RUN_FILES = ("scenario.toml", "history.jsonl", "trace.jsonl", "verdict.json", "crash.txt")
MESSAGE_EVENTS = ("msg", "recv", "drop")


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
