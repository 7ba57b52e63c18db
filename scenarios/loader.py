"""Reading, validating and writing scenario files.

Validation is driven by the dataclasses of `scenarios.model` plus a table of limits, so a
new field needs one line here; a workload kind's own `[workload]` settings are checked by
the declarations of its module (`workloads.Option`) and need none. Every mistake is
reported as one line naming the file, the line and the field (`file:line: table.field:
what is wrong`); nothing is guessed, and nothing a file says is silently ignored: a value
that would have no effect is an error too.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import re
import reprlib
import stat
import tomllib
import typing
import unicodedata
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import tomli_w

from checkers.errors import InputError
from raftcore.backup import decode_backup
from raftcore.bugs import BUGS
from raftcore.restore import restored_keys, restored_snapshot
from raftcore.types import READ_ONLY_OPTIONS
from scenarios import model
from scenarios.model import FaultSpec, LinksSpec, RestoreSpec, Scenario, WorkloadSpec
from scenarios.positions import KeyLines, deepest, unclosed_string
from workloads import Option
from workloads import get as get_workload
from workloads import kinds as workload_kinds

# A scenario is a page of text; a resolved one with the longest schedule allowed is a few
# megabytes. Anything larger is refused before it is read.
MAX_BYTES = 4 * 1024 * 1024
# Arrays and inline tables nest at most this deep, and dotted keys have at most this many
# parts (a scenario needs three of either).
MAX_DEPTH = 32
MAX_DESCRIPTION = 1000
# A name becomes a folder name (runs/NAME-SEED, fuzz/NAME): nothing a shell or a file
# system treats specially.
NAME_RULE = "ASCII letters, digits, '-', '_' and '.', starting with a letter or digit, at most 100 characters"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]{1,60}")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# The tables swarm mode draws from the seed: written in a swarm file they would be ignored.
SWARM_TABLES = ("cluster", "network", "disk", "clock", "workload", "nemesis", "links")
# The fields each fault kind acts on (besides kind, start_ms, duration_ms and after).
_FAULT_FIELDS = {
    "partition": ("shape", "one_way", "target"),
    "crash": ("target",),
    "pause": ("target",),
    "clock": ("target", "mode", "drift_ppm", "offset_ms", "delta_ms", "strobe_period_ms"),
    "link": ("loss", "duplicate"),
    "disk": ("target", "effect", "slow_factor"),
    "delay": ("target", "delay_ms", "share"),
    "member": ("target",),
    "transfer": ("target",),
}
# The fields each clock mode acts on (besides target).
_CLOCK_MODE_FIELDS = {
    "set": ("drift_ppm", "offset_ms"),
    "bump": ("delta_ms",),
    "strobe": ("delta_ms", "strobe_period_ms"),
}
# The fields each disk effect acts on (besides target).
_DISK_EFFECT_FIELDS = {"slow": ("slow_factor",), "torn": (), "flip": (), "full": ()}
_FAULT_DEFAULTS = {f.name: f.default for f in dataclasses.fields(FaultSpec)}
MAX_BACKUP_BYTES = 64 * 1024 * 1024
"""A backup larger than this is refused before it is read."""
RESTORABLE_MODELS = ("register", "cas-register")
"""The models that can judge a run restored from a backup: a restored run's history starts
with the restored keys as writes (`sim.world`), which these models read as any write. The
etcd model would need each key's create revision and version too."""


class ScenarioError(InputError):
    """A mistake in a scenario, located as precisely as the file allows."""

    def __str__(self) -> str:
        # Paths, keys and values come from the file or the command line: whatever they
        # hold, the message stays one printable line.
        return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), super().__str__())


