"""What the ``index_to_chroma`` DAG's tasks call: configuration from Airflow, then the indexer.

Configuration comes from the environment through Airflow's usual channels:

- Variable ``fraudlake_index`` (``AIRFLOW_VAR_FRAUDLAKE_INDEX``), JSON: ``database`` (default: the
  ``fraudlake_lake`` variable's database), ``collection`` (default ``fraudlake_<database>``),
  ``days`` of cases and profiles to keep (default 30);
- Connection ``fraudlake_clickhouse`` — the same one the lake loader uses (``fraudlake.lake.runtime``);
- Connection ``fraudlake_chroma`` (``AIRFLOW_CONN_FRAUDLAKE_CHROMA``): the ChromaDB server, as
  ``http://host:port`` (or ``extra.url``);
- embedding provider, AWS region and Titan model from ``FRAUDLAKE_*`` (:class:`AgentSettings`);
  in EKS the worker's IRSA role grants ``bedrock:InvokeModel``.

Runs are keyed on the data interval: the documents describe the ``days`` before the interval's
end — or before the latest loaded transaction when the data stops earlier (replayed history) — so
a rerun of the same interval over the same data writes the same documents. ``dag_run.conf`` may
set ``window_end`` (ISO 8601) to index an explicit moment.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

INDEX_VARIABLE = "fraudlake_index"
LAKE_VARIABLE = "fraudlake_lake"
CHROMA_CONNECTION = "fraudlake_chroma"
DEFAULT_DAYS = 30


def index_config_from_airflow() -> dict[str, Any]:
    """database, collection and days of the index, from the Variables."""
    from airflow.sdk import Variable

    from fraudlake.agent.settings import collection_for

    config = Variable.get(INDEX_VARIABLE, default=None, deserialize_json=True) or {}
    database = config.get("database") or Variable.get(LAKE_VARIABLE, deserialize_json=True)["database"]
    return {
        "database": str(database),
        "collection": str(config.get("collection") or collection_for(database)),
        "days": int(config.get("days") or DEFAULT_DAYS),
    }


def chroma_url_from_airflow() -> str:
    from airflow.sdk import Connection

    conn = Connection.get(CHROMA_CONNECTION)
    if conn.extra_dejson.get("url"):
        return str(conn.extra_dejson["url"])
    scheme = "https" if conn.conn_type == "https" or conn.extra_dejson.get("ssl") else "http"
    return f"{scheme}://{conn.host}:{conn.port or 8000}"


def window_end_of_run(data_interval_end: datetime | None, conf: dict[str, Any] | None) -> datetime:
    """The run's data interval end, or the explicit ``window_end`` of its conf."""
    conf = conf or {}
    end = datetime.fromisoformat(conf["window_end"]) if conf.get("window_end") else data_interval_end
    if end is None or end.tzinfo is None:
        raise ValueError(f"the run needs a timezone-aware data interval end or conf window_end, got {end!r}")
    return end


def sync_index(window_end: datetime) -> dict[str, Any]:
    """Build and sync the documents for the window ending at `window_end`; returns the report."""
    from fraudlake.agent.indexing import index_pipeline
    from fraudlake.agent.llm import embedder_from_settings
    from fraudlake.agent.settings import AgentSettings
    from fraudlake.clickhouse.client import connect
    from fraudlake.lake.runtime import clickhouse_dsn_from_airflow

    config = index_config_from_airflow()
    dsn = clickhouse_dsn_from_airflow()
    end = data_window_end(connect(dsn), config["database"], window_end)
    report = index_pipeline(
        dsn,
        config["database"],
        chroma_url_from_airflow(),
        config["collection"],
        embedder_from_settings(AgentSettings()),
        end,
        config["days"],
    )
    return {**report.as_dict(), "window_end": end.isoformat()}


def verify_index(report: dict[str, Any]) -> dict[str, int]:
    """The collection holds exactly the documents the sync produced (nothing duplicated or left over)."""
    from fraudlake.agent.indexing import chroma_client

    collection = chroma_client(chroma_url_from_airflow()).get_collection(
        report["collection"], embedding_function=None
    )
    count = collection.count()
    if count != report["documents"]:
        raise RuntimeError(
            f"collection {report['collection']} holds {count} documents, expected {report['documents']}"
        )
    return {"documents": count}


def data_window_end(client: Any, database: str, requested: datetime) -> datetime:
    """`requested`, or just after the latest transaction at or before it when the data ends earlier."""
    from fraudlake.agent.document_queries import database_identifier

    table = f"{database_identifier(database)}.transactions"
    result = client.query(
        f"SELECT max(event_ts) FROM {table} WHERE event_ts < {{end:DateTime64(3, 'UTC')}}",
        parameters={"end": requested},
    )
    latest = result.result_rows[0][0] if result.result_rows else None
    if latest is None or latest.year < 1971:  # an empty table's max() is the epoch
        return requested
    latest = latest if latest.tzinfo else latest.replace(tzinfo=requested.tzinfo)
    return min(requested, latest + timedelta(milliseconds=1))


def airflow_environment(
    database: str, chroma_url: str, days: int = DEFAULT_DAYS, collection: str | None = None
) -> dict[str, str]:
    """The AIRFLOW_VAR_/AIRFLOW_CONN_ variables of the index DAG (ClickHouse: the loader's connection)."""
    index: dict[str, Any] = {"database": database, "days": days}
    if collection:
        index["collection"] = collection
    return {
        f"AIRFLOW_VAR_{INDEX_VARIABLE.upper()}": json.dumps(index),
        f"AIRFLOW_CONN_{CHROMA_CONNECTION.upper()}": json.dumps(
            {"conn_type": "http", "extra": {"url": chroma_url}}
        ),
    }
