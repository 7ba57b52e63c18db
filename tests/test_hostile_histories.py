"""Hostile histories: whatever a file holds, reading it gives operations or one InputError
whose text is one line starting with the file's path; never a traceback, a wrong verdict
or memory in proportion to a cost per character.

First each known attack on its own (huge integers, deep nesting, tags, duplicate keys,
lone surrogates, files that are not files, bytes that are not UTF-8, a format forced on a
file of another), then a Hypothesis corpus of mutated histories of all four formats, a
sample of which goes through the real command.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.budget import Budget, OutOfBudget
from checkers.errors import InputError
from checkers.formats import FORMATS, detect_format, read_operations
from checkers.history import Operation, read_history_faults, read_history_jsonl
from checkers.models import get_model
from checkers.trace import iter_trace_lines, read_trace_jsonl

ROOT = Path(__file__).parent / "testdata" / "histories"
MAIN = Path(__file__).parent.parent


def jsonl_line(index: int, process: int, type_: str, f: str, value=None, **extra) -> str:
    record = {
        "index": index,
        "time": 10 * index,
        "process": process,
        "type": type_,
        "f": f,
        "key": "x",
        "value": value,
        **extra,
    }
    return json.dumps(record) + "\n"


JSONL = "".join(
    [
        jsonl_line(0, 1, "invoke", "write", 3, client=0),
        jsonl_line(1, 2, "invoke", "read", None, client=1),
        jsonl_line(2, 1, "ok", "write", 3, client=0, revision=2, node=1),
        jsonl_line(3, 2, "ok", "read", 3, client=1, revision=2, node=2),
        jsonl_line(4, 1, "invoke", "cas", [3, 4], client=0),
        jsonl_line(5, 1, "fail", "cas", [3, 4], client=0, error="compare-failed"),
        jsonl_line(6, 2, "invoke", "write", 5, client=1),
        jsonl_line(7, 2, "info", "write", 5, client=1, error="timeout"),
    ]
)
EDN = "[{:process 0, :type :invoke, :f :write, :value 1}\n {:process 0, :type :ok, :f :write, :value 1}]\n"
KV = '{:process 0, :type :invoke, :f :append, :key "0", :value "x"}\n'
LOG = "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\n"


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")
    path.write_bytes(content)
    return path


def refused(
    path: Path, history_format: str | None = None, model: str = "cas-register", budget: Budget | None = None
) -> InputError:
    with pytest.raises(InputError) as caught:
        read_operations(path, history_format, get_model(model), budget)
    assert_one_line(caught.value, path)
    return caught.value


def assert_one_line(error: InputError, path: Path | str) -> None:
    text = str(error)
    assert text.startswith(str(path)), text
    assert "\n" not in text and "\r" not in text, text
    text.encode("utf-8")  # printable whatever the input held
    assert len(text) < len(str(path)) + 600, text


# ---------------------------------------------------------------------------------------
# Huge integers, deep nesting, tags, duplicate keys, surrogates: in every reader

HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("name", "text", "line", "field"),
    [
        ("int.jsonl", jsonl_line(0, 1, "invoke", "write", 1).replace('"value": 1', f'"value": {HUGE}'), 1, "value"),
        (
            "proc.jsonl",
            jsonl_line(0, 1, "invoke", "write", 1).replace('"process": 1', f'"process": {HUGE}'),
            1,
            "process",
        ),
        ("int.edn", f"[{{:process 0, :type :invoke, :f :write, :value {HUGE}}}]", 1, ":value"),
        ("int.txt", f'{{:process 0, :type :invoke, :f :append, :key "0", :value {HUGE}}}\n', 1, ":value"),
        ("int.log", f"INFO  jepsen.util - 0\t:invoke\t:write\t{HUGE}\n", 1, "value"),
        ("proc.log", f"INFO  jepsen.util - {HUGE}\t:invoke\t:write\t1\n", 1, "process"),
    ],
)
def test_integers_over_4300_digits_name_line_and_field(
    tmp_path: Path, name: str, text: str, line: int, field: str
) -> None:
    model = "kv" if name.endswith(".txt") else "cas-register"
    error = refused(write(tmp_path / name, text), model=model)
    assert (error.line, error.field) == (line, field), str(error)


DEEP = 100_000


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("deep.jsonl", JSONL + '{"index": 8, "value": ' + "[" * DEEP + "]" * DEEP + "}\n", 9),
        ("deepobj.jsonl", '{"index": 0, "value": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}\n", 1),
        ("vec.edn", "[\n{:process 0, :type :invoke, :f :write, :value " + "[" * DEEP + "]" * DEEP + "}]", 2),
        ("list.edn", "(\n{:process 0, :type :invoke, :f :write, :value " + "(" * DEEP + ")" * DEEP + "})", 2),
        ("deep.txt", '{:process 0, :type :invoke, :f :append, :key "0", :value ' + "[" * DEEP + "]" * DEEP + "}\n", 1),
        ("deep.log", "INFO  jepsen.util - 0\t:invoke\t:write\t" + "[" * DEEP + "]" * DEEP + "\n", 1),
        ("deep101.edn", "[{:process 0, :type :invoke, :f :write, :value " + "[" * 100 + "]" * 100 + "}]", 1),
    ],
)
def test_any_nesting_depth_is_refused_with_its_line(tmp_path: Path, name: str, text: str, line: int) -> None:
    model = "kv" if name.endswith(".txt") else "cas-register"
    error = refused(write(tmp_path / name, text), model=model)
    assert error.line == line
    assert error.field == ("value" if name.endswith((".jsonl", ".log")) else ":value")
    assert "nested more than 100 deep" in error.message


def test_nesting_up_to_the_limit_reads(tmp_path: Path) -> None:
    nested = "[" * 99 + "]" * 99  # 99 inside the op map: 100 in all
    path = write(tmp_path / "ok.edn", f"[{{:process 0, :type :invoke, :f :txn, :value {nested}}}]")
    assert len(read_operations(path)) == 1


@pytest.mark.parametrize(
    "odd",
    [
        "#foo/bar 1",
        '#inst "garbage"',
        '#uuid "x"',
        "\\newlinex",
        "##NaN",
        "##-Inf",
        "#_",
        "^{:a 1} 1",
        "1/2",
        "#:a{:b 1}",
        "1e999",
        '"\\ud800"',
        "\\ud800",
        '"\\q"',
        "@x",
        "#",
    ],
)
def test_edn_that_a_history_cannot_hold_is_an_error_on_its_line(tmp_path: Path, odd: str) -> None:
    for name, text, history_format in [
        ("v.edn", f"[\n{{:process 0, :type :invoke, :f :write, :value {odd}}}]", "edn"),
        ("kv.txt", f'\n{{:process 0, :type :invoke, :f :put, :key "k", :value {odd}}}', None),
        ("l.log", f"\nINFO  jepsen.util - 0\t:invoke\t:write\t{odd}\n", None),
    ]:
        error = refused(write(tmp_path / name, text), history_format)
        assert error.line == 2, str(error)
        assert error.field in (":value", "value"), str(error)


def test_edn_reads_symbols_decimals_and_discards_correctly(tmp_path: Path) -> None:
    text = "[{:process 0, :type :invoke, :f :write, :value 1M, :extra sym, :gone #_ 5 7}]"
    [op] = read_operations(write(tmp_path / "h.edn", text))
    assert op.input == 1 and op.f == "write"


@pytest.mark.parametrize(
    ("name", "text", "line", "field"),
    [
        ("dup.edn", "[{:process 0, :type :invoke,\n :f :write, :value 1, :value 2}]", 1, ":value"),
        ("dup.txt", '{:process 0, :type :invoke, :f :put, :key "k", :key "j", :value "a"}\n', 1, ":key"),
        ("dupinner.edn", "[{:process 0, :type :invoke, :f :txn, :value [{:a 1 :a 2}]}]", 1, ":value"),
        (
            "dup.jsonl",
            jsonl_line(0, 1, "invoke", "write", 1).replace('"index": 0', '"index": 0, "index": 0'),
            1,
            "index",
        ),
    ],
)
def test_a_key_given_twice_is_an_error(tmp_path: Path, name: str, text: str, line: int, field: str) -> None:
    error = refused(write(tmp_path / name, text))
    assert (error.line, error.field) == (line, field)
    assert "twice" in error.message


@pytest.mark.parametrize(
    ("name", "text", "line", "field"),
    [
        ("key.jsonl", jsonl_line(0, 1, "invoke", "write", 1).replace('"x"', '"\\ud800"'), 1, "key"),
        ("name.jsonl", jsonl_line(0, 1, "invoke", "write", 1).replace('"f"', '"\\udfff"'), 1, None),
        ("err.jsonl", JSONL.replace('"timeout"', '"time\\udc00out"'), 8, "error"),
        ("ctl.jsonl", jsonl_line(0, 1, "invoke", "write", 1).replace('"x"', '"\\u001b[2J"'), 1, "key"),
        ("c1.jsonl", jsonl_line(0, 1, "invoke", "write", 1).replace('"x"', '"\x9b2J"'), 1, "key"),
        ("key.edn", '[{:process 0, :type :invoke, :f :put, :key "\\ud800", :value "a"}]', 1, ":key"),
        ("key.txt", '{:process 0, :type :invoke, :f :put, :key "\\udbff", :value "a"}\n', 1, ":key"),
        ("val.log", 'INFO  jepsen.util - 0\t:invoke\t:write\t"\\ud800"\n', 1, "value"),
    ],
)
def test_text_that_is_not_unicode_is_refused(
    tmp_path: Path, name: str, text: str, line: int, field: str | None
) -> None:
    model = "kv" if name.endswith((".edn", ".txt")) else "cas-register"
    error = refused(write(tmp_path / name, text), model=model)
    assert error.line == line, str(error)
    if field is not None:
        assert error.field == field, str(error)


def test_a_surrogate_pair_is_one_character(tmp_path: Path) -> None:
    path = write(tmp_path / "ok.txt", '{:process 0, :type :invoke, :f :put, :key "\\ud83d\\ude00", :value "a"}\n')
    [op] = read_operations(path, None, get_model("kv"))
    assert op.key == "\U0001f600"


# ---------------------------------------------------------------------------------------
# A format that recognises nothing, or skips what it does not understand


@pytest.mark.parametrize(
    ("content", "history_format"),
    [
        (JSONL, "porcupine-log"),
        (JSONL, "porcupine-kv"),
        (JSONL, "edn"),
        (EDN, "jsonl"),
        (EDN, "porcupine-log"),
        (KV, "jsonl"),
        (KV, "porcupine-log"),
        (LOG, "jsonl"),
        (LOG, "edn"),
        (LOG, "porcupine-kv"),
        ("INFO jepsen.core - starting\n", "porcupine-log"),
        ("INFO jepsen.core - starting\n", None),
    ],
)
def test_a_forced_format_on_another_formats_file_is_bad_input(
    tmp_path: Path, content: str, history_format: str | None
) -> None:
    error = refused(write(tmp_path / "h", content), history_format)
    assert error.line == 1, str(error)


def test_porcupine_log_skips_only_log_output(tmp_path: Path) -> None:
    text = (
        "2015-05-08 13:44:25,456 INFO jepsen.core - Running\n"
        "WARN jepsen.nemesis - oops\n\tat some.Stack(Trace.java:1)\n\n; a comment\n" + LOG
    )
    assert len(read_operations(write(tmp_path / "ok.log", text), "porcupine-log")) == 1
    error = refused(write(tmp_path / "bad.log", LOG + "jepsen.util 0 :invoke :read nil\n"))
    assert error.line == 3


# ---------------------------------------------------------------------------------------
# Paths that are not files, bytes that are not text, and the shapes of text files take


def test_what_is_not_a_regular_file_says_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    cases = [
        (tmp_path, "is a directory"),
        (fifo, "is a named pipe, not a file"),
        (Path("/dev/null"), "is a character device, not a file"),
        (tmp_path / "missing", "no such file"),
        (tmp_path / "missing" / "deeper", "no such file"),
    ]
    for path, words in cases:
        for history_format in FORMATS:
            started = time.monotonic()
            error = refused(path, history_format)
            assert time.monotonic() - started < 5  # a pipe is never waited on
            assert error.message.startswith(words), str(error)
        with pytest.raises(InputError, match=words):
            detect_format(path)
        with pytest.raises(InputError, match=words):
            read_history_jsonl(path)
        with pytest.raises(InputError, match=words):
            read_trace_jsonl(path)


@pytest.mark.parametrize(
    ("content", "line", "bad", "model"),
    [
        (JSONL.encode() + b'{"index": 8, "key": "\xe9"}\n', 9, b"\xe9", "cas-register"),
        (EDN.encode().replace(b":write, :value 1}\n", b":write, :value \xff}\n", 1), 1, b"\xff", "cas-register"),
        (KV.encode() + b"\xc3\n", 2, b"\xc3", "kv"),
        (LOG.encode() + b"INFO  jepsen.util - 0\t:ok\t:read\t\xed\xa0\x80\n", 3, b"\xed", "cas-register"),
    ],
)
def test_bytes_that_are_not_utf8_name_line_and_column(
    tmp_path: Path, content: bytes, line: int, bad: bytes, model: str
) -> None:
    error = refused(write(tmp_path / "h", content), model=model)
    text = content.splitlines()[line - 1]
    column = len(text[: text.index(bad)].decode("utf-8")) + 1
    assert error.line == line
    assert f"byte 0x{bad[0]:02x} at column {column}" in error.message, str(error)


@pytest.mark.parametrize(
    ("content", "model"), [(JSONL, "cas-register"), (EDN, "cas-register"), (KV, "kv"), (LOG, "cas-register")]
)
def test_bom_and_crlf_line_ends_read_the_same(tmp_path: Path, content: str, model: str) -> None:
    plain = read_operations(write(tmp_path / "plain", content), None, get_model(model))
    windows = "\ufeff" + content.replace("\n", "\r\n")
    assert read_operations(write(tmp_path / "crlf", windows), None, get_model(model)) == plain
    assert plain


@pytest.mark.parametrize(
    ("content", "history_format", "line"),
    [
        (JSONL[:40] + "\0" + JSONL[40:], "jsonl", 1),
        (EDN.replace(":ok", ":o\0k"), "edn", 2),
        (KV.replace('"x"', '"\0"'), "porcupine-kv", 1),
        (LOG.replace("1\n", "\0\n", 1), "porcupine-log", 1),
        ("\0", None, 1),
        ("\0\n", "edn", 1),
    ],
)
def test_a_nul_byte_is_an_error_on_its_line(
    tmp_path: Path, content: str, history_format: str | None, line: int
) -> None:
    error = refused(write(tmp_path / "h", content), history_format)
    assert error.line == line


# ---------------------------------------------------------------------------------------
# Budget: reading is bounded by the check's deadline


def big_history(tmp_path: Path, history_format: str) -> Path:
    records = 20_000
    if history_format == "jsonl":
        lines = [
            jsonl_line(2 * i + j, i, kind, "write", i)
            for i in range(records // 2)
            for j, kind in enumerate(("invoke", "ok"))
        ]
        return write(tmp_path / "big", "".join(lines))
    if history_format == "porcupine-log":
        return write(
            tmp_path / "big",
            "".join(
                f"INFO  jepsen.util - {i}\t:{kind}\t:write\t{i}\n"
                for i in range(records // 2)
                for kind in ("invoke", "ok")
            ),
        )
    maps = "".join(
        f'{{:process {i}, :type :{kind}, :f :put, :key "k", :value "v"}}\n'
        for i in range(records // 2)
        for kind in ("invoke", "ok")
    )
    return write(tmp_path / "big", maps if history_format == "porcupine-kv" else f"[{maps}]")


@pytest.mark.parametrize("history_format", FORMATS[1:])
@pytest.mark.usefixtures("cpu_clock")  # the bound is on work done, not on the machine's load
def test_an_expired_budget_stops_reading_at_once(tmp_path: Path, history_format: str) -> None:
    path = big_history(tmp_path, history_format)
    model = get_model("kv" if "kv" in history_format or history_format == "edn" else "cas-register")
    expired = Budget(deadline=time.monotonic() - 1)
    started = time.monotonic()
    with pytest.raises(OutOfBudget) as caught:
        read_operations(path, history_format, model, expired)
    assert caught.value.cause == "timeout"
    assert time.monotonic() - started < 0.2  # reading all 20,000 records takes seconds
    spent = Budget.starting_now(60)
    assert len(read_operations(path, history_format, model, spent)) == 10_000


def test_a_line_past_the_limit_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from checkers.formats import text

    monkeypatch.setattr(text, "MAX_LINE_BYTES", 2 << 20)
    path = write(tmp_path / "long.txt", "[" * (3 << 20) + "\n" + EDN)
    for history_format in FORMATS:
        error = refused(path, history_format)
        assert (error.line, error.message) == (1, "a line longer than 2 MiB: not a history")


def test_an_expired_budget_stops_one_endless_line(tmp_path: Path) -> None:
    path = write(tmp_path / "long.edn", '[{:process 0, :value "' + "x" * (8 << 20))
    with pytest.raises(OutOfBudget):
        read_operations(path, "edn", None, Budget(deadline=time.monotonic() - 1))


# ---------------------------------------------------------------------------------------
# Memory: of the operations, never a cost per character of the file's text

MEMORY_PROBE = """
import sys
from checkers.errors import InputError
from checkers.formats import read_operations
from checkers.models import get_model
try:
    print(len(read_operations(sys.argv[1], None, get_model("kv"))))
