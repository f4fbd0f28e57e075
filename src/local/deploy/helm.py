"""Lint and render our charts with the pinned Helm CLI (built by fraudlake.local.stack.gotools)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from fraudlake.local.deploy.layout import KUBE_VERSION, NAMESPACE, chart_dir
from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.gotools import helm_binary


class HelmError(StackError):
    """helm exited non-zero; the message carries its output."""


def _helm(*args: str) -> str:
    argv = [str(helm_binary()), *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        raise HelmError(
            f"helm {' '.join(args)} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def _values_args(values: Path | None) -> list[str]:
    return ["--values", str(values)] if values else []


def lint(chart: str, values: Path | None = None) -> str:
    """`helm lint --strict` of one chart (schema, templates, YAML); raises HelmError on any finding."""
    return _helm(
        "lint", "--strict", "--kube-version", KUBE_VERSION, str(chart_dir(chart)), *_values_args(values)
    )


def render(chart: str, values: Path | None = None, *, include_crds: bool = False) -> str:
    """`helm template` of one chart as release <chart> in the Fraudlake namespace; returns the manifests."""
    args = [
        "template",
        chart,
        str(chart_dir(chart)),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
    ]
    if include_crds:
        args.append("--include-crds")
    return _helm(*args, *_values_args(values))


def manifests(rendered: str) -> list[dict]:
    """The non-empty YAML documents of a rendering."""
    return [doc for doc in yaml.safe_load_all(rendered) if doc]
