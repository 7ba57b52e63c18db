"""The world's event log; its bytes are the run's fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring
from typing import Any, Protocol

from raftcore.server import entry_digest


class LoggedEntry(Protocol):
    """What the trace reads of a log entry (raftcore's `Entry` is one)."""

    @property
    def term(self) -> int: ...

    @property
    def data(self) -> str: ...


Record = tuple[Any, ...]
"""One event as recorded: its line's formatter first, then what the formatter reads."""


class Trace:
    """Collects events in the order they happen and renders them as JSON lines.

    Lines are compact JSON with fields in the order given. The hot events (log appends and
    applies, hard states, roles, acknowledgements, messages) are kept as tuples of their
    values and formatted only by `text()`, directly, with no dictionary and no encoder: the
    simulator's events then cost a tuple each. Each formatter writes exactly the bytes that
    `emit` would (tests compare the two), so the digest does not depend on which path an
    event took. Rare events go through `emit`'s general encoder at once.

    An entry's data is digested once per distinct data when the text is rendered.
    """

    def __init__(self, now: Callable[[], int]) -> None:
        self._now = now
        self._records: list[Record] = []
        self._encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def emit(self, event: str, **fields: Any) -> None:
        t = self._now()
        assert type(t) is int, f"time {t!r} is not whole microseconds"
        record = {"t": t, "ev": event}
        record.update(fields)
        self._records.append((_verbatim, self._encode(record)))

    def emit_entries(self, event: str, node: int, index: int, entries: list[tuple[int, str]]) -> None:
        """An `append` or `apply` line from `[term, digest]` pairs already computed."""
        self._records.append((_format_pairs, self._now(), event, node, index, tuple(entries)))

    def emit_log_entries(self, event: str, node: int, index: int, entries: Sequence[LoggedEntry]) -> None:
        """An `append` or `apply` line from the entries themselves, digested when rendered
        (entries are immutable values, so keeping them is keeping what they were)."""
        self._records.append((_format_entries, self._now(), event, node, index, entries))

    def emit_hard_state(self, node: int, term: int, vote: int, commit: int) -> None:
        self._records.append((_format_hard_state, self._now(), node, term, vote, commit))

    def emit_role(self, node: int, role: str, term: int, leader: int) -> None:
        """`role` is a role's name (letters and hyphens)."""
        self._records.append((_format_role, self._now(), node, role, term, leader))

    def emit_ack(self, node: int, client: str, request: str, index: int, term: int, digest: str) -> None:
        self._records.append((_format_ack, self._now(), node, client, request, index, term, digest))

    def emit_message(
        self,
        message_id: int,
        node: int,
        to: int,
        kind: str,
        term: int,
        index: int,
        log_term: int,
        entries: int,
        commit: int,
        reject: bool,
    ) -> None:
        """A `msg` line: with `trace_messages` on there is one per message, and `kind` is a
        message type name (letters and hyphens)."""
        self._records.append(
            (_format_message, self._now(), message_id, node, to, kind, term, index, log_term, entries, commit, reject)
        )

    def emit_outcome(self, message_id: int, node: int, sender: int, reason: str | None) -> None:
        """What became of one copy of message `message_id` at `node`: `recv` when `reason` is
        None, else `drop` with that reason (a fixed word, letters and hyphens)."""
        self._records.append((_format_outcome, self._now(), message_id, node, sender, reason))

    def __len__(self) -> int:
        return len(self._records)

    def text(self) -> str:
        digests: dict[str, str] = {}

        def cached_digest(data: str) -> str:
            known = digests.get(data)
            if known is None:
                known = digests[data] = entry_digest(data)
            return known

        lines = []
        for record in self._records:
            formatter = record[0]
            # An event's time prints as the simulator's clock reads it: whole microseconds.
            assert formatter is _verbatim or type(record[1]) is int, f"time {record[1]!r} is not an int"
            lines.append(formatter(record, cached_digest))
        lines.append("")
        return "\n".join(lines)


def _verbatim(record: Record, _digest: Callable[[str], str]) -> str:
    line: str = record[1]
    return line


def _format_pairs(record: Record, _digest: Callable[[str], str]) -> str:
    _, t, event, node, index, pairs = record
    body = ",".join([f'[{term},"{digest}"]' for term, digest in pairs])
    return f'{{"t":{t},"ev":"{event}","node":{node},"index":{index},"entries":[{body}]}}'


def _format_entries(record: Record, digest: Callable[[str], str]) -> str:
    _, t, event, node, index, entries = record
    body = ",".join([f'[{entry.term},"{digest(entry.data)}"]' for entry in entries])
    return f'{{"t":{t},"ev":"{event}","node":{node},"index":{index},"entries":[{body}]}}'


def _format_hard_state(record: Record, _digest: Callable[[str], str]) -> str:
    _, t, node, term, vote, commit = record
    return f'{{"t":{t},"ev":"hard_state","node":{node},"term":{term},"vote":{vote},"commit":{commit}}}'


def _format_role(record: Record, _digest: Callable[[str], str]) -> str:
    _, t, node, role, term, leader = record
    return f'{{"t":{t},"ev":"role","node":{node},"role":"{role}","term":{term},"leader":{leader}}}'


def _format_ack(record: Record, _digest: Callable[[str], str]) -> str:
    _, t, node, client, request, index, term, digest = record
    return (
        f'{{"t":{t},"ev":"ack","node":{node},"client":{encode_basestring(client)},'
        f'"request":{encode_basestring(request)},"index":{index},"term":{term},"digest":{encode_basestring(digest)}}}'
    )


def _format_message(record: Record, _digest: Callable[[str], str]) -> str:
    _, t, message_id, node, to, kind, term, index, log_term, entries, commit, reject = record
    return (
        f'{{"t":{t},"ev":"msg","id":{message_id},"node":{node},"to":{to},"type":"{kind}",'
        f'"term":{term},"index":{index},"log_term":{log_term},"entries":{entries},"commit":{commit},'
        f'"reject":{"true" if reject else "false"}}}'
    )


def _format_outcome(record: Record, _digest: Callable[[str], str]) -> str:
    _, t, message_id, node, sender, reason = record
    head = f'{{"t":{t},"ev":"{"recv" if reason is None else "drop"}","id":{message_id}'
    tail = "}" if reason is None else f',"reason":"{reason}"}}'
    return f'{head},"node":{node},"from":{sender}{tail}'


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
