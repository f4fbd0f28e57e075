"""Schema evolution rules: a new version must not break readers of either version.

Both directions matter here: consumers lag producers (old readers see new records) and replays
feed old records to new readers (the lake keeps every version). So, compared with any published
version, a change may only add fields that have defaults. It breaks readers if it
- removes a field (old readers expect it),
- changes a field's type, nullability included,
- adds a field without a default (new readers cannot fill it from old records).
"""

from __future__ import annotations

import json
from typing import Any


def breaking_changes(published: dict[str, Any], candidate: dict[str, Any]) -> list[str]:
    """Reasons why Avro record `candidate` breaks readers of `published`; empty when compatible."""
    problems = []
    if published.get("name") != candidate.get("name") or published.get("namespace") != candidate.get(
        "namespace"
    ):
        problems.append(f"record renamed from {_full_name(published)} to {_full_name(candidate)}")
    old_fields = {fld["name"]: fld for fld in published["fields"]}
    new_fields = {fld["name"]: fld for fld in candidate["fields"]}
    for name, old in old_fields.items():
        new = new_fields.get(name)
        if new is None:
            problems.append(f"field {name!r} was removed")
        elif _canonical(old["type"]) != _canonical(new["type"]):
            problems.append(
                f"field {name!r} changed type from {_canonical(old['type'])} to {_canonical(new['type'])}"
            )
    for name, new in new_fields.items():
        if name not in old_fields and "default" not in new:
            problems.append(f"new field {name!r} has no default")
    return problems


def same_shape(left: dict[str, Any], right: dict[str, Any]) -> bool:
    """Whether two Avro records have the same fields, types and defaults (docs may differ)."""

    def shape(record: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [
            (f["name"], _canonical(f["type"]), json.dumps(f.get("default", "<none>")))
            for f in record["fields"]
        ]

    return _full_name(left) == _full_name(right) and shape(left) == shape(right)


def _canonical(avro_type: Any) -> str:
    return json.dumps(avro_type, sort_keys=True, separators=(",", ":"))


def _full_name(record: dict[str, Any]) -> str:
    return f"{record.get('namespace')}.{record.get('name')}"
