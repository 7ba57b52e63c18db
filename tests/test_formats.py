"""Readers of histories recorded elsewhere: Knossos/Jepsen EDN, Porcupine's Jepsen logs and
kv maps, format detection by content, and bad input reported as one line naming file,
line and field (through the command, as people meet it)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cli import assert_one_line_error, raftsim

from checkers.errors import InputError
from checkers.formats import FORMATS, detect_format, read_operations
from checkers.formats.edn import plain, read_edn_history
from checkers.formats.edn_text import FormScanner
from checkers.formats.porcupine_kv import read_porcupine_kv
from checkers.formats.porcupine_log import read_porcupine_log
from checkers.history import COMPARE_FAILED
from checkers.models import get_model


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def summary(ops) -> list[tuple]:
    return [(o.process, o.f, o.key, o.input, o.output, o.call, o.ret, o.status) for o in ops]


# ---------------------------------------------------------------------------------------
# Knossos / Jepsen EDN

KNOSSOS = """\
; a comment first
[{:process 0, :type :invoke, :f :write, :value 1, :time 5000}
 {:process 0, :type :ok, :f :write, :value 1, :time 9999}
 {:process :nemesis, :type :info, :f :start, :value "cut {a b} ]"}
 {:process 1, :type :invoke, :f :read, :value nil}
 {:process 1, :type :ok, :f :read, :value nil}
 {:process 2, :type :invoke, :f :cas, :value [1 2]}
 {:process 2, :type :fail, :f :cas, :value [1 2]}
 {:process 3, :type :invoke, :f :write, :value 4}
 {:process 3, :type :info, :f :write, :value 4}
 {:type :invoke, :f :read, :value 1, :process 4}
 {:type :ok, :f :read, :value 1, :process 4}
 {:process 5, :type :invoke, :f :write, :value 7}]
