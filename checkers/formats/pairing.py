"""Turning a foreign format's calls and completions into `Operation`s, with one set of rules.

Every reader of a foreign history (Knossos/Jepsen EDN, Jepsen logs as Porcupine reads them)
decides what each of its records *means*; this module then pairs calls with completions per
process and checks the rules all of them share: a process runs one operation at a time, a
completion answers the open call of its process with the same `f`, and a process whose call
ended in `info` never calls again. Mistakes are reported with the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from checkers.errors import InputError
from checkers.history import COMPARE_FAILED, Operation, Value

OUTCOMES = ("ok", COMPARE_FAILED, "info", "drop")
"""What a completion means: it happened (`ok`); a cas whose compare failed; the outcome is
unknown (`info`: pending forever); or it tells the checker nothing (`drop`: a definite
failure, or a result the format marks as unknown on a read)."""


def _at(line: int | None) -> str:
    return "" if line is None else f" on line {line}"


@dataclass(slots=True)
class _OpenCall:
    position: int
    f: str
    input: Value
    time_us: int | None
    line: int | None


@dataclass(slots=True)
class Pairing:
    """Collects calls and completions in history order; `operations()` gives the result."""

    source: str
    _open: dict[int, _OpenCall] = field(default_factory=dict)
    _crashed: dict[int, int | None] = field(default_factory=dict)
    _done: list[tuple[int, int, str, Value, object, int | None, str, int | None,
                      int | None]] = field(default_factory=list)

    def call(self, position: int, process: int, f: str, input_value: Value,
             time_us: int | None, line: int | None) -> None:
        if process in self._open:
            raise InputError(self.source, line, "process", f"process {process} calls again "
                             f"before its call{_at(self._open[process].line)} completed")
        if process in self._crashed:
            raise InputError(self.source, line, "process", f"process {process} ended with "
                             f"info{_at(self._crashed[process])} and cannot call again")
        self._open[process] = _OpenCall(position, f, input_value, time_us, line)

    def complete(self, position: int, process: int, f: str, outcome: str, output: object,
                 time_us: int | None, line: int | None) -> None:
        assert outcome in OUTCOMES, outcome
        if process not in self._open:
            raise InputError(self.source, line, "process",
                             f"completion without an open call of process {process}")
        opened = self._open.pop(process)
        if f != opened.f:
            raise InputError(self.source, line, "f",
                             f"{f} answers a {opened.f} call{_at(opened.line)}")
        if outcome == "info":
            self._crashed[process] = line
        if outcome in ("drop", "info"):
            if outcome == "info":
                self._record(opened, process, None, None, "info", None)
            return
        self._record(opened, process, output, position, outcome, time_us)

    def _record(self, opened: _OpenCall, process: int, output: object, ret: int | None,
                status: str, return_time_us: int | None) -> None:
        self._done.append((opened.position, process, opened.f, opened.input, output, ret,
                           status, opened.time_us, return_time_us))

    def operations(self) -> list[Operation]:
        """Calls still open at the end are pending forever, like an `info`."""
        for process, opened in sorted(self._open.items()):
            self._record(opened, process, None, None, "info", None)
        self._open.clear()
        self._done.sort(key=lambda done: done[0])
        return [
            Operation(id=number, process=process, client=None, f=f, key=None,
                      input=input_value, output=output,  # type: ignore[arg-type]
                      call=call, ret=ret, status=status, call_time_us=call_time_us,
                      return_time_us=return_time_us)
            for number, (call, process, f, input_value, output, ret, status, call_time_us,
                         return_time_us) in enumerate(self._done)
        ]
