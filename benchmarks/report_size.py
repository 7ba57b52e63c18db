"""Report size and render time for runs of about 1,000 and 10,000 operations.

For each size: one run of the `mixed` scenario long enough to reach the operation count,
then, as medians of --repeat renders: the time to build the timeline and write
`report.html`, the page's size, the time to draw the PNGs (timeline, latency, rate), and, when Chromium is
installed, the page's own figures in a headless browser (script start to first full draw,
and one full redraw, which is what each zoom or pan step costs).

    .venv/bin/python benchmarks/report_size.py [--operations 1000 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raftsim import api
from reports.html import write_html
from reports.png import write_pngs
from reports.timeline import timeline_from_run
from scenarios import loader

OFFERED_OPS_PER_S = 100  # the `mixed` scenario's four clients together


def make_run(folder: Path, operations: int) -> Path:
    """A run of `mixed` with about `operations` operations: a first guess at the length
    from the offered rate, then one correction from the count the guess gave."""
    base = loader.load("mixed")
    duration_ms = max(2000, operations * 1000 // OFFERED_OPS_PER_S)
    for _attempt in range(3):
        scenario = dataclasses.replace(
            base, seed=1, duration_ms=duration_ms, faults=tuple(f for f in base.faults if f.start_ms < duration_ms)
        )
        if folder.exists():
            shutil.rmtree(folder)
        outcome = api.run(scenario, folder)
        made = outcome.result.stats["operations"]
        if abs(made - operations) <= operations * 0.1:
            break
        quiet_ms = scenario.phases.quiet_ms
        duration_ms = max(1000, round((duration_ms + quiet_ms) * operations / made) - quiet_ms)
    return folder


def browser_figures(page: Path) -> tuple[float, float] | None:
    binary = next(
        (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None
    )
    if binary is None:
        return None
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=10000",
                "--window-size=1400,1000",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    load = re.search(r'data-load-ms="([0-9.]+)"', done.stdout)
    draw = re.search(r'data-draw-ms="([0-9.]+)"', done.stdout)
    if not load or not draw:
        return None
    return float(load.group(1)), float(draw.group(1))


def measure(folder: Path, repeat: int) -> dict[str, float]:
    html_s, png_s, load_ms, draw_ms = [], [], [], []
    page = folder / "report.html"
    for _ in range(repeat):
        began = time.perf_counter()
        timeline = timeline_from_run(folder)
        write_html(timeline, page)
        html_s.append(time.perf_counter() - began)
        began = time.perf_counter()
        write_pngs(timeline, folder)
        png_s.append(time.perf_counter() - began)
        figures = browser_figures(page)
        if figures:
            load_ms.append(figures[0])
            draw_ms.append(figures[1])
    return {
        "operations": len(timeline.ops),
        "html_bytes": page.stat().st_size,
        "html_s": statistics.median(html_s),
        "png_s": statistics.median(png_s),
        "browser_load_ms": statistics.median(load_ms) if load_ms else float("nan"),
        "browser_redraw_ms": statistics.median(draw_ms) if draw_ms else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    print(f"{'operations':>10} {'report.html':>12} {'build+write':>12} {'PNGs':>8} {'page load':>10} {'redraw':>8}")
    with tempfile.TemporaryDirectory() as scratch:
        for target in arguments.operations:
            folder = make_run(Path(scratch) / f"run-{target}", target)
            figures = measure(folder, arguments.repeat)
            print(
                f"{figures['operations']:>10} {figures['html_bytes'] / 1e6:>10.2f}MB {figures['html_s']:>11.2f}s "
                f"{figures['png_s']:>7.2f}s {figures['browser_load_ms']:>8.0f}ms "
                f"{figures['browser_redraw_ms']:>6.1f}ms"
            )


if __name__ == "__main__":
    main()
