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

    def __len__(self) -> int:
        return len(self._lines)

    def text(self) -> str:
        return "".join(line + "\n" for line in self._lines)


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
