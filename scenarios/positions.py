"""Where each key of a TOML file is written, so that a mistake names the line to look at.

TOML lets a person write one key in many ways: under a `[table]` header, as a dotted key
(`cluster.nodes = 3`), inside an inline table (`cluster = { nodes = 3 }`), in the n-th
`[[faults]]` table or the n-th inline table of `faults = [...]`, quoted or bare. `tomllib`
forgets where values came from, so this scanner walks the text once more and records the
first line of every key path, e.g. `("faults", 2, "start_ms") -> 31`.

`KeyLines` runs on text that `tomllib` has already accepted (and on text it rejected only
to look for a duplicated key), so it assumes the grammar holds and gives up quietly, keeping
what it found so far, when it does not. `deepest` and `unclosed_string` take any text: they
run before parsing, in one linear pass, to refuse what would exhaust the parser's stack or
time and to place mistakes the parser only notices at the end of the text.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import tomllib
from collections.abc import Iterator

Path = tuple[str | int, ...]

_SPACE = re.compile(r"[ \t]*")
_BLANK = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_STRINGS = (
    re.compile(r'"""(?:[^"\\]|\\.|""?(?!"))*"{3,5}', re.S),
    re.compile(r"'''(?:[^']|''?(?!'))*'{3,5}", re.S),
    re.compile(r'"(?:[^"\\\n]|\\.)*"'),
    re.compile(r"'[^'\n]*'"),
)
_SCALAR = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:[^\s,\]}#]*|[^\s,\]}#]+")
_SPECIAL = re.compile(r"[\"'#\[\]{}.=,\n]")
_BASIC_BODY = re.compile(r'[^"\\\n]*')
_MULTILINE_BODY = re.compile(r'[^"\\]*')
_LITERAL_BODY = re.compile(r"[^']*")


def _structure(text: str) -> Iterator[tuple[str, int]]:
    """The brackets and braces outside strings and comments, each quote that opens a
    string never closed ("unclosed"), and each dot that joins the parts of a dotted key
    ("." with the count of parts so far), with their offsets, in one pass over the text.

    Written by hand rather than as one regular expression: a regex engine retries an
    unclosed string from every later quote of a long line, which is quadratic."""
    pos, parts = 0, 1
    while True:
        found = _SPECIAL.search(text, pos)
        if found is None:
            return
        at, char = found.start(), found.group()
        pos = at + 1
        if char == ".":
            parts += 1
            yield f".{parts}", at
        elif char in "=,\n":
            parts = 1
        elif char == "#":
            pos = _line_end(text, at)
        elif char in "[]{}":
            parts = 1
            yield char, at
        else:
            closing = _string_end(text, at)
            if closing is None:
                yield "unclosed", at
                if text.startswith(char * 3, at):
                    return  # the rest of the text is inside the string
                pos = _line_end(text, at)
            else:
                pos = closing


def _line_end(text: str, at: int) -> int:
    newline = text.find("\n", at)
    return len(text) if newline < 0 else newline


def _string_end(text: str, at: int) -> int | None:
    """The offset just past the string opening at `at`, or None when it never closes."""
    quote = text[at]
    if text.startswith(quote * 3, at):
        return _multiline_end(text, at + 3, quote)
    if quote == "'":  # a literal string: no escapes, one line
        closing = text.find("'", at + 1)
        return closing + 1 if closing >= 0 and text.find("\n", at + 1, closing) < 0 else None
    pos = at + 1
    while True:
        pos = _BASIC_BODY.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= len(text) or text[pos] == "\n":
            return None
        if text[pos] == '"':
            return pos + 1
        pos += 2  # a backslash and the character it escapes


def _multiline_end(text: str, pos: int, quote: str) -> int | None:
    """Past the closing delimiter of a multi-line string whose body starts at `pos`; the
    delimiter may be followed by up to two quotes that belong to the string."""
    body = _MULTILINE_BODY if quote == '"' else _LITERAL_BODY
    while True:
        pos = body.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= len(text):
            return None
        if text[pos] == "\\":
            pos += 2
        elif text.startswith(quote * 3, pos):
            run = 3
            while run < 5 and text.startswith(quote, pos + run):
                run += 1
            return pos + run
        else:
            pos += 1


def unclosed_string(text: str) -> int | None:
    """The line of the first quote that opens a string never closed, if any."""
    for kind, at in _structure(text):
        if kind == "unclosed":
            return text.count("\n", 0, at) + 1
    return None


def deepest(text: str, limit: int) -> tuple[int, str] | None:
    """The line where arrays and inline tables first nest deeper than `limit`, or a dotted
    key first has more than `limit` parts, and which of the two, if either happens.

    Checked before parsing: a parser that recurses per level would exhaust the stack on a
    few thousand levels, one that copies a key's prefix per part takes quadratic time on a
    key of a hundred thousand parts, and no scenario needs more than three of either."""
    depth = 0
    for kind, at in _structure(text):
        if kind in ("[", "{"):
            depth += 1
            if depth > limit:
                return text.count("\n", 0, at) + 1, "nesting"
        elif kind in ("]", "}"):
            depth = max(0, depth - 1)
        elif kind[0] == "." and int(kind[1:]) > limit:
            return text.count("\n", 0, at) + 1, "key"
    return None


