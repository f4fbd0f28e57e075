"""What the ``lake_to_clickhouse`` DAG's tasks call: configuration from Airflow, then the loader.

Configuration comes from the environment through Airflow's usual channels, never from the DAG file:

- Variable ``fraudlake_lake`` (``AIRFLOW_VAR_FRAUDLAKE_LAKE``), JSON: ``namespace``, ``pipeline``,
  ``bucket``, ``prefix``, ``database`` of the FraudPipeline whose lake is loaded, and optionally
  the sweep's bounds ``sweep_lookback_hours`` / ``sweep_overlap_minutes`` (`fraudlake.lake.sweep`);
- Connection ``fraudlake_lake`` (``AIRFLOW_CONN_FRAUDLAKE_LAKE``), type ``aws``: access key as
  login, secret as password, ``endpoint_url`` (MinIO) and ``region_name`` in extra; without keys
  the AWS default chain applies (IRSA);
- Connection ``fraudlake_clickhouse`` (``AIRFLOW_CONN_FRAUDLAKE_CLICKHOUSE``): the DSN in
  ``extra.dsn`` (``chdb:///path`` locally), or host/port/login/password/schema of the HTTP(S) server.

A run's interval is its data interval; ``dag_run.conf`` may override it with ``interval_start`` /
``interval_end`` (ISO 8601) for backfills of an explicit window. Either way the run also sweeps in
every earlier object not loaded yet, from the topic's watermark within a bounded lookback
(`fraudlake.lake.sweep`).
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fraudlake.lake.connector import sink_topics
from fraudlake.lake.layout import LakeObject, parse_object
from fraudlake.lake.quality import LakeLoadError
from fraudlake.lake.store import LakeStore
from fraudlake.lake.sweep import LakeSweep, Listing, SweepBounds, SweepWindow
from fraudlake.lake.targets import target_for
from fraudlake.orchestration.failures import fail_without_retry

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

PIPELINE_VARIABLE = "fraudlake_lake"
LAKE_CONNECTION = "fraudlake_lake"
CLICKHOUSE_CONNECTION = "fraudlake_clickhouse"


@dataclass(frozen=True)
class LakePipeline:
    """The pipeline whose lake a run loads."""

    namespace: str
    pipeline: str
    bucket: str
    prefix: str
    database: str
    sweep: SweepBounds = field(default_factory=SweepBounds)

    def topics(self) -> list[str]:
        """The sink's topics that have a ClickHouse table."""
        return [topic for topic in sink_topics(self.namespace, self.pipeline) if target_for(topic)]

    def as_variable(self) -> dict[str, str | float]:
        return {
            "namespace": self.namespace,
            "pipeline": self.pipeline,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "database": self.database,
            **self.sweep.as_variable(),
        }


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    @classmethod
    def of_run(cls, start: datetime | None, end: datetime | None, conf: dict[str, Any] | None) -> Interval:
        """The run's data interval, or the explicit one in its conf."""
        conf = conf or {}
        if conf.get("interval_start") and conf.get("interval_end"):
            start = datetime.fromisoformat(conf["interval_start"])
            end = datetime.fromisoformat(conf["interval_end"])
        if start is None or end is None:
            raise ValueError("the run has no data interval; pass interval_start/interval_end in its conf")
        if start.tzinfo is None or end.tzinfo is None or not start < end:
            raise ValueError(f"interval must be timezone-aware with start < end, got [{start}, {end})")
        return cls(start, end)


# --- configuration from Airflow ----------------------------------------------------------------


def pipeline_from_airflow() -> LakePipeline:
    from airflow.sdk import Variable

    raw = Variable.get(PIPELINE_VARIABLE, deserialize_json=True)
    return LakePipeline(
        **{key: str(raw[key]) for key in ("namespace", "pipeline", "bucket", "prefix", "database")},
        sweep=SweepBounds.of_variable(raw),
    )


def store_from_airflow(pipeline: LakePipeline) -> LakeStore:
    from airflow.sdk import Connection

    conn = Connection.get(LAKE_CONNECTION)
    extra = conn.extra_dejson
    return LakeStore(
        bucket=pipeline.bucket,
        prefix=pipeline.prefix,
        endpoint_url=extra.get("endpoint_url") or None,
        region=extra.get("region_name") or "us-east-1",
        access_key=conn.login or None,
        secret_key=conn.password or None,
    )


def clickhouse_from_airflow() -> Client:
    """The ClickHouse client of this process for the configured DSN (one per process, reused)."""
    return _client_for(clickhouse_dsn_from_airflow())


@functools.cache
def _client_for(dsn: str) -> Client:
    # One client per worker process: opening a chDB connection inside an Airflow task took 10-20 s
    # on a busy machine (it is 0.03 s in a plain process), longer than the load itself; the HTTP
    # client keeps its connection pool across tasks the same way.
    from fraudlake.clickhouse.client import connect

    return connect(dsn)


def clickhouse_dsn_from_airflow() -> str:
    from airflow.sdk import Connection

    conn = Connection.get(CLICKHOUSE_CONNECTION)
    extra = conn.extra_dejson
    if extra.get("dsn"):
        return str(extra["dsn"])
    scheme = "https" if extra.get("secure") else "http"
    auth = f"{conn.login or 'default'}:{conn.password or ''}@"
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{auth}{conn.host}{port}/{conn.schema or ''}"


def sweep_from_airflow(pipeline: LakePipeline) -> LakeSweep:
    client = clickhouse_from_airflow()
    return LakeSweep(client, pipeline.database, store_from_airflow(pipeline), pipeline.sweep)