# Limits: field path -> (minimum, maximum) for numbers, or allowed words for strings.
_RANGES: dict[str, tuple[float, float]] = {
    "seed": (0, 2**63 - 1),
    "duration_ms": (0, 24 * 3600 * 1000),
    "cluster.nodes": (1, model.MAX_NODES),
    "cluster.tick_ms": (1, 10_000),
    "cluster.election_ticks": (2, 1000),
    "cluster.heartbeat_ticks": (1, 999),
    "cluster.max_entries_per_message": (1, 100_000),
    "cluster.snapshot_every": (0, 10_000_000),
    "cluster.snapshot_catch_up": (0, 10_000_000),
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
    "nemesis.burst_faults": (1, 100),
    "nemesis.burst_window_ms": (0, 3_600_000),
    "nemesis.triggered": (0.0, 1.0),
    "faults.start_ms": (0, 24 * 3600 * 1000),
    "faults.duration_ms": (0, 24 * 3600 * 1000),
    "faults.drift_ppm": (-900_000, 1_000_000),
    "faults.offset_ms": (-3_600_000, 3_600_000),
    "faults.delta_ms": (-3_600_000, 3_600_000),
    "faults.strobe_period_ms": (1, 3_600_000),
    "faults.loss": (0.0, 0.95),
    "faults.duplicate": (0.0, 0.95),
    "faults.slow_factor": (1, 10_000),
    "faults.delay_ms": (1, 600_000),
    "faults.share": (0.01, 1.0),
    "links.extra_latency_us": (0, 10_000_000),
    "links.loss": (0.0, 0.95),
    "phases.quiet_ms": (0, 3_600_000),
    "phases.leader_bound_ms": (1, 3_600_000),
    "phases.final_reads_limit_ms": (1, 3_600_000),
    "checks.max_disruptions": (0, 1_000_000),
    "checks.progress_bound_ms": (1, 3_600_000),
}
# Allowed words; `workload.kind` is asked of the workloads package each time (see `choose`).
_CHOICES: dict[str, tuple[str, ...]] = {
    "cluster.read_only": READ_ONLY_OPTIONS,
    "checks.serializable_reads": model.SERIALIZABLE_JUDGEMENTS,
    "nemesis.mode": model.NEMESIS_MODES,
    "nemesis.kinds": model.ALL_FAULT_KINDS,
    "nemesis.disk_effects": model.DISK_EFFECTS,
    "faults.kind": model.ALL_FAULT_KINDS,
    "faults.shape": model.PARTITION_SHAPES,
    "faults.target": model.TARGET_WORDS + tuple(w for w in model.TRANSFER_TARGETS if w not in model.TARGET_WORDS),
    "faults.after": model.TRIGGERS,
    "faults.mode": model.CLOCK_MODES,
    "faults.effect": model.DISK_EFFECTS,
}
_SECTIONS = typing.get_type_hints(Scenario)
_OPTIONAL_INT = int | None

_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = _SHOWN.maxlong = 60
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict = 2, 6, 4