"""


def test_edn_reader_follows_knossos(tmp_path: Path) -> None:
    path = write(tmp_path / "h.edn", KNOSSOS)
    ops = read_edn_history(path, model=get_model("cas-register", 0))
    assert summary(ops) == [
        (0, "write", None, 1, None, 1, 2, "ok"),
        # The nil read (unknown in Knossos) and the failed cas are gone; the read's invoke
        # value (Knossos copies results into invokes) is not an argument.
        (3, "write", None, 4, None, 7, None, "info"),
        (4, "read", None, None, 1, 9, 10, "ok"),
        # Never completed: pending forever, like an info.
        (5, "write", None, 7, None, 11, None, "info"),
    ]
    assert (ops[0].call_time_us, ops[0].return_time_us) == (5, 9)
    assert [op.line for op in ops] == [2, 9, 11, 13]
    as_porcupine = read_edn_history(path, nil_read="absent", fail_cas=COMPARE_FAILED)
    assert [(o.f, o.status, o.output) for o in as_porcupine] == [
        ("write", "ok", None),
        ("read", "ok", None),
        ("cas", COMPARE_FAILED, False),
        ("write", "info", None),
        ("read", "ok", 1),
        ("write", "info", None),
    ]


def test_edn_list_maps_without_a_vector_and_multi_line_maps(tmp_path: Path) -> None:
    listed = write(
        tmp_path / "a.edn",
        "({:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1})",
    )
    bare = write(
        tmp_path / "b.edn",
        "{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1}\n",
    )
    spread = write(
        tmp_path / "c.edn",
        "[{:type :invoke,\n :f :write,\n :value 1,\n :process 0}\n{:type :ok, :f :write, :value 1, :process 0}]",
    )
    for path in (listed, bare, spread):
        assert [(o.status, o.input) for o in read_edn_history(path)] == [("ok", 1)]
    assert read_edn_history(spread)[0].ret == 2


def test_edn_txn_and_mutex_histories(tmp_path: Path) -> None:
    txns = write(
        tmp_path / "t.edn",
        """[
        {:process 0, :type :invoke, :f :txn, :value [[:read :x 5] [:write :y 2]]}
        {:process 0, :type :ok, :f :txn, :value [[:read :x 0] [:write :y 2]]}
        {:process 1, :type :invoke, :f :txn, :value [[:read :x nil] [:read :y nil]]}
        {:process 1, :type :ok, :f :txn, :value [[:read :x nil] [:read :y 2]]}]""",
    )
    first, second = read_edn_history(txns, model=get_model("multi-register", {"x": 0}))
    # A call's read values are not arguments; the result says what each read saw.
    assert first.input == (("read", "x", None), ("write", "y", 2))
    assert first.output == (("read", "x", 0), ("write", "y", 2))
    # Knossos's nil read ("unknown") is dropped from the result, not taught to the model.
    assert second.output == (("read", "y", 2),)
    locks = write(
        tmp_path / "m.edn",
        """[
        {:type :invoke, :f :acquire, :process 0, :time 10, :index 0}
        {:type :invoke, :f :release, :process 1, :time 11, :index 1}
        {:type :fail, :f :release, :process 1, :time 12, :error :not-held, :index 2}
        {:type :ok, :f :acquire, :process 0, :time 13, :index 3}]""",
    )
    assert summary(read_edn_history(locks, model=get_model("mutex"))) == [(0, "acquire", None, None, None, 1, 4, "ok")]


@pytest.mark.parametrize(
    ("text", "line_number", "field", "words"),
    [
        (
            "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :invoke, :f :write, :value 2}]",
            2,
            ":process",
            "calls again",
        ),
        (
            "[{:process 0, :type :invoke, :f :write, :value 1}\n"
            ' {:process 0, :error "a ] in a string", :type :ok, :f :read, :value 1}]',
            2,
            ":f",
            "answers a write",
        ),
        (
            "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 1, :type :ok, :f :write, :value 1}]",
            2,
            ":process",
            "without an open",
        ),
        (
            "[{:process 0, :type :invoke, :f :write, :value 1}\n"
            " {:process 0, :type :info, :f :write, :value 1}\n"
            " {:process 0, :type :invoke, :f :write, :value 1}]",
            3,
            ":process",
            "ended with info",
        ),
        ("[{:process 0, :type :invoke, :f :acquire}]", 1, ":f", "no 'acquire'"),
        ('[{:process 0, :type :invoke, :f "read"}]', 1, ":f", "keyword"),
        ("[{:process 0, :type :begin, :f :read}]", 1, ":type", ":invoke"),
        ('[{:process "p", :type :invoke, :f :read}]', 1, ":process", "integer"),
        ('[{:process 0, :type :invoke, :f :write, :value "one"}]', 1, ":value", "integer"),
        ("[{:process 0, :type :invoke, :f :write, :value [1]}]", 1, ":value", "integer"),
        ("[\n\n{:process 0, :type :invoke, :f :cas, :value 3}]", 3, ":value", "[expected new]"),
        (
            "[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :ok, :f :read, :value :x}]",
            2,
            ":value",
            "integer or nil",
        ),
        ("[{:process 0, :type :invoke, :f :read, :key {:a 1}}]", 1, ":key", "string"),
        ("[7]", 1, None, "op map"),
        ("[{:process 0, :type :invoke, :f :read}\n {:process 0, :type", 2, None, "truncated"),
        ("[{:process 0, :type :invoke, :f :read}\n", 1, None, "never closed"),
        ("[{:process 0, :type :invoke, :f :read}] {:a 1}", 1, None, "after the history"),
        ("[{:process 0, :type :invoke :f}]", 1, None, "not valid EDN"),
        ('[{:process 0, :type :invoke, :f :read, :value "a]\n\n}]', 1, None, "truncated"),
        ("nil", 1, None, "vector"),
    ],
)
def test_edn_errors_name_line_and_field(tmp_path: Path, text: str, line_number, field, words) -> None:
    path = write(tmp_path / "bad.edn", text)
    with pytest.raises(InputError) as caught:
        read_edn_history(path, model=get_model("cas-register"))
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), line_number, field)
    assert words in caught.value.message
    assert "\n" not in str(caught.value)


def test_form_scanner_skips_strings_comments_and_characters() -> None:
    text = (
        '[{:a "x ] } \\" {"} ; a comment ]\n'
        " {:b \\] :c \\{}\n"
        " ; } ] a comment between maps\n"
        ' {:d "multi\nline ]"}, {:e 1}]\n'
    )
    forms = list(FormScanner("f").forms(enumerate(text.splitlines(keepends=True), start=1)))
    assert [line for line, _ in forms] == [1, 2, 4, 5]
    assert forms[0][1] == '{:a "x ] } \\" {"}'
    assert forms[1][1] == "{:b \\] :c \\{}"
    assert forms[2][1] == '{:d "multi\nline ]"}'


def test_form_scanner_streams() -> None:
    """Each map comes out as soon as its text was read: the file is never read whole."""

    def lines() -> Iterator[str]:
        yield "[{:process 0, :type :invoke, :f :read}\n"
        yield " {:process 0, :type :ok, :f :read, :value 1}\n"
        raise AssertionError("read past the second map")

    forms = FormScanner("f").forms(enumerate(lines(), start=1))
    assert next(forms)[0] == 1 and next(forms)[0] == 2
    with pytest.raises(AssertionError, match="read past"):
        next(forms)


# ---------------------------------------------------------------------------------------
# Porcupine: Jepsen etcd logs and kv maps

JEPSEN_LOG = """\
INFO  jepsen.util - 0\t:invoke\t:read\tnil
INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]
INFO  jepsen.util - 0\t:ok\t:read\tnil
INFO  jepsen.core - some other log line
INFO  jepsen.util - 2\t:fail\t:cas\t[3 0]
INFO  jepsen.util - 4   :invoke   :write   1
INFO  jepsen.util - 4\t:info\t:write\t:timed-out
INFO  jepsen.util - 1\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:fail\t:read\t:timed-out
INFO  jepsen.util - :nemesis\t:info\t:start\tnil
INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]
INFO  jepsen.util - 3\t:ok\t:cas\t[1 4]
5\t:invoke\t:write\t-2
5\t:ok\t:write\t-2
"""


def test_porcupine_log_reader_follows_porcupine(tmp_path: Path) -> None:
    path = write(tmp_path / "etcd_000.txt", JEPSEN_LOG)
    ops = read_porcupine_log(path, get_model("cas-register"))
    assert summary(ops) == [
        (0, "read", None, None, None, 1, 3, "ok"),  # nil: the key was absent
        (2, "cas", None, (3, 0), False, 2, 5, COMPARE_FAILED),
        (4, "write", None, 1, None, 6, None, "info"),
        # The timed-out read observed nothing and is gone.
        (3, "cas", None, (1, 4), True, 11, 12, "ok"),
        (5, "write", None, -2, None, 13, 14, "ok"),  # a line without the log prefix
    ]
    assert read_operations(path) == ops  # detected by content, whatever the suffix


@pytest.mark.parametrize(
    ("line_text", "field", "words"),
    [
        ("INFO  jepsen.util - 0\t:invoke\t:append\t1", "f", "no 'append'"),
        ("INFO  jepsen.util - 0\t:begin\t:read\tnil", "type", "unknown type"),
        ("INFO  jepsen.util - 0\t:invoke\tread\tnil", "f", "keyword"),
        ("INFO  jepsen.util - 0\t:invoke\t:write\tx", "value", "integer"),
        ('INFO  jepsen.util - 0\t:invoke\t:write\t"x"', "value", "integer"),
        ("INFO  jepsen.util - 0\t:invoke\t:write\t[1", "value", "not valid EDN"),
        ("INFO  jepsen.util - 0\t:invoke\t:cas\t[1]", "value", "[expected new]"),
        ("INFO  jepsen.util - 0\t:ok\t:read\t3", "process", "without an open"),
        ("INFO  jepsen.util - 9\t:ok\t:read\tabc", "value", "integer or nil"),
        ("INFO  jepsen.util - 0", None, "expected: process"),
        ("INFO  jepsen.util - x\t:invoke\t:read\tnil", "process", "integer or a keyword"),
        ("some line that is no log line", None, "expected a Jepsen log line"),
        ('{"index": 0, "time": 0}', None, "expected a Jepsen log line"),
    ],
)
def test_porcupine_log_errors_name_the_line(tmp_path: Path, line_text: str, field, words) -> None:
    path = write(tmp_path / "bad.log", "INFO  jepsen.util - 9\t:invoke\t:read\tnil\n" + line_text + "\n")
    with pytest.raises(InputError) as caught:
        read_porcupine_log(path, get_model("cas-register"))
    assert (caught.value.line, caught.value.field) == (2, field)
    assert words in caught.value.message


KV_LINES = """\
{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :get, :key "0", :value nil}

