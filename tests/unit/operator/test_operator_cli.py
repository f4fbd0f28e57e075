"""`fraudlake operator …`: the CRD printer and the run command's argument checks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fraudlake.cli import app
from fraudlake.operator.crd_schema import render_crd_yaml

pytestmark = pytest.mark.unit


def test_crd_prints_the_generated_crd() -> None:
    result = CliRunner().invoke(app, ["operator", "crd"])
    assert result.exit_code == 0
    assert result.output == render_crd_yaml()


@pytest.mark.parametrize("args", [[], ["--namespace", "fraud", "--all-namespaces"]])
def test_run_needs_exactly_one_scope(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["operator", "run", *args])
    assert result.exit_code == 2
    assert "pass either --namespace NAME (repeatable) or --all-namespaces" in result.output


def test_operator_process_loads_neither_pyarrow_nor_numpy() -> None:
    # `fraudlake operator run` imports the whole CLI, then the handlers; the operator's memory goal
    # (bench/operator_ready.py) has no room for the ~50 MB of pyarrow + numpy that no handler uses.
    probe = (
        "import sys, fraudlake.cli, fraudlake.operator.handlers; "
        "print(sorted({'pyarrow', 'numpy'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
