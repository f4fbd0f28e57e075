"""Generate the FraudPipeline CRD from the pydantic models in `fraudlake.pipeline.spec`.

The models are the one source; ``crd/fraudpipeline.yaml`` is their rendering (kept in the repo so
``kubectl apply -f`` and the Helm chart need no Python, and checked by a unit test to be current).
Regenerate with ``fraudlake operator crd --write``.

pydantic emits JSON Schema 2020-12; Kubernetes wants a structural OpenAPI v3 subset, so the
rendering inlines ``$ref``s, turns optional ``anyOf [T, null]`` into plain optional ``T``, drops
titles and ``additionalProperties: false`` (unknown fields are pruned, or rejected by kubectl's
strict field validation; a map's ``additionalProperties`` schema stays) and converts numeric
``exclusiveMinimum``/``exclusiveMaximum`` to booleans.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from fraudlake.pipeline import naming
from fraudlake.pipeline.spec import FraudPipelineSpec
from fraudlake.pipeline.status import FraudPipelineStatus

CRD_FILE = "crd/fraudpipeline.yaml"
_DROP = {"title"}
_HEADER = (
    "# Generated from fraudlake.pipeline.spec by `fraudlake operator crd --write`; do not edit by hand.\n"
)

PRINTER_COLUMNS = [
    {
        "name": "Topics",
        "type": "string",
        "jsonPath": ".status.topicsReady",
        "description": "Ready topics / topics",
    },
    {
        "name": "Tables",
        "type": "string",
        "jsonPath": ".status.tablesReady",
        "description": "Tables present / expected",
    },
    {
        "name": "Scoring",
        "type": "string",
        "jsonPath": ".status.scoringReady",
        "description": "Available scorer pods / desired, or off",
    },
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Whether the whole pipeline is ready",
    },
    {
        "name": "Model",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="ModelHealthy")].status',
        "description": "Whether the latest drift report finds the model's inputs and score stable",
    },
    {
        "name": "Reason",
        "type": "string",
        "priority": 1,
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        "description": "Why the pipeline is (not) ready",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

# The pipeline name becomes part of topic names, a ClickHouse consumer group and label values.
NAME_RULES = [
    {
        "rule": "self.metadata.name.size() <= 40",
        "message": "metadata.name must be at most 40 characters (it is part of topic names and labels)",
    },
    {
        "rule": "self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
        "message": "metadata.name must be a DNS label (lowercase letters, digits and '-'; no dots)",
    },
]


def openapi_schema(model: type[Any]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a pydantic model, as Kubernetes accepts it in a CRD."""
    raw = model.model_json_schema(by_alias=True)
    return _structural(raw, raw.get("$defs", {}))


def crd_manifest() -> dict[str, Any]:
    """The CustomResourceDefinition of FraudPipeline."""
    spec_schema = openapi_schema(FraudPipelineSpec)
    status_schema = _without_defaults(openapi_schema(FraudPipelineStatus))  # the operator writes it whole
    root = {
        "type": "object",
        "description": "A fraud-detection pipeline: Kafka topics, a lake sink to Parquet, ClickHouse tables "
        "and rules, reconciled by the fraudlake operator.",
        "properties": {
            "apiVersion": {"type": "string", "description": "fraudlake.io/v1alpha1"},
            "kind": {"type": "string", "description": "FraudPipeline"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
        "required": ["spec"],
        "x-kubernetes-validations": NAME_RULES,
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{naming.PLURAL}.{naming.GROUP}",
            "labels": {"app.kubernetes.io/part-of": "fraudlake"},
        },
        "spec": {
            "group": naming.GROUP,
            "names": {
                "kind": naming.KIND,
                "listKind": f"{naming.KIND}List",
                "plural": naming.PLURAL,
                "singular": naming.KIND.lower(),
                "shortNames": ["fp"],
                "categories": ["fraudlake"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": naming.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def render_crd_yaml() -> str:
    return _HEADER + yaml.safe_dump(crd_manifest(), sort_keys=False, width=110, allow_unicode=True)


def packaged_crd_yaml() -> str:
    """The CRD file shipped in the package (what `kubectl apply` and the Helm chart use)."""
    return resources.files("fraudlake.operator").joinpath(CRD_FILE).read_text(encoding="utf-8")


def write_crd(path: Path | None = None) -> Path:
    """Write the rendered CRD to `path` (default: operator/crd/fraudpipeline.yaml); returns the path."""
    target = path or Path(__file__).resolve().parent / CRD_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_crd_yaml(), encoding="utf-8")
    return target


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = _resolve(node, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key == "$defs" or (key == "additionalProperties" and value is False):
            continue
        if key == "default":
            cleaned = _without_nulls(value)
            if cleaned is not None:
                out[key] = cleaned
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key in ("properties",):
            out[key] = {name: _structural(prop, defs) for name, prop in value.items()}
        elif key in ("x-kubernetes-validations", "enum", "required"):
            out[key] = copy.deepcopy(value)
        else:
            out[key] = _structural(value, defs)
    return _ordered(out)


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    # type and description first: the YAML then reads like the schemas people write by hand.
    first = [key for key in ("type", "description") if key in node]
    return {**{key: node[key] for key in first}, **{k: v for k, v in node.items() if k not in first}}


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline a $ref and collapse anyOf [T, null]; sibling keys (description, default) win."""
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return _resolve({**target, **siblings}, defs)
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        if len(branches) == 1:
            siblings = {k: v for k, v in node.items() if k != "anyOf"}
            return _resolve({**copy.deepcopy(branches[0]), **siblings}, defs)
    return node


def _without_defaults(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_defaults(v) for k, v in node.items() if k != "default"}
    if isinstance(node, list):
        return [_without_defaults(v) for v in node]
    return node


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


if __name__ == "__main__":
    print(write_crd())
