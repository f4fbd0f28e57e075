"""The `fraudlake` entry point: its version, and the local harness's commands joining through the
entry point (the product's CLI never imports them)."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from fraudlake.cli import app

pytestmark = pytest.mark.unit


def test_version_prints_the_installed_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"fraudlake {version('fraudlake')}"


def test_the_local_commands_join_through_the_entry_point() -> None:
    names = {group.name for group in app.registered_groups} | {c.name for c in app.registered_commands}
    assert {"stack", "lake", "clickhouse", "demo"} <= names
    assert {"api", "operator", "scorer", "produce"} <= names
