#!/usr/bin/env bash
# mypy over the package and the DAG files (settings in pyproject.toml [tool.mypy]).
# mypy cannot follow setup.py's package-dir mapping (src/ -> fraudlake, operator/ -> fraudlake.operator),
# so give it a view of the namespace made of symlinks, then check that view.
set -euo pipefail
cd "$(dirname "$0")/.."
view=.typecheck/fraudlake
rm -rf .typecheck && mkdir -p "$view"
for entry in src/*; do ln -s "../../$entry" "$view/$(basename "$entry")"; done
ln -s ../../operator "$view/operator"
export MYPYPATH=.typecheck
mypy() { uv run --frozen --extra dev mypy "$@" 2>&1 | sed 's#^\.typecheck/fraudlake/operator/#operator/#; s#^\.typecheck/fraudlake/#src/#'; }
# mypy takes either a package or files per run; the second run reuses the first one's cache.
status=0
mypy -p fraudlake "$@" || status=1
mypy dags "$@" || status=1
exit $status
