"""Each image installs its own extra (Dockerfile.*: uv sync --extra <name>): the packages the monitoring code
imports must be in the extra of the image that runs it, or the process fails at import in the cluster while
every test (run with the dev extra, which has them all) passes."""

from __future__ import annotations

import re
import tomllib

import pytest

from fraudlake.local.stack.paths import REPO_ROOT

pytestmark = pytest.mark.unit


def provided(extra: str) -> set[str]:
    """Distribution names an extra requires, with the extras of those requirements (`apache-airflow[statsd]`
    provides `statsd` through Airflow's own extra)."""
    requirements = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    names = set()
    for requirement in requirements[extra]:
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[([^\]]+)\])?", requirement)
        assert match, requirement
        names.add(match[1].lower().replace("_", "-"))
        names |= {part.strip().lower() for part in (match[2] or "").split(",") if part.strip()}
    return names


@pytest.mark.parametrize(
    ("extra", "package", "importer"),
    [
        ("operator", "prometheus-client", "operator/metrics.py"),
        ("ui", "prometheus-client", "src/ui/metrics.py"),
        ("airflow", "statsd", "Airflow's StatsD logger (helm/values/airflow.yaml statsd.enabled)"),
        ("scorer", "prometheus-client", "src/stream/metrics.py"),
        ("api", "prometheus-client", "src/api/metrics.py"),
    ],
)
def test_the_image_s_extra_provides_what_its_metrics_import(extra: str, package: str, importer: str) -> None:
    assert package in provided(extra), f"{importer} needs {package} in the {extra} extra"