def airflow_environment(pipeline: LakePipeline, store: LakeStore, clickhouse_dsn: str) -> dict[str, str]:
    """The AIRFLOW_VAR_/AIRFLOW_CONN_ variables that configure the DAG for `pipeline`."""
    import json

    lake_conn: dict[str, Any] = {
        "conn_type": "aws",
        "extra": {
            "region_name": store.region,
            **({"endpoint_url": store.endpoint_url} if store.endpoint_url else {}),
        },
    }
    if store.access_key:
        lake_conn |= {"login": store.access_key, "password": store.secret_key}
    return {
        f"AIRFLOW_VAR_{PIPELINE_VARIABLE.upper()}": json.dumps(pipeline.as_variable()),
        f"AIRFLOW_CONN_{LAKE_CONNECTION.upper()}": json.dumps(lake_conn),
        f"AIRFLOW_CONN_{CLICKHOUSE_CONNECTION.upper()}": json.dumps(
            {"conn_type": "generic", "extra": {"dsn": clickhouse_dsn}}
        ),
    }


# --- the tasks' work ---------------------------------------------------------------------------


def list_new_objects(interval: Interval) -> dict[str, Any]:
    """The run's listing as XCom: references (key, etag, …) of the objects the ledger does not have
    as loaded, from the interval and swept in from before it, and the sweep's windows."""
    pipeline = pipeline_from_airflow()
    sweep = sweep_from_airflow(pipeline)
    return listing_xcom(sweep.list(pipeline.topics(), interval.start, interval.end))


def load_objects(listing: dict[str, Any], interval: Interval, run_id: str) -> dict[str, object]:
    """Load the listed objects and move the sweep's watermarks; raises LakeLoadFailedError (naming
    the objects) if any failed."""
    from fraudlake.lake.ledger import RunInfo
    from fraudlake.lake.metrics import counted_load

    pipeline = pipeline_from_airflow()
    sweep = sweep_from_airflow(pipeline)
    parsed = listing_of_xcom(pipeline, listing)
    run = RunInfo(run_id, interval.start, interval.end)
    with data_problems_fail_the_task():
        report = counted_load(
            lambda: sweep.load(parsed, run), pipeline.namespace, pipeline.pipeline, parsed.objects
        )
    return report.as_xcom() | {"swept_objects": parsed.swept}


def verify_loaded(listing: dict[str, Any]) -> dict[str, int]:
    """Check that the ledger has every listed object as loaded; counts per table for the event."""
    from fraudlake.lake.ledger import LOADED, Ledger

    pipeline = pipeline_from_airflow()
    objects = listing_of_xcom(pipeline, listing).objects
    states = Ledger(clickhouse_from_airflow(), pipeline.database).states(objects)
    missing = [obj.key for obj in objects if states.get((obj.key, obj.etag)) != LOADED]
    if missing:
        with data_problems_fail_the_task():
            raise LakeLoadError(f"the ledger does not list as loaded: {', '.join(missing)}")
    counts: dict[str, int] = {}
    for obj in objects:
        counts[obj.topic] = counts.get(obj.topic, 0) + 1
    return counts


def data_problems_fail_the_task() -> AbstractContextManager[None]:
    """A corrupt object or bad data fails the task at once (its message names the objects)."""
    return fail_without_retry(LakeLoadError)


def ref(obj: LakeObject) -> dict[str, Any]:
    """XCom reference of an object: identity and listing facts, never its data."""
    return {
        "key": obj.key,
        "etag": obj.etag,
        "size": obj.size,
        "last_modified": obj.last_modified.isoformat(),
    }


def listing_xcom(listing: Listing) -> dict[str, Any]:
    """XCom of a listing: object references, the sweep's windows and how many objects it swept in."""
    return {
        "objects": [ref(obj) for obj in listing.objects],
        "windows": [
            {
                "topic": w.topic,
                "start": w.start.isoformat(),
                "end": w.end.isoformat(),
                "interval_start": w.interval_start.isoformat(),
                "watermark": w.watermark.isoformat() if w.watermark is not None else None,
                "frontier": w.frontier.isoformat(),
            }
            for w in listing.windows
        ],
        "swept_objects": listing.swept,
    }


def listing_of_xcom(pipeline: LakePipeline, data: dict[str, Any] | list[dict[str, Any]]) -> Listing:
    """The listing back from XCom. A bare list of references (a run listed before the sweep
    existed) has no windows: it loads, and no watermark moves."""
    if isinstance(data, list):
        return Listing(from_refs(pipeline, data), [])
    windows = [
        SweepWindow(
            topic=w["topic"],
            start=datetime.fromisoformat(w["start"]),
            end=datetime.fromisoformat(w["end"]),
            interval_start=datetime.fromisoformat(w["interval_start"]),
            watermark=datetime.fromisoformat(w["watermark"]) if w.get("watermark") else None,
            frontier=datetime.fromisoformat(w["frontier"]),
        )
        for w in data.get("windows", [])
    ]
    return Listing(from_refs(pipeline, data["objects"]), windows)


def from_refs(pipeline: LakePipeline, refs: list[dict[str, Any]]) -> list[LakeObject]:
    objects = []
    for item in refs:
        obj = parse_object(
            pipeline.prefix,
            item["key"],
            item["etag"],
            int(item["size"]),
            datetime.fromisoformat(item["last_modified"]),
        )
        if obj is not None:
            objects.append(obj)
    return objects
