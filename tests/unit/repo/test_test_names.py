"""pytest imports test files by basename (rootdir, no packages): two test files with one name stop the
whole run at collection, so every test file's name is unique in the tree."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[3]


def duplicate_test_names(paths: list[str]) -> list[str]:
    names = Counter(Path(p).name for p in paths if Path(p).name.startswith("test_") and p.endswith(".py"))
    return sorted(name for name, count in names.items() if count > 1)


def test_every_test_file_name_is_unique() -> None:
    command = ["git", "ls-files", "tests"]
    tracked = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    assert duplicate_test_names(tracked.stdout.split()) == []


def test_a_repeated_name_is_found() -> None:
    paths = ["tests/unit/operator/test_x.py", "tests/integration/test_x.py", "tests/unit/test_y.py"]
    assert duplicate_test_names(paths) == ["test_x.py"]
