"""Every `raftsim` command of the README runs as written, with the exit code it documents.

Commands are taken from the README's `sh` code blocks: each line (or each `&&`-joined part of
a line) that starts with `raftsim ` or `.venv/bin/raftsim `. A trailing comment `# exit N`
gives the documented exit code (0 when there is none); `# long` marks an example too long
for the suite, which is then only parsed. They run in document order, in-process, from a
temporary folder that sees the repository's `tests/` (so the README's relative paths
resolve) and holds the `runs/` the commands write.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from raftsim.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PROGRAMS = ("raftsim", ".venv/bin/raftsim")
EXIT_COMMENT = re.compile(r"#\s*exit\s+(\d+)\s*$")
LONG_COMMENT = re.compile(r"#\s*long\b")


def sh_lines(text: str) -> list[str]:
    lines, language = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            language = line[3:].strip() if language is None else None
        elif language == "sh":
            lines.append(line)
    return lines


def readme_commands(text: str) -> list[tuple[list[str], int, bool]]:
    """(argv after the program name, documented exit code, long) for every command."""
    commands = []
    for line in sh_lines(text):
        documented = EXIT_COMMENT.search(line)
        code = int(documented.group(1)) if documented else 0
        for part in line.split("&&"):
            words = shlex.split(part, comments=True)
            if words and words[0] in PROGRAMS:
                commands.append((words[1:], code, bool(LONG_COMMENT.search(line))))
    return commands


def test_the_extraction_reads_comments_and_joined_commands() -> None:
    text = (
        "```sh\nmake && .venv/bin/raftsim run x --seed 1\nraftsim check 'a b' --json  # exit 1\n```\n"
        "```python\nraftsim = 1\n```\n```sh\nraftsim fuzz y --seeds 9  # long\n```\n"
    )
    assert readme_commands(text) == [
        (["run", "x", "--seed", "1"], 0, False),
        (["check", "a b", "--json"], 1, False),
        (["fuzz", "y", "--seeds", "9"], 0, True),
    ]


def test_every_readme_command_runs_as_documented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    commands = readme_commands(README.read_text(encoding="utf-8"))
    subcommands = {argv[0] for argv, _code, _long in commands}
    assert {"run", "check"} <= subcommands, commands
    assert len(commands) >= 6, commands
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    monkeypatch.chdir(tmp_path)
    for argv, documented, long in commands:
        if long:
            continue
        with pytest.raises(SystemExit) as exited:
            main(argv)
        output = capsys.readouterr()
        assert exited.value.code == documented, (argv, output.out[-2000:], output.err)
        assert "Traceback" not in output.err
    leftovers = [path.name for path in tmp_path.rglob("*") if ".partial" in path.name]
    assert leftovers == []