def _show(value: Any) -> str:
    """A value as a message shows it: short, one line, however large or deep it is, and
    booleans as TOML writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _SHOWN.repr(value)


def unknown_builtin(name: str) -> str:
    """What to say of a built-in scenario name that is none: the closest ones, and where to
    find them all (the whole list no longer fits on the one line an error gets)."""
    names = builtin_names()
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f"{hint}built-in ones: `raftsim scenarios` lists all {len(names)}"


def builtin_names() -> list[str]:
    folder = resources.files("scenarios") / "builtin"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a scenario file by path."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return parse(_read(name_or_path), name_or_path, Path(name_or_path).parent)
    if name_or_path not in builtin_names():
        raise ScenarioError(name_or_path or "''", None, None, f"unknown scenario; {unknown_builtin(name_or_path)}")
    folder = resources.files("scenarios") / "builtin"
    text = (folder / f"{name_or_path}.toml").read_text("utf-8")
    return parse(text, f"<built-in {name_or_path}>", folder)


def _read(name: str) -> str:
    """The text of a scenario file; anything that is not a readable regular file of UTF-8
    text of sensible size is refused before (or instead of) reading it."""
    path = Path(name)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ScenarioError(name, None, None, "no such scenario file") from None
    except (OSError, ValueError) as error:
        raise ScenarioError(name, None, None, f"cannot read: {getattr(error, 'strerror', None) or error}") from None
    kind = _kind_of(mode)
    if kind is not None:
        raise ScenarioError(name, None, None, f"is {kind}, not a scenario file")
    try:
        # Opened without blocking and checked again once open: a file swapped for a pipe
        # after the check above must not hang the command.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
            kind = _kind_of(os.fstat(file.fileno()).st_mode)
            data = b"" if kind else file.read(MAX_BYTES + 1)
    except OSError as error:
        raise ScenarioError(name, None, None, f"cannot read: {error.strerror or error}") from None
    if kind is not None:
        raise ScenarioError(name, None, None, f"is {kind}, not a scenario file")
    if len(data) > MAX_BYTES:
        raise ScenarioError(name, None, None, f"larger than {MAX_BYTES // (1024 * 1024)} MiB; not a scenario file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ScenarioError(name, line, None, f"not UTF-8 text: byte {error.start} ({error.reason})") from None


def _kind_of(mode: int) -> str | None:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) else "not a regular file"


def parse(text: str, path: str, folder: Traversable | None = None) -> Scenario:
    """The scenario a TOML text describes; `path` names it in error messages, and a
    `[restore] backup` path is read relative to `folder` (default: the current folder)."""
    document = _document(text, path)
    return _Validator(text, path, Path(".") if folder is None else folder).scenario(document)


def _document(text: str, path: str) -> dict[str, Any]:
    if not text.strip():
        raise ScenarioError(path, None, None, 'the file is empty; a scenario needs at least name = "..."')
    if text.startswith("\ufeff"):
        raise ScenarioError(path, 1, None, "starts with a byte order mark; save the file as UTF-8 without one")
    if len(text) > MAX_BYTES:
        raise ScenarioError(path, None, None, f"larger than {MAX_BYTES // (1024 * 1024)} MiB; not a scenario file")
    too_deep = deepest(text, MAX_DEPTH)
    if too_deep is not None:
        line, what = too_deep
        raise ScenarioError(
            path,
            line,
            None,
            f"arrays or inline tables nested more than {MAX_DEPTH} deep"
            if what == "nesting"
            else f"a dotted key of more than {MAX_DEPTH} parts",
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"\(at line (\d+)", str(error))
        message = re.sub(r"\s*\(at (line|end of document).*\)", "", str(error))
        at_line = int(found.group(1)) if found else _line_at_end(text, message)
        raise ScenarioError(path, at_line, None, f"not valid TOML: {message}") from None
    except ValueError as error:  # an integer too long to convert, among others
        long_number = re.search(r"[0-9_]{4000,}", text)
        at_line = text.count("\n", 0, long_number.start()) + 1 if long_number else None
        raise ScenarioError(path, at_line, None, f"not valid TOML: {_first_sentence(error)}") from None
    except RecursionError:  # a backstop: the nesting check above comes first
        raise ScenarioError(path, None, None, "not valid TOML: nested too deep") from None


def _line_at_end(text: str, message: str) -> int | None:
    """The line to blame when the parser only noticed a mistake at the end of the text."""
    found = None
    if "overwrite" in message:
        found = KeyLines(text).repeated
    elif "Unterminated string" in message:
        found = unclosed_string(text)
    return found or text.rstrip().count("\n") + 1


def _first_sentence(error: Exception) -> str:
    return str(error).split(";")[0].split("\n")[0][:200]


def to_toml(scenario: Scenario) -> str:
    """The scenario as a file that `parse` reads back to an equal value. A swarm scenario
    leaves out the tables swarm mode draws (they would be ignored)."""
    document: dict[str, Any] = {}
    for f in dataclasses.fields(scenario):
        value = getattr(scenario, f.name)
        if f.metadata.get("added") and value == f.default:
            continue
        if f.name == "faults":
            document["faults"] = [_plain(fault) for fault in value]
        elif isinstance(value, RestoreSpec):
            document["restore"] = {"backup": value.backup}  # the text stays in its own file
        elif f.name == "links":
            document["links"] = [_plain(links) for links in value]
        elif scenario.swarm and f.name in SWARM_TABLES:
            continue
        elif isinstance(value, WorkloadSpec):
            document[f.name] = _workload_table(value)
        elif dataclasses.is_dataclass(value):
            table = _plain(value)
            if table:  # a table of unset (None) fields only is left out, as TOML has no null
                document[f.name] = table
        else:
            document[f.name] = list(value) if isinstance(value, tuple) else value
    return tomli_w.dumps(document)


def _workload_table(workload: WorkloadSpec) -> dict[str, Any]:
    """The `[workload]` table: the shared fields, then the kind's own settings as keys of
    their own (none for a kind that declares none, so its table is the shared fields alone)."""
    table = _plain(workload)
    del table["options"]
    table.update(workload.options)
    return table


def _plain(value: Any) -> dict[str, Any]:
    """A spec as a TOML table; a None field is left out (TOML has no null, and the loader
    reads an absent key as None), and so is an added field at its default (`model.ADDED`)."""
    return {
        f.name: list(getattr(value, f.name)) if isinstance(getattr(value, f.name), tuple) else getattr(value, f.name)
        for f in dataclasses.fields(value)
        if getattr(value, f.name) is not None and not (f.metadata.get("added") and getattr(value, f.name) == f.default)
    }


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _field_name(key: str) -> str:
    """A key as the message names it: bare if TOML would write it bare, else quoted and short."""
    return key if _BARE_KEY.fullmatch(key) else _show(key)


class _Validator:
    """Turns a parsed TOML document into a Scenario, or raises the first mistake."""

    def __init__(self, text: str, path: str, folder: Traversable) -> None:
        self.text = text
        self.path = path
        self.folder = folder
        self.backup_read = ""
        """Where `[restore] backup` was read from, for the messages about its content."""

    def fail(
        self, table: str, key: str | None, index: int | None, message: str, item: int | None = None
    ) -> typing.NoReturn:
        location: tuple[str | int, ...] = tuple(part for part in (table or None, index, key, item) if part is not None)
        line = KeyLines(self.text, until=location).line_of(location)
        shown_key = _field_name(key) if key is not None else None
        where = ".".join(p for p in (table, shown_key) if p)
        if index is not None:
            where = f"{table}[{index}]" + (f".{shown_key}" if shown_key else "")
        raise ScenarioError(self.path, line, where or None, message)

    def scenario(self, document: dict[str, Any]) -> Scenario:
        values: dict[str, Any] = {}
        for key, raw in document.items():
            if key not in _SECTIONS:
                self.fail("", key, None, f"unknown key; known: {', '.join(_SECTIONS)}")
            if document.get("swarm") is True and key in SWARM_TABLES:
                self.fail(
                    "",
                    key,
                    None,
                    "swarm = true draws this table from the seed, so it would be ignored; "
                    "remove it or set swarm = false",
                )
            spec_type = _SECTIONS[key]
            if key == "faults":
                values[key] = self.faults(raw, document)
            elif key == "restore":
                values[key] = self.restore(raw)
            elif key == "links":
                values[key] = self.links(raw)
            elif dataclasses.is_dataclass(spec_type):
                if not isinstance(raw, dict):
                    self.fail("", key, None, f"must be a table, not {_show(raw)}")
                values[key] = self.workload(raw) if spec_type is WorkloadSpec else self.table(spec_type, key, raw, None)
            else:
                values[key] = self.value(spec_type, "", key, None, raw)
        if "name" not in values:
            self.fail("", "name", None, "missing")
        scenario = Scenario(**values)
        self.cross_check(scenario)
        if scenario.restore is not None:
            self.restorable(scenario, scenario.restore)
        return scenario

    def restore(self, raw: Any) -> RestoreSpec:
        """The `[restore]` table: the backup file, read and checked whole (its format,
        version and checksum, then the store it holds) before anything runs."""
        if not isinstance(raw, dict):
            self.fail("", "restore", None, f"must be a table, not {_show(raw)}")
        for key in raw:
            if key != "backup":
                self.fail("restore", key, None, "unknown key; known: backup")
        if "backup" not in raw:
            self.fail("restore", None, None, "missing field 'backup'")
        name = self.value(str, "restore", "backup", None, raw["backup"])
        if not name or _UNPRINTABLE.search(name):
            self.fail("restore", "backup", None, f"{_show(name)} is not a path to a backup file")
        where = Path(name) if Path(name).is_absolute() else self.folder / name
        if isinstance(where, Path):
            where = where.absolute()  # a scenario written out again names the same file
        try:
            data = where.read_bytes() if where.is_file() else None
        except OSError as error:
            self.fail("restore", "backup", None, f"{where}: cannot read: {error.strerror or error}")
        if data is None:
            self.fail("restore", "backup", None, f"{where}: no such backup file")
        if len(data) > MAX_BACKUP_BYTES:
            self.fail("restore", "backup", None, f"{where}: larger than {MAX_BACKUP_BYTES >> 20} MiB")
        try:
            text = data.decode("utf-8")
            restored_snapshot(decode_backup(text, str(where)), (1,))
        except UnicodeDecodeError as error:
            self.fail("restore", "backup", None, f"{where}: not UTF-8 text: byte {error.start}")
        except ValueError as error:
            message = str(error)
            shown = message if message.startswith(str(where)) else f"{where}: data: {message}"
            self.fail("restore", "backup", None, shown)
        self.backup_read = str(where)
        return RestoreSpec(str(where), text)

    def restorable(self, scenario: Scenario, restore: RestoreSpec) -> None:
        """The run's history can be judged from the restored store: a workload whose model
        reads the restored keys as writes (`RESTORABLE_MODELS`), holding values it takes."""
        where = self.backup_read
        if scenario.swarm:
            self.fail("restore", "backup", None, f"{where}: swarm = true draws the workload; a restore needs it fixed")
        workload = get_workload(scenario.workload.kind)
        if workload.model_name not in RESTORABLE_MODELS:
            self.fail(
                "restore",
                "backup",
                None,
                f"{where}: workload {workload.kind} is judged by the {workload.model_name} model, which cannot "
                f"start from a restored store; restore runs take a workload judged by {', '.join(RESTORABLE_MODELS)}",
            )
        for kv in restored_keys(decode_backup(restore.text, where)):
            if type(kv.value) is not int:
                self.fail(
                    "restore",
                    "backup",
                    None,
                    f"{where}: key {_show(kv.key)} holds {_show(kv.value)}: "
                    f"the {workload.kind} workload's keys hold integers",
                )

    def faults(self, raw: Any, document: dict[str, Any]) -> tuple[FaultSpec, ...]:
        if not isinstance(raw, list):
            self.fail("", "faults", None, "must be an array of tables ([[faults]])")
        nemesis = document.get("nemesis")
        drawn = document.get("swarm") is True or (isinstance(nemesis, dict) and nemesis.get("mode") == "random")
        most = model.MAX_WRITTEN_FAULTS if drawn else model.MAX_FAULTS
        if len(raw) > most:
            self.fail(
                "",
                "faults",
                None,
                f"{len(raw)} faults; at most {most}" + (" when more are drawn from the seed" if drawn else ""),
            )
        return tuple(self.table(FaultSpec, "faults", item, i) for i, item in enumerate(raw))

    def links(self, raw: Any) -> tuple[LinksSpec, ...]:
        if not isinstance(raw, list):
            self.fail("", "links", None, "must be an array of tables ([[links]])")
        if len(raw) > model.MAX_LINKS:
            self.fail("", "links", None, f"{len(raw)} entries; at most {model.MAX_LINKS}")
        return tuple(self.table(LinksSpec, "links", item, i) for i, item in enumerate(raw))

    def table(self, cls: Any, table: str, raw: Any, index: int | None) -> Any:
        if not isinstance(raw, dict):
            self.fail(table, None, index, f"must be a table, not {_show(raw)}")
        hints = _hints(cls)
        values = {}
        for key, item in raw.items():
            if key not in hints:
                self.fail(table, key, index, f"unknown key; known: {', '.join(hints)}")
            values[key] = self.value(hints[key], table, key, index, item)
        if cls is FaultSpec:
            for required in ("kind", "start_ms", "duration_ms"):
                if required not in values:
                    self.fail(table, None, index, f"missing field '{required}'")
            self.fault_fields(values, index)
        if cls is LinksSpec:
            for required in ("from_nodes", "to_nodes"):
                if required not in values:
                    self.fail(table, None, index, f"missing field '{required}'")
        return cls(**values)

    def workload(self, raw: dict[str, Any]) -> WorkloadSpec:
        """The `[workload]` table: the shared fields, and the settings its kind declares
        (`workloads.Option`), each checked by its declaration and accepted for that kind
        only; one left out takes its default, so the options always list every setting."""
        shared = {name: hint for name, hint in _hints(WorkloadSpec).items() if name != "options"}
        kind = self.value(str, "workload", "kind", None, raw["kind"]) if "kind" in raw else WorkloadSpec().kind
        chosen = get_workload(kind)
        values: dict[str, Any] = {}
        options: dict[str, Any] = {}
        for key, item in raw.items():
            option = chosen.option(key)
            if key in shared:
                values[key] = self.value(shared[key], "workload", key, None, item)
            elif option is not None:
                options[key] = self.option_value(option, item)
            else:
                known = [*shared, *(declared.name for declared in chosen.options)]
                self.fail("workload", key, None, f"unknown key; known: {', '.join(known)}")
        for option in chosen.options:
            options.setdefault(option.name, option.default)
        return WorkloadSpec(**values, options=tuple(sorted(options.items())))

    def option_value(self, option: Option, raw: Any) -> Any:
        """A workload's own setting, refused in the words of the shared ones."""
        key = option.name
        if option.kind is bool or option.kind is str:
            value = self.value(option.kind, "workload", key, None, raw)
            if option.choices and value not in option.choices:
                self.fail("workload", key, None, f"{_show(value)} is not one of {', '.join(option.choices)}")
            return value
        assert option.low is not None
        assert option.high is not None
        bounds = (option.low, option.high)
        return self.number(option.kind, "workload", key, None, raw, f"workload.{key}", bounds=bounds)

    def fault_fields(self, values: dict[str, Any], index: int | None) -> None:
        """A field the fault's kind does not act on must not be set: it would be ignored."""
        kind = values["kind"]
        for key, value in values.items():
            if key in ("kind", "start_ms", "duration_ms", "after") or value == _FAULT_DEFAULTS[key]:
                continue
            if key not in _FAULT_FIELDS[kind]:
                acts_on = ", ".join(_FAULT_FIELDS[kind])
                self.fail("faults", key, index, f"has no effect on a {kind} fault (it uses {acts_on})")
        if kind == "clock":
            mode = values.get("mode", _FAULT_DEFAULTS["mode"])
            for key, value in values.items():
                owner = [name for name, fields in _CLOCK_MODE_FIELDS.items() if key in fields]
                if owner and mode not in owner and value != _FAULT_DEFAULTS[key]:
                    uses = ", ".join(_CLOCK_MODE_FIELDS[mode])
                    self.fail("faults", key, index, f'has no effect on a clock fault of mode "{mode}" (it uses {uses})')
        if kind == "disk":
            effect = values.get("effect", _FAULT_DEFAULTS["effect"])
            for key, value in values.items():
                owner = [name for name, fields in _DISK_EFFECT_FIELDS.items() if key in fields]
                if owner and effect not in owner and value != _FAULT_DEFAULTS[key]:
                    uses = ", ".join(_DISK_EFFECT_FIELDS[effect]) or "no other field"
                    self.fail(
                        "faults", key, index, f'has no effect on a disk fault of effect "{effect}" (it uses {uses})'
                    )
        shape = values.get("shape", _FAULT_DEFAULTS["shape"])
        target = values.get("target", _FAULT_DEFAULTS["target"])
        self.transfer_target(kind, target, index)
        if kind == "partition" and target != _FAULT_DEFAULTS["target"]:
            if shape != "isolate-node":
                self.fail(
                    "faults",
                    "target",
                    index,
                    f"has no effect on a {shape} partition (its sides are "
                    "drawn from the seed); only isolate-node takes a target",
                )
            if target != "leader" and not (isinstance(target, tuple) and len(target) == 1):
                self.fail(
                    "faults",
                    "target",
                    index,
                    'an isolate-node partition isolates one node: give "random", "leader" or one node id',
                )

    def transfer_target(self, kind: str, target: Any, index: int | None) -> None:
        """A transfer hands leadership to one follower: a word of `TRANSFER_TARGETS` or one
        node id; `lagging` means nothing to any other kind."""
        if kind != "transfer":
            if target == "lagging":
                message = f'"lagging" names the target of a transfer fault only, not of a {kind} fault'
                self.fail("faults", "target", index, message)
            return
        if target not in model.TRANSFER_TARGETS and not (isinstance(target, tuple) and len(target) == 1):
            words = ", ".join(f'"{word}"' for word in model.TRANSFER_TARGETS)
            message = f"a transfer hands leadership to one node: give {words} or one node id"
            self.fail("faults", "target", index, message)

    def value(self, hint: Any, table: str, key: str, index: int | None, raw: Any) -> Any:
        field_path = f"{table}.{key}" if table else key
        if hint is bool:
            if not isinstance(raw, bool):
                self.fail(table, key, index, f"must be true or false, not {_show(raw)}")
            return raw
        if hint is int or hint is float:
            return self.number(hint, table, key, index, raw, field_path)
        if hint == _OPTIONAL_INT:  # None is the absence of the key: a file writes a number
            return self.number(int, table, key, index, raw, field_path)
        if hint is str:
            if not isinstance(raw, str):
                self.fail(table, key, index, f"must be a string, not {_show(raw)}")
            self.choose(field_path, table, key, index, raw)
            self.text_rules(field_path, raw)
            return raw
        return self.compound(hint, table, key, index, raw, field_path)

    def text_rules(self, field_path: str, raw: str) -> None:
        if field_path == "name" and not _NAME.fullmatch(raw):
            self.fail(
                "",
                "name",
                None,
                f"{_show(raw)} is not a valid name: it names the run's folder, so it may hold {NAME_RULE}",
            )
        if field_path == "description":
            if len(raw) > MAX_DESCRIPTION:
                self.fail("", "description", None, f"{len(raw)} characters; at most {MAX_DESCRIPTION}")
            if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in raw):
                self.fail("", "description", None, "must be one line of printable text (no control characters)")

    def number(
        self,
        hint: Any,
        table: str,
        key: str,
        index: int | None,
        raw: Any,
        field_path: str,
        item: int | None = None,
        *,
        bounds: tuple[float, float] | None = None,
    ) -> Any:
        """A number of type `hint` within `bounds` (by default the field's `_RANGES`)."""
        allowed = (int,) if hint is int else (int, float)
        if isinstance(raw, bool) or not isinstance(raw, allowed):
            wanted = "an integer" if hint is int else "a number"
            self.fail(table, key, index, f"must be {wanted}, not {_show(raw)}", item)
        low, high = _RANGES[field_path] if bounds is None else bounds
        if not low <= raw <= high:
            self.fail(table, key, index, f"{_show(raw)} is out of range [{low}, {high}]", item)
        return hint(raw)

    def choose(
        self, field_path: str, table: str, key: str, index: int | None, raw: str, item: int | None = None
    ) -> None:
        choices = workload_kinds() if field_path == "workload.kind" else _CHOICES.get(field_path)
        if choices is not None and raw not in choices:
            self.fail(table, key, index, f"{_show(raw)} is not one of {', '.join(choices)}", item)

    def compound(self, hint: Any, table: str, key: str, index: int | None, raw: Any, field_path: str) -> Any:
        if field_path == "faults.target":
            return self.target(table, key, index, raw, field_path)
        if field_path in ("links.from_nodes", "links.to_nodes"):
            return self.node_list(table, key, index, raw)
        if not isinstance(raw, list):
            self.fail(table, key, index, f"must be a list, not {_show(raw)}")
        if field_path in ("nemesis.fault_duration_ms", "nemesis.burst_faults"):
            if len(raw) != 2:
                self.fail(table, key, index, "must be [minimum, maximum]")
            pair = tuple(self.number(int, table, key, index, item, field_path, i) for i, item in enumerate(raw))
            if pair[0] > pair[1]:
                self.fail(table, key, index, "minimum exceeds maximum")
            return pair
        items: list[str] = []
        for i, item in enumerate(raw):
            if not isinstance(item, str):
                self.fail(table, key, index, f"items must be strings, not {_show(item)}", i)
            self.choose(field_path, table, key, index, item, i)
            if field_path == "bugs" and item not in BUGS:
                # The known bugs are too many for one line: their list is a command away.
                self.fail(table, key, index, f"unknown bug {_show(item)}; `raftsim bugs` lists the known ones", i)
            if item in items:
                self.fail(table, key, index, f"{_show(item)} is listed twice", i)
            items.append(item)
        if field_path == "nemesis.kinds" and not items:
            self.fail(table, key, index, f"must name at least one fault kind of {', '.join(model.ALL_FAULT_KINDS)}")
        if field_path == "nemesis.disk_effects" and not items:
            self.fail(table, key, index, f"must name at least one disk effect of {', '.join(model.DISK_EFFECTS)}")
        return tuple(items)

    def target(self, table: str, key: str, index: int | None, raw: Any, field_path: str) -> Any:
        if isinstance(raw, str):
            self.choose(field_path, table, key, index, raw)
            return raw
        if not isinstance(raw, list) or not raw:
            self.fail(
                table,
                key,
                index,
                f"must be a word ({', '.join(model.TARGET_WORDS)}) or a non-empty list of node ids, not {_show(raw)}",
            )
        return self.node_list(table, key, index, raw)

    def node_list(self, table: str, key: str, index: int | None, raw: Any) -> tuple[int, ...]:
        if not isinstance(raw, list) or not raw:
            self.fail(table, key, index, f"must be a non-empty list of node ids, not {_show(raw)}")
        for i, node in enumerate(raw):
            if isinstance(node, bool) or not isinstance(node, int):
                self.fail(table, key, index, f"node ids are integers, not {_show(node)}", i)
            if node in raw[:i]:
                self.fail(table, key, index, f"node {node} is listed twice", i)
        return tuple(raw)

    def cross_check(self, scenario: Scenario) -> None:
        for problem in model.problems(scenario):
            self.fail(problem.table, problem.key, problem.index, problem.message)
        nemesis = scenario.nemesis
        most = scenario.duration_ms * nemesis.burst_faults[1]  # bursts start several per moment
        if nemesis.mode == "random" and most > model.MAX_DRAWN_FAULTS * nemesis.interval_ms:
            self.fail(
                "nemesis",
                "interval_ms",
                None,
                f"would draw about {most // nemesis.interval_ms}"
                f" faults in duration_ms; at most {model.MAX_DRAWN_FAULTS}: make the interval longer",
            )


def with_seed(scenario: Scenario, seed: int) -> Scenario:
    return dataclasses.replace(scenario, seed=seed)
