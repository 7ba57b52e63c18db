"""The lease checker on hand-built histories and traces, good and bad, and on the
lease-skew scenario: a clock fault beyond the drift bound shows, one within it does not."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from checkers.history import Event
from checkers.leases import LeaseSettings, check_leases
from checkers.trace import TraceEvent
from checkers.verdict import Verdict
from raftsim import api
from scenarios import loader

S = 1_000_000
SETTINGS = LeaseSettings(tick_us=100_000, drift_ppm_max=0)
LOCK = "/election/lock"


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def call(self, process: int, f: str, request: Any, response: Any, start: int, end: int) -> None:
        self.events.append(Event(len(self.events), start, process, "invoke", f, "", request, client=process))
        self.events.append(Event(len(self.events), end, process, "ok", f, "", response, client=process))


def header(revision: int) -> dict[str, Any]:
    return {"header": {"revision": revision}}


def expiry(t: int, lease: int, applied: bool = True) -> list[TraceEvent]:
    request = f"expire-{lease}-{t}"
    decided = {"t": t, "ev": "lease-expire", "node": 1, "lease": lease, "term": 2, "request": request}
    return [decided, {"t": t + 1000, "ev": "lease-revoked", "node": 1, "lease": lease, "request": request}][
        : 2 if applied else 1
    ]


def kept_alive(lease: int, process: int = 0) -> Recorder:
    """Lease `lease` (TTL 3 s) granted at 0 s and kept alive at 1 s."""
    history = Recorder()
    history.call(process, "lease-grant", {"TTL": 3, "ID": lease}, {**header(1), "ID": lease, "TTL": 3}, 0, 10_000)
    keepalive = {"result": {**header(1), "ID": lease, "TTL": 3}}
    history.call(process, "lease-keepalive", {"ID": lease}, keepalive, 1 * S, 1 * S + 5_000)
    return history


def failing(history: Recorder, trace: list[TraceEvent]) -> list[str]:
    result = check_leases(history.events, trace, SETTINGS)
    assert (result.verdict is Verdict.INVALID) == bool(result.found)
    return [anomaly["property"] for anomaly in result.found]


def test_an_expiry_before_ttl_after_the_last_keep_alive_is_early() -> None:
    assert failing(kept_alive(7), expiry(3_500_000, 7)) == ["expired-early"]
    assert failing(kept_alive(7), expiry(3_950_000, 7)) == [], "1 s + 3 s less a tick is due"
    assert failing(kept_alive(7), expiry(3_500_000, 7, applied=False)) == [], "a revoke never applied took nothing"


def test_the_drift_bound_widens_what_counts_as_early() -> None:
    history, trace = kept_alive(7), expiry(3_500_000, 7)
    loose = LeaseSettings(tick_us=100_000, drift_ppm_max=200_000)  # (3 s - 0.1 s) / 1.2 = 2.417 s
    assert check_leases(history.events, trace, loose).verdict is Verdict.VALID


def campaign(history: Recorder, process: int, lease: int, start: int, end: int) -> None:
    put = {"request_put": {"key": LOCK, "value": f"c{process}", "lease": lease}}
    body = {
        "compare": [{"key": LOCK, "target": "CREATE", "result": "EQUAL", "create_revision": 0}],
        "success": [put],
        "failure": [{"request_range": {"key": LOCK}}],
    }
    response = {**header(2), "succeeded": True, "responses": [{"response_put": header(2)}]}
    history.call(process, "txn", body, response, start, end)


@pytest.mark.parametrize(("taken_at", "overlapping"), [(2 * S, True), (int(3.95 * S), False)])
def test_two_holders_of_the_lock_overlap_only_within_the_bound(taken_at: int, overlapping: bool) -> None:
    history = kept_alive(7, process=0)
    campaign(history, 0, 7, 20_000, 30_000)
    grant = {**header(2), "ID": 8, "TTL": 3}
    history.call(1, "lease-grant", {"TTL": 3, "ID": 8}, grant, taken_at - 20_000, taken_at - 10_000)
    campaign(history, 1, 8, taken_at - 5_000, taken_at)
    assert failing(history, []) == (["holders-overlap"] if overlapping else [])


def test_keys_of_one_lease_shown_apart_are_found() -> None:
    history = Recorder()
    history.call(0, "lease-grant", {"TTL": 3, "ID": 5}, {**header(1), "ID": 5, "TTL": 3}, 0, 1)
    history.call(0, "put", {"key": "/t/a", "value": "x", "lease": 5}, header(2), 2, 3)
    history.call(0, "put", {"key": "/t/b", "value": "x", "lease": 5}, header(3), 4, 5)
    kv = {"key": "/t/a", "value": "x", "create_revision": 2, "mod_revision": 2, "version": 1, "lease": 5}
    shown = {**header(4), "kvs": [kv], "count": 1}
    history.call(1, "range", {"key": "/t/", "range_end": "/t0"}, shown, 6, 7)
    assert failing(history, []) == ["keys-apart"]
    together = Recorder()
    together.events = history.events[:-2]
    together.call(1, "range", {"key": "/t/", "range_end": "/t0"}, header(4), 6, 7)
    assert failing(together, []) == []


def run_leases(drift_ppm: int) -> Verdict:
    scenario = loader.load("lease-skew")
    faults = tuple(dataclasses.replace(fault, drift_ppm=drift_ppm) for fault in scenario.faults)
    verdict = api.run(dataclasses.replace(scenario, faults=faults), None, budget_s=60).verdict
    return verdict.checkers["leases"].verdict


def test_a_clock_fault_beyond_the_bound_shows_and_one_within_does_not() -> None:
    assert run_leases(400_000) is Verdict.INVALID, "the leader counts TTLs 40% fast"
    assert run_leases(40_000) is Verdict.VALID, "4% is within the scenario's 5%"
