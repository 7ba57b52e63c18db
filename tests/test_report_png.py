"""timeline.png and latency.png: valid, byte-stable, written atomically, showing the
counterexample only where there is one, and fast on large runs."""

from __future__ import annotations

import dataclasses
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
from lane_traces import lane_timeline
from matplotlib.figure import Figure
from matplotlib.image import imread
from tests_support import shortened

from checkers.verdict import Verdict
from raftsim import api
from reports import png
from reports.palette import COUNTEREXAMPLE_COLOUR, LANE_MARK_COLOURS, NODE_STATE_COLOURS
from reports.timeline import (
    Counterexample,
    Election,
    FaultSpan,
    Marker,
    NodeSpan,
    OpBar,
    Timeline,
    VerdictLine,
    timeline_from_run,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WRITERS = {"timeline": png.write_timeline_png, "latency": png.write_latency_png, "rate": png.write_rate_png}


def _run(folder: Path, bugs: tuple[str, ...]) -> Timeline:
    scenario = dataclasses.replace(shortened("partition-leader", 14000, 3000), seed=1, bugs=bugs)
    api.run(scenario, folder)
    return timeline_from_run(folder)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Timeline:
    timeline = _run(tmp_path_factory.mktemp("good") / "run", ())
    assert timeline.verdict is Verdict.VALID and not timeline.counterexamples
    return timeline


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Timeline:
    folder = tmp_path_factory.mktemp("bad") / "run"
    timeline = _run(folder, ("stale-local-read",))
    assert json.loads((folder / "verdict.json").read_text())["valid"] is False
    assert timeline.counterexamples and timeline.counterexamples[0].stuck
    return timeline


def _strong_pixels(image: np.ndarray) -> np.ndarray:
    """A mask of the pixels drawn in the counterexample colour (within antialiasing)."""
    target = np.array([int(COUNTEREXAMPLE_COLOUR[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.all(np.abs(image[:, :, :3] - target) < 0.06, axis=2)


# --- valid and stable -------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_pictures_are_valid_pngs_of_sane_size(bad: Timeline, tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.png"
    WRITERS[kind](bad, path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = imread(path)
    height, width = image.shape[:2]
    assert 800 <= width <= 2000 and 200 <= height <= 4000, image.shape
    assert image[:, :, :3].std() > 0.05, "a picture of one colour drew nothing"
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "a temporary file was left behind"


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_drawing_twice_gives_the_same_bytes(bad: Timeline, tmp_path: Path, kind: str) -> None:
    WRITERS[kind](bad, tmp_path / "one.png")
    WRITERS[kind](bad, tmp_path / "two.png")
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "two.png").read_bytes()
    assert b"matplotlib" not in (tmp_path / "one.png").read_bytes().lower(), "a version string varies by install"


def test_a_different_run_draws_a_different_picture(good: Timeline, bad: Timeline, tmp_path: Path) -> None:
    png.write_timeline_png(good, tmp_path / "good.png")
    png.write_timeline_png(bad, tmp_path / "bad.png")
    assert (tmp_path / "good.png").read_bytes() != (tmp_path / "bad.png").read_bytes()


# --- the counterexample -----------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_the_strong_colour_appears_only_with_a_counterexample(
    good: Timeline, bad: Timeline, tmp_path: Path, kind: str
) -> None:
    WRITERS[kind](good, tmp_path / "good.png")
    WRITERS[kind](bad, tmp_path / "bad.png")
    assert _strong_pixels(imread(tmp_path / "good.png")).sum() == 0
    assert _strong_pixels(imread(tmp_path / "bad.png")).sum() > 20


def test_the_stuck_operation_is_outlined_where_it_was_invoked(bad: Timeline, tmp_path: Path) -> None:
    png.write_timeline_png(bad, tmp_path / "bad.png")
    image = imread(tmp_path / "bad.png")
    stuck = bad.ops[bad.counterexamples[0].stuck[0]]
    plot_left = png.LEFT_IN * png.DPI
    plot_width = (png.WIDTH_IN - png.LEFT_IN - png.RIGHT_IN) * png.DPI
    expected = plot_left + stuck.start / bad.end * plot_width
    below = png.BOTTOM_IN + len(png._fault_list_lines(bad)) * png.FAULT_LIST_LINE_IN + 0.1
    plot = image[round(png.TOP_IN * png.DPI) : image.shape[0] - round(below * png.DPI)]  # not the legend
    columns = np.flatnonzero(_strong_pixels(plot).any(axis=0))
    assert columns.size and np.abs(columns - expected).min() <= 3, (expected, columns)
    # The strong colour marks that place only, not the whole width of the picture.
    assert columns.max() - columns.min() < 0.05 * plot_width


# --- writing ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_failed_drawing_leaves_nothing_and_keeps_the_old_file(
    bad: Timeline, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Figure, stream: object, **_options: object) -> None:
        stream.write(b"half a picture")  # type: ignore[attr-defined]
        raise RuntimeError("disk full")

    (tmp_path / "old.png").write_bytes(b"the previous picture")
    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        WRITERS[kind](bad, tmp_path / "new.png")
    with pytest.raises(RuntimeError, match="disk full"):
        WRITERS[kind](bad, tmp_path / "old.png")
    assert sorted(os.listdir(tmp_path)) == ["old.png"]
    assert (tmp_path / "old.png").read_bytes() == b"the previous picture"


def test_a_missing_folder_is_an_error_and_creates_nothing(bad: Timeline, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        png.write_timeline_png(bad, tmp_path / "absent" / "timeline.png")
    assert not (tmp_path / "absent").exists()


# --- crafted timelines ------------------------------------------------------------------

EVIL = "[bold]x[/] <script> $\\nosuchcommand{x}$"


def _event_timeline() -> Timeline:
    ops = (
        OpBar(0, "process 1", "write", EVIL, "ok", 0, 3, 0, f"write({EVIL})", (("value", EVIL),)),
        OpBar(1, "process 2", "read", EVIL, "pending", 1, None, 1, f"read({EVIL}) pending", ()),
        OpBar(2, "process 1", "read", EVIL, "ok", 4, 6, 4, f"read({EVIL}) -> 9", ()),
    )
    return Timeline(
        title=EVIL,
        meta=(("history", EVIL),),
        time_unit="event",
        end=8,
        verdicts=(VerdictLine("linearizability", Verdict.INVALID, EVIL),),
        ops=ops,
        lanes=("process 1", "process 2"),
        nodes=(),
        faults=(FaultSpan(0, EVIL, 1, 5, EVIL, (), ()),),
        phases=((EVIL, 2),),
        markers=(Marker(4, "linearizability", EVIL),),
        counterexamples=(Counterexample(EVIL, (2,), (0,), EVIL, ()),),
    )


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_text_from_data_is_never_mathtext(tmp_path: Path, kind: str) -> None:
    # An unknown command between dollars is a mathtext error; drawing it literally works.
    WRITERS[kind](_event_timeline(), tmp_path / "evil.png")
    assert imread(tmp_path / "evil.png").shape[1] == (1600 if kind == "timeline" else 1200)


def test_the_latency_axis_says_its_unit_and_the_title_counts_pending() -> None:
    figure = png._latency_figure(_event_timeline())
    assert "history events" in figure.axes[0].get_ylabel()
    assert any("1 pending" in text.get_text() for text in figure.texts)
    assert figure.axes[0].get_yscale() == "log"


def test_an_empty_timeline_draws(tmp_path: Path) -> None:
    empty = Timeline(title="empty", meta=(), time_unit="us", end=0, verdicts=(), ops=(), lanes=(), nodes=())
    for kind, writer in sorted(WRITERS.items()):
        writer(empty, tmp_path / f"{kind}.png")
        assert imread(tmp_path / f"{kind}.png").ndim == 3


def test_faults_pack_into_rows_as_the_page_packs_them() -> None:
    faults = tuple(
        FaultSpan(number, "partition", start, end, "", (), ())
        for number, (start, end) in enumerate([(0, 10), (5, 20), (10, 30), (11, 12), (25, 40)])
    )
    timeline = Timeline(
        title="", meta=(), time_unit="us", end=40, verdicts=(), ops=(), lanes=(), nodes=(), faults=faults
    )
    # (10, 30) touches (0, 10) at 10: a fault starting as another ends takes a new row.
    assert png.pack_faults(timeline) == ((0, 3, 4), (1,), (2,))


def synthetic(operations: int = 10_000, seconds: int = 50_000, seed: int = 1) -> Timeline:
    """A long run's worth of everything: operations, node spans, elections and faults."""
    rng = random.Random(seed)
    end = seconds * 1_000_000
    lanes = tuple(f"client {number}" for number in range(8))
    ops = []
    for number in range(operations):
        start = number * (end // operations)
        outcome = "pending" if number >= operations - 5 else rng.choice(["ok"] * 8 + ["fail", "info"])
        done = None if outcome == "pending" else start + rng.randint(100, 3_000_000)
        ops.append(
            OpBar(number, lanes[number % 8], "read", "k", outcome, start, done, 2 * number, f"read(k) -> {number}", ())
        )
    spans, elections = [], []
    step = end // 4000
    for node in range(1, 6):
        for number in range(4000):
            state = rng.choice(["follower", "follower", "leader", "candidate", "paused", "crashed"])
            spans.append(NodeSpan(node, state, number, node, number * step, (number + 1) * step))
            if state == "leader":
                elections.append(Election(number * step, node, number))
    middle = operations // 2
    faults = tuple(
        FaultSpan(number, "partition", number * step * 8, number * step * 8 + step * 5, f"f{number}", (), ())
        for number in range(500)
    )
    return Timeline(
        title="synthetic",
        meta=(),
        time_unit="us",
        end=end,
        verdicts=(),
        ops=tuple(ops),
        lanes=lanes,
        nodes=(1, 2, 3, 4, 5),
        spans=tuple(spans),
        elections=tuple(sorted(elections, key=lambda e: (e.time, e.node))),
        faults=faults,
        counterexamples=(Counterexample("k", (middle,), tuple(range(middle - 10, middle)), "1", ()),),
    )


def test_ten_thousand_operations_draw_as_a_few_collections(tmp_path: Path) -> None:
    """Drawing cost grows with artists, not operations: 10,000 bars are a handful of
    collections, never one patch each (how long it takes is benchmarks/report_size.py's)."""
    timeline = synthetic()
    figure = png._timeline_figure(timeline)
    artists = [artist for ax in figure.axes for artist in ax.get_children()]
    assert len(timeline.ops) == 10_000
    assert len(artists) < 500, f"{len(artists)} artists for {len(timeline.ops)} operations"
    png.write_timeline_png(timeline, tmp_path / "timeline.png")
    png.write_latency_png(timeline, tmp_path / "latency.png")
    assert _strong_pixels(imread(tmp_path / "timeline.png")).sum() > 0
    assert _strong_pixels(imread(tmp_path / "latency.png")).sum() > 0


# --- operation types, rates, fault labels ------------------------------------------------


def _typed(kinds: tuple[str, ...]) -> Timeline:
    outcomes = ("ok", "fail", "info")
    ops = tuple(
        OpBar(
            number,
            "client 0",
            kinds[number % len(kinds)],
            "k",
            outcomes[number % 3],
            number * 100_000,
            number * 100_000 + 5_000 + number * 97,
            number,
            "op",
            (),
        )
        for number in range(60)
    )
    return Timeline(
        title="typed", meta=(), time_unit="us", end=6_500_000, verdicts=(), ops=ops, lanes=("client 0",), nodes=()
    )


def test_latency_tells_operation_types_apart(tmp_path: Path) -> None:
    legend = [text.get_text() for text in png._latency_figure(_typed(("read", "write", "cas"))).legends[0].texts]
    assert {"read (20)", "write (20)", "cas (20)", "ok (20)", "fail (20)", "info (20)"} <= set(legend)
    png.write_latency_png(_typed(("read", "write", "cas")), tmp_path / "typed.png")
    png.write_latency_png(_typed(("read",)), tmp_path / "reads.png")
    assert (tmp_path / "typed.png").read_bytes() != (tmp_path / "reads.png").read_bytes()
    styles = png.operation_styles(["read", "write", "cas", "zeta", "alpha"])
    assert len(set(styles.values())) == 5 and styles["alpha"] != styles["zeta"]


def test_rate_counts_completions_per_second_by_outcome() -> None:
    figure = png._rate_figure(_typed(("read",)))
    legend = [text.get_text() for text in figure.legends[0].texts]
    assert legend[:3] == ["ok (20)", "info (20)", "fail (20)"]
    assert "per second" in figure.axes[0].get_ylabel()
    assert png._rate_bin(synthetic(100, 50_000)) == (125_000_000, "per 125 s")


def test_a_fault_too_narrow_for_its_label_gets_its_number_and_the_list_names_it() -> None:
    wide = FaultSpan(0, "partition", 0, 5_000_000, "partition isolate-leader: 1 | 2 3 4 5", (1,), ())
    narrow = FaultSpan(1, "partition", 6_000_000, 6_050_000, "partition isolate-node: 3 | 1 2 4 5", (3,), ())
    timeline = Timeline(
        title="f",
        meta=(),
        time_unit="us",
        end=10_000_000,
        verdicts=(),
        ops=(),
        lanes=(),
        nodes=(),
        faults=(wide, narrow),
    )
    figure = png._timeline_figure(timeline)
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert wide.label in texts and " F2" in texts
    listed = [line for text in figure.texts for line in text.get_text().splitlines()]
    assert any(line.startswith(f"F1  {wide.label}  (0.000 s") for line in listed)
    assert any(line.startswith(f"F2  {narrow.label}  (6.000 s") for line in listed)
    many = png._fault_list_lines(synthetic(100, 5_000))
    assert many[-1][-1] == f"and {500 - png.FAULTS_LISTED} more faults: see report.html"


# --- snapshots, membership and corrupt disks --------------------------------------------


def _colour_pixels(image: np.ndarray, colour: str) -> int:
    target = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int(np.all(np.abs(image[:, :, :3] - target) < 0.03, axis=2).sum())


def test_lane_marks_are_drawn_and_named_only_when_the_run_has_them(tmp_path: Path) -> None:
    with_marks = lane_timeline(tmp_path / "a")
    without = lane_timeline(tmp_path / "b", marks=False)
    png.write_timeline_png(with_marks, tmp_path / "marks.png")
    png.write_timeline_png(without, tmp_path / "none.png")
    marked, plain = imread(tmp_path / "marks.png"), imread(tmp_path / "none.png")
    for kind in ("snapshot-install", "conf-apply"):
        assert _colour_pixels(plain, LANE_MARK_COLOURS[kind]) == 0, kind
        assert _colour_pixels(marked, LANE_MARK_COLOURS[kind]) > 10, kind
    assert _colour_pixels(marked, NODE_STATE_COLOURS["corrupt"]) > 100  # node 3's last two seconds

    def legend(timeline: Timeline) -> set[str]:
        figure = png._timeline_figure(timeline)
        return {text.get_text() for text in figure.legends[0].get_texts()}

    words = {"snapshot taken", "snapshot installed", "restarted from a snapshot", "membership change applied"}
    words |= {"joined", "removed", "disk corrupt", "corrupt", "learner", "disk: write torn, tail dropped, full"}
    assert words <= legend(with_marks)
    assert not words & legend(without)


def test_hostile_membership_strings_draw(tmp_path: Path) -> None:
    png.write_timeline_png(lane_timeline(tmp_path, EVIL), tmp_path / "evil.png")
    assert imread(tmp_path / "evil.png").shape[1] == 1600
