#!/usr/bin/env bash
# mypy cannot follow setup.py's package-dir mapping (src/ -> fraudlake, operator/ -> fraudlake.operator),
# so give it a view of the namespace made of symlinks, then check that view.
set -euo pipefail
cd "$(dirname "$0")/.."
view=.typecheck/fraudlake
rm -rf .typecheck && mkdir -p "$view"
for entry in src/*; do ln -s "../../$entry" "$view/$(basename "$entry")"; done
ln -s ../../operator "$view/operator"
MYPYPATH=.typecheck exec uv run mypy -p fraudlake "$@" 2>&1 | sed 's#^\.typecheck/fraudlake/operator/#operator/#; s#^\.typecheck/fraudlake/#src/#'
