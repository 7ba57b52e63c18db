"""EDN text: a reader of our own, and a scanner that cuts a stream into op maps.

A history holds a small part of EDN (maps, vectors, lists, keywords, integers, strings,
nil, true, false), and any file may be hostile. So EDN is read here rather than by a
general library, with these guarantees:

- no recursion (a value nested 100,000 deep is an error naming its line, never a crash)
  and a nesting limit of `MAX_DEPTH`;
- memory within a small multiple of the text (no backtracking regular expression keeps
  state per character: strings are found with possessive patterns);
- every refusal is an `EdnError` with the offset where it happened: a map with a key
  given twice, an integer longer than `MAX_NUMBER_CHARS`, a float that overflows, `##NaN`
  and `##Inf`, tagged values (`#inst`, `#uuid`, any `#tag`), metadata (`^`), namespaced
  maps (`#:a{}`), ratios (`1/2`), unknown escapes and character names, a `\\u` escape that
  is half of a surrogate pair, and any control character other than tab, newline and
  carriage return inside a string.

What is read becomes: keywords `Keyword` and symbols `Symbol` (both `str` with a `name`),
strings and characters `str`, integers `int` (`N` suffix allowed), floats `float`, `M`
decimals `Decimal`, vectors and lists tuples, sets frozensets, maps dicts (in file
order). `#_` discards the next form.

`FormScanner` reads the file line by line and cuts out each op map's text with a small
bracket scanner that knows the only EDN syntax able to hide a bracket: strings, comments
and character literals; memory stays at one map's text plus the operations, and a map,
vector or string that never closes is reported with the line it opened on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from checkers.budget import Budget
from checkers.errors import InputError

MAX_DEPTH = 100
"""Deepest nesting of collections in one form (an op map counts as one)."""
MAX_NUMBER_CHARS = 4300
"""Longest number accepted: Python's own limit for reading an integer from text."""
TOKENS_PER_SPEND = 1024


class EdnError(ValueError):
    """Text that is not the EDN a history may hold; `offset` is where, in the text read,
    and `field` the key of the outermost map whose value held the mistake, when known."""

    def __init__(self, message: str, offset: int, field: str | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        self.field = field


class Keyword(str):
    """A keyword (`:type` is Keyword("type")): a str, so hashing and comparing cost what a
    string's do, that remembers it was a keyword."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f":{self}"


class Symbol(str):
    """A symbol (`foo`): a str that remembers it was a symbol."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return str(self)


KEYWORD_TYPES = (Keyword,)

_DELIMITER = r"(?=[ \t\n\r,\[\](){}\";]|\Z)"
_CONSTITUENT = r"[^ \t\n\r,\[\](){}\"\\;^@`~]"
_TOKEN = re.compile(
    r"(?:[ \t\n\r,]|;[^\n]*+)*+(?:"  # whitespace and comments before the token
    r"(?P<keyword>:[A-Za-z*+!_?<>=.\-][\w*+!?<>=.\-]*(?:/[\w*+!?<>=.\-]+)?)"
    + _DELIMITER
    + r"|(?P<integer>-?(?:0|[1-9][0-9]{0,17}))"
    + _DELIMITER
    + r"|(?P<open>[\[({]|#\{)"
    r"|(?P<close>[\])}])"
    r"|(?P<string>\")"
    r"|(?P<char>\\(?:" + _CONSTITUENT + r"+|.))"
    r"|(?P<discard>#_)"
    r"|(?P<hash>#" + _CONSTITUENT + r"*)"
    r"|(?P<atom>" + _CONSTITUENT + r"+)"
    r"|(?P<end>\Z)"
    r"|(?P<other>.))",
    re.DOTALL,
)
_STRING_END = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_INTEGER = re.compile(r"[+-]?(?:0|[1-9][0-9]*)N?")
_FLOAT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?M?")
_NAME = r"[A-Za-z.*+!\-_?$%&=<>|][\w.*+!\-_?$%&=<>|'#:]*"
_SYMBOL = re.compile(_NAME + r"(?:/" + _NAME + r")?|/")
_KEYWORD = re.compile(r"[\w.*+!\-_?$%&=<>|'#][\w.*+!\-_?$%&=<>|'#:]*(?:/" + _NAME + r")?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_VALID_ESCAPE = re.compile(r'\\(?:[tnr\\"bf]|u[0-9a-fA-F]{4})')
_CHARACTERS = {"newline": "\n", "return": "\r", "space": " ", "tab": "\t", "formfeed": "\f", "backspace": "\b"}
_WORDS: dict[str, Any] = {"nil": None, "true": True, "false": False}
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_DISCARD = "#_"