class _GiveUp(Exception):
    """The text is not the TOML this scanner expects; keep what was found."""


class _Found(Exception):
    """The path looked for is found; the rest of the text need not be read."""


class KeyLines:
    """The first line of every key path in a TOML text, and the first key written twice."""

    def __init__(self, text: str, until: Path | None = None) -> None:
        """With `until`, the scan stops once that path is found: a mistake near the top of
        a huge file is located without reading the rest."""
        self.text = text
        self._until = until
        self.pos = 0
        self.lines: dict[Path, int] = {}
        self.repeated: int | None = None
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._arrays: dict[Path, int] = {}
        self._leaves: set[Path] = set()
        with contextlib.suppress(_GiveUp, _Found, IndexError, RecursionError, tomllib.TOMLDecodeError):
            self._document()

    def line_of(self, path: Path) -> int | None:
        """The line of `path`, else of the nearest enclosing table or array written."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    # --- the grammar ---------------------------------------------------------------------

    def _document(self) -> None:
        table: Path = ()
        while True:
            self._skip(_BLANK)
            if self.pos >= len(self.text):
                return
            if self.text[self.pos] == "[":
                table = self._header()
            else:
                self._pair(table)

    def _header(self) -> Path:
        line = self._line()
        many = self.text.startswith("[[", self.pos)
        self.pos += 2 if many else 1
        keys = self._keys()
        self._expect("]]" if many else "]")
        path: Path = ()
        for number, key in enumerate(keys):
            path += (key,)
            self._note(path, line)
            if many and number == len(keys) - 1:
                count = self._arrays.get(path, 0)
                self._arrays[path] = count + 1
                path += (count,)
                self._note(path, line)
            elif path in self._arrays:
                path += (self._arrays[path] - 1,)
        return path

    def _pair(self, table: Path) -> None:
        line = self._line()
        path = table
        for key in self._keys():
            path += (key,)
            self._note(path, line)
            if path in self._leaves and self.repeated is None:
                self.repeated = line  # the key itself, or a value the key would extend
        self._leaves.add(path)
        self._skip(_SPACE)
        self._expect("=")
        self._skip(_SPACE)
        self._value(path)

    def _keys(self) -> list[str]:
        keys = []
        while True:
            self._skip(_SPACE)
            quote = self.text[self.pos]
            if quote in "\"'":
                raw = self._match(_STRINGS[2] if quote == '"' else _STRINGS[3])
                keys.append(tomllib.loads(f"k = {raw}")["k"])
            else:
                keys.append(self._match(_BARE))
            self._skip(_SPACE)
            if self.text[self.pos] != ".":
                return keys
            self.pos += 1

    def _value(self, path: Path) -> None:
        first = self.text[self.pos]
        if first == "{":
            self.pos += 1
            self._skip(_BLANK)
            while self.text[self.pos] != "}":
                self._pair(path)
                self._skip(_BLANK)
                if self.text[self.pos] == ",":
                    self.pos += 1
                    self._skip(_BLANK)
            self.pos += 1
        elif first == "[":
            self._array(path)
        elif first in "\"'":
            for pattern in _STRINGS:
                found = pattern.match(self.text, self.pos)
                if found:
                    self.pos = found.end()
                    return
            raise _GiveUp
        else:
            self._match(_SCALAR)

    def _array(self, path: Path) -> None:
        self.pos += 1
        index = 0
        while True:
            self._skip(_BLANK)
            if self.text[self.pos] == "]":
                self.pos += 1
                return
            self._note((*path, index), self._line())
            self._value((*path, index))
            index += 1
            self._skip(_BLANK)
            if self.text[self.pos] == ",":
                self.pos += 1

    # --- helpers -------------------------------------------------------------------------

    def _note(self, path: Path, line: int) -> None:
        self.lines.setdefault(path, line)
        if path == self._until:
            raise _Found

    def _line(self) -> int:
        return bisect.bisect_right(self._starts, self.pos)

    def _skip(self, pattern: re.Pattern[str]) -> None:
        found = pattern.match(self.text, self.pos)
        assert found is not None, "skip patterns match the empty string"
        self.pos = found.end()

    def _match(self, pattern: re.Pattern[str]) -> str:
        found = pattern.match(self.text, self.pos)
        if not found or found.end() == self.pos:
            raise _GiveUp
        self.pos = found.end()
        return found.group()

    def _expect(self, word: str) -> None:
        self._skip(_SPACE)
        if not self.text.startswith(word, self.pos):
            raise _GiveUp
        self.pos += len(word)
