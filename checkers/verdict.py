"""One verdict and one checker result, for every checker and every view.

A check ends in one of three verdicts, as Porcupine's `CheckResult` does: the property
holds (VALID), it is broken (INVALID), or the checker could not tell within its budget
(UNKNOWN). This module says once how verdicts combine, how each view words them, how
`verdict.json` writes them and which exit code each one is.

A crash of the system under test is no verdict of its own: it is INVALID, with a `crash`
checker whose one anomaly says when and where. A crash is a finding like any broken
property (a fuzz campaign counts it, shrinking keeps it), and a fourth verdict would only
have to be told apart from INVALID in every place that combines, words or exits on one.

`CheckerResult` is the one shape of a checker's result: the verdict, the anomalies found,
the checker's figures, and the fields only some checkers have (`groups` of anomalies sharing
a cause, a `note`, and `details` such as linearizability's partitions). A field that a
checker does not write is None, not empty, because `verdict.json` tells the two apart: a
valid run's liveness entry holds `"anomalies": []`, its linearizability entry holds none.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from checkers.errors import InputError

JsonVerdict = bool | str
"""How `verdict.json` writes a verdict: `true`, `false` or `"unknown"`."""


class Verdict(enum.Enum):
    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"

    @staticmethod
    def holds(property_holds: bool) -> Verdict:
        """The verdict of a checker that always decides: VALID when the property holds."""
        return Verdict.VALID if property_holds else Verdict.INVALID

    @staticmethod
    def combine(verdicts: Iterable[Verdict]) -> Verdict:
        """The one rule for many verdicts (checkers of a run, partitions of a history, seeds
        of a campaign): one broken property breaks the whole; otherwise one undecided part
        leaves the whole undecided; nothing at all is valid, as an empty history is."""
        seen = frozenset(verdicts)
        assert all(isinstance(verdict, Verdict) for verdict in seen), seen
        if Verdict.INVALID in seen:
            return Verdict.INVALID
        if Verdict.UNKNOWN in seen:
            return Verdict.UNKNOWN
        return Verdict.VALID

    def to_json(self) -> JsonVerdict:
        return _TO_JSON[self]

    @staticmethod
    def parse_json(value: object) -> Verdict | None:
        """The verdict a JSON value writes, or None when it writes none (a number, a string
        other than "unknown", null). `1 == True` in Python, so the type is tested first."""
        if type(value) is bool:
            return Verdict.VALID if value else Verdict.INVALID
        if isinstance(value, str) and value == "unknown":
            return Verdict.UNKNOWN
        return None

    @staticmethod
    def from_json(value: object, path: str, field_name: str) -> Verdict:
        """The verdict a JSON value writes; anything else is bad input naming the field."""
        verdict = Verdict.parse_json(value)
        if verdict is None:
            raise InputError(path, None, field_name, 'expected true, false or "unknown"')
        return verdict

    @property
    def exit_code(self) -> int:
        """The CLI's exit status for this verdict (2 is bad input, never a verdict)."""
        return _EXIT_CODES[self]

    @property
    def word(self) -> str:
        """The plain word, as exit-code help and summaries say it."""
        return _WORDS[self]


_TO_JSON: Mapping[Verdict, JsonVerdict] = {Verdict.VALID: True, Verdict.INVALID: False, Verdict.UNKNOWN: "unknown"}
_EXIT_CODES: Mapping[Verdict, int] = {Verdict.VALID: 0, Verdict.INVALID: 1, Verdict.UNKNOWN: 3}
_WORDS: Mapping[Verdict, str] = {Verdict.VALID: "valid", Verdict.INVALID: "anomaly", Verdict.UNKNOWN: "unknown"}


@dataclass(frozen=True, slots=True)
class Wording:
    """How one view says each verdict, with its terminal style (a rich style string, empty
    where the view has none). Each view keeps the words its readers know."""

    valid: tuple[str, str]
    invalid: tuple[str, str]
    unknown: tuple[str, str]

    def _pair(self, verdict: Verdict) -> tuple[str, str]:
        if verdict is Verdict.VALID:
            return self.valid
        return self.invalid if verdict is Verdict.INVALID else self.unknown

    def word(self, verdict: Verdict) -> str:
        return self._pair(verdict)[0]

    def style(self, verdict: Verdict) -> str:
        return self._pair(verdict)[1]


RUN_SUMMARY = Wording(("valid", "green"), ("ANOMALY", "red bold"), ("unknown", "yellow"))
"""`raftsim run` and `raftsim shrink`: each checker's line and the run's."""
TERMINAL_REPORT = Wording(
    ("valid", "bold green"), ("NOT VALID", "bold red"), ("unknown (out of budget)", "bold yellow")
)
"""`raftsim report --terminal`."""
HTML_REPORT = Wording(("valid", "valid"), ("invalid", "invalid"), ("unknown", "unknown"))
"""`report.html`: the style is the CSS class of the header's badge."""
PICTURE = Wording(("valid", ""), ("NOT VALID", ""), ("undecided", ""))
"""The title of `timeline.png`."""
LINEARIZABILITY = Wording(("linearizable", "green"), ("NOT linearizable", "bold red"), ("unknown", "yellow"))
"""`raftsim check`: the whole history and each key alike."""


