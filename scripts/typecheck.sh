#!/usr/bin/env bash
# mypy over the package and the DAG files (settings in pyproject.toml [tool.mypy]).
# mypy cannot follow setup.py's package-dir mapping (src/ -> fraudlake, operator/ -> fraudlake.operator),
# so it checks a view of the namespace made of symlinks (fraudlake.local.deploy.namespace_view).
set -euo pipefail
cd "$(dirname "$0")/.."
uv run --frozen --extra dev python -m fraudlake.local.deploy.namespace_view .typecheck
export MYPYPATH=.typecheck
mypy() { uv run --frozen --extra dev mypy "$@" 2>&1 | sed 's#^\.typecheck/fraudlake/operator/#operator/#; s#^\.typecheck/fraudlake/#src/#'; }
# mypy takes either a package or files per run; the second run reuses the first one's cache.
status=0
mypy -p fraudlake "$@" || status=1
mypy dags "$@" || status=1
exit $status
