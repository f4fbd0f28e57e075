"""The lake path on the local stack, step by step: one harness for the CLI, the demo, tests and bench.

produce (fraudlake.producer) → Kafka → Kafka Connect S3 sink (the connector config the operator
uses) → MinIO Parquet → ``lake_to_clickhouse`` DAG run in this process with ``dag.test()`` →
ClickHouse, then the proof: the table's transaction ids compared with what was produced (count,
distinct count, checksum; plain ``count()``, no FINAL).

`fraudlake lake run`, the demo's lake and Airflow stages, the integration tests and
``bench/lake.py`` all drive these functions: the CLI, tests and bench on a pipeline of their own
(:func:`local_lake`, provisioned here), the demo on the pipeline its operator reconciled
(:func:`manifest_lake`). The calling process must be the one that owns the stack's chDB directory
(DESIGN §10).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from fraudlake.clickhouse.client import connect
from fraudlake.clickhouse.migrations import SchemaParams, apply_schema, render_statements
from fraudlake.lake.connector import LiteralCredentials, connector_properties, sink_topics
from fraudlake.lake.fingerprint import TxnFingerprint
from fraudlake.lake.runtime import Interval, LakePipeline, airflow_environment
from fraudlake.lake.store import LakeStore
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.pipeline import naming
from fraudlake.pipeline.spec import FraudPipelineSpec

LAKE_DAG_ID = "lake_to_clickhouse"
DEFAULT_BUCKET = "fraudlake-lake"
SERVICES = ("kafka", "minio", "connect", "clickhouse", "airflow")


class LakePathError(RuntimeError):
    """A step of the lake path did not finish (sink never flushed, DAG run failed, …)."""


@dataclass(frozen=True)
class LocalLake:
    """One FraudPipeline wired to the services of a local stack."""

    namespace: str
    pipeline: str
    spec: FraudPipelineSpec
    services: dict[str, ServiceRecord]

    @property
    def database(self) -> str:
        return self.spec.clickhouse.database

    @property
    def dsn(self) -> str:
        return str(self.services["clickhouse"].endpoints["dsn"])

    @property
    def bootstrap(self) -> str:
        return str(self.services["kafka"].endpoints["bootstrap"])

    @property
    def connect_rest(self) -> str:
        return str(self.services["connect"].endpoints["rest"])

    @property
    def connector(self) -> str:
        return naming.connector_name(self.namespace, self.pipeline)

    def topic(self, stream: str) -> str:
        return naming.topic_name(self.namespace, self.pipeline, stream)

    def store(self) -> LakeStore:
        minio = self.services["minio"]
        return LakeStore(
            bucket=self.spec.lake.bucket,
            prefix=self.spec.lake.prefix,
            endpoint_url=minio.endpoints["url"],
            region=self.spec.lake.region,
            access_key=minio.credentials["access_key"],
            secret_key=minio.credentials["secret_key"],
        )

    def lake_pipeline(self) -> LakePipeline:
        return LakePipeline(
            self.namespace, self.pipeline, self.spec.lake.bucket, self.spec.lake.prefix, self.database
        )


def local_lake(
    services: dict[str, ServiceRecord],
    pipeline: str,
    namespace: str = "fraud",
    bucket: str = DEFAULT_BUCKET,
    flush: dict[str, int] | None = None,
    partitions: int = 3,
) -> LocalLake:
    """A pipeline spec for the local stack: its own topics, lake prefix and database.

    `flush` overrides the spec's defaults (``maxRecords``, ``intervalSeconds``).
    """
    database = pipeline.replace("-", "_")
    database = database if database[0].isalpha() else f"p_{database}"  # a pipeline may start with a digit
    spec = FraudPipelineSpec.parse(
        {
            "kafka": {
                "clusterRef": {"name": "local"},
                "topics": {
                    stream: {"partitions": partitions if stream == "transactions" else 1, "replicas": 1}
                    for stream in naming.STREAMS
                },
            },
            "lake": {
                "connectClusterRef": {"name": "local"},
                "bucket": bucket,
                "prefix": f"pipelines/{namespace}/{pipeline}",
                "endpoint": services["minio"].endpoints["url"],
                "credentialsSecret": {"name": "local-minio"},
                "flush": flush or {},
            },
            "clickhouse": {"endpointSecret": {"name": "local-clickhouse"}, "database": database},
        }
    )
    return LocalLake(namespace, pipeline, spec, services)


def manifest_lake(manifest: Mapping[str, Any], services: dict[str, ServiceRecord]) -> LocalLake:
    """The FraudPipeline custom resource `manifest` (metadata and spec) on the local stack."""
    metadata = manifest["metadata"]
    return LocalLake(
        metadata["namespace"], metadata["name"], FraudPipelineSpec.parse(manifest["spec"]), services
    )


# --- provisioning (what the operator does in Kubernetes) ----------------------------------------


def provision(lake: LocalLake) -> None:
    """Bucket, topics, ClickHouse tables and the sink connector; each step idempotent."""
    create_bucket(lake.store())
    create_topics(lake)
    apply_schema(connect(lake.dsn), render_statements(SchemaParams(lake.database)))
    start_sink(lake)


def create_bucket(store: LakeStore) -> None:
    client = store.client()
    if store.bucket not in {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=store.bucket)


def create_topics(lake: LocalLake) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": lake.bootstrap})
    existing = admin.list_topics(timeout=15).topics
    wanted = [
        NewTopic(lake.topic(stream), topic.partitions, 1)
        for stream, topic in lake.spec.kafka.topics.items()
        if lake.topic(stream) not in existing
    ]
    for topic, future in admin.create_topics(wanted).items() if wanted else []:
        try:
            future.result(30)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise LakePathError(f"could not create topic {topic}: {exc}") from exc


def start_sink(lake: LocalLake) -> None:
    """Create (or update) the pipeline's S3 sink on the local Connect worker."""
    from fraudlake.local.stack.services.connect import put_connector

    minio = lake.services["minio"]
    credentials = LiteralCredentials(minio.credentials["access_key"], minio.credentials["secret_key"])
    topics = sink_topics(lake.namespace, lake.pipeline)
    properties = connector_properties(
        lake.spec, lake.namespace, lake.pipeline, credentials, kafka_topic_ids(lake.bootstrap, topics)
    )
    put_connector(lake.connect_rest, properties.pop("name"), properties)


