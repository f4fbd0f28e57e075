"""Where the stack keeps built tools (cache, shared by all checkouts) and run state (per stack)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
# Upstream CRDs, byte-identical to their releases (vendor/README.md): the one copy the local API
# server installs and the tests validate against.
VENDORED_CRDS_DIR = REPO_ROOT / "vendor" / "crds"
STRIMZI_CRDS_DIR = VENDORED_CRDS_DIR / "strimzi-1.2.0"


def cache_root() -> Path:
    """Built binaries and jars, keyed by version: survives checkouts, rebuilt by our own recipes."""
    return Path(os.environ.get("FRAUDLAKE_CACHE", Path.home() / ".cache" / "fraudlake"))


def cache_dir(name: str, version: str) -> Path:
    return cache_root() / f"{name}-{version}"


def default_stack_dir() -> Path:
    """Run folder of the default stack (logs, data, state.json); tests use their own tmp folders."""
    return Path(os.environ.get("FRAUDLAKE_STACK_DIR", REPO_ROOT / ".fraudlake" / "stack"))


def vendored_crds() -> list[Path]:
    """Every vendored CRD file: Strimzi 1.2 (Kafka, KafkaConnect, KafkaTopic, …) and Altinity's."""
    return sorted(VENDORED_CRDS_DIR.glob("*/*.yaml"))


def strimzi_crd(kind: str) -> Path:
    """Strimzi's CRD file of `kind` (e.g. "KafkaTopic" → 043-Crd-kafkatopic.yaml)."""
    (path,) = STRIMZI_CRDS_DIR.glob(f"*-Crd-{kind.lower()}.yaml")
    return path
