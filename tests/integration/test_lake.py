"""The lake path for real: producer → Kafka → Kafka Connect S3 sink → MinIO → lake_to_clickhouse DAG
(dag.test() in this process) → ClickHouse, and the proof that every produced transaction is in
ClickHouse exactly once (count, distinct count and checksum of txn_ids; plain count(), no FINAL),
also across DAG reruns, overlapping intervals, a killed Connect worker and a corrupt object, and
for objects of an interval whose run never happened.
"""

from __future__ import annotations

import io
import os
import signal
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from confluent_kafka import KafkaException
from lake_kit import (
    create_database,
    minio_store,
    object_key,
    put,
    rewind_sink,
    sink_parquet,
    synthetic_transactions,
)

from fraudlake.clickhouse.client import connect
from fraudlake.lake.ledger import FAILED, Ledger
from fraudlake.lake.runtime import Interval
from fraudlake.local.roundtrip import harness
from fraudlake.local.roundtrip.harness import LocalLake
from fraudlake.local.stack import manager
from fraudlake.local.stack.service import ServiceRecord, StackContext
from fraudlake.schemas import TRANSACTIONS

pytestmark = pytest.mark.integration

ROWS = 2_400
# Small objects and a short flush interval: several objects per partition within seconds.
FLUSH = {"maxRecords": 250, "intervalSeconds": 2}


@pytest.fixture(scope="module")
def generated() -> tuple[object, pa.Table]:
    """The producer's generator (real users/cards) and ROWS of its transactions, made once."""
    return harness.generate(ROWS, seed=11)


@pytest.fixture(scope="module")
def services(
    kafka: ServiceRecord,
    minio: ServiceRecord,
    kafka_connect: ServiceRecord,
    clickhouse: ServiceRecord,
    airflow: ServiceRecord,
) -> dict[str, ServiceRecord]:
    return {
        "kafka": kafka,
        "minio": minio,
        "connect": kafka_connect,
        "clickhouse": clickhouse,
        "airflow": airflow,
    }


def new_lake(services: dict[str, ServiceRecord]) -> LocalLake:
    lake = harness.local_lake(services, f"it-{uuid.uuid4().hex[:8]}", flush=FLUSH)
    harness.provision(lake)
    return lake


EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def far_future() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=5)


def run_dag(lake: LocalLake, interval: Interval, expect: str = "success") -> harness.DagRunOutcome:
    outcome = harness.run_lake_dag(lake, interval)
    assert outcome.state == expect, outcome.task_states
    return outcome


def assert_exactly(lake: LocalLake, txn_ids: list[str]) -> None:
    comparison = harness.compare(lake, txn_ids)
    assert comparison.actual == comparison.expected


def test_the_real_sink_writes_the_shape_the_loader_reads(
    services: dict[str, ServiceRecord], generated
) -> None:
    source, transactions = generated
    lake = new_lake(services)
    harness.produce(lake, source, transactions.slice(0, 300))
    harness.wait_for_sink(lake)
    store = lake.store()
    (first, *_) = store.list_objects(
        [lake.topic("transactions")], datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC)
    )
    body = store.client().get_object(Bucket=store.bucket, Key=first.key)["Body"].read()
    schema = pq.read_schema(io.BytesIO(body))
    assert schema.names == ["value", "offset", "timestamp"]
    assert schema.field("offset").type == pa.int64()
    value = schema.field("value").type
    assert [value.field(i).name for i in range(value.num_fields)] == TRANSACTIONS.names
    assert value.field("event_ts").type == pa.timestamp("ms", tz="UTC")
    harness.stop_sink(lake)


