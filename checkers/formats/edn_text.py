"""EDN text, read one top-level form at a time so that a history of any size streams.

`edn_format` parses a whole text at once, and a 100 MB Jepsen history would then sit in
memory three times over (text, tokens, values) before the first operation is looked at.
Histories have a simple outer shape, though: one vector or list of op maps, or op maps one
after the other. `FormScanner` reads the file line by line and cuts out each op map's text
with a small bracket scanner that knows the only EDN syntax able to hide a bracket:
strings (`"a ] in a string"`), comments (`; ...`) and character literals (`\\]`). Each
piece is then parsed: the common shapes by `parse_simple`, a few regular expressions
that build what edn_format would, the rest by edn_format's own parser, built once and
reused (building it costs ten times more than parsing one map). Memory stays at one map's
text plus the operations.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any, TextIO

import edn_format

from checkers.errors import InputError

_INSIDE = re.compile(r'[\[\](){}";\\]')  # what matters inside an op map
_BETWEEN = re.compile(r"[^\s,]")  # commas are whitespace in EDN
_STRING_REST = re.compile(r'(?:[^"\\]|\\.)*"', re.DOTALL)
_OPENING, _CLOSING = "([{", ")]}"


@functools.cache
def _parser() -> tuple[Any, Any]:
    """edn_format's parser and lexer, built once (edn_format.loads rebuilds them per call)."""
    import ply.yacc
    from edn_format import edn_lex, edn_parse

    parser = ply.yacc.yacc(module=edn_parse, debug=False, write_tables=False,
                           errorlog=ply.yacc.NullLogger())
    return parser, edn_lex.lex()


_END = r"(?=[\s,\[\](){}]|\Z)"
_NAME = r"[A-Za-z*+!_?<>=.\-][\w*+!?<>=.\-]*(?:/[\w*+!?<>=.\-]+)?"
_TOKEN = re.compile(
    r"[\s,]*(?:(?P<open>[\[({])|(?P<close>[\])}])"
    r"|:(?P<keyword>" + _NAME + ")" + _END
    + r'|"(?P<string>[^"\\]*)"'
    r"|(?P<integer>-?(?:0|[1-9][0-9]*))" + _END
    + r"|(?P<word>nil|true|false)" + _END + r")")
_ATOM = r'(?::' + _NAME + r'|"[^"\\]*"|-?(?:0|[1-9][0-9]*)|nil|true|false)(?=[\s,}])'
_FLAT_MAP = re.compile(r"\{[\s,]*(?::" + _NAME + r"[\s,]+" + _ATOM + r"[\s,]*)*\}\s*")
_FLAT_PAIR = re.compile(r":(" + _NAME + r")[\s,]+(" + _ATOM + ")")
_WORDS: dict[str, Any] = {"nil": None, "true": True, "false": False}
_PAIRED = {"[": "]", "(": ")", "{": "}"}


