"""The layers of README "Layers", as import-linter contracts (pyproject.toml), checked on the real tree.

import-linter walks folders, so it reads the namespace view (setup.py's folder → package mapping as
symlinks). The planted probes are the negative controls: each contract must notice a violation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fraudlake.local.deploy import namespace_view
from fraudlake.local.stack.paths import REPO_ROOT

pytestmark = pytest.mark.unit
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(view: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(view)}
    argv = [str(LINT_IMPORTS), "--config", str(REPO_ROOT / "pyproject.toml"), "--no-cache"]
    return subprocess.run(argv, cwd=view, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_every_layer_contract_is_kept(tmp_path: Path) -> None:
    result = lint_imports(namespace_view.build(tmp_path / "view"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("api/_probe.py", "import fraudlake.local.stack.paths\n", "never import the local harness"),
        ("producer/_probe.py", "from fraudlake.local.stack import paths\n", "never import the local harness"),
        ("pipeline/_probe.py", "import fraudlake.operator.handlers\n", "depends on none of its consumers"),
        ("scoring/_probe.py", "import torch\n", "scoring core"),
        ("ui/_probe.py", "import clickhouse_connect\n", "UI talks only to the API"),
        ("ui/_probe.py", "from fraudlake.api.routers import score\n", "UI reads the API through its models"),
        ("ui/_probe.py", "import fraudlake.scoring.core\n", "UI reads the API through its models"),
        # The lake imports schemas; schemas importing the lake closes a cycle.
        ("schemas/_probe.py", "import fraudlake.lake.loader\n", "No cycles between top-level packages"),
    ],
)
def test_a_planted_violation_breaks_its_contract(
    tmp_path: Path, module: str, source: str, broken: str
) -> None:
    result = lint_imports(namespace_view.build(tmp_path / "view", planted={module: source}))
    assert result.returncode != 0, f"{module} ({source.strip()}) went unnoticed"
    _, _, broken_section = result.stdout.partition("Broken contracts")
    assert broken.lower() in broken_section.lower(), result.stdout[-3000:]


def names_beside_packages(view: Path) -> dict[str, list[str]]:
    """Every package's last name with all modules and packages that carry it.

    FastAPI's routers are named after the resource they serve (`routers.agent`), as is the habit;
    they are the one place a module may share a package's name.
    """
    names: dict[str, list[str]] = {}
    packages = set()
    for folder, dirs, files in os.walk(view / namespace_view.ROOT_PACKAGE, followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        parts = Path(folder).relative_to(view).parts
        if "__init__.py" in files:
            packages.add(parts[-1])
            names.setdefault(parts[-1], []).append(".".join(parts))
        if parts[-1] == "routers":
            continue
        for module in (f.removesuffix(".py") for f in files if f.endswith(".py") and f != "__init__.py"):
            names.setdefault(module, []).append(".".join((*parts, module)))
    return {name: dotted for name, dotted in names.items() if name in packages}


def test_no_module_or_package_shares_a_package_name(tmp_path: Path) -> None:
    """`fraudlake.ddl` beside `fraudlake.clickhouse.ddl` reads as one thing and is two: never again."""
    names = names_beside_packages(namespace_view.build(tmp_path / "view"))
    assert len(names) > 15, "the walk found the namespace"
    assert {name: dotted for name, dotted in names.items() if len(dotted) > 1} == {}
