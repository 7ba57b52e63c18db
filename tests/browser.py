"""Headless Chromium for the report tests: load a page, let its script run, and return the
DOM as the script left it, the console lines, and optionally a screenshot.

Chromium logs every console message and uncaught exception to stderr as a `CONSOLE` line
when started with `--enable-logging=stderr`; the report's script logs nothing, so any such
line is an error. `--virtual-time-budget` lets timers and rendering run to quiescence
before the DOM is dumped.

`.ci/run` installs Debian's `chromium` and sets RAFTSIM_REQUIRE_BROWSER=1, so there the
browser tests always run; on a machine without a browser they are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser_path() -> str:
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("RAFTSIM_REQUIRE_BROWSER") == "1":
        pytest.fail("no Chromium found, and RAFTSIM_REQUIRE_BROWSER=1 requires it (apt-get install chromium)")
    pytest.skip("no Chromium on this machine (apt-get install chromium); CI runs these tests")


@dataclass(frozen=True)
class Page:
    dom: str
    console: list[str]


def _flags(profile: str) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
    ]


def load(page: Path, screenshot: Path | None = None, size: tuple[int, int] = (1400, 1000)) -> Page:
    binary = browser_path()
    with tempfile.TemporaryDirectory(prefix="raftsim-chromium-") as profile:
        window = f"--window-size={size[0]},{size[1]}"
        command = [binary, *_flags(profile), window, "--dump-dom", page.resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
        if screenshot is not None:
            shot = [
                binary,
                *_flags(profile),
                f"--window-size={size[0]},{size[1]}",
                f"--screenshot={screenshot.resolve()}",
                page.resolve().as_uri(),
            ]
            taken = subprocess.run(shot, capture_output=True, text=True, timeout=120, check=False)
            assert taken.returncode == 0 and screenshot.is_file(), taken.stderr[-2000:]
    return Page(done.stdout, console)