def kafka_topic_ids(bootstrap: str, topics: Iterable[str]) -> dict[str, str]:
    """Kafka's id of each topic (what Strimzi reports as a KafkaTopic's status.topicId)."""
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient

    from fraudlake.local.stack.local_strimzi import kafka_topic_id

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.describe_topics(TopicCollection(list(topics)))
    return {topic: kafka_topic_id(future.result(30).topic_id) for topic, future in futures.items()}


def stop_sink(lake: LocalLake) -> None:
    from fraudlake.local.stack.services.connect import delete_connector

    delete_connector(lake.connect_rest, lake.connector)


# --- producing ----------------------------------------------------------------------------------


@dataclass
class Produced:
    """What a produce step sent and Kafka acknowledged."""

    txn_ids: list[str] = field(default_factory=list)


def generate(rows: int, seed: int = 42, start: date = date(2019, 1, 1)) -> tuple[Any, pa.Table]:
    """The producer's generator source (real users/cards) and `rows` of its transactions as a table."""
    from fraudlake.common.card_token import load_token_key
    from fraudlake.producer.entities import tabformer_dir
    from fraudlake.producer.generator import GeneratorConfig
    from fraudlake.producer.sources import generator_source

    source = generator_source(
        GeneratorConfig(seed=seed, start=start, rows=rows), load_token_key(), tabformer_dir()
    )
    return source, pa.concat_tables(list(source.open_transactions()))


def produce(
    lake: LocalLake,
    source: Any,
    transactions: pa.Table,
    streams: tuple[str, ...] = ("users", "cards", "transactions"),
) -> Produced:
    """Send `transactions` (and the source's users/cards) with the project's producer."""
    from fraudlake.producer.kafka_producer import ProducerSettings
    from fraudlake.producer.produce_run import ProduceRun
    from fraudlake.producer.sources import Source

    batch = Source(
        fingerprint={"kind": "lake-roundtrip", "rows": transactions.num_rows},
        users=source.users,
        cards=source.cards,
        open_transactions=lambda: iter([transactions]),
        total_transactions=transactions.num_rows,
    )
    topics = {stream: lake.topic(stream) for stream in streams}
    result = ProduceRun(ProducerSettings(bootstrap=lake.bootstrap), topics, batch).run()
    if result.exit_code != 0:
        raise LakePathError(
            f"producer did not deliver everything (exit {result.exit_code}): {result.broker_errors[:3]}"
        )
    return Produced(transactions.column("txn_id").to_pylist())


# --- waiting for the sink, and what it wrote ----------------------------------------------------


def wait_for_sink(lake: LocalLake, timeout: float = 300.0) -> float:
    """Block until the sink has committed every record of the pipeline's topics; seconds waited.

    The sink commits a record's offset only after the object holding it is in the store, so a
    committed end offset on every partition means the lake has everything produced so far.
    """
    started = time.monotonic()
    deadline = started + timeout
    lagging: dict[str, int] = {}
    while time.monotonic() < deadline:
        lagging = sink_lag(lake)
        if not lagging:
            return time.monotonic() - started
        time.sleep(1.0)
    raise LakePathError(f"the sink {lake.connector} did not catch up within {timeout:.0f}s; lag: {lagging}")


