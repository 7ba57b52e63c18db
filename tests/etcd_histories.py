"""Writing etcd histories for the etcd model's tests: a recorder of history.jsonl lines
and a tiny reference store that answers requests as etcd would (written apart from the
model, so that the tests hold the model to an independent account of etcd)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def kv(key: str, value: str, create: int, mod: int, version: int) -> dict[str, Any]:
    return {"key": key, "value": value, "create_revision": create, "mod_revision": mod, "version": version}


@dataclass
class Recorder:
    """history.jsonl lines, one call at a time; `time` is the index."""

    lines: list[dict[str, Any]] = field(default_factory=list)

    def _add(self, process: int, kind: str, f: str, value: Any, error: str | None = None) -> None:
        index = len(self.lines)
        line = {"index": index, "time": index, "process": process, "type": kind, "f": f, "key": "", "value": value}
        if error is not None:
            line["error"] = error
        self.lines.append(line)

    def invoke(self, process: int, f: str, request: dict[str, Any]) -> None:
        self._add(process, "invoke", f, request)

    def ok(self, process: int, f: str, response: dict[str, Any]) -> None:
        self._add(process, "ok", f, response)

    def fail(self, process: int, f: str, error: str) -> None:
        self._add(process, "fail", f, None, error)

    def info(self, process: int, f: str) -> None:
        self._add(process, "info", f, None)

    def call(self, process: int, f: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        self.invoke(process, f, request)
        self.ok(process, f, response)

    def text(self) -> str:
        return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in self.lines)

    def write(self, path: Path) -> Path:
        path.write_text(self.text(), encoding="utf-8")
        return path


COMPACTED = "etcdserver: mvcc: required revision has been compacted"
FUTURE = "etcdserver: mvcc: required revision is a future revision"


class ReferenceStore:
    """etcd's data API in the plainest form: a dict of kvs and a revision; every past
    state kept (for reads at a revision). `answer(f, request)` returns (response, error)."""

    def __init__(self) -> None:
        self.revision = 1
        self.compacted = -1  # nothing compacted, as etcd's compactMainRev
        self.kvs: dict[str, dict[str, Any]] = {}
        self.past: dict[int, dict[str, dict[str, Any]]] = {1: {}}

    def answer(self, f: str, request: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        if f == "compact":
            wanted = request["revision"]
            if wanted <= self.compacted:
                return None, COMPACTED
            if wanted > self.revision:
                return None, FUTURE
            self.compacted = wanted
            return {"header": {"revision": self.revision}}, None
        if f == "range" and request.get("revision", 0):
            wanted = request["revision"]
            if wanted < self.compacted:
                return None, COMPACTED
            if wanted > self.revision:
                return None, FUTURE
        working = {key: dict(value) for key, value in self.kvs.items()}
        response, changed = self._apply(f, request, working, self.revision + 1)
        if changed:
            self.revision += 1
            self.kvs = working
            self.past[self.revision] = {key: dict(value) for key, value in working.items()}
        response["header"] = {"revision": self.revision}
        return response, None

    def _apply(self, f: str, request: dict[str, Any], working: dict[str, Any], new: int) -> tuple[dict[str, Any], bool]:
        if f == "range":
            return self._range(request, working), False
        if f == "put":
            previous = working.get(request["key"])
            if previous is None:
                working[request["key"]] = kv(request["key"], request.get("value", ""), new, new, 1)
            else:
                working[request["key"]] = kv(
                    request["key"], request.get("value", ""), previous["create_revision"], new, previous["version"] + 1
                )
            response: dict[str, Any] = {}
            if request.get("prev_kv") and previous is not None:
                response["prev_kv"] = previous
            return response, True
        if f == "delete":
            found = self._keys(request, working)
            previous_kvs = [working.pop(key) for key in found]
            response = {"deleted": len(found)} if found else {}
            if request.get("prev_kv") and previous_kvs:
                response["prev_kvs"] = previous_kvs
            return response, bool(found)
        assert f == "txn", f
        return self._txn(request, working, new)

    def _txn(self, request: dict[str, Any], working: dict[str, Any], new: int) -> tuple[dict[str, Any], bool]:
        before = {key: dict(value) for key, value in working.items()}
        succeeded = all(self._holds(compare, before) for compare in request.get("compare", []))
        responses = []
        changed = False
        names = {"request_range": "range", "request_put": "put", "request_delete_range": "delete"}
        for item in request.get("success" if succeeded else "failure", []):
            ((name, body),) = item.items()
            nested, nested_changed = self._apply(names[name], body, working, new)
            changed = changed or nested_changed
            responses.append({"response" + name.removeprefix("request"): nested})
        response: dict[str, Any] = {"responses": responses} if responses else {}
        if succeeded:
            response["succeeded"] = True
        return response, changed

    @staticmethod
    def _holds(compare: dict[str, Any], state: dict[str, Any]) -> bool:
        target = compare.get("target", "VERSION")
        field_name = {"VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision", "VALUE": "value"}[
            target
        ]
        entry = state.get(compare["key"])
        if entry is None and target == "VALUE":
            return False
        actual = 0 if entry is None else entry[field_name]
        operand = compare[field_name]
        result = compare.get("result", "EQUAL")
        return {
            "EQUAL": actual == operand,
            "NOT_EQUAL": actual != operand,
            "LESS": actual < operand,
            "GREATER": actual > operand,
        }[result]

    @staticmethod
    def _keys(request: dict[str, Any], state: dict[str, Any]) -> list[str]:
        key, end = request["key"], request.get("range_end", "")
        if not end:
            return [key] if key in state else []
        return sorted(name for name in state if name >= key and (end == "\u0000" or name < end))

    def _range(self, request: dict[str, Any], working: dict[str, Any]) -> dict[str, Any]:
        state = working
        if request.get("revision", 0):
            state = self.past[max(r for r in self.past if r <= request["revision"])]
        found = [state[key] for key in self._keys(request, state)]
        response: dict[str, Any] = {}
        if found:
            response["count"] = len(found)
        if request.get("count_only"):
            return response
        if request.get("sort_order") == "DESCEND":
            found.reverse()
        limit = request.get("limit", 0)
        if 0 < limit < len(found):
            found = found[:limit]
            response["more"] = True
        if found:
            response["kvs"] = [dict(item) for item in found]
            if request.get("keys_only"):
                for item in response["kvs"]:
                    del item["value"]
        return response
