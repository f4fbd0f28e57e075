"""Every PrometheusRule our charts can render passes `promtool check rules` of the stack's Prometheus build.

Rules are found, not listed: every chart template that defines a PrometheusRule is rendered with the
chart's defaults, each ci/*-values.yaml, and its gates opened (every `.Values.<path>.enabled` its
conditions read set to true). A rule template none of those renderings produces fails the test, so a
rule added behind a new gate is checked or reported, never skipped silently.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fraudlake.local.deploy import helm
from fraudlake.local.deploy.layout import HELM_DIR, values_files
from fraudlake.local.stack.gotools import promtool_binary

pytestmark = pytest.mark.integration

GATE = re.compile(r"\.Values((?:\.\w+)+)\.enabled\b")
SOURCE = re.compile(r"^# Source: (\S+)", re.MULTILINE)


def rule_templates() -> list[Path]:
    """Every chart template that defines a PrometheusRule."""
    return sorted(
        path
        for path in HELM_DIR.glob("*/templates/*.yaml")
        if re.search(r"^kind:\s*PrometheusRule\s*$", path.read_text(), re.MULTILINE)
    )


def gates_opened(template_text: str) -> dict[str, Any]:
    """Values turning on every `.Values.<path>.enabled` that `template_text` reads."""
    values: dict[str, Any] = {}
    for path in GATE.findall(template_text):
        node = values
        for key in path.strip(".").split("."):
            node = node.setdefault(key, {})
        node["enabled"] = True
    return values


def rendered_rules(chart: str, values: Path | None) -> list[tuple[str, dict[str, Any]]]:
    """(source template, object) of every PrometheusRule of one `helm template`."""
    found = []
    for chunk in re.split(r"^---\s*$", helm.render(chart, values), flags=re.MULTILINE):
        doc = yaml.safe_load(chunk)
        source = SOURCE.search(chunk)
        if doc and doc.get("kind") == "PrometheusRule" and source:
            found.append((source[1], doc))
    return found


def promtool_check(rule_file: Path) -> subprocess.CompletedProcess[str]:
    argv = [str(promtool_binary()), "check", "rules", "--lint=all", "--lint-fatal", str(rule_file)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def write_groups(path: Path, groups: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def groups_of_template(template: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """The distinct rule groups `template` renders to, over its chart's values and its gates opened."""
    chart = template.parents[1].name
    gates = tmp_path / "gates-values.yaml"
    gates.write_text(yaml.safe_dump(gates_opened(template.read_text())))
    groups: dict[str, dict[str, Any]] = {}
    for values in [*values_files(chart), gates]:
        for source, rule in rendered_rules(chart, values):
            if source == f"{chart}/templates/{template.name}":
                for group in rule["spec"]["groups"]:
                    groups[json.dumps(group, sort_keys=True)] = group
    return list(groups.values())


def test_rule_templates_are_found() -> None:
    names = {path.name for path in rule_templates()}
    assert "061-PrometheusRule-fraudlake-kafka.yaml" in names


@pytest.mark.parametrize("template", rule_templates(), ids=lambda p: f"{p.parents[1].name}/{p.name}")
def test_every_rule_group_passes_promtool(template: Path, tmp_path: Path) -> None:
    groups = groups_of_template(template, tmp_path)
    gates = gates_opened(template.read_text())
    assert groups, (
        f"{template.name} rendered no PrometheusRule with the chart's values or with {gates}:"
        " give it a ci/*-values.yaml that renders it"
    )
    for group in groups:
        assert group["rules"], group["name"]
        result = promtool_check(write_groups(tmp_path / f"{group['name']}.yaml", [group]))
        assert result.returncode == 0, f"{group['name']}:\n{result.stdout}{result.stderr}"
        assert f"SUCCESS: {len(group['rules'])} rules found" in result.stdout, result.stdout


@pytest.fixture(scope="module")
def real_group(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    template = next(p for p in rule_templates() if p.name == "061-PrometheusRule-fraudlake-kafka.yaml")
    return groups_of_template(template, tmp_path_factory.mktemp("rules"))[0]


@pytest.mark.parametrize(
    ("field", "broken", "error"),
    [
        ("expr", "sum by (connector) (rate(kafka_connect_x[5m])", "parse error"),
        ("summary", "{{ $labels.connector ", "template"),
    ],
)
def test_promtool_rejects_a_broken_rule(
    real_group: dict[str, Any], tmp_path: Path, field: str, broken: str, error: str
) -> None:
    """Negative control: the same group, one rule broken, fails the check that passes it intact."""
    group = json.loads(json.dumps(real_group))
    rule = group["rules"][0]
    if field == "expr":
        rule["expr"] = broken
    else:
        rule["annotations"][field] = broken
    assert promtool_check(write_groups(tmp_path / "intact.yaml", [real_group])).returncode == 0
    result = promtool_check(write_groups(tmp_path / "broken.yaml", [group]))
    assert result.returncode != 0
    assert error in (result.stdout + result.stderr).lower()


def test_promtool_rejects_duplicate_rules(real_group: dict[str, Any], tmp_path: Path) -> None:
    group = {**real_group, "rules": [real_group["rules"][0], real_group["rules"][0]]}
    result = promtool_check(write_groups(tmp_path / "dup.yaml", [group]))
    assert result.returncode != 0, result.stdout


def test_gates_are_every_enabled_flag_a_template_reads() -> None:
    text = '{{- if and .Values.monitoring.enabled .Values.connect.metrics.enabled (eq .Values.x "y") }}'
    assert gates_opened(text) == {"monitoring": {"enabled": True}, "connect": {"metrics": {"enabled": True}}}