except InputError as error:
    print(error)
# VmHWM, not ru_maxrss: the latter keeps the high-water mark of the process image before
# exec, which is the whole test runner's when this probe is forked from it.
with open("/proc/self/status") as status:
    print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) // 1024)
"""
TEN_MB = 10 << 20
RSS_BOUND_MB = 200
"""Python, the project's imports and a 10 MB map read take about 80 MB here; the bound
leaves room for another machine while catching any cost per character (the old reader
took 1.2 GB for these files)."""


@pytest.mark.parametrize(
    ("name", "text", "outcome"),
    [
        ("map.edn", '[{:process 0, :type :invoke, :f :put, :key "k", :value "' + "x" * TEN_MB + '"}]\n', "1"),
        (
            "escapes.edn",
            '[{:process 0, :type :invoke, :f :put, :key "k", :value "' + "x\\n" * (TEN_MB // 3) + '"}]\n',
            "1",
        ),
        (
            "unclosed.edn",
            '[{:process 0, :type :invoke, :f :put, :key "k", :value "' + "x" * TEN_MB + "\n",
            "unclosed.edn:1: truncated: the string opened here is never closed",
        ),
        (
            "unclosed-map.edn",
            "[\n{:process 0, :value [" + "1 " * (TEN_MB // 2) + "\n",
            "unclosed-map.edn:2: truncated: the op map starting here is never closed",
        ),
    ],
)
def test_reading_a_10_mb_op_map_stays_small(tmp_path: Path, name: str, text: str, outcome: str) -> None:
    path = write(tmp_path / name, text)
    completed = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path)],
        cwd=MAIN,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result, peak_mb = completed.stdout.strip().splitlines()
    assert result.endswith(outcome), result
    assert int(peak_mb) < RSS_BOUND_MB, f"{name}: {peak_mb} MB"


# ---------------------------------------------------------------------------------------
# The run folder's own files: trace.jsonl and history.jsonl, whatever their bytes


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        (b'{"t": 0, "ev": "end"}\n{"t": 1, "ev": "end", "x": "\xff"}\n', 2, "not UTF-8"),
        (b'{"t": 0, "ev": "e', 1, "truncated"),
        (b'{"t": "0", "ev": "end"}\n', 1, "must be an integer"),
        (b'{"t": 0, "ev": "end", "x": ' + b"[" * DEEP + b"]" * DEEP + b"}\n", 1, "nested"),
        (b'{"t": 0, "ev": "end", "x": ' + b"[" * 150 + b"]" * 150 + b"}\n", 1, "nested"),
        (b'{"t": ' + HUGE.encode() + b', "ev": "end"}\n', 1, "4300 digits"),
        (b'{"t": 0, "ev": "end", "x": NaN}\n', 1, "NaN"),
        (b'{"t": 0, "ev": "end", "x": "\\ud800"}\n', 1, "surrogate"),
        (b"[1]\n", 1, "JSON object"),
    ],
)
def test_trace_reader_gives_one_line_for_any_bytes(tmp_path: Path, content: bytes, line: int, words: str) -> None:
    path = write(tmp_path / "trace.jsonl", content)
    with pytest.raises(InputError) as caught:
        read_trace_jsonl(path)
    assert_one_line(caught.value, path)
    assert caught.value.line == line and words in caught.value.message, str(caught.value)


def test_trace_text_stream_that_is_not_utf8_is_an_input_error(tmp_path: Path) -> None:
    """A text stream of a file is read again as bytes to name the exact line; a stream
    of no file says after which line it failed."""
    content = b'{"t": 0, "ev": "end"}\n' * 2000 + b'{"t": 0, "ev": "end", "x": "\xff"}\n'
    path = write(tmp_path / "trace.jsonl", content)
    with open(path, encoding="utf-8") as stream, pytest.raises(InputError) as caught:
        list(iter_trace_lines(stream, str(path)))
    assert (caught.value.line, caught.value.message) == (
        2001,
        "not UTF-8 text: byte 0xff at column 29 (invalid start byte)",
    )
    stream = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8")
    with pytest.raises(InputError, match=r"not UTF-8 text after line \d+") as caught:
        list(iter_trace_lines(stream, "memory"))
    assert_one_line(caught.value, "memory")


# ---------------------------------------------------------------------------------------
# A corpus of mutated histories, all four formats


def _seed(relative: str, lines: int) -> str:
    with open(ROOT / relative, encoding="utf-8") as stream:
        return "".join(stream.readline() for _ in range(lines))


SEEDS = {
    "jsonl": (JSONL, "cas-register"),
    "edn": (_seed("knossos/cas-register/good/cas-register-bug.edn", 12), "cas-register"),
    "porcupine-kv": (_seed("porcupine/kv/c01-ok.txt", 16), "kv"),
    "porcupine-log": (_seed("porcupine/jepsen/etcd_000.log", 16), "cas-register"),
}
HOSTILE_SNIPPETS = [
    HUGE,
    "[" * 3000,
    "{" * 3000,
    "(" * 3000,
    "#foo/bar 1",
    ":process 1 :process 2",
    '"index": 0, "index": 1',
    "\x01",
    "\x00",
    "\x1b[2J",
    '"\\ud800"',
    "\\ud800",
    "\\",
    '"',
    "]",
    "}",
    ")",
    ";",
    "\n",
    "\r\n",
    "\ufeff",
    "nil",
    "true",
    "-1",
    "[1 2]",
    '{"a": 1}',
    ":nemesis",
    "\t:invoke\t",
    "##NaN",
    "NaN",
    "1e999",
    '#inst "x"',
    "1/2",
    "^{}",
    "#_",
    "#{1 1}",
    ":",
    "\u2028",
    "[/x]",
    "[bold]x",
    " jepsen.util - ",
    "INFO",
    "0\t:ok\t:read\t",
    "",
    "\\newlinex",
]
BAD_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xfe\xff", b"\x80"]

_mutation = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("delete"), st.floats(0, 1)),
    st.tuples(st.just("duplicate"), st.floats(0, 1)),
    st.tuples(st.just("swap"), st.floats(0, 1), st.floats(0, 1)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(HOSTILE_SNIPPETS)),
    st.tuples(st.just("value"), st.integers(0, 40), st.sampled_from(HOSTILE_SNIPPETS)),
    st.tuples(st.just("bytes"), st.floats(0, 1), st.sampled_from(BAD_BYTES)),
)


def mutate(content: bytes, mutation: tuple) -> bytes:
    kind, where = mutation[0], mutation[1]
    lines = content.splitlines(keepends=True) or [b""]
    line_at = min(int(where * len(lines)), len(lines) - 1) if isinstance(where, float) else 0
    offset = int(where * len(content)) if isinstance(where, float) else 0
    if kind == "truncate":
        return content[:offset]
    if kind == "delete":
        return b"".join(lines[:line_at] + lines[line_at + 1 :])
    if kind == "duplicate":
        return b"".join(lines[: line_at + 1] + lines[line_at:])
    if kind == "swap":
        other = min(int(mutation[2] * len(lines)), len(lines) - 1)
        lines[line_at], lines[other] = lines[other], lines[line_at]
        return b"".join(lines)
    if kind == "insert":
        return content[:offset] + mutation[2].encode("utf-8", "surrogatepass") + content[offset:]
    if kind == "bytes":
        return content[:offset] + mutation[2] + content[offset:]
    numbers = list(re.finditer(rb"-?\d+|nil|\"[^\"\n]*\"", content))  # replace a value
    if not numbers:
        return content
    chosen = numbers[where % len(numbers)]
    return content[: chosen.start()] + mutation[2].encode("utf-8", "surrogatepass") + content[chosen.end() :]


HOSTILE = settings(
    max_examples=75, derandomize=True, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
"""Fixed: the same 75 mutations per format on every run, so CI is fast and stable."""


def read_or_refuse(path: Path, history_format: str | None, model: str) -> list[Operation] | None:
    """Operations, or None after checking the InputError's shape; anything else fails."""
    try:
        return read_operations(path, history_format, get_model(model))
    except InputError as error:
        assert_one_line(error, path)
        return None