def test_produced_transactions_land_exactly_once_across_reruns_and_overlapping_intervals(
    services: dict[str, ServiceRecord], generated
) -> None:
    source, transactions = generated
    half = ROWS // 2
    lake = new_lake(services)
    started = datetime.now(UTC)
    first_half = harness.produce(lake, source, transactions.slice(0, half))
    harness.wait_for_sink(lake)
    first = harness.interval_around(started)
    for _ in range(3):  # the same interval three times: the first run loads, the others add nothing
        run_dag(lake, first)
        assert_exactly(lake, first_half.txn_ids)

    second_half = harness.produce(lake, source, transactions.slice(half), streams=("transactions",))
    harness.wait_for_sink(lake)
    # Overlaps the first interval: starts at its median object's write time.
    written = sorted(
        obj.last_modified
        for obj in lake.store().list_objects([lake.topic("transactions")], first.start, first.end)
    )
    overlapping = Interval(written[len(written) // 2], datetime.now(UTC) + timedelta(seconds=1))
    assert overlapping.start < first.end
    run_dag(lake, overlapping)
    run_dag(lake, harness.interval_around(started))  # and one that covers both
    assert_exactly(lake, first_half.txn_ids + second_half.txn_ids)
    harness.stop_sink(lake)


def test_a_connect_worker_killed_mid_stream_still_loads_exactly_once(
    stack: StackContext, services: dict[str, ServiceRecord], generated
) -> None:
    source, transactions = generated
    lake = new_lake(services)
    started = datetime.now(UTC)
    produced = harness.produce(lake, source, transactions.slice(0, 800))
    harness.wait_for_sink(lake)
    run_dag(lake, harness.interval_around(started))  # some objects are loaded before the crash

    produced.txn_ids += harness.produce(lake, source, transactions.slice(800, 800), ("transactions",)).txn_ids
    time.sleep(1.5)  # the sink is consuming, buffering and writing objects it has not committed yet
    os.kill(manager.load_endpoints(stack.stack_dir)["connect"].pids[0], signal.SIGKILL)
    produced.txn_ids += harness.produce(lake, source, transactions.slice(1600), ("transactions",)).txn_ids
    restarted = manager.up(stack, ["connect"])["connect"]
    assert restarted.endpoints["rest"] == lake.connect_rest

    harness.wait_for_sink(lake, timeout=600)
    run_dag(lake, harness.interval_around(started))
    assert_exactly(lake, produced.txn_ids)
    harness.stop_sink(lake)


def test_a_rewound_sink_recuts_the_lake_and_nothing_loads_twice(
    services: dict[str, ServiceRecord], generated
) -> None:
    source, transactions = generated
    lake = new_lake(services)
    started = datetime.now(UTC)
    produced = harness.produce(lake, source, transactions.slice(0, 1200))
    harness.wait_for_sink(lake)
    run_dag(lake, harness.interval_around(started))
    assert_exactly(lake, produced.txn_ids)

    # Re-deliver from offset 100, as a worker that crashed before committing would: the sink writes
    # new objects (…-100.parquet, …) whose records are already loaded from the first cut.
    topic = lake.topic("transactions")
    partitions = lake.spec.kafka.topics.transactions.partitions
    rewound = datetime.now(UTC)
    rewind_sink(lake.connect_rest, lake.connector, topic, partitions, offset=100)
    time.sleep(3)
    harness.wait_for_sink(lake)
    recut = lake.store().list_objects([topic], rewound, datetime.now(UTC))
    assert {obj.start_offset for obj in recut} >= {100}

    run_dag(lake, harness.interval_around(started))
    assert_exactly(lake, produced.txn_ids)
    skipped, added = (
        connect(lake.dsn)
        .query(
            f"SELECT sum(skipped_rows), sum(rows) FROM {lake.database}.load_ledger "
            "WHERE topic = {topic:String} AND status = 'loaded' AND loaded_at >= {rewound:DateTime64(3)}",
            parameters={"topic": topic, "rewound": rewound},
        )
        .result_rows[0]
    )
    assert (skipped, added) == (1200 - 100 * partitions, 0)  # every re-delivered row recognised
    harness.stop_sink(lake)


def until(action: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Repeat `action` until it returns True; Kafka's errors of a topic just created count as not yet."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            if action():
                return
        except (KafkaException, harness.LakePathError) as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {last!r}")


def recreate_topic(lake: LocalLake, stream: str) -> None:
    """Delete the stream's topic in Kafka and create it again: a new topic (new id) from offset 0."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": lake.bootstrap})
    topic = lake.topic(stream)
    admin.delete_topics([topic])[topic].result(30)

    def created() -> bool:
        if topic in admin.list_topics(timeout=10).topics:
            return False  # the deletion is still under way
        harness.create_topics(lake)  # LakePathError while Kafka still refuses the name
        return True

    until(created, f"{topic} deleted and created again")


def test_a_recreated_topic_is_a_new_incarnation_whose_rows_from_offset_0_load(
    services: dict[str, ServiceRecord], generated
) -> None:
    """Before topic ids were in the lake's object names and the ledger, the recreated topic's
    objects overwrote the old ones at the same keys and the loader took their offsets for loaded."""
    source, transactions = generated
    lake = new_lake(services)
    started = datetime.now(UTC)
    first = harness.produce(lake, source, transactions.slice(0, 300))
    harness.wait_for_sink(lake)
    run_dag(lake, harness.interval_around(started))
    assert_exactly(lake, first.txn_ids)
    topic, store = lake.topic("transactions"), lake.store()
    before = {obj.key: obj.etag for obj in store.list_objects([topic], EPOCH, far_future())}

    harness.stop_sink(lake)
    recreate_topic(lake, "transactions")
    # The sink learns the new topic id (the operator puts the KafkaTopic's status.topicId there).
    until(lambda: harness.start_sink(lake) is None, "the sink with the new topic id")
    second = harness.produce(lake, source, transactions.slice(300, 300), streams=("transactions",))
    harness.wait_for_sink(lake)

    after = store.list_objects([topic], EPOCH, far_future())
    assert {obj.key: obj.etag for obj in after if obj.key in before} == before  # nothing overwritten
    new_objects = [obj for obj in after if obj.key not in before]
    (new_id,) = {obj.topic_id for obj in new_objects}
    (old_id,) = {obj.topic_id for obj in after if obj.key in before}
    assert new_id != old_id
    assert min(obj.start_offset for obj in new_objects) == 0  # the new topic restarted at 0
    run_dag(lake, harness.interval_around(started))
    assert_exactly(lake, first.txn_ids + second.txn_ids)
    harness.stop_sink(lake)


def test_a_corrupt_object_fails_the_run_by_name_and_the_rest_still_loads(
    services: dict[str, ServiceRecord], generated, capfd: pytest.CaptureFixture[str]
) -> None:
    source, transactions = generated
    lake = new_lake(services)
    started = datetime.now(UTC)
    produced = harness.produce(lake, source, transactions.slice(0, 600))
    harness.wait_for_sink(lake)
    store = lake.store()
    garbage_key = f"{store.prefix}/raw/{lake.topic('transactions')}/0000000009-00000000000000000000.parquet"
    put(store, garbage_key, b"\x00garbage, not parquet\x00" * 40)

    run_dag(lake, harness.interval_around(started), expect="failed")
    output = capfd.readouterr()
    assert garbage_key in output.out + output.err  # the task's error names the object
    assert_exactly(lake, produced.txn_ids)  # every good object of the run loaded anyway
    (garbage,) = [
        o
        for o in store.list_objects([lake.topic("transactions")], started, datetime.now(UTC))
        if o.key == garbage_key
    ]
    assert Ledger(connect(lake.dsn), lake.database).states([garbage])[(garbage.key, garbage.etag)] == FAILED

    later = datetime.now(UTC)
    produced.txn_ids += harness.produce(lake, source, transactions.slice(600, 600), ("transactions",)).txn_ids
    harness.wait_for_sink(lake)
    # The next interval loads, and its run sweeps the corrupt object in again: still not loaded,
    # it fails this run by name too, until it leaves the lake (or the sweep's lookback).
    run_dag(lake, harness.interval_around(later, margin=timedelta(0)), expect="failed")
    output = capfd.readouterr()
    assert garbage_key in output.out + output.err
    assert_exactly(lake, produced.txn_ids)
    store.client().delete_object(Bucket=store.bucket, Key=garbage_key)
    run_dag(lake, harness.interval_around(datetime.now(UTC), margin=timedelta(0)))
    assert_exactly(lake, produced.txn_ids)
    harness.stop_sink(lake)


def test_objects_of_an_interval_that_never_ran_load_with_the_next_run(
    minio: ServiceRecord, clickhouse: ServiceRecord, airflow: ServiceRecord
) -> None:
    """The DAG has catchup=False: the intervals of a scheduler outage get no run. The next run's
    sweep (from the watermark, within the lookback) loads their objects, once however often it runs."""
    lake = harness.local_lake(
        {"minio": minio, "clickhouse": clickhouse, "airflow": airflow}, f"it-{uuid.uuid4().hex[:8]}"
    )
    store = minio_store(minio, lake.spec.lake.bucket, lake.spec.lake.prefix)
    create_database(lake.dsn, lake.database)
    topic = lake.topic("transactions")
    table = synthetic_transactions(600, seed=13)
    for first in (0, 300):
        put(store, object_key(store, topic, 0, first), sink_parquet(table.slice(first, 300), first))
    last = max(obj.last_modified for obj in lake.store().list_objects([topic], EPOCH, far_future()))
    while datetime.now(UTC) < last + timedelta(seconds=2):
        time.sleep(0.2)

    interval = Interval(last + timedelta(seconds=1), datetime.now(UTC))
    assert lake.store().list_objects([topic], interval.start, interval.end) == []  # the run's own interval
    ids = table.column("txn_id").to_pylist()
    for _ in range(2):
        run_dag(lake, interval)
        assert_exactly(lake, ids)
    run_dag(lake, Interval(EPOCH, far_future()))  # an explicit window over everything adds nothing
    assert_exactly(lake, ids)
