"""What a run folder holds, read the same way by the API and by the reports.

Apart from `raftsim.api` so that `raftsim.report`, which `raftsim.api` calls to write a
run's reports, can read a folder without importing the API back.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from checkers.errors import InputError
from scenarios import loader
from scenarios.model import Scenario


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes, as `digest_of` gives for the text it was written from."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def require_run_file(folder: Path, name: str) -> Path:
    """`folder/name`, which must be a readable file; anything else is one line naming it."""
    path = folder / name
    try:
        present = path.is_file()
    except OSError as error:  # a name too long, a loop of links
        raise InputError(str(folder), None, None, f"cannot read {name}: {error.strerror}") from None
    if not present:
        raise InputError(str(folder), None, None, f"not a run folder: {name} is missing")
    return path


def load_run_scenario(folder: Path) -> Scenario:
    return loader.load(str(require_run_file(folder, "scenario.toml")))
