"""Write the checked-in schema files (Avro, JSON Schema, Kafka Connect) from the definitions.

Layout under `src/schemas/generated/`: `avro/<record>.v<N>.avsc`, `jsonschema/<record>.v<N>.schema.json`,
`connect/<record>.v<N>.json`. Files of earlier versions stay: they are the published contracts that
`fraudlake.schemas.compat` checks every new version against.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fraudlake.schemas.compat import breaking_changes, same_shape
from fraudlake.schemas.fields import RecordSchema
from fraudlake.schemas.formats import to_avro, to_connect_schema, to_json_schema
from fraudlake.schemas.records import ALL_RECORDS

GENERATED_DIR = Path(__file__).resolve().parent / "generated"
_AVRO_FILE = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.avsc$")


class SchemaPublishError(Exception):
    """A definition change would rewrite or break a published schema version."""


def render(record: RecordSchema) -> dict[str, str]:
    """Relative path → file content for every generated file of the record's current version."""
    stem = f"{record.name}.v{record.version}"
    return {
        f"avro/{stem}.avsc": _dump(to_avro(record)),
        f"jsonschema/{stem}.schema.json": _dump(to_json_schema(record)),
        f"connect/{stem}.json": _dump(to_connect_schema(record)),
    }


def published_avro(record_name: str, out_dir: Path = GENERATED_DIR) -> dict[int, dict[str, Any]]:
    """Every checked-in Avro version of a record, keyed by version."""
    found = {}
    for path in sorted((out_dir / "avro").glob(f"{record_name}.v*.avsc")):
        match = _AVRO_FILE.match(path.name)
        if match and match["name"] == record_name:
            found[int(match["version"])] = json.loads(path.read_text())
    return found


def check_publishable(record: RecordSchema, out_dir: Path = GENERATED_DIR) -> None:
    """Raise if the definition differs from its own published version or breaks an earlier one."""
    candidate = to_avro(record)
    for version, published in published_avro(record.name, out_dir).items():
        if version > record.version:
            raise SchemaPublishError(
                f"{record.name}: v{version} is published but the definition is v{record.version}"
            )
        if version == record.version and not same_shape(published, candidate):
            raise SchemaPublishError(
                f"{record.name} v{version} is already published with other fields; "
                "bump its version to change it"
            )
        problems = breaking_changes(published, candidate)
        if problems:
            raise SchemaPublishError(
                f"{record.name} v{record.version} breaks readers of v{version}: " + "; ".join(problems)
            )


def export(out_dir: Path = GENERATED_DIR) -> list[Path]:
    """Write every record's current-version files; returns the paths that changed."""
    changed = []
    for record in ALL_RECORDS.values():
        check_publishable(record, out_dir)
        for rel, content in render(record).items():
            path = out_dir / rel
            if not path.exists() or path.read_text() != content:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
                changed.append(path)
    return changed


def stale_files(out_dir: Path = GENERATED_DIR) -> list[str]:
    """Generated files that are missing or differ from what `export` would write."""
    stale = []
    for record in ALL_RECORDS.values():
        for rel, content in render(record).items():
            path = out_dir / rel
            if not path.exists() or path.read_text() != content:
                stale.append(rel)
    return stale


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"
