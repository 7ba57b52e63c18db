"""Turning calls and completions into `Operation`s, with one set of rules for every format.

Every reader decides what each of its records *means* (a call; a completion that happened,
failed, or ended unknown); this module then pairs calls with completions per process and
checks the rules all formats share: a process runs one operation at a time, a completion
answers the open call of its process with the same `f` (and key, when both name one), and
a process whose call ended in `info` never calls again. Given a model, it also asks the
model whether each call and result has the shape the model can judge, so that a string
written to a register is reported where it stands. Mistakes name the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checkers.errors import InputError
from checkers.history import COMPARE_FAILED, Argument, Operation

if TYPE_CHECKING:
    from checkers.models import Model

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
    key: str | None
    input: Argument
    time_us: int | None
    line: int | None
    client: int | None


@dataclass(slots=True)
class Pairing:
    """Collects calls and completions in history order; `operations()` gives the result.

    `position` orders events (each reader's own counter: an index, a line, a record
    number); `field_prefix` spells field names the format's way (":value" in EDN).
    """

    source: str
    model: Model | None = None
    field_prefix: str = ""
    _open: dict[int, _OpenCall] = field(default_factory=dict)
    _crashed: dict[int, int | None] = field(default_factory=dict)
    _done: list[tuple[int, int, _OpenCall, Argument, int | None, str, int | None]] = field(default_factory=list)

    def fail(self, line: int | None, name: str | None, message: str) -> InputError:
        return InputError(self.source, line, None if name is None else self.field_prefix + name, message)

    def call(
        self,
        position: int,
        process: int,
        f: str,
        key: str | None,
        argument: Argument,
        time_us: int | None,
        line: int | None,
        client: int | None = None,
    ) -> None:
        if process in self._open:
            raise self.fail(
                line,
                "process",
                f"process {process} calls again before its call{_at(self._open[process].line)} completed",
            )
        if process in self._crashed:
            raise self.fail(
                line, "process", f"process {process} ended with info{_at(self._crashed[process])} and cannot call again"
            )
        if self.model is not None:
            problem = self.model.call_problem(f, key, argument)
            if problem is not None:
                raise self.fail(line, *problem)
        self._open[process] = _OpenCall(position, f, key, argument, time_us, line, client)

    def complete(
        self,
        position: int,
        process: int,
        f: str,
        outcome: str,
        output: Argument,
        time_us: int | None,
        line: int | None,
        key: str | None = None,
    ) -> None:
        assert outcome in OUTCOMES, outcome
        if process not in self._open:
            raise self.fail(line, "process", f"completion without an open call of process {process}")
        opened = self._open.pop(process)
        if f != opened.f:
            raise self.fail(line, "f", f"{f} answers a {opened.f} call{_at(opened.line)}")
        if key is not None and opened.key is not None and key != opened.key:
            raise self.fail(line, "key", f"{key!r} answers a call on {opened.key!r}{_at(opened.line)}")
        if outcome == "info":
            self._crashed[process] = line
            self._done.append((opened.position, process, opened, None, None, "info", None))
            return
        if outcome == "drop":
            return
        if outcome == "ok" and self.model is not None:
            problem = self.model.result_problem(f, output)
            if problem is not None:
                raise self.fail(line, *problem)
        self._done.append((opened.position, process, opened, output, position, outcome, time_us))

    def operations(self) -> list[Operation]:
        """Calls still open at the end are pending forever, like an `info`."""
        for process, opened in sorted(self._open.items()):
            self._done.append((opened.position, process, opened, None, None, "info", None))
        self._open.clear()
        self._done.sort(key=lambda done: done[0])
        operations = [
            Operation(
                id=number,
                process=process,
                client=opened.client,
                f=opened.f,
                key=opened.key,
                input=opened.input,
                output=output,
                call=call,
                ret=ret,
                status=status,
                call_time_us=opened.time_us,
                return_time_us=return_time_us,
                line=opened.line,
            )
            for number, (call, process, opened, output, ret, status, return_time_us) in enumerate(self._done)
        ]
        self._done.clear()
        return operations
