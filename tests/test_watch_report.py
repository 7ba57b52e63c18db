"""The watchers' lanes (`reports/watch_lanes.py`): one lane per watcher, its responses as
ticks, and each anomaly of the watch checker a ring carrying its message."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree

from test_watch_checker import GOOD, response

from checkers.watch_file import parse_watch_lines
from reports.palette import COUNTEREXAMPLE_COLOUR
from reports.watch_lanes import render_watch_lanes


def test_lanes_show_ticks_and_anomalies() -> None:
    records = [*GOOD, {"ev": "lost", "watcher": 0, "member": 1, "stream": 1, "reason": "silence"}]
    records.append({**response(5, progress=True, watcher=1), "watch": 1})
    records.insert(
        7, {"ev": "watch", "watcher": 1, "member": 2, "stream": 1, "watch": 1, "create_request": {"key": "a"}}
    )
    lines = [(n, json.dumps({"t": n * 1000, **record})) for n, record in enumerate(records, 1)]
    file = parse_watch_lines(lines, "watch.jsonl")
    mark = {"t": 4000, "watcher": 0, "property": "reliable", "message": "a gap <here>"}
    page = render_watch_lanes(file, [mark], "run")
    svg = ElementTree.fromstring(re.search(r"<svg.*</svg>", page, re.S).group(0))  # type: ignore[union-attr]
    texts = [element.text for element in svg.iter() if element.tag.endswith("text")]
    assert texts == ["watcher 0", "watcher 1"]
    titles = [element.text or "" for element in svg.iter() if element.tag.endswith("title")]
    assert "reliable: a gap <here>" in titles, "the anomaly's message, escaped in the page"
    assert any(title.startswith("gave up member 1") for title in titles)
    assert sum(title.startswith("revisions ") for title in titles) == 4
    assert f'stroke="{COUNTEREXAMPLE_COLOUR}"' in page
