"""Static checks of our Helm charts and the upstream values files: layout, naming, docs, schema, secrets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from fraudlake.local.deploy.layout import (
    CHART_CRD,
    CHARTS,
    HELM_DIR,
    OPERATOR_CRD,
    UPSTREAM_VALUES_DIR,
    chart_dir,
    dockerfile,
    values_files,
)
from fraudlake.local.deploy.values_docs import undocumented, undocumented_top_level

pytestmark = pytest.mark.unit

TEMPLATE_NAME = re.compile(r"^(?P<order>\d{3})-(?P<kind>[A-Z][A-Za-z]+)-(?P<chart>[a-z-]+)\.yaml$")
SECRET_LIKE_KEY = re.compile(
    r"(password|passwd|token|api[_-]?key|secret[_-]?key|access[_-]?key|private[_-]?key)$", re.I
)
SECRET_LIKE_VALUE = re.compile(
    r"(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|xox[bp]-|ghp_[A-Za-z0-9]{20,})"
)
# Companion manifests (kubectl apply) sit beside the values files; they are objects, not values.
COMPANION_KINDS = ("networkpolicy", "servicemonitor")
UPSTREAM_VALUES = sorted(
    p for p in UPSTREAM_VALUES_DIR.glob("*.yaml") if not any(kind in p.name for kind in COMPANION_KINDS)
)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def leaves(node: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(key path, value) of every scalar in a YAML tree; list indexes appear as '[i]'."""
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in leaves(value, (*path, str(key)))]
    if isinstance(node, list):
        return [leaf for i, value in enumerate(node) for leaf in leaves(value, (*path, f"[{i}]"))]
    return [(path, node)]


@pytest.mark.parametrize("chart", CHARTS)
def test_chart_has_the_standard_files(chart: str) -> None:
    root = chart_dir(chart)
    for required in (
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "templates/_helpers.tpl",
        "templates/NOTES.txt",
    ):
        assert (root / required).is_file(), f"{chart} lacks {required}"
    meta = load(root / "Chart.yaml")
    assert meta["name"] == chart
    assert meta["apiVersion"] == "v2"
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])
    assert len(values_files(chart)) >= 2, f"{chart} needs example values under ci/*-values.yaml"


@pytest.mark.parametrize("chart", CHARTS)
def test_templates_are_named_by_kind_in_install_order(chart: str) -> None:
    for template in (chart_dir(chart) / "templates").iterdir():
        if template.name in {"_helpers.tpl", "NOTES.txt"}:
            continue
        match = TEMPLATE_NAME.match(template.name)
        assert match, f"{template.name}: expected NNN-Kind-{chart}.yaml"
        assert match["chart"] == chart, template.name
        kinds = set(re.findall(r"^kind: (\w+)$", template.read_text(), re.MULTILINE))
        assert match["kind"] in kinds, f"{template.name} names kind {match['kind']}, defines {sorted(kinds)}"


@pytest.mark.parametrize("chart", CHARTS)
def test_helpers_are_prefixed_with_the_chart_name(chart: str) -> None:
    templates = chart_dir(chart) / "templates"
    defined = set(re.findall(r'define "([^"]+)"', (templates / "_helpers.tpl").read_text()))
    assert defined, f"{chart} defines no helpers"
    assert all(name.startswith(f"{chart}.") for name in defined), sorted(defined)
    for template in templates.glob("*"):
        for used in re.findall(r'include "([^"]+)"', template.read_text()):
            assert used in defined, f"{template.name} includes undefined helper {used}"


@pytest.mark.parametrize("chart", CHARTS)
def test_every_value_is_documented(chart: str) -> None:
    assert undocumented((chart_dir(chart) / "values.yaml").read_text()) == []


@pytest.mark.parametrize("values", UPSTREAM_VALUES, ids=lambda p: p.name)
def test_upstream_values_document_every_top_level_key(values: Path) -> None:
    assert undocumented_top_level(values.read_text()) == []
    assert "installed by helm/helmfile.yaml" in values.read_text(), "say which release uses the values file"


@pytest.mark.parametrize(
    ("chart", "values"),
    [(chart, values) for chart in CHARTS for values in values_files(chart)],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
def test_values_match_the_schema(chart: str, values: Path | None) -> None:
    schema = yaml.safe_load((chart_dir(chart) / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    merged = load(chart_dir(chart) / "values.yaml")
    if values:
        merged = _merge(merged, load(values))
    jsonschema.validate(merged, schema)


@pytest.mark.parametrize("chart", CHARTS)
def test_schema_rejects_a_latest_tag_and_unknown_keys(chart: str) -> None:
    schema = yaml.safe_load((chart_dir(chart) / "values.schema.json").read_text())
    defaults = load(chart_dir(chart) / "values.yaml")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**defaults, "no-such-setting": True}, schema)
    image_key = "connect" if chart == "fraudlake-kafka" else "image"
    if chart == "fraudlake-kafka":
        bad = {
            **defaults,
            "connect": {**defaults["connect"], "image": {**defaults["connect"]["image"], "tag": "latest"}},
        }
    else:
        bad = {**defaults, image_key: {**defaults[image_key], "tag": "latest"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override


def all_values_files() -> list[Path]:
    ours = [v for chart in CHARTS for v in values_files(chart) if v] + [
        chart_dir(c) / "values.yaml" for c in CHARTS
    ]
    return ours + UPSTREAM_VALUES


@pytest.mark.parametrize("values", all_values_files(), ids=lambda p: str(p.relative_to(HELM_DIR)))
def test_no_secret_in_values(values: Path) -> None:
    """Secret values never live in values files: only names of existing Secrets and their keys."""
    for path, value in leaves(load(values)):
        named = [p for p in path if not p.startswith("[")]
        if named and SECRET_LIKE_KEY.search(named[-1]) and value not in (None, ""):
            assert any("secret" in p.lower() for p in named[:-1]), (
                f"{'.'.join(path)} holds a secret-like value"
            )
        assert not SECRET_LIKE_VALUE.search(str(value)), f"{'.'.join(path)} looks like a credential"


def test_operator_chart_crd_is_the_operators_crd() -> None:
    """helm/fraudlake-operator/crds/ carries a byte copy of operator/crd/fraudpipeline.yaml.

    When this fails after a CRD change: cp operator/crd/fraudpipeline.yaml helm/fraudlake-operator/crds/
    """
    assert CHART_CRD.read_bytes() == OPERATOR_CRD.read_bytes()


def test_kafka_versions_agree_across_chart_and_connect_image() -> None:
    values = load(chart_dir("fraudlake-kafka") / "values.yaml")
    version = values["kafka"]["version"]
    base = re.search(
        r"^FROM quay\.io/strimzi/kafka:(\S+)$", dockerfile("kafka_connect").read_text(), re.MULTILINE
    )
    assert base, "Dockerfile.kafka_connect must build on quay.io/strimzi/kafka"
    strimzi_release = load(chart_dir("fraudlake-kafka") / "Chart.yaml")["appVersion"]
    assert base[1] == f"{strimzi_release}-kafka-{version}"
    assert values["connect"]["image"]["tag"].endswith(f"-kafka-{version}")


def test_checkov_skips_in_charts_carry_a_reason() -> None:
    for template in HELM_DIR.glob("fraudlake-*/templates/*.yaml"):
        for check, reason in re.findall(r"checkov\.io/skip\d+: (CKV\w+)=(.*)", template.read_text()):
            assert len(reason.strip()) >= 20, f"{template.name}: skip of {check} needs a real justification"