def parse_forms(text: str, budget: Budget | None = None) -> list[Any]:
    """Every EDN form in `text`; raises EdnError (a ValueError) if `text` is not the EDN a
    history may hold (see the module docstring). The common flat op map takes a fast path."""
    flat = _flat_map(text)
    if flat is not None:
        return [flat]
    return _Parser(text, budget).forms()


class _Parser:
    """An iterative reader: a stack of open collections (and pending `#_` discards)."""

    def __init__(self, text: str, budget: Budget | None) -> None:
        self.text = text
        self.budget = budget
        self.top: list[Any] = []
        self.stack: list[tuple[str, int, list[Any]]] = []  # (opener, offset, items so far)

    def forms(self) -> list[Any]:
        try:
            return self._forms()
        except EdnError as error:
            error.field = error.field or self.field()
            raise

    def field(self) -> str | None:
        """The key of the outermost map whose value is being read, spelt as in the file."""
        if not self.stack or self.stack[0][0] != "{" or len(self.stack[0][2]) % 2 == 0:
            return None
        key = self.stack[0][2][-1]
        return repr(key) if isinstance(key, Keyword) else None

    def _forms(self) -> list[Any]:
        text, position, tokens = self.text, 0, 0
        stack, depth = self.stack, 0  # depth: collections open (pending `#_` not counted)
        while True:
            match = _TOKEN.match(text, position)
            assert match is not None  # `end` or `other` matches whatever is left
            kind, position = match.lastgroup, match.end()
            assert kind is not None  # every alternative of _TOKEN is a named group
            tokens += 1
            if tokens % TOKENS_PER_SPEND == 0 and self.budget is not None:
                self.budget.spend(work=TOKENS_PER_SPEND)
            if kind == "keyword":
                value: Any = Keyword(match.group(kind)[1:])
            elif kind == "integer":
                value = int(match.group(kind))
            elif kind == "open":
                if depth >= MAX_DEPTH:
                    raise EdnError(f"nested more than {MAX_DEPTH} deep", match.start(kind))
                stack.append((match.group(kind), match.start(kind), []))
                depth += 1
                continue
            elif kind == "close":
                value = self.close(match.group(kind), match.start(kind))
                depth -= 1
            elif kind == "string":
                value, position = _string(text, match.start(kind))
            elif kind == "discard":
                stack.append((_DISCARD, match.start(kind), []))
                continue
            elif kind == "end":
                break
            else:
                value = _atom(kind, match.group(kind), match.start(kind))
            if stack and stack[-1][0] == _DISCARD:  # `#_` drops the form just read
                stack.pop()
            else:
                (stack[-1][2] if stack else self.top).append(value)
        if stack:
            opener, offset, _ = stack[-1]
            what = "#_ has nothing to discard" if opener == _DISCARD else (f"{opener} is never closed")
            raise EdnError(what, offset)
        return self.top

    def close(self, closer: str, offset: int) -> Any:
        """The collection `closer` ends, built (its items are the top of the stack)."""
        if not self.stack or self.stack[-1][0] == _DISCARD:
            raise EdnError(f"{closer} closes nothing", offset)
        opener, opened_at, items = self.stack.pop()
        if _CLOSERS[opener] != closer:
            raise EdnError(f"{opener} is closed by {closer}", offset)
        try:
            return _collection(opener, items, opened_at)
        except EdnError as error:
            if self.stack or error.field is None:  # not about a key of the op map itself
                error.field = None
            raise


def _string(text: str, start: int) -> tuple[str, int]:
    """The string whose opening quote is at `start`, and the offset after its close."""
    match = _STRING_END.match(text, start + 1)
    if match is None:
        raise EdnError("a string is never closed", start)
    end = match.end()
    body = text[start + 1 : end - 1]
    control = _CONTROL.search(body)
    if control is not None:
        raise EdnError(f"control character U+{ord(control.group()):04X} in a string", start + 1 + control.start())
    if "\\" in body:
        body = _unescape(body, start)
    return body, end


def _unescape(body: str, start: int) -> str:
    """The string with its escapes read, at C speed: the valid escapes are the ones Python's
    `unicode_escape` codec reads the same way, so once nothing else is left it decodes
    them (characters beyond Latin-1 pass through it as escapes of their own)."""
    leftover = _VALID_ESCAPE.sub("", body)
    if "\\" in leftover:
        bad = _ESCAPE.search(leftover, leftover.index("\\"))
        shown = bad.group(1) if bad is not None else ""
        raise EdnError(f"unknown escape \\{shown} in a string", start)
    value = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
    if _SURROGATE_ESCAPE.search(body):
        try:  # a \uD83D\uDE00 pair is one character; half of a pair is not Unicode
            value = value.encode("utf-16", "surrogatepass").decode("utf-16")
        except UnicodeDecodeError:
            raise EdnError("a \\u escape is half of a surrogate pair (not Unicode text)", start) from None
    control = _CONTROL.search(value)
    if control is not None:
        raise EdnError(f"control character U+{ord(control.group()):04X} in a string", start)
    return value


