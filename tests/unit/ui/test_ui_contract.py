"""The import-linter contract that keeps the UI to the API's models names every other module of the API
and of the scoring core: a module added there later is out of the console's reach too (the contract
itself is checked, with planted violations, by tests/unit/repo/test_layers.py)."""

from __future__ import annotations

import pkgutil
import tomllib

import pytest

import fraudlake.api
import fraudlake.scoring
from fraudlake.local.stack.paths import REPO_ROOT

pytestmark = pytest.mark.unit
MODEL_MODULES = {"fraudlake.api.models", "fraudlake.scoring.models"}


def ui_contract_forbids() -> set[str]:
    contracts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if c["name"].startswith("The UI reads the API through its models")]
    assert contract["source_modules"] == ["fraudlake.ui"]
    return set(contract["forbidden_modules"])


@pytest.mark.parametrize("package", [fraudlake.api, fraudlake.scoring])
def test_the_ui_may_import_the_models_and_nothing_else_of_the_api(package) -> None:
    modules = {f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)}
    assert MODEL_MODULES & modules
    forbidden = ui_contract_forbids()
    assert modules - MODEL_MODULES <= forbidden, "add the new module to the UI's import-linter contract"
    assert not MODEL_MODULES & forbidden
