"""Every public history in tests/testdata/histories gets the verdict its project expects.

The expected verdicts, models and initial states come from each folder's
`expected-verdicts.tsv`; nothing here names a file. A file expected linearizable must be
proven so (the generous budget only guards against a hang); a file expected not
linearizable must be proven not within `NOT_BUDGET_S`, every key searched (no `first`):
should a search grow slow again (Porcupine's kv/c50-bad once was), the budget ends it on
time and the keys already proven illegal still decide the verdict.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from checkers.errors import InputError
from checkers.formats import read_operations
from checkers.linearizability import check_operations
from checkers.models import get_model, parse_initial
from checkers.verdict import Verdict

ROOT = Path(__file__).parent / "testdata" / "histories"
FOLDERS = ("knossos", "porcupine")
MODEL_NAMES = {"etcd-register": "cas-register"}
"""The TSVs' names for Porcupine's models, where ours differ (its etcd model is a cas
register whose keys start absent)."""
EXPECTED = {"linearizable": True, "not": False}
LINEARIZABLE_BUDGET_S = 60.0
NOT_BUDGET_S = 5.0
SLACK_S = 3.0  # the budget is looked at between search steps, not continuously


def rows(folder: str, table: str) -> list[dict[str, str]]:
    with open(ROOT / folder / table, encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def verdict_cases() -> list:
    return [
        pytest.param(folder, row, id=f"{folder}/{row['file']}")
        for folder in FOLDERS
        for row in rows(folder, "expected-verdicts.tsv")
    ]


def initial_value(model_name: str, cell: str | None) -> object:
    """The TSV's initial state (`0 (nil in the tests marked ...)`: the text before any
    remark in parentheses; empty or `-` means the model's default)."""
    text = (cell or "").split(" (")[0].strip()
    return None if text in ("", "-") else parse_initial(model_name, text)


def test_every_file_has_an_expected_verdict() -> None:
    for folder in FOLDERS:
        listed = {row["file"] for row in rows(folder, "expected-verdicts.tsv")}
        present = {
            str(path.relative_to(ROOT / folder))
            for path in (ROOT / folder).rglob("*")
            if path.is_file() and path.suffix not in (".md", ".tsv")
        }
        assert present == listed, (folder, present ^ listed)


@pytest.mark.parametrize(("folder", "row"), verdict_cases())
def test_expected_verdict(folder: str, row: dict[str, str]) -> None:
    path = ROOT / folder / row["file"]
    if row["expected"] not in EXPECTED:
        # Not a history (Knossos keeps an HTML timeline beside its data): refused, not judged.
        assert row["expected"] == "n/a", row
        with pytest.raises(InputError, match="cannot tell the history's format"):
            read_operations(path)
        return
    model_name = MODEL_NAMES.get(row["model"], row["model"])
    model = get_model(model_name, initial_value(model_name, row.get("initial_state")))
    expected = EXPECTED[row["expected"]]
    budget_s = LINEARIZABLE_BUDGET_S if expected else NOT_BUDGET_S
    started = time.monotonic()
    result = check_operations(read_operations(path, model=model), model, budget_s=budget_s)
    elapsed_s = time.monotonic() - started
    assert result.verdict is Verdict.holds(expected), [(p.key, p.verdict, p.cause) for p in result.partitions]
    assert elapsed_s < budget_s + SLACK_S
    for partition in result.partitions:
        assert partition.verdict is not Verdict.INVALID or partition.counterexample is not None


@pytest.mark.parametrize(
    "row", rows("porcupine", "go-timings.tsv"), ids=lambda row: f"{row['file']}-{row['checker_model']}"
)
def test_porcupine_reads_the_same_operations(row: dict[str, str]) -> None:
    """Our readers see as many operations, and as many of unknown outcome, as Porcupine's
    parsers did (its timing table counts them)."""
    ops = read_operations(ROOT / "porcupine" / row["file"])
    assert len(ops) == int(row["ops"])
    assert sum(op.pending for op in ops) == int(row["info_ops"])