def _atom(kind: str | None, token: str, offset: int) -> Any:
    if kind == "char":
        return _character(token, offset)
    if kind == "hash":
        raise EdnError(_hash_problem(token), offset)
    if kind == "other":
        what = {"^": "metadata (^) is not EDN", "\\": "a lone \\ is not a character"}.get(
            token, f"unexpected character {token!r}"
        )
        raise EdnError(what, offset)
    assert kind == "atom", kind
    if len(token) > MAX_NUMBER_CHARS:
        what = "a number" if token.lstrip("+-")[:1].isdigit() else "a token"
        raise EdnError(f"{what} of {len(token)} characters (at most {MAX_NUMBER_CHARS})", offset)
    first = token[0]
    if first.isdigit() or (first in "+-" and token[1:2].isdigit()):
        return _number(token, offset)
    if first == ":":
        if _KEYWORD.fullmatch(token, 1) is None:
            raise EdnError(f"not a keyword: {token!r}", offset)
        return Keyword(token[1:])
    if token in _WORDS:
        return _WORDS[token]
    if _SYMBOL.fullmatch(token) is None:
        raise EdnError(f"not a symbol: {token!r}", offset)
    return Symbol(token)


def _hash_problem(token: str) -> str:
    if token.startswith("##"):
        return f"symbolic value {token} is not allowed in a history"
    if token.startswith("#:"):
        return f"namespaced map {token}{{...}} is not EDN"
    if len(token) == 1:
        return "# must start a set #{...}, a discard #_ or a tag"
    return f"tagged value {token} is not read (a history holds no tags)"


def _character(token: str, offset: int) -> str:
    name = token[1:]
    if len(name) == 1:
        return name
    if name in _CHARACTERS:
        return _CHARACTERS[name]
    if re.fullmatch(r"u[0-9a-fA-F]{4}", name):
        code = int(name[1:], 16)
        if 0xD800 <= code <= 0xDFFF:
            raise EdnError(f"character \\{name} is half of a surrogate pair", offset)
        return chr(code)
    raise EdnError(f"unknown character \\{name}", offset)


def _number(token: str, offset: int) -> Any:
    if _INTEGER.fullmatch(token):
        return int(token.rstrip("N"))
    if _FLOAT.fullmatch(token):
        if token.endswith("M"):
            try:
                return Decimal(token[:-1])
            except InvalidOperation:
                raise EdnError(f"not a number: {token!r}", offset) from None
        value = float(token)
        if not math.isfinite(value):
            raise EdnError(f"number out of range: {token[:40]!r}", offset)
        return value
    if "/" in token:
        raise EdnError(f"ratio {token[:40]!r} is not EDN", offset)
    raise EdnError(f"not a number: {token[:40]!r}", offset)


def _collection(opener: str, items: list[Any], offset: int) -> Any:
    if opener in "[(":
        return tuple(items)
    try:
        if opener == "#{":
            built_set = frozenset(items)
            if len(built_set) != len(items):
                raise EdnError("a set holds an element twice", offset)
            return built_set
        if len(items) % 2:
            raise EdnError("a map needs a value for every key", offset)
        keys = items[::2]
        built = dict(zip(keys, items[1::2], strict=True))
    except TypeError:
        raise EdnError("a map cannot be a map key or a set element", offset) from None
    if len(built) != len(keys):
        twice = _twice(keys)
        raise EdnError(f"key {twice!r} is given twice", offset, repr(twice) if isinstance(twice, Keyword) else None)
    return built


def _twice(keys: Iterable[Any]) -> Any:
    seen: set[Any] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no key given twice")


# The fast path: most op maps map keywords to single values; one regex call reads them.
_FLAT_NAME = r"[A-Za-z*+!_?<>=.\-][\w*+!?<>=.\-]*(?:/[\w*+!?<>=.\-]+)?"
_FLAT_ATOM = (
    r"(?::" + _FLAT_NAME + r'|"[^"\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*+"'
    r"|-?(?:0|[1-9][0-9]{0,4200})|nil|true|false)(?=[ \t\n\r,}])"
)
_FLAT_MAP = re.compile(
    r"\{[ \t\n\r,]*+(?::" + _FLAT_NAME + r"[ \t\n\r,]++" + _FLAT_ATOM + r"[ \t\n\r,]*+)*+\}[ \t\n\r]*"
)
_FLAT_PAIR = re.compile(r":(" + _FLAT_NAME + r")[ \t\n\r,]+(" + _FLAT_ATOM + ")")
_WORD_STARTS = frozenset("ntf")


