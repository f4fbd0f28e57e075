"""The SourcesLoaded condition: whether the bank's changes still reach ClickHouse.

The scorer's loader of a pipeline's CDC topics (`fraudlake.stream.loader`) stops at a change ClickHouse
cannot follow (a column renamed or dropped in the bank's database) and records that in the pipeline's
`cdc_load_state` table (clickhouse/142), and records it again once it loads. A timer reads the latest
state into SourcesLoaded: True / Loaded, or False / SourceSchemaBroken with the loader's error (which
names the table, the change's WAL position and the missing columns). Check-then-act, like ModelHealthy;
not a part of Ready (decisions go on; only the bank tables in ClickHouse stop moving).

No sources, no table or no row yet (a loader that never failed writes nothing), or ClickHouse out of
reach: the condition is left as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fraudlake.operator import conditions, kube
from fraudlake.operator.builders import Pipeline
from fraudlake.operator.conditions import Condition
from fraudlake.operator.tables import ClickHouseUnavailableError, clickhouse, pipeline_dsn

SOURCES_LOADED = "SourcesLoaded"
logger = logging.getLogger(__name__)


def loaded_condition(healthy: bool, error: str) -> Condition:
    if healthy:
        return conditions.condition(
            SOURCES_LOADED, True, "Loaded", "the bank's changes are loading into ClickHouse"
        )
    return conditions.condition(SOURCES_LOADED, False, "SourceSchemaBroken", error)


def updated_conditions(previous: Mapping[str, Any] | None, wanted: Condition) -> list[Condition] | None:
    """The status conditions with `wanted` in place, or None when nothing would change."""
    current = conditions.find((previous or {}).get("conditions"), wanted["type"]) or {}
    if all(current.get(key) == wanted[key] for key in ("status", "reason", "message")):
        return None
    return conditions.merge((previous or {}).get("conditions"), [wanted], conditions.now())


def check(pipeline: Pipeline, status: Mapping[str, Any] | None) -> list[Condition] | None:
    """The conditions to patch from the loader's latest state (None: no change or nothing to go by)."""
    if not pipeline.spec.sources:
        return None
    state = latest_state(pipeline)
    if state is None:
        return None
    return updated_conditions(status, loaded_condition(*state))


def latest_state(pipeline: Pipeline) -> tuple[bool, str] | None:
    """(healthy, error) of the pipeline's CDC loader, or None when there is none to read (yet)."""
    try:
        with clickhouse(pipeline_dsn(pipeline)) as client:
            return read_state(client, pipeline.spec.clickhouse.database)
    except (ClickHouseUnavailableError, kube.SecretMissingError) as exc:
        logger.debug("no CDC load state for %s/%s: %s", pipeline.namespace, pipeline.name, exc)
        return None


def read_state(client: Any, database: str) -> tuple[bool, str] | None:
    """The latest row of `<database>.cdc_load_state`, or None (no table or no row)."""
    if not client.command(f"EXISTS TABLE `{database}`.cdc_load_state"):
        return None
    rows = client.query(
        f"SELECT healthy, error FROM `{database}`.cdc_load_state FINAL ORDER BY at DESC LIMIT 1"
    ).result_rows
    return (bool(rows[0][0]), str(rows[0][1])) if rows else None
