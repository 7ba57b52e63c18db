"""The report's lease lane: who held the election lock when, and when leases expired.

One row per client that ever held the lock, a bar per hold (from its acquiring txn's
return to its lease's last acknowledged renewal plus the TTL: what the holder may believe,
`checkers.leases.Hold`), and below them a row of marks, one per expiry a leader decided and
the log applied. Two bars over one moment in different rows are two holders at once; the
leases checker says whether that is more than the drift bound allows. Drawn as inline SVG,
so the page still opens offline; an empty string when the run holds no lease.
"""

from __future__ import annotations

import html

from checkers.history import Event
from checkers.leases import holds_and_expiries
from checkers.trace import TraceEvent

WIDTH = 900
ROW = 18
LABEL = 70
MARKS_SHOWN = 500


def lease_lane_html(history: list[Event], trace: list[TraceEvent]) -> str:
    holds, expiries = holds_and_expiries(history, trace)
    if not holds and not expiries:
        return ""
    end = max([hold.end_us for hold in holds] + [moment for moment, _, _ in expiries] + [1])
    clients = sorted({hold.client for hold in holds}, key=lambda client: -1 if client is None else client)
    height = ROW * (len(clients) + 1) + 4

    def x(moment: int) -> float:
        return LABEL + (WIDTH - LABEL) * moment / end

    parts = [f'<svg width="{WIDTH}" height="{height}" role="img" aria-label="lease lane">']
    for row, client in enumerate(clients):
        y = row * ROW
        parts.append(f'<text x="0" y="{y + 13}" font-size="11">client {client}</text>')
        for hold in (hold for hold in holds if hold.client == client):
            left, right = x(hold.start_us), x(hold.end_us)
            title = html.escape(
                f"lease {hold.lease}: {hold.start_us / 1e6:.3f} s to {hold.end_us / 1e6:.3f} s (line {hold.line})"
            )
            parts.append(
                f'<rect x="{left:.1f}" y="{y + 3}" width="{max(1.0, right - left):.1f}" height="{ROW - 6}" '
                f'fill="#4a90d9"><title>{title}</title></rect>'
            )
    y = len(clients) * ROW
    parts.append(f'<text x="0" y="{y + 13}" font-size="11">expiries</text>')
    for moment, lease, node in expiries[:MARKS_SHOWN]:
        title = html.escape(f"node {node} expired lease {lease} at {moment / 1e6:.3f} s")
        parts.append(
            f'<line x1="{x(moment):.1f}" x2="{x(moment):.1f}" y1="{y + 2}" y2="{y + ROW - 2}" stroke="#d0021b">'
            f"<title>{title}</title></line>"
        )
    parts.append("</svg>")
    count = f"{len(holds)} holds of the lock, {len(expiries)} expiries"
    return (
        f'<section id="leases"><h2>Leases</h2><p class="note">{html.escape(count)} (hover for times)</p>'
        + "".join(parts)
        + "</section>\n"
    )