def _flat_map(text: str) -> dict[Keyword, Any] | None:
    """The map when `text` is one flat map of keywords to keywords, plain strings, integers,
    nil, true or false, none given twice; else None (the parser then reads it, and says
    what is wrong if anything is)."""
    if not text.startswith("{") or _FLAT_MAP.fullmatch(text) is None:
        return None
    pairs = _FLAT_PAIR.findall(text)
    flat = {Keyword(name): _flat_atom(atom) for name, atom in pairs}
    return flat if len(flat) == len(pairs) else None


def _flat_atom(atom: str) -> Any:
    first = atom[0]
    if first == ":":
        return Keyword(atom[1:])
    if first == '"':
        return atom[1:-1]
    if first in _WORD_STARTS:
        return _WORDS[atom]
    return int(atom)


# ---------------------------------------------------------------------------------------
# Cutting a stream into op maps

_INSIDE = re.compile(r'[\[\](){}";\\]')  # what matters inside an op map
_BETWEEN = re.compile(r"[^\s,]")  # commas are whitespace in EDN
_STRING_REST = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+', re.DOTALL)
_OPENING = "([{"


class FormScanner:
    """Cuts a stream of EDN text into top-level op maps: `forms(lines)` yields (line, text)
    for each map inside the one enclosing vector or list, or each map at the top level
    when there is none. Anything else where a map should start is an error naming its line,
    and so is a file that ends inside a string, a map or before its vector closes, and a
    map nested more than `MAX_DEPTH` deep (found before the map's text is kept whole).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.base: int | None = None  # depth of the maps: 1 inside a vector, 0 bare
        self.depth = 0
        self.opened_line = 0
        self.closed = False
        self.string_line: int | None = None  # where the string being scanned opened
        self.pieces: list[str] = []
        self.record_line = 0
        self.piece_start = 0

    def forms(self, lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
        line_number = 0
        for line_number, line in lines:
            yield from self._scan(line_number, line)
        if self.string_line is not None:
            raise InputError(self.source, self.string_line, None, "truncated: the string opened here is never closed")
        if self.depth > (self.base or 0):
            raise InputError(self.source, self.record_line, None, "truncated: the op map starting here is never closed")
        if self.base == 1 and not self.closed:
            raise InputError(
                self.source,
                self.opened_line,
                None,
                f"truncated: the vector opened here is never closed (the file ends on line {line_number})",
            )

    def _scan(self, line_number: int, line: str) -> Iterator[tuple[int, str]]:
        position = 0
        if self.depth > (self.base or 0):
            self.piece_start = 0
        while position < len(line):
            if self.string_line is not None:
                position = _STRING_REST.match(line, position).end()  # type: ignore[union-attr]
                if position < len(line) and line[position] == '"':
                    self.string_line, position = None, position + 1
                else:  # the line ends inside the string (perhaps on a lone backslash)
                    position = len(line)
            elif self.depth > (self.base or 0):
                position, form = self._inside(line_number, line, position)
                if form is not None:
                    yield self.record_line, form
            else:
                position = self._between(line_number, line, position)
        if self.depth > (self.base or 0):
            self.pieces.append(line[self.piece_start :])

    def _inside(self, line_number: int, line: str, position: int) -> tuple[int, str | None]:
        """Scan inside a map up to its end (then return its text) or the line's end."""
        match = _INSIDE.search(line, position)
        if match is None:
            return len(line), None
        char, position = match.group(), match.end()
        if char == '"':
            self.string_line = line_number
        elif char == ";":
            position = len(line)
        elif char == "\\":
            position += 1  # a character literal: the next character is not syntax
        elif char in _OPENING:
            self.depth += 1
            if self.depth - (self.base or 0) > MAX_DEPTH:
                raise self._too_deep(line_number, line[self.piece_start : position])
        else:
            self.depth -= 1
            if self.depth == self.base:
                self.pieces.append(line[self.piece_start : position])
                form = "".join(self.pieces)
                self.pieces.clear()
                return position, form
        return position, None

    def _too_deep(self, line_number: int, tail: str) -> InputError:
        """The error for a map nested too deep, found before its end: the text read so far
        is parsed, which stops at the same depth and names the field that holds it."""
        field = None
        try:
            parse_forms("".join(self.pieces) + tail)
        except EdnError as error:
            field = error.field
        return InputError(self.source, line_number, field, f"not valid EDN: nested more than {MAX_DEPTH} deep")

    def _between(self, line_number: int, line: str, position: int) -> int:
        """Scan between maps: the opening of the enclosing vector, a map, the close."""
        match = _BETWEEN.search(line, position)
        if match is None:
            return len(line)
        char, position = match.group(), match.start()
        if char == ";":
            return len(line)
        if self.closed:
            raise InputError(
                self.source,
                line_number,
                None,
                f"text after the history's closing bracket: {line[position:].strip()[:40]!r}",
            )
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
