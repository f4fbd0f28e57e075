"""helm/helmfile.yaml: read its releases, and run the pinned helmfile (with our pinned Helm) over it.

The file is plain YAML (helmfile v1 renders only *.gotmpl files), so the release list is read directly.
Rendering needs the charts: ours are in the repository; the upstream ones live in remote repositories that
this machine cannot reach, so offline rendering selects our releases with OWN_CHARTS.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fraudlake.local.deploy.layout import HELM_DIR, KUBE_VERSION
from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.gotools import helm_binary, helmfile_binary

HELMFILE = HELM_DIR / "helmfile.yaml"
# The label selector of the charts in this repository (every other release is `origin: upstream`).
OWN_CHARTS = "origin=fraudlake"
# The environment whose values are placeholders, so it renders without AWS.
EXAMPLE_ENVIRONMENT = "example"


class HelmfileError(StackError):
    """helmfile exited non-zero; the message carries its output."""


@dataclass(frozen=True)
class Release:
    """One entry of `releases:` as written in helmfile.yaml."""

    name: str
    namespace: str
    chart: str
    version: str | None
    labels: dict[str, str]
    needs: tuple[str, ...]
    values: tuple[Any, ...]  # file names (relative to helm/) or inline mappings

    @property
    def local(self) -> bool:
        """A chart folder of this repository (helmfile's ./path form), not repo/chart."""
        return self.chart.startswith("./")

    @property
    def id(self) -> str:
        """How `needs:` names it: namespace/name."""
        return f"{self.namespace}/{self.name}"


def documents(path: Path = HELMFILE) -> list[dict[str, Any]]:
    """The YAML documents of helmfile.yaml (environments first, then repositories and releases)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def releases(path: Path = HELMFILE) -> list[Release]:
    """Every release of helmfile.yaml, in file order."""
    raw = [r for doc in documents(path) for r in doc.get("releases", [])]
    return [
        Release(
            name=r["name"],
            namespace=r["namespace"],
            chart=r["chart"],
            version=None if r.get("version") is None else str(r["version"]),
            labels=dict(r.get("labels", {})),
            needs=tuple(r.get("needs", ())),
            values=tuple(r.get("values", ())),
        )
        for r in raw
    ]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """`helmfile --file helm/helmfile.yaml --helm-binary <our helm> <args>`; returns stdout.

    `env` replaces the process environment (the eks environment reads TAG, KAFKA_VERSION and runs
    `terraform` from PATH)."""
    argv = [str(helmfile_binary()), "--file", str(HELMFILE), "--helm-binary", str(helm_binary()), *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout, env=env)
    if result.returncode != 0:
        raise HelmfileError(
            f"helmfile {' '.join(args)} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def template(
    environment: str = EXAMPLE_ENVIRONMENT, selector: str = OWN_CHARTS, env: dict[str, str] | None = None
) -> str:
    """`helmfile template` of the selected releases, CRDs included, without fetching any repository."""
    return run(
        "--environment", environment,
        "--selector", selector,
        "--skip-deps",
        "template",
        "--include-crds",
        "--kube-version", KUBE_VERSION,
        env=env,
    )  # fmt: skip


def oci_releases(path: Path = HELMFILE) -> list[str]:
    """Releases whose chart comes from an OCI registry (a repository with `oci: true`)."""
    repositories = [r for doc in documents(path) for r in doc.get("repositories", [])]
    oci = {r["name"] for r in repositories if r.get("oci")}
    return [r.name for r in releases(path) if r.chart.split("/")[0] in oci]


def build(environment: str = EXAMPLE_ENVIRONMENT, *state_values: str) -> list[dict[str, Any]]:
    """`helmfile build --embed-values`: the state after templating, every release's values read in.

    Offline, it covers every release but those of OCI charts: helmfile pulls an OCI chart even to build
    (with --skip-deps too), while a chart from a classic repository is not fetched. `state_values`
    (key=value) override environment values, e.g. to enable a conditional release.
    """
    selector = ",".join(f"name!={name}" for name in oci_releases())
    overrides = [arg for value in state_values for arg in ("--state-values-set", value)]
    args = ["--environment", environment, *overrides, "--selector", selector, "build", "--embed-values"]
    return [doc for doc in yaml.safe_load_all(run(*args)) if doc]