def sink_lag(lake: LocalLake) -> dict[str, int]:
    """Records per topic-partition the sink has not committed yet (empty: caught up)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": lake.bootstrap, "group.id": f"connect-{lake.connector}"})
    try:
        watermarks = _watermarks(consumer, sink_topics(lake.namespace, lake.pipeline))
        partitions = [TopicPartition(topic, partition) for topic, partition in watermarks]
        committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(partitions, timeout=10)}
        lag = {}
        for (topic, partition), (low, high) in watermarks.items():
            done = max(committed[(topic, partition)], low)  # nothing committed yet: a negative offset
            if high > done:
                lag[f"{topic}[{partition}]"] = high - done
        return lag
    finally:
        consumer.close()


def topic_records(lake: LocalLake, streams: Iterable[str]) -> dict[str, int]:
    """Records per topic of the pipeline's `streams`: end offsets summed over the partitions."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": lake.bootstrap, "group.id": "fraudlake-lake-probe"})
    try:
        records: dict[str, int] = {}
        for (topic, _), (_, high) in _watermarks(consumer, [lake.topic(s) for s in streams]).items():
            records[topic] = records.get(topic, 0) + high
        return records
    finally:
        consumer.close()


def _watermarks(consumer: Any, topics: Iterable[str]) -> dict[tuple[str, int], tuple[int, int]]:
    """(low, high) offsets of every partition of `topics`, keyed by (topic, partition)."""
    from confluent_kafka import TopicPartition

    found = {}
    for topic in topics:
        for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
            tp = TopicPartition(topic, partition)
            found[(topic, partition)] = consumer.get_watermark_offsets(tp, timeout=10)
    return found


def lake_rows(lake: LocalLake, streams: Iterable[str]) -> dict[str, int]:
    """Rows per topic in the lake's Parquet objects of `streams`, from each object's footer."""
    import pyarrow.parquet as pq

    store = lake.store()
    client = store.client()
    ever = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    rows: dict[str, int] = {}
    for obj in store.list_objects([lake.topic(s) for s in streams], *ever):
        body = client.get_object(Bucket=store.bucket, Key=obj.key)["Body"].read()
        rows[obj.topic] = rows.get(obj.topic, 0) + pq.ParquetFile(pa.BufferReader(body)).metadata.num_rows
    return rows


# --- the DAGs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DagRunOutcome:
    dag_id: str
    run_id: str
    state: str
    seconds: float  # wall time of dag.test()
    task_seconds: dict[str, float]  # each task's own duration
    task_states: dict[str, str]

    def raise_for_state(self) -> None:
        """LakePathError unless the run succeeded."""
        if self.state != "success":
            raise LakePathError(
                f"DAG {self.dag_id} ended {self.state}; its task logs are above and in the Airflow UI"
            )


_prepared_homes: set[Path] = set()


def prepare_airflow(lake: LocalLake) -> None:
    """Make ``dag.test()`` in this process run against the stack's Airflow (its metadata DB, so the
    UI shows the runs; the DAG files checked once per process) with `lake`'s pipeline, store and
    ClickHouse in the environment the DAGs read."""
    from fraudlake.local.stack.airflow_home import prepare_dag_test

    os.environ.update(airflow_environment(lake.lake_pipeline(), lake.store(), lake.dsn))
    home = Path(lake.services["airflow"].endpoints["airflow_home"])
    if home not in _prepared_homes:
        errors = prepare_dag_test(home)
        if any(errors.values()):
            raise LakePathError(f"DAG files failed to import: {errors}")
        _prepared_homes.add(home)


def run_dag(dag_id: str, conf: Mapping[str, str] | None = None) -> DagRunOutcome:
    """Run ``dags/<dag_id>.py`` once in this process (``dag.test()``), after :func:`prepare_airflow`."""
    from airflow.dag_processing.dagbag import DagBag

    from fraudlake.local.stack.airflow_home import DAGS_FOLDER

    bag = DagBag(DAGS_FOLDER / f"{dag_id}.py")
    if bag.import_errors:
        raise LakePathError(f"DAG {dag_id} failed to import: {bag.import_errors}")
    started = time.monotonic()
    run = bag.dags[dag_id].test(run_conf=dict(conf or {}))
    seconds = time.monotonic() - started
    instances = run.get_task_instances()
    return DagRunOutcome(
        dag_id=dag_id,
        run_id=run.run_id,
        state=str(run.state),
        seconds=seconds,
        task_seconds={ti.task_id: float(ti.duration or 0.0) for ti in instances},
        task_states={ti.task_id: str(ti.state) for ti in instances},
    )


def run_lake_dag(lake: LocalLake, interval: Interval) -> DagRunOutcome:
    """Run ``lake_to_clickhouse`` on `lake` for `interval` (see :func:`run_dag`)."""
    prepare_airflow(lake)
    return run_dag(
        LAKE_DAG_ID, {"interval_start": interval.start.isoformat(), "interval_end": interval.end.isoformat()}
    )


def interval_around(started: datetime, margin: timedelta = timedelta(minutes=1)) -> Interval:
    """An explicit interval from before `started` until a moment from now: every object written
    since lands in it."""
    return Interval(started - margin, datetime.now(UTC) + timedelta(seconds=1))


# --- the proof ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    expected: TxnFingerprint
    actual: TxnFingerprint

    @property
    def exact(self) -> bool:
        return self.expected == self.actual


def compare(lake: LocalLake, txn_ids: list[str]) -> Comparison:
    """The produced ids against the table as stored (plain count(), no FINAL)."""
    return Comparison(
        TxnFingerprint.of_ids(txn_ids), TxnFingerprint.of_table(connect(lake.dsn), lake.database)
    )
