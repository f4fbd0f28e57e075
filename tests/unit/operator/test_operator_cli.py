"""`fraudlake operator …`: the CRD printer and the run command's argument checks."""

from __future__ import annotations

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
