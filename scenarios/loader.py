"""Reading, validating and writing scenario files.

Validation is driven by the dataclasses of `scenarios.model` plus a table of limits, so a
new field needs one line here. Every mistake is reported as one line naming the file, the
line and the field (`file:line: table.field: what is wrong`); nothing is guessed.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from checkers.errors import InputError
from raftcore.bugs import BUGS
from scenarios import model
from scenarios.model import FaultSpec, Scenario


class ScenarioError(InputError):
    """A mistake in a scenario, located as precisely as the file allows."""


# Limits: field path -> (minimum, maximum) for numbers, or allowed words for strings.
_RANGES: dict[str, tuple[float, float]] = {
    "seed": (0, 2**63 - 1),
    "duration_ms": (0, 24 * 3600 * 1000),
    "cluster.nodes": (1, 9),
    "cluster.tick_ms": (1, 10_000),
    "cluster.election_ticks": (2, 1000),
    "cluster.heartbeat_ticks": (1, 999),
    "cluster.max_entries_per_message": (1, 100_000),
    "network.latency_us": (0, 10_000_000),
    "network.jitter_us": (0, 10_000_000),
    "network.client_latency_us": (0, 10_000_000),
    "network.loss": (0.0, 0.95),
    "network.duplicate": (0.0, 0.95),
    "disk.fsync_us": (0, 10_000_000),
    "disk.fsync_jitter_us": (0, 10_000_000),
    "clock.drift_ppm_max": (0, 500_000),
    "workload.clients": (1, 64),
    "workload.keys": (1, 10_000),
    "workload.rate": (1, 100_000),
    "workload.read": (0.0, 1.0),
    "workload.write": (0.0, 1.0),
    "workload.cas": (0.0, 1.0),
    "workload.timeout_ms": (1, 600_000),
    "workload.attempt_timeout_ms": (1, 600_000),
    "nemesis.interval_ms": (1, 24 * 3600 * 1000),
    "nemesis.fault_duration_ms": (0, 24 * 3600 * 1000),
    "faults.start_ms": (0, 24 * 3600 * 1000),
    "faults.duration_ms": (0, 24 * 3600 * 1000),
    "faults.drift_ppm": (-900_000, 1_000_000),
    "faults.offset_ms": (-3_600_000, 3_600_000),
    "faults.loss": (0.0, 0.95),
    "faults.duplicate": (0.0, 0.95),
    "faults.slow_factor": (1, 10_000),
    "phases.quiet_ms": (0, 3_600_000),
    "phases.leader_bound_ms": (1, 3_600_000),
    "phases.final_reads_limit_ms": (1, 3_600_000),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "workload.kind": model.WORKLOAD_KINDS,
    "nemesis.mode": model.NEMESIS_MODES,
    "nemesis.kinds": model.FAULT_KINDS,
    "faults.kind": model.FAULT_KINDS,
    "faults.shape": model.PARTITION_SHAPES,
    "faults.target": model.TARGET_WORDS,
}
_SECTIONS = typing.get_type_hints(Scenario)


def builtin_names() -> list[str]:
    folder = resources.files("scenarios") / "builtin"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a scenario file by path."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise ScenarioError(name_or_path, None, None, "no such scenario file")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise ScenarioError(name_or_path, None, None, f"not UTF-8 text: {error.reason}") from None
        except OSError as error:
            raise ScenarioError(name_or_path, None, None, f"cannot read: {error.strerror}") from None
        return parse(text, str(path))
    if name_or_path not in builtin_names():
        known = ", ".join(builtin_names())
        raise ScenarioError(name_or_path, None, None, f"unknown scenario; built-in ones: {known}")
    text = (resources.files("scenarios") / "builtin" / f"{name_or_path}.toml").read_text("utf-8")
    return parse(text, f"<built-in {name_or_path}>")


def parse(text: str, path: str) -> Scenario:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"\(at line (\d+)", str(error))
        message = re.sub(r"\s*\(at line.*\)", "", str(error))
        raise ScenarioError(path, int(found.group(1)) if found else None, None, message) from None
    return _Validator(text, path).scenario(document)


def to_toml(scenario: Scenario) -> str:
    """The scenario as a file that `parse` reads back to an equal value."""
    document: dict[str, Any] = {}
    for f in dataclasses.fields(scenario):
        value = getattr(scenario, f.name)
        if f.name == "faults":
            document["faults"] = [_plain(fault) for fault in value]
        elif dataclasses.is_dataclass(value):
            document[f.name] = _plain(value)
        else:
            document[f.name] = list(value) if isinstance(value, tuple) else value
    return tomli_w.dumps(document)


def _plain(value: Any) -> dict[str, Any]:
    return {
        f.name: list(getattr(value, f.name)) if isinstance(getattr(value, f.name), tuple)
        else getattr(value, f.name)
        for f in dataclasses.fields(value)
    }


class _Validator:
    """Turns a parsed TOML document into a Scenario, or raises the first mistake."""

    def __init__(self, text: str, path: str) -> None:
        self.lines = text.splitlines()
        self.path = path

    def fail(self, table: str, key: str | None, index: int | None, message: str) -> typing.NoReturn:
        line = self._locate(table, key, index)
        where = ".".join(p for p in (table, key) if p)
        if index is not None:
            where = f"faults[{index}]" + (f".{key}" if key else "")
        raise ScenarioError(self.path, line, where or None, message)

    def scenario(self, document: dict[str, Any]) -> Scenario:
        values: dict[str, Any] = {}
        for key, raw in document.items():
            if key not in _SECTIONS:
                self.fail("", key, None, f"unknown key; known: {', '.join(_SECTIONS)}")
            spec_type = _SECTIONS[key]
            if key == "faults":
                if not isinstance(raw, list):
                    self.fail("", key, None, "must be an array of tables ([[faults]])")
                values[key] = tuple(self.table(FaultSpec, "faults", item, i) for i, item in enumerate(raw))
            elif dataclasses.is_dataclass(spec_type):
                if not isinstance(raw, dict):
                    self.fail("", key, None, "must be a table")
                values[key] = self.table(spec_type, key, raw, None)
            else:
                values[key] = self.value(spec_type, "", key, None, raw)
        if "name" not in values:
            self.fail("", "name", None, "missing")
        scenario = Scenario(**values)
        self.cross_check(scenario)
        return scenario

    def table(self, cls: Any, table: str, raw: Any, index: int | None) -> Any:
        if not isinstance(raw, dict):
            self.fail(table, None, index, "must be a table")
        hints = typing.get_type_hints(cls)
        values = {}
        for key, item in raw.items():
            if key not in hints:
                self.fail(table, key, index, f"unknown key; known: {', '.join(hints)}")
            values[key] = self.value(hints[key], table, key, index, item)
        if cls is FaultSpec:
            for required in ("kind", "start_ms", "duration_ms"):
                if required not in values:
                    self.fail(table, None, index, f"missing field '{required}'")
        return cls(**values)

    def value(self, hint: Any, table: str, key: str, index: int | None, raw: Any) -> Any:
        field_path = f"{table}.{key}" if table else key
        if hint is bool:
            if not isinstance(raw, bool):
                self.fail(table, key, index, f"must be true or false, not {raw!r}")
            return raw
        if hint is int or hint is float:
            return self.number(hint, table, key, index, raw, field_path)
        if hint is str:
            if not isinstance(raw, str):
                self.fail(table, key, index, f"must be a string, not {raw!r}")
            self.choose(field_path, table, key, index, raw)
            return raw
        return self.compound(hint, table, key, index, raw, field_path)

    def number(self, hint: Any, table: str, key: str, index: int | None, raw: Any, field_path: str) -> Any:
        allowed = (int,) if hint is int else (int, float)
        if isinstance(raw, bool) or not isinstance(raw, allowed):
            self.fail(table, key, index, f"must be {'an integer' if hint is int else 'a number'}, not {raw!r}")
        low, high = _RANGES.get(field_path, (0, float("inf")))
        if not low <= raw <= high:
            self.fail(table, key, index, f"{raw} is out of range [{low}, {high}]")
        return hint(raw)

    def choose(self, field_path: str, table: str, key: str, index: int | None, raw: str) -> None:
        choices = _CHOICES.get(field_path)
        if choices is not None and raw not in choices:
            self.fail(table, key, index, f"{raw!r} is not one of {', '.join(choices)}")

    def compound(self, hint: Any, table: str, key: str, index: int | None, raw: Any, field_path: str) -> Any:
        if field_path == "faults.target":
            if isinstance(raw, str):
                self.choose(field_path, table, key, index, raw)
                return raw
            if not isinstance(raw, list) or not raw or not all(
                isinstance(n, int) and not isinstance(n, bool) for n in raw
            ):
                self.fail(table, key, index, "must be a word or a non-empty list of node ids")
            return tuple(raw)
        if not isinstance(raw, list):
            self.fail(table, key, index, f"must be a list, not {raw!r}")
        if field_path == "nemesis.fault_duration_ms":
            if len(raw) != 2:
                self.fail(table, key, index, "must be [minimum, maximum]")
            pair = tuple(self.number(int, table, key, index, item, field_path) for item in raw)
            if pair[0] > pair[1]:
                self.fail(table, key, index, "minimum exceeds maximum")
            return pair
        items = []
        for item in raw:
            if not isinstance(item, str):
                self.fail(table, key, index, f"items must be strings, not {item!r}")
            self.choose(field_path, table, key, index, item)
            items.append(item)
        if field_path == "bugs":
            for item in items:
                if item not in BUGS:
                    self.fail(table, key, index, f"unknown bug {item!r}; known: {', '.join(sorted(BUGS))}")
        return tuple(items)

    def cross_check(self, scenario: Scenario) -> None:
        cluster, workload = scenario.cluster, scenario.workload
        if cluster.heartbeat_ticks >= cluster.election_ticks:
            self.fail("cluster", "heartbeat_ticks", None, "must be smaller than election_ticks")
        if workload.read + workload.write + workload.cas <= 0:
            self.fail("workload", "read", None, "read, write and cas weights are all zero")
        for i, fault in enumerate(scenario.faults):
            if isinstance(fault.target, tuple):
                for node in fault.target:
                    if node not in scenario.node_ids:
                        self.fail("faults", "target", i, f"node {node} does not exist (nodes are 1..{cluster.nodes})")

    def _locate(self, table: str, key: str | None, index: int | None) -> int | None:
        """The line of `key` in `table` (the index-th [[table]] for arrays), else the table's header."""
        current, seen, header_line = "", -1, None
        for number, line in enumerate(self.lines, start=1):
            stripped = line.strip()
            header = re.match(r"^\[\[\s*([\w.-]+)\s*\]\]|^\[\s*([\w.-]+)\s*\]", stripped)
            if header:
                current = header.group(1) or header.group(2)
                if header.group(1) and current == table:
                    seen += 1
                if current == table and (index is None or seen == index):
                    header_line = number
                continue
            in_table = current == table and (index is None or seen == index)
            if key and in_table and re.match(rf"^[\"']?{re.escape(key)}[\"']?\s*=", stripped):
                return number
        return header_line


def with_seed(scenario: Scenario, seed: int) -> Scenario:
    return dataclasses.replace(scenario, seed=seed)