{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}
{:process 1, :type :ok, :f :get, :key "0", :value "x 0 0 y"}
{:process 2, :type :invoke, :f :put, :key "1", :value "a"}
{:process 2, :type :info, :f :put, :key "1", :value "a"}
{:process 3, :type :invoke, :f :put, :key "1", :value "b"}
{:process 3, :type :fail, :f :put, :key "1", :value "b"}
"""


def test_porcupine_kv_reader(tmp_path: Path) -> None:
    path = write(tmp_path / "c01-ok.txt", KV_LINES)
    ops = read_porcupine_kv(path, get_model("kv"))
    assert summary(ops) == [
        (0, "append", "0", "x 0 0 y", None, 1, 3, "ok"),
        (1, "get", "0", None, "x 0 0 y", 2, 4, "ok"),
        (2, "put", "1", "a", None, 5, None, "info"),  # unknown: pending forever
    ]  # and the failed put is gone
    assert [op.line for op in ops] == [1, 2, 6]
    assert read_operations(path, model=get_model("kv")) == ops


@pytest.mark.parametrize(
    ("line_text", "field", "words"),
    [
        ('{:process 1, :type :ok, :f :get, :key "0", :value 3}', ":value", "a get returns a string"),
        ('{:process 1, :type :ok, :f :get, :key "9", :value ""}', ":key", "answers a call on"),
        ('{:process 2, :type :invoke, :f :put, :key "0", :value 3}', ":value", "a put carries"),
        ('{:process 2, :type :invoke, :f :put, :value "a"}', ":key", "string"),
        ('{:process 2, :type :invoke, :f :cas, :key "0", :value [1 2]}', ":f", "no 'cas'"),
        ('{:process 2, :type :invoke, :f :put, :key "0", :value "a"', None, "not valid EDN"),
        ("{:process 2, :type :invoke} {:process 3}", None, "one op map"),
    ],
)
def test_porcupine_kv_errors_name_the_line(tmp_path: Path, line_text: str, field, words) -> None:
    path = write(tmp_path / "kv.txt", '{:process 1, :type :invoke, :f :get, :key "0"}\n' + line_text + "\n")
    with pytest.raises(InputError) as caught:
        read_porcupine_kv(path, get_model("kv"))
    assert (caught.value.line, caught.value.field) == (2, field)
    assert words in caught.value.message


# ---------------------------------------------------------------------------------------
# Telling formats apart by content


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"index":0,"time":0,"process":0,"type":"invoke","f":"read","key":"k","value":null}\n', "jsonl"),
        ('\n  { "index": 0}\n', "jsonl"),
        ("[{:process 0}]", "edn"),
        ("; Knossos writes comments first\n\n(\n{:process 0})", "edn"),
        ('{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n', "porcupine-kv"),
        ("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n", "porcupine-log"),
        ("2015-05-08 13:44:25,456 INFO jepsen.core - Running\n", "porcupine-log"),
        ("3\t:invoke\t:read\tnil\n", "porcupine-log"),
    ],
)
def test_format_is_told_by_content_not_suffix(tmp_path: Path, text: str, expected: str) -> None:
    # The suffix lies on purpose: only the content may decide.
    assert detect_format(write(tmp_path / "history.edn.jsonl.log", text)) == expected


def test_unknown_content_asks_for_a_format(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot tell") as caught:
        detect_format(write(tmp_path / "h", "hello world\n"))
    assert "--format" in str(caught.value)


@pytest.mark.parametrize("text", ["", "\n  \n", "; only a comment\n", "\ufeff\r\n;x\r\n"])
def test_an_empty_history_is_an_error_in_every_format(tmp_path: Path, text: str) -> None:
    """Blank lines and comments hold no operation: `check` must not call that linearizable,
    whether the format is detected or forced."""
    path = write(tmp_path / "h", text)
    for history_format in FORMATS:
        if history_format == "jsonl" and ";" in text:
            continue  # JSON has no comments: that is a line of bad JSON (tested elsewhere)
        with pytest.raises(InputError, match="no operations") as caught:
            read_operations(path, history_format)
        assert caught.value.line is None


def test_unknown_format_name_and_format_names() -> None:
    assert FORMATS == ("auto", "jsonl", "edn", "porcupine-log", "porcupine-kv")
    with pytest.raises(ValueError, match="known formats"):
        read_operations("x", "jepsen-log")


def test_an_empty_vector_or_only_nemesis_is_an_empty_history(tmp_path: Path) -> None:
    assert read_operations(write(tmp_path / "v.edn", "[]\n")) == []
    nemesis = "{:process :nemesis, :type :info, :f :start, :value nil}\n"
    assert read_operations(write(tmp_path / "kv.txt", nemesis)) == []
    assert read_operations(write(tmp_path / "n.edn", f"[{nemesis}]")) == []


# ---------------------------------------------------------------------------------------
# Bad input through the command: one line naming file, line and field, exit 2


@pytest.mark.parametrize(
    ("name", "text", "arguments", "fragments"),
    [
        (
            "trunc.edn",
            "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :ty",
            ("--model", "cas-register"),
            ("trunc.edn:2", "truncated"),
        ),
        (
            "bad.jsonl",
            '{"index":0,"time":0,"process":0,"type":"invoke","f":"read",\n',
            ("--model", "cas-register"),
            ("bad.jsonl:1", "not valid JSON"),
        ),
        (
            "str.edn",
            '[{:process 0, :type :invoke, :f :write, :value "one"}]',
            ("--model", "cas-register"),
            ("str.edn:1", ":value", "integer, got 'one'"),
        ),
        (
            "kv.txt",
            '{:process 0, :type :invoke, :f :read, :key "0"}\n',
            ("--model", "kv"),
            ("kv.txt:1", ":f", "no 'read'"),
        ),
        (
            "log.txt",
            "INFO  jepsen.util - 0\t:invoke\t:write\tx\n",
            ("--model", "cas-register"),
            ("log.txt:1", "value", "integer"),
        ),
        ("noise.txt", "hello\n", ("--model", "cas-register"), ("noise.txt:1", "--format")),
        ("ok.edn", "[]", ("--model", "stack"), ("--model", "unknown model 'stack'")),
        ("ok.edn", "[]", ("--model", "cas-register", "--initial", "zero"), ("--initial", "cannot read 'zero'")),
        ("ok.edn", "[]", ("--model", "multi-register", "--initial", "{:x"), ("--initial", "multi-register")),
        ("ok.edn", "[]", ("--model", "kv", "--format", "csv"), ("--format", "csv")),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, name: str, text: str, arguments: tuple[str, ...], fragments
) -> None:
    path = write(tmp_path / name, text)
    assert_one_line_error(raftsim("check", str(path), *arguments), *fragments)


def test_check_reads_every_format_with_its_model(tmp_path: Path) -> None:
    kv = write(tmp_path / "kv", KV_LINES)
    completed = raftsim("check", str(kv), "--model", "kv", "--json")
    assert completed.returncode == 0, completed.stderr
    assert '"model": "kv"' in completed.stdout
    log = write(tmp_path / "log", JEPSEN_LOG)
    forced = raftsim("check", str(log), "--model", "cas-register", "--format", "porcupine-log")
    assert forced.returncode == 0, forced.stderr
    wrong = raftsim("check", str(log), "--model", "cas-register", "--format", "porcupine-kv")
    assert_one_line_error(wrong, "log:1", "expected one op map")


# ---------------------------------------------------------------------------------------
# Our EDN reader, held to edn_format's results

ROOT = Path(__file__).parent / "testdata" / "histories"


@functools.cache
def _edn_format_parser():
    """edn_format's parser and lexer, built once (`edn_format.loads` rebuilds them per call,
    which costs ten times the parse)."""
    import ply.yacc
    from edn_format import edn_lex, edn_parse

    parser = ply.yacc.yacc(module=edn_parse, debug=False, write_tables=False, errorlog=ply.yacc.NullLogger())
    return parser, edn_lex.lex()


def edn_reference(text: str) -> list:
    """What edn_format reads, in the plain shape `checkers.formats.edn.plain` gives ours."""
    import edn_format

    def shape(value):
        if isinstance(value, edn_format.Keyword | edn_format.Symbol):
            return str(value.name)
        if isinstance(value, str) or value is None:
            return str(value) if value is not None else None
        if isinstance(value, Mapping):
            return tuple((shape(key), shape(item)) for key, item in value.items())
        if isinstance(value, frozenset | set):
            return frozenset(shape(item) for item in value)
        if isinstance(value, Sequence):
            return tuple(shape(item) for item in value)
        return value

    parser, lexer = _edn_format_parser()
    return [shape(form) for form in parser.parse(text, lexer=lexer)]


def test_edn_reader_agrees_with_edn_format_on_every_public_history() -> None:
    """Every public history, every third record (all of them cost six seconds of
    edn_format): some 14,000 maps of every shape the files hold, flat or not."""
    from checkers.formats.edn_text import _flat_map, parse_forms

    flat = total = 0
    for path in sorted(ROOT.rglob("*.edn")) + sorted(ROOT.rglob("*.txt")):
        with open(path, encoding="utf-8") as stream:
            texts = [text for _, text in FormScanner(str(path)).forms(enumerate(stream, start=1))]
        for text in texts[::3]:
            total += 1
            flat += _flat_map(text) is not None
            assert [plain(form) for form in parse_forms(text)] == edn_reference(text), (path, text)
    assert total > 13_000
    assert flat > total // 2  # most records (all but vectors' and txns') take the fast path


_KEYWORDS = st.sampled_from([":a", ":type", ":ok", ":nemesis", ":x/y", ":timed-out", ":a1"])
_ATOMS = st.one_of(
    _KEYWORDS,
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["nil", "true", "false"]),
    st.text(alphabet='ab ]{}:;\\"\n\u00e9', max_size=6).map(
        lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    ),
    st.sampled_from(["1.5", "\\a", "\\newline", "#{1}", "sym", "-0", "2.5e3", "7N", '"\\t\\u00e9"', "; c\n1"]),
)
_EDN = st.recursive(
    _ATOMS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + " ".join(items) + "]"),
        st.lists(inner, max_size=3).map(lambda items: "(" + ", ".join(items) + ")"),
        st.lists(st.tuples(_KEYWORDS, inner), max_size=4, unique_by=lambda pair: pair[0]).map(
            lambda pairs: "{" + ", ".join(f"{k} {v}" for k, v in pairs) + "}"
        ),
    ),
    max_leaves=12,
)


@given(_EDN)
@settings(max_examples=300, deadline=None, derandomize=True)
def test_edn_reader_is_edn_format_on_the_edn_histories_use(text: str) -> None:
    """Generated EDN of the shapes histories hold (no key given twice): both readers
    accept it and read the same values."""
    from checkers.formats.edn_text import parse_forms

    text = text + "\n"  # a trailing comment must end
    assert [plain(form) for form in parse_forms(text)] == edn_reference(text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{:a 1 :a 2}", "key :a is given twice"),
        ("{:a {:b 1, :b 2}}", "key :b is given twice"),
        ("#{1 1}", "element twice"),
        ("#foo/bar 1", "tagged value #foo/bar"),
        ('#inst "garbage"', "tagged value #inst"),
        ('#uuid "x"', "tagged value #uuid"),
        ("\\newlinex", "unknown character"),
        ("##NaN", "##NaN"),
        ("##Inf", "##Inf"),
        ("#_", "nothing to discard"),
        ("^{:a 1} {}", "metadata"),
        ("1/2", "ratio"),
        ("#:a{:b 1}", "namespaced map"),
        ('"\\ud800"', "surrogate"),
        ("\\ud800", "surrogate"),
        ('"a\\qb"', "unknown escape"),
        ('"a\x01"', "control character U+0001"),
        ('"\\u001b[2J"', "control character U+001B"),
        ("1" * 4301, "4301 characters"),
        ("[" * 101 + "]" * 101, "nested more than 100"),
        ("1e999", "out of range"),
        ("07", "not a number"),
        ("::a", "not a keyword"),
        ('{:a "x', "never closed"),
        ("(1 2]", "closed by ]"),
        ("]", "closes nothing"),
        ("{:a}", "a value for every key"),
        ("{{:a 1} 2}", "cannot be a map key"),
        ("@x", "'@'"),
    ],
)
def test_edn_reader_refuses_what_a_history_cannot_hold(text: str, words: str) -> None:
    from checkers.formats.edn_text import EdnError, parse_forms

    with pytest.raises(EdnError, match=re.escape(words)):
        parse_forms(text)


def test_edn_reader_reads_the_rest_of_edn() -> None:
    from decimal import Decimal

    from checkers.formats.edn_text import parse_forms

    assert parse_forms('1M 2N -3.5 \\space "\\ud83d\\ude00" #_ #_ 1 2 x/y #{:a} (1) [] {}') == [
        Decimal("1"),
        2,
        -3.5,
        " ",
        "\U0001f600",
        "x/y",
        frozenset({"a"}),
        (1,),
        (),
        {},
    ]


def test_the_command_offers_every_format_and_model() -> None:
    from checkers.models import MODELS
    from raftsim.cli import CHECK_MODELS, HISTORY_FORMATS

    assert HISTORY_FORMATS == FORMATS
    assert tuple(MODELS) == CHECK_MODELS


# ---------------------------------------------------------------------------------------
# Lines are read in blocks: the same lines, numbers and errors as one line at a time


def _lines_one_at_a_time(data: bytes) -> list[str]:
    pieces = [piece + b"\n" for piece in data.split(b"\n")]
    pieces[-1] = pieces[-1][:-1]
    texts = [piece.decode("utf-8") for piece in pieces if piece]
    if texts and texts[0].startswith("\ufeff"):
        texts[0] = texts[0][1:]
    return texts


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    parts=st.lists(
        st.sampled_from(["a", "é", "\n", "\r", "\r\n", "\x0b", "\x1c", "\u2028", "\x85", '{"k":1}']), max_size=40
    ),
    block=st.integers(1, 9),
    bom=st.booleans(),
)
def test_lines_read_in_blocks_are_the_lines_of_the_file(
    tmp_path_factory: pytest.TempPathFactory, parts: list[str], block: int, bom: bool
) -> None:
    from checkers.formats import text

    data = (("\ufeff" if bom else "") + "".join(parts)).encode("utf-8")
    path = tmp_path_factory.mktemp("lines") / "h"
    path.write_bytes(data)
    original = text.BLOCK_BYTES
    text.BLOCK_BYTES = block  # blocks that cut lines, and characters, anywhere
    try:
        read = list(text.numbered_lines(str(path)))
    finally:
        text.BLOCK_BYTES = original
    assert read == list(enumerate(_lines_one_at_a_time(data), start=1))


def test_bytes_that_are_not_utf8_are_named_after_the_good_lines_before_them(tmp_path: Path) -> None:
    from checkers.formats.text import numbered_lines

    path = tmp_path / "h"
    path.write_bytes(b'{"a":1}\nnot json\n{"b":\xff}\n')
    seen: list[int] = []
    with pytest.raises(InputError) as caught:
        for number, _ in numbered_lines(str(path)):
            seen.append(number)
    assert seen == [1, 2]  # a reader refuses line 2 before line 3's bytes are looked at
    assert (caught.value.line, caught.value.message) == (
        3,
        "not UTF-8 text: byte 0xff at column 6 (invalid start byte)",
    )


def test_reading_and_searching_leave_no_cycle_to_collect(tmp_path: Path) -> None:
    """What lets `collector_paused` turn the collector off while reading and searching."""
    import gc

    from checkers.history import Event, write_history_jsonl
    from checkers.linearizability import check_operations

    register = tmp_path / "register.jsonl"
    events = []
    for n in range(200):
        process = n % 4
        f = ("read", "write", "cas")[n % 3]
        value = {"read": None, "write": n, "cas": (None, n)}[f]
        events.append(Event(2 * n, 2 * n, process + 4 * (n // 4), "invoke", f, "k", value))
        kind = "info" if n % 9 == 0 else "ok"
        result = None if f == "read" or kind == "info" else value
        events.append(Event(2 * n + 1, 2 * n + 1, process + 4 * (n // 4), kind, f, "k", result))
    write_history_jsonl(register, events)
    appends = tmp_path / "list-append.jsonl"
    lines, listed = [], []
    for n in range(100):
        lines.append({"index": 2 * n, "time": n, "process": 0, "type": "invoke", "f": "append", "key": "k", "value": n})
        lines.append({"index": 2 * n + 1, "time": n, "process": 0, "type": "ok", "f": "append", "key": "k", "value": n})
        listed.append(n)
    lines.append(
        {"index": 200, "time": 100, "process": 0, "type": "invoke", "f": "read-list", "key": "k", "value": None}
    )
    lines.append({"index": 201, "time": 100, "process": 0, "type": "ok", "f": "read-list", "key": "k", "value": listed})
    appends.write_text("".join(json.dumps(record) + "\n" for record in lines), encoding="utf-8")
    knossos = sorted(Path(__file__).parent.joinpath("testdata", "histories").rglob("*.edn"))[:3]
    cases = [(register, "cas-register", None), (appends, "list-append", None)] + [
        (p, "cas-register", 0) for p in knossos
    ]
    for path, name, initial in cases:
        model = get_model(name, initial)
        gc.collect()
        enabled = gc.isenabled()
        gc.disable()
        try:
            check_operations(read_operations(path, None, model), model)
            assert gc.collect() == 0, path
        finally:
            if enabled:
                gc.enable()