@pytest.mark.parametrize("history_format", FORMATS[1:])
@HOSTILE
@given(mutations=st.lists(_mutation, min_size=1, max_size=3))
def test_mutated_histories_read_or_give_one_line(history_format: str, mutations: list) -> None:
    seed, model = SEEDS[history_format]
    content = seed.encode("utf-8")
    for mutation in mutations:
        content = mutate(content, mutation)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history"
        path.write_bytes(content)
        forced = read_or_refuse(path, history_format, model)
        detected = read_or_refuse(path, None, model)
        if forced is not None and detected is not None:
            assert forced == detected  # content decides the format, and then means the same


def _with_fault_lines(jsonl: str) -> str:
    """`jsonl` with a partition fault line after its first line and its heal after its
    fourth, every index renumbered (the faults share the operations' sequence)."""
    lines = [json.loads(line) for line in jsonl.splitlines()]
    nemesis = {"process": "nemesis", "fault": 0}
    lines.insert(1, {"time": 5, **nemesis, "type": "fault", "kind": "partition", "sides": [[1], [2, 3]]})
    lines.insert(5, {"time": 25, **nemesis, "type": "heal"})
    return "".join(json.dumps({**line, "index": number}) + "\n" for number, line in enumerate(lines))


@HOSTILE
@given(mutations=st.lists(_mutation, min_size=1, max_size=3))
def test_mutated_fault_lines_read_or_give_one_line(mutations: list) -> None:
    content = _with_fault_lines(JSONL).encode("utf-8")
    for mutation in mutations:
        content = mutate(content, mutation)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history"
        path.write_bytes(content)
        read_or_refuse(path, "jsonl", "cas-register")
        try:
            read_history_faults(path)
        except InputError as error:
            assert_one_line(error, path)