@dataclass(frozen=True, slots=True)
class CheckerResult:
    """What one checker found. `anomalies`, `groups` and `stats` hold JSON values (each
    anomaly an object with at least `property` and `message`); `details` holds the fields
    of a checker's own, written right after `valid` in their order (linearizability's
    `model`, `ops`, `ms`, `partitions`, `cause`). None means the checker writes no such
    field."""

    verdict: Verdict
    anomalies: tuple[dict[str, Any], ...] | None = None
    stats: Mapping[str, Any] | None = None
    groups: tuple[dict[str, Any], ...] | None = None
    note: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert isinstance(self.verdict, Verdict), self.verdict
        assert not _KNOWN_FIELDS & set(self.details), sorted(self.details)

    @property
    def found(self) -> tuple[dict[str, Any], ...]:
        """The anomalies, none when the checker lists none."""
        return self.anomalies or ()

    @property
    def partitions(self) -> list[dict[str, Any]]:
        """A partitioned checker's partitions (objects), none for the others."""
        return _objects(self.details.get("partitions"))

    def partitions_with(self, verdict: Verdict) -> list[dict[str, Any]]:
        return [part for part in self.partitions if Verdict.parse_json(part.get("valid")) is verdict]

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"valid": self.verdict.to_json(), **self.details}
        optional = (("anomalies", self.anomalies), ("groups", self.groups), ("stats", self.stats))
        for name, value in optional:
            if value is not None:
                record[name] = list(value) if isinstance(value, tuple) else value
        if self.note is not None:
            record["note"] = self.note
        return record

    @staticmethod
    def from_json(record: dict[str, Any], path: str, name: str, lenient: bool = False) -> CheckerResult:
        """A checker's entry of `verdict.json`. A `valid` that writes no verdict is bad
        input, or with `lenient` (a report draws what it can) UNKNOWN. A known field of the
        wrong type is left out, as is an anomaly or group that is not an object; the rest
        stays in `details`, so a well-formed entry reads back whole."""
        verdict = Verdict.parse_json(record.get("valid"))
        if verdict is None and lenient:
            verdict = Verdict.UNKNOWN
        if verdict is None:
            problem = "missing" if "valid" not in record else 'expected true, false or "unknown"'
            raise InputError(path, None, f"checkers.{name}.valid", problem)
        anomalies, groups, stats, note = (record.get(key) for key in ("anomalies", "groups", "stats", "note"))
        return CheckerResult(
            verdict,
            tuple(_objects(anomalies)) if isinstance(anomalies, list) else None,
            stats if isinstance(stats, dict) else None,
            tuple(_objects(groups)) if isinstance(groups, list) else None,
            note if isinstance(note, str) else None,
            {key: value for key, value in record.items() if key not in _KNOWN_FIELDS},
        )


_KNOWN_FIELDS = frozenset({"valid", "anomalies", "groups", "stats", "note"})


def _objects(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class RunVerdict:
    """A run's `verdict.json`: each checker's result, in the order they ran, and the digest
    of the trace they judged. The run's verdict is derived, never stored apart."""

    checkers: Mapping[str, CheckerResult]
    digest: object = None
    """The trace's sha256 as hex; any JSON value when read from a file of unknown origin."""
    not_judged: Mapping[str, str] = field(default_factory=dict)
    """Checkers the run could not be judged by, each with why (a real cluster's inner
    state is not in its trace): said in the verdict, never passed in silence."""

    @property
    def verdict(self) -> Verdict:
        return Verdict.combine(result.verdict for result in self.checkers.values())

    def failing(self) -> list[str]:
        """The checkers whose verdict is INVALID, in the order they ran."""
        return [name for name, result in self.checkers.items() if result.verdict is Verdict.INVALID]

    def to_json(self) -> dict[str, Any]:
        record = {
            "valid": self.verdict.to_json(),
            "digest": self.digest,
            "checkers": {name: result.to_json() for name, result in self.checkers.items()},
        }
        if self.not_judged:
            record["not_judged"] = dict(self.not_judged)
        return record

    def file_text(self) -> str:
        """`verdict.json` as written: two-space indents, keys in the order above."""
        return json.dumps(self.to_json(), indent=2) + "\n"

    @staticmethod
    def from_json(record: object, path: str, lenient: bool = False) -> RunVerdict:
        """A parsed `verdict.json`; bad input names the field. With `lenient` (a report of
        a file from anywhere draws what it can) no `checkers` is none, an entry that is not
        an object is skipped, and a `valid` that writes no verdict is UNKNOWN. The top-level
        `valid` is not read: it follows from the checkers."""
        if not isinstance(record, dict):
            raise InputError(path, None, None, "expected a JSON object")
        checkers = record.get("checkers", {} if lenient else None)
        if not isinstance(checkers, dict):
            problem = "missing" if checkers is None else "expected an object of checker results"
            raise InputError(path, None, "checkers", problem)
        results: dict[str, CheckerResult] = {}
        for name, result in checkers.items():
            if isinstance(result, dict):
                results[str(name)] = CheckerResult.from_json(result, path, str(name), lenient)
            elif not lenient:
                raise InputError(path, None, f"checkers.{name}.valid", "missing")
        unjudged = record.get("not_judged", {})
        if not isinstance(unjudged, dict):
            if not lenient:
                raise InputError(path, None, "not_judged", "expected an object of checker names and reasons")
            unjudged = {}
        return RunVerdict(results, record.get("digest"), {str(k): str(v) for k, v in unjudged.items()})