class Keyword(str):
    """A keyword read by `parse_simple`: a str, so that hashing and comparing it costs
    what a string's does (edn_format's Keyword hashes through a dict, which dominated
    reading), that says it is a keyword. `name` is what edn_format's calls it."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f":{self}"


KEYWORD_TYPES = (Keyword, edn_format.Keyword)


def parse_simple(text: str) -> list[Any] | None:
    """The forms of `text` when it uses only the EDN that histories are made of (maps,
    vectors, lists, keywords, integers, strings without escapes, nil, true, false), built
    as edn_format builds them (keywords as `Keyword`, vectors and lists as tuples) but
    several times faster; None for anything else (a float, a tag, an escape, a comment, a
    mistake), which `parse_forms` then leaves to edn_format. The tests hold the two to the
    same results on every public history."""
    if _FLAT_MAP.fullmatch(text):  # most op maps: keys to single values, one regex call
        pairs = _FLAT_PAIR.findall(text)
        flat = {Keyword(name): _flat_atom(atom) for name, atom in pairs}
        return [flat] if len(flat) == len(pairs) else None
    forms: list[Any] = []
    stack: list[tuple[str, list[Any]]] = []
    items = forms
    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() != position:
            return None
        position = match.end()
        kind = match.lastgroup
        if kind == "keyword":
            items.append(Keyword(match.group(kind)))
        elif kind == "string":
            items.append(match.group(kind))
        elif kind == "integer":
            items.append(int(match.group(kind)))
        elif kind == "word":
            items.append(_WORDS[match.group(kind)])
        elif kind == "open":
            stack.append((match.group(kind), items))
            items = []
        else:
            if not stack or _PAIRED[stack[-1][0]] != match.group(kind):
                return None
            opening, outer = stack.pop()
            built = _collection(opening, items)
            if built is None:
                return None
            outer.append(built)
            items = outer
    if stack or text[position:].strip(" \t\r\n,"):
        return None
    return forms


def _flat_atom(atom: str) -> Any:
    first = atom[0]
    if first == ":":
        return Keyword(atom[1:])
    if first == '"':
        return atom[1:-1]
    if first in _WORD_STARTS:
        return _WORDS[atom]
    return int(atom)


_WORD_STARTS = frozenset("ntf")


def _collection(opening: str, items: list[Any]) -> Any:
    if opening != "{":
        return tuple(items)
    keys = items[::2]
    if len(items) % 2:
        return None
    try:
        built = dict(zip(keys, items[1::2], strict=True))
    except TypeError:  # a key holding a map deep inside: edn_format's maps can do that
        return None
    return built if len(built) == len(keys) else None  # a key given twice: let edn_format say


def parse_forms(text: str) -> list[Any]:
    """Every EDN form in `text` (the common shapes quickly, the rest with edn_format's
    parser); raises ValueError if `text` is not valid EDN."""
    simple = parse_simple(text)
    if simple is not None:
        return simple
    try:
        parser, lexer = _parser()
        return list(parser.parse(text, lexer=lexer))
    except (edn_format.EDNDecodeError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as error:
        raise ValueError(str(error) or type(error).__name__) from None


class FormScanner:
    """Cuts a stream of EDN text into top-level op maps: `forms(stream)` yields (line,
    text) for each map inside the one enclosing vector or list, or each map at the top level
    when there is none. Anything else where a map should start is an error naming its line,
    and so is a file that ends inside a map or before its vector closes (truncated).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.base: int | None = None  # depth of the maps: 1 inside a vector, 0 bare
        self.depth = 0
        self.opened_line = 0
        self.closed = False
        self.in_string = False
        self.pieces: list[str] = []
        self.record_line = 0
        self.piece_start = 0

    def forms(self, stream: TextIO) -> Iterator[tuple[int, str]]:
        line_number = 0
        for line_number, line in enumerate(stream, start=1):
            yield from self._scan(line_number, line)
        if self.in_string or self.depth > (self.base or 0):
            raise InputError(self.source, self.record_line, None, "truncated: the op map "
                             "starting here never ends")
        if self.base == 1 and not self.closed:
            raise InputError(self.source, self.opened_line, None, "truncated: the vector "
                             f"opened here is never closed (the file ends on line {line_number})")

    def _scan(self, line_number: int, line: str) -> Iterator[tuple[int, str]]:
        position = 0
        if self.depth > (self.base or 0):
            self.piece_start = 0
        while position < len(line):
            if self.in_string:
                match = _STRING_REST.match(line, position)
                if match is None:
                    position = len(line)
                    break
                self.in_string, position = False, match.end()
            elif self.depth > (self.base or 0):
                position, form = self._inside(line, position)
                if form is not None:
                    yield self.record_line, form
            else:
                position = self._between(line_number, line, position)
        if self.depth > (self.base or 0):
            self.pieces.append(line[self.piece_start:])

    def _inside(self, line: str, position: int) -> tuple[int, str | None]:
        """Scan inside a map up to its end (then return its text) or the line's end."""
        match = _INSIDE.search(line, position)
        if match is None:
            return len(line), None
        char, position = match.group(), match.end()
        if char == '"':
            self.in_string = True
        elif char == ";":
            position = len(line)
        elif char == "\\":
            position += 1  # a character literal: the next character is not syntax
        elif char in _OPENING:
            self.depth += 1
        else:
            self.depth -= 1
            if self.depth == self.base:
                self.pieces.append(line[self.piece_start:position])
                form = "".join(self.pieces)
                self.pieces.clear()
                return position, form
        return position, None

    def _between(self, line_number: int, line: str, position: int) -> int:
        """Scan between maps: the opening of the enclosing vector, a map, the close."""
        match = _BETWEEN.search(line, position)
        if match is None:
            return len(line)
        char, position = match.group(), match.start()
        if char == ";":
            return len(line)
        if self.closed:
            raise InputError(self.source, line_number, None,
                             f"text after the history's closing bracket: {line[position:].strip()[:40]!r}")
        if self.base is None and char in "[(":
            self.base, self.depth, self.opened_line = 1, 1, line_number
            return position + 1
        if self.base == 1 and char in "])":
            self.closed, self.depth = True, 0
            return position + 1
        if char == "{":
            self.base = self.base or 0
            self.depth += 1
            self.record_line, self.piece_start = line_number, position
            return position + 1
        shown = line[position:].strip()[:40]
        expected = "an op map {...}" if self.base is not None else "a vector [...] of op maps"
        raise InputError(self.source, line_number, None, f"expected {expected}, got {shown!r}")
