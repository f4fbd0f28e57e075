"""Run checkov (PyPI) as an isolated uv tool over Terraform, rendered Helm output and Dockerfiles.

checkov cannot live in the project's lock (it would resolve to an ancient 2.x there), so it runs through
`uv tool run` at a pinned version. `--skip-download` keeps it offline: without it checkov calls Prisma Cloud
for guidelines. The price is that checkov reports no severities offline, so the gate is stricter than
"no failed HIGH check": no failed check at all, with every exception a justified skip next to the resource
(`# checkov:skip=ID: reason` in HCL, `checkov.io/skipN: ID=reason` annotations in manifests).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from fraudlake.local.stack.errors import StackError, ToolchainMissingError

CHECKOV_VERSION = "3.3.30"
FRAMEWORKS = ("terraform", "kubernetes", "dockerfile")


@dataclass(frozen=True)
class FailedCheck:
    check_id: str
    name: str
    resource: str
    file: str

    def __str__(self) -> str:
        return f"{self.check_id} {self.name} — {self.resource} ({self.file})"


@dataclass
class FrameworkReport:
    """checkov's summary for one framework, and the checks that failed."""

    framework: str
    passed: int
    failed: int
    skipped: int
    parsing_errors: int
    resources: int
    failures: list[FailedCheck] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.framework}: {self.passed} passed, {self.failed} failed, {self.skipped} skipped "
            f"({self.resources} resources, {self.parsing_errors} parsing errors)"
        )


def scan(directory: Path, timeout: float = 900) -> dict[str, FrameworkReport]:
    """Scan `directory` with every framework in FRAMEWORKS; one report per framework that found something."""
    if shutil.which("uv") is None:
        raise ToolchainMissingError("uv", "checkov", "install uv (https://docs.astral.sh/uv/)")
    argv = [
        "uv", "tool", "run", "--from", f"checkov=={CHECKOV_VERSION}", "checkov",
        "--directory", str(directory),
        "--framework", *FRAMEWORKS,
        "--skip-download",
        "--quiet",
        "--compact",
        "--output", "json",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    # checkov exits 1 when a check failed; anything else without JSON is a broken run.
    try:
        raw = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise StackError(
            f"checkov produced no JSON (exit {result.returncode}):\n{result.stderr[-3000:]}"
        ) from exc
    return {report.framework: report for report in map(_report, raw if isinstance(raw, list) else [raw])}


def _report(raw: dict) -> FrameworkReport:
    summary = raw["summary"]
    failures = [
        FailedCheck(c["check_id"], c["check_name"], c["resource"], c["file_path"])
        for c in raw.get("results", {}).get("failed_checks", [])
    ]
    return FrameworkReport(
        framework=raw["check_type"],
        passed=summary["passed"],
        failed=summary["failed"],
        skipped=summary["skipped"],
        parsing_errors=summary["parsing_errors"],
        resources=summary["resource_count"],
        failures=failures,
    )
