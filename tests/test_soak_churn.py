"""The five-minute soak of issue-sized churn: membership changes, leadership handovers,
snapshots and lying disks among the usual faults. It must pass, exercise what it is named
for, and replay byte for byte from its folder."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

from checkers.verdict import Verdict
from raftsim import api
from scenarios import loader


def test_the_churn_soak_passes_and_replays_byte_for_byte(tmp_path: Path) -> None:
    scenario = dataclasses.replace(loader.load("soak-churn"), seed=1)
    assert scenario.duration_ms == 300_000
    folder = tmp_path / "soak"
    outcome = api.run(scenario, folder, budget_s=120)
    assert outcome.verdict.verdict is Verdict.VALID, outcome.verdict
    events = [json.loads(line) for line in (folder / "trace.jsonl").read_text().splitlines()]
    kinds = Counter(event["ev"] for event in events)
    faults = Counter(event["kind"] for event in events if event["ev"] == "fault")
    # What the soak is for happened, more than once each.
    assert faults["member"] >= 3 and faults["transfer"] >= 3 and faults["disk"] >= 3, faults
    assert kinds["member-added"] >= 3 and kinds["conf-apply"] >= 6, kinds
    assert kinds["snapshot"] >= 50 and kinds["snapshot-install"] >= 3, kinds
    assert kinds["disk-full"] >= 1, kinds
    identical, recorded, replayed, _ = api.replay(folder)
    assert identical and recorded == replayed
