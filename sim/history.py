"""The history clients record: one JSON line per event, in the order they happen."""

from __future__ import annotations

import json
from typing import Any

import simpy

from sim.clock import now_us


class History:
    def __init__(self, env: simpy.Environment) -> None:
        self._env = env
        self._lines: list[str] = []
        self._encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
        self.final_reads_started = env.event()
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}

    def record(
        self,
        process: int,
        client: int,
        kind: str,
        f: str,
        key: str,
        value: Any,
        **extra: Any,
    ) -> None:
        line = {
            "index": len(self._lines),
            "time": now_us(self._env),
            "process": process,
            "client": client,
            "type": kind,
            "f": f,
            "key": key,
            "value": value,
        }
        line.update(extra)
        self._lines.append(self._encode(line))
        self.counts[kind] += 1

    def record_restored(self, process: int, key: str, value: Any, revision: int) -> None:
        """A write that stands for a key a restored store holds: its invoke and its ok,
        with no client (none made it) and the revision the key was last written at."""
        for kind in ("invoke", "ok"):
            line = {"index": len(self._lines), "time": now_us(self._env), "process": process, "type": kind}
            line.update({"f": "write", "key": key, "value": value})
            if kind == "ok":
                line["revision"] = revision
            self._lines.append(self._encode(line))
            self.counts[kind] += 1

    def __len__(self) -> int:
        return len(self._lines)

    def text(self) -> str:
        return "".join(line + "\n" for line in self._lines)