CLI_SAMPLE = [
    ("jsonl", [("value", 3, HUGE)]),
    ("jsonl", [("insert", 0.5, "[" * 3000)]),
    ("jsonl", [("value", 2, '"\\ud800"')]),
    ("edn", [("insert", 0.3, "#foo/bar 1")]),
    ("edn", [("truncate", 0.6)]),
    ("edn", [("value", 1, "##NaN")]),
    ("porcupine-kv", [("value", 5, '"\\ud800"')]),
    ("porcupine-kv", [("bytes", 0.4, b"\xff")]),
    ("porcupine-kv", [("swap", 0.1, 0.9)]),
    ("porcupine-log", [("value", 4, HUGE)]),
    ("porcupine-log", [("insert", 0.5, "\x00")]),
    ("porcupine-log", [("delete", 0.3)]),
    ("jsonl", []),
    ("edn", []),
    ("jsonl-faults", [("value", 1, '"nemesis"')]),
    ("jsonl-faults", [("swap", 0.1, 0.5)]),
]


@pytest.mark.parametrize(("history_format", "mutations"), CLI_SAMPLE)
def test_a_sample_through_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], history_format: str, mutations: list
) -> None:
    from raftsim.cli import main

    seed, model = SEEDS[history_format] if history_format in SEEDS else (_with_fault_lines(JSONL), "cas-register")
    content = seed.encode("utf-8")
    for mutation in mutations:
        content = mutate(content, mutation)
    path = tmp_path / "history"
    path.write_bytes(content)
    bad = read_or_refuse(path, None, model) is None
    with pytest.raises(SystemExit) as caught:
        main(["check", str(path), "--model", model])
    code = caught.value.code
    captured = capsys.readouterr()
    assert code in (0, 1, 2, 3)
    assert "Traceback" not in captured.err + captured.out
    if bad:
        assert code == 2
        assert len(captured.err.strip().splitlines()) == 1, captured.err
        assert str(path) in captured.err
