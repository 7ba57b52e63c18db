"""The guarantee that no etcd member and no data directory outlive the harness.

    python -m targets.etcd.reaper DATA_ROOT

The harness starts this child with a pipe on its stdin and writes `pid N` lines to it, one
for every member it starts. The harness holds the pipe's only write end, so the reaper reads
EOF exactly when the harness is gone, however it went (a normal end, an exception, Ctrl-C, or
SIGKILL, which no handler in the harness can see). On `exit` (the harness's close() has done
the work) it exits; on EOF without it, it kills every member (SIGCONT first, so a paused one
dies at once, then SIGKILL), waits until they are gone and removes DATA_ROOT.

The members it kills are the registered pids that still run an etcd on DATA_ROOT, plus any
process whose command line names a data directory under DATA_ROOT (a member whose pid the
harness had no time to write); a pid the system reused for something else is left alone.
It runs in its own session and ignores SIGINT and SIGHUP, so a Ctrl-C at the harness's
terminal does not end it before it has done its work.

PR_SET_PDEATHSIG on the members is not used: it fires when the *thread* that started a member
ends, and the harness restarts members from whichever thread its faults run in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path

GONE_WAIT_S = 5.0
EXIT = "exit"


def data_dir_flag(root: Path) -> bytes:
    """What every member's command line holds: its data directory is under `root`."""
    return f"--data-dir={root}{os.sep}".encode()


def command_line(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def is_member(pid: int, root: Path) -> bool:
    """Whether `pid` runs (not a zombie) with a data directory under `root`."""
    line = command_line(pid)
    return line is not None and data_dir_flag(root) in line and not is_zombie(pid)


def is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def members_of(root: Path, registered: Iterable[int] = ()) -> set[int]:
    """The processes running a member on `root`: registered ones and any found in /proc."""
    found = {pid for pid in registered if is_member(pid, root)}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and is_member(int(entry.name), root):
            found.add(int(entry.name))
    return found


def reap(root: Path, registered: Iterable[int] = ()) -> None:
    """Kill every member on `root`, wait until they are gone, remove `root`."""
    deadline = time.monotonic() + GONE_WAIT_S
    members = members_of(root, registered)
    while members and time.monotonic() < deadline:
        for pid in members:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
        time.sleep(0.05)
        members = members_of(root, members)
    shutil.rmtree(root, ignore_errors=True)


def watch(root: Path, commands: Iterable[str]) -> bool:
    """Follow the harness's lines until `exit` (True) or EOF (False), reaping on EOF."""
    registered: set[int] = set()
    for line in commands:
        words = line.split()
        if words == [EXIT]:
            return True
        if len(words) == 2 and words[0] == "pid" and words[1].isdigit():
            registered.add(int(words[1]))
    reap(root, registered)
    return False


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m targets.etcd.reaper DATA_ROOT", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    watch(Path(argv[1]), (line.decode(errors="replace") for line in sys.stdin.buffer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
