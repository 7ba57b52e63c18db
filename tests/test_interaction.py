"""Golden-file interaction tests for raftcore (tests/testdata/raft/*.txt).

Regenerate the expected outputs with `RAFTSIM_REWRITE=1 .venv/bin/pytest
tests/test_interaction.py`, then read the diff: a golden file is only as good as the review
of its output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from interaction import InteractionFileError, parse_file, run_file

TESTDATA = Path(__file__).parent / "testdata" / "raft"
GOLDEN_FILES = sorted(TESTDATA.glob("*.txt"))


def test_golden_files_exist() -> None:
    assert len(GOLDEN_FILES) >= 6


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[path.stem for path in GOLDEN_FILES])
def test_golden_file(path: Path) -> None:
    run_file(path)


def test_a_wrong_expectation_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAFTSIM_REWRITE", raising=False)
    path = tmp_path / "wrong.txt"
    path.write_text("add-nodes 1\n----\n1: leader term=7 vote=1 lead=1 commit=0 applied=0 last=0\n")
    with pytest.raises(AssertionError, match=r"wrong\.txt:1"):
        run_file(path)


def test_a_directive_without_separator_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.txt"
    path.write_text("# prose\nadd-nodes 1\nraft-state\n")
    with pytest.raises(InteractionFileError, match=r"broken\.txt:2"):
        parse_file(path)


def test_a_bad_directive_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(
        "add-nodes 1\n----\n1: follower term=0 vote=0 lead=0 commit=0 applied=0 last=0\n\ncampaign 7\n----\nok\n"
    )
    with pytest.raises(InteractionFileError, match=r"bad\.txt:5: campaign 7: node 7 is not running"):
        run_file(path)
