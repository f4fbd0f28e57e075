"""HCL parse and `terraform fmt -check` equivalence, through a tiny Go tool on HashiCorp's own HCL library.

tools/hclfmt wraps github.com/hashicorp/hcl/v2: hclsyntax (the parser Terraform uses) and hclwrite.Format
(the formatter `terraform fmt` is built on). No Terraform binary or provider download is needed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from fraudlake.local.stack.gotools import GoBuild, ensure_built, go_mod_requirement
from fraudlake.local.stack.paths import REPO_ROOT

HCLFMT_MODULE_DIR = REPO_ROOT / "tools" / "hclfmt"


@dataclass(frozen=True)
class HclBlock:
    """One top-level block: `variable "region" {...}` is type="variable", labels=("region",)."""

    file: str
    type: str
    labels: tuple[str, ...]
    attributes: dict[str, str | None]  # name -> value when it is a constant string, else None
    blocks: tuple[str, ...]  # types of the nested blocks

    @property
    def name(self) -> str:
        return ".".join((self.type, *self.labels))


def hclfmt_build() -> GoBuild:
    """The hclfmt tool, keyed by the HCL library version and a fingerprint of its sources."""
    sources = sorted(
        [HCLFMT_MODULE_DIR / "go.mod", HCLFMT_MODULE_DIR / "go.sum", *HCLFMT_MODULE_DIR.glob("cmd/*/*.go")]
    )
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:10]
    hcl_version = go_mod_requirement(
        (HCLFMT_MODULE_DIR / "go.mod").read_text(), "github.com/hashicorp/hcl/v2"
    )
    return GoBuild(
        name="hclfmt",
        version=f"hcl{hcl_version}-{digest}",
        binaries=("hclfmt",),
        packages=("./cmd/...",),
        module_dir=HCLFMT_MODULE_DIR,
        fetches=f"github.com/hashicorp/hcl/v2@{hcl_version} (tools/hclfmt)",
    )


def hclfmt_binary(console: Console | None = None) -> Path:
    return ensure_built(hclfmt_build(), console) / "hclfmt"


def format_problems(files: list[Path]) -> list[str]:
    """Parse errors and unformatted files among `files` (empty when all parse and are fmt-clean)."""
    result = subprocess.run(
        [str(hclfmt_binary()), *map(str, files)], capture_output=True, text=True, check=False
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"hclfmt failed (exit {result.returncode}): {result.stderr}")
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def inventory(files: list[Path]) -> list[HclBlock]:
    """Every top-level block of `files`, from the real HCL parse tree; raises ValueError on parse errors."""
    result = subprocess.run(
        [str(hclfmt_binary()), "-inventory", *map(str, files)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ValueError(f"HCL parse failed:\n{result.stderr}")
    return [
        HclBlock(
            file=raw["file"],
            type=raw["type"],
            labels=tuple(raw["labels"] or ()),
            attributes=raw["attributes"],
            blocks=tuple(raw["blocks"]),
        )
        for raw in json.loads(result.stdout)
    ]
