"""The world's event log; its bytes are the run's fingerprint."""

from __future__ import annotations

import hashlib
import json
from typing import Any


class Trace:
    """Collects events as JSON lines in the order they happen.

    Lines are rendered when recorded (fields in the order given, compact separators), so
    the file and the digest follow directly from the sequence of calls.
    """

    def __init__(self, now: Any) -> None:
        self._now = now
        self._lines: list[str] = []
        self._encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def emit(self, event: str, **fields: Any) -> None:
        record = {"t": self._now(), "ev": event}
        record.update(fields)
        self._lines.append(self._encode(record))

    def emit_entries(self, event: str, node: int, index: int, entries: list[tuple[int, str]]) -> None:
        """The hottest events (`append`, `apply`), written directly: ints and hex digests
        need no escaping, and the bytes equal what `emit` would produce."""
        body = ",".join(f'[{term},"{digest}"]' for term, digest in entries)
        self._lines.append(f'{{"t":{self._now()},"ev":"{event}","node":{node},"index":{index},"entries":[{body}]}}')

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
        """A `msg` line, written directly like `emit_entries`: with `trace_messages` on there
        is one per message, and `kind` is a message type name (letters and hyphens)."""
        self._lines.append(
            f'{{"t":{self._now()},"ev":"msg","id":{message_id},"node":{node},"to":{to},"type":"{kind}",'
            f'"term":{term},"index":{index},"log_term":{log_term},"entries":{entries},"commit":{commit},'
            f'"reject":{"true" if reject else "false"}}}'
        )

    def emit_outcome(self, message_id: int, node: int, sender: int, reason: str | None) -> None:
        """What became of one copy of message `message_id` at `node`: `recv` when `reason` is
        None, else `drop` with that reason (a fixed word, letters and hyphens)."""
        head = f'{{"t":{self._now()},"ev":"{"recv" if reason is None else "drop"}","id":{message_id}'
        tail = "}" if reason is None else f',"reason":"{reason}"}}'
        self._lines.append(f'{head},"node":{node},"from":{sender}{tail}')

    def __len__(self) -> int:
        return len(self._lines)

    def text(self) -> str:
        return "".join(line + "\n" for line in self._lines)


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
