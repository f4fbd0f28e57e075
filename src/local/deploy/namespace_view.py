"""A folder that lays the `fraudlake` namespace out by import name, made of symlinks.

setup.py maps folders onto the namespace (src/ → fraudlake, operator/ → fraudlake.operator,
clickhouse/ → fraudlake.ddl, data/ → fraudlake.data). Tools that find modules by walking folders
(mypy, import-linter's grimp) cannot follow that mapping, so they read this view instead:
`<target>/fraudlake/...` with every entry a symlink into the checkout.

    python -m fraudlake.local.deploy.namespace_view .typecheck
"""

from __future__ import annotations

import ast
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from fraudlake.local.stack.paths import REPO_ROOT

ROOT_PACKAGE = "fraudlake"


def package_dirs() -> dict[str, str]:
    """setup.py's PACKAGE_DIRS (package → folder), read from its source: the one mapping."""
    tree = ast.parse((REPO_ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and node.keys and all(isinstance(k, ast.Constant) for k in node.keys):
            mapping = {
                str(k.value): ast.literal_eval(v)
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant)
            }
            if mapping.get(ROOT_PACKAGE) == "src":
                return mapping
    raise RuntimeError("setup.py has no PACKAGE_DIRS literal mapping 'fraudlake' to 'src'")


def build(target: Path, planted: Mapping[str, str] | None = None) -> Path:
    """Write the view under `target` (replaced if present); return the folder to put on sys.path.

    `planted` adds modules that exist only in the view ({"api/_probe.py": source}); their folder
    becomes a real directory of symlinks so nothing is written into the checkout.
    """
    shutil.rmtree(target, ignore_errors=True)
    root = target / ROOT_PACKAGE
    root.mkdir(parents=True)
    for package, folder in package_dirs().items():
        if package == ROOT_PACKAGE:
            for entry in sorted((REPO_ROOT / folder).iterdir()):
                (root / entry.name).symlink_to(entry)
        else:
            (root / package.removeprefix(f"{ROOT_PACKAGE}.")).symlink_to(REPO_ROOT / folder)
    for relative, source in (planted or {}).items():
        _materialize(root, Path(relative).parent)
        (root / relative).write_text(source)
    return target


def _materialize(root: Path, folder: Path) -> None:
    """Turn the symlinked `folder` (relative to the view's root package) into a real directory."""
    current = root
    for part in folder.parts:
        current = current / part
        if current.is_symlink():
            origin = current.resolve()
            current.unlink()
            current.mkdir()
            for entry in sorted(origin.iterdir()):
                (current / entry.name).symlink_to(entry)


if __name__ == "__main__":
    build(Path(sys.argv[1]).resolve())
