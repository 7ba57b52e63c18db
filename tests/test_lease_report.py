"""The report's lease lane: a bar per hold of the election lock, a mark per expiry, and
nothing at all for a run without leases."""

from __future__ import annotations

from test_leases_checker import S, campaign, expiry, kept_alive

from reports.leases import lease_lane_html


def test_the_lane_draws_each_hold_and_each_applied_expiry() -> None:
    history = kept_alive(7)
    campaign(history, 0, 7, 20_000, 30_000)
    lane = lease_lane_html(history.events, expiry(5 * S, 7) + expiry(6 * S, 8, applied=False))
    assert lane.count("<rect") == 1, "one hold"
    assert lane.count("<line") == 1, "one expiry applied (the other never was)"
    assert "client 0" in lane and "lease 7: 0.030 s to 4.000 s" in lane


def test_a_run_without_leases_has_no_lane() -> None:
    assert lease_lane_html([], []) == ""
