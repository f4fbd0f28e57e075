"""Where the stack keeps built tools (cache, shared by all checkouts) and run state (per stack)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("FRAUDLAKE_SHARED_DIR", REPO_ROOT.parent / "shared"))


def cache_root() -> Path:
    """Built binaries and jars, keyed by version: survives checkouts, rebuilt by our own recipes."""
    return Path(os.environ.get("FRAUDLAKE_CACHE", Path.home() / ".cache" / "fraudlake"))


def cache_dir(name: str, version: str) -> Path:
    return cache_root() / f"{name}-{version}"


def default_stack_dir() -> Path:
    """Run folder of the default stack (logs, data, state.json); tests use their own tmp folders."""
    return Path(os.environ.get("FRAUDLAKE_STACK_DIR", REPO_ROOT / ".fraudlake" / "stack"))


def strimzi_crds_dir() -> Path:
    return SHARED_DIR / "crds" / "strimzi-1.2.0"
