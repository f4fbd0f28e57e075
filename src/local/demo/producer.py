"""Demo stages that move data: produce to Kafka, wait for the lake, load it with Airflow."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from minio import Minio

from fraudlake.local.stack.service import ServiceRecord
from fraudlake.pipeline import naming


def minio_client(minio: ServiceRecord) -> Minio:
    endpoint = minio.endpoints["url"].removeprefix("http://")
    return Minio(endpoint, minio.credentials["access_key"], minio.credentials["secret_key"], secure=False)


def ensure_bucket(minio: ServiceRecord, bucket: str) -> None:
    client = minio_client(minio)
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)


def produce(
    kafka: ServiceRecord,
    namespace: str,
    pipeline: str,
    rows: int,
    seed: int,
    days: int,
    log: Path,
    state_dir: Path,
) -> None:
    """`fraudlake produce` as its own process (the producer is its own component, like in production)."""
    state_file = state_dir / f"producer-{namespace}.{pipeline}.json"
    today = datetime.now(UTC).date()
    users = demo_users(rows, days)
    argv = [
        sys.executable,
        "-m",
        "fraudlake.cli",
        "produce",
        "--bootstrap",
        kafka.endpoints["bootstrap"],
        "--namespace",
        namespace,
        "--pipeline",
        pipeline,
        "--rows",
        str(rows),
        "--seed",
        str(seed),
        # Recent event times, so the model's training window and the agent's "this week" see them.
        "--start",
        (today - timedelta(days=days)).isoformat(),
        "--end",
        today.isoformat(),
        # A bank small enough that `rows` cover about the whole span (a model needs months).
        "--users",
        str(users),
        "--state-file",
        str(state_file),
        "--progress",
    ]
    if state_file.exists():
        # A rerun continues (or, when complete, skips) the recorded run instead of sending the same
        # data again; other --rows/--seed need `--clean`.
        argv.append("--resume")
    with log.open("ab") as out:
        # The progress bar goes to the terminal; the summary lines also land in the log.
        proc = subprocess.run(argv, stdout=out, stderr=None, env=os.environ.copy(), check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"the producer exited with {proc.returncode}; see {log} "
            "(after changing --rows or --seed, rerun the demo with --clean)"
        )


def demo_users(rows: int, days: int) -> int:
    """Users whose transactions reach `rows` a little before `days` end (the generator stops at
    the row budget; `--end today` only guards against event times in the future)."""
    from fraudlake.common.card_token import load_token_key
    from fraudlake.producer.entities import load_cards, load_users
    from fraudlake.producer.population import users_for_span

    return users_for_span(rows, 0.95 * days, load_users(), load_cards(load_token_key()))


def topic_end_offsets(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "fraudlake-demo-probe"})
    try:
        ends = {}
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            for partition in meta.partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                ends[(topic, partition)] = high
        return ends
    finally:
        consumer.close()


def committed_offsets(
    bootstrap: str, group: str, partitions: list[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = consumer.committed([TopicPartition(t, p) for t, p in partitions], timeout=10)
        return {(tp.topic, tp.partition): max(tp.offset, 0) for tp in committed}
    finally:
        consumer.close()


def wait_for_lake(
    kafka: ServiceRecord, namespace: str, pipeline: str, streams: tuple[str, ...], timeout: float = 600
) -> dict[str, int]:
    """Until the sink connector has committed every produced offset (so every record is in S3).

    The connector commits a partition's offsets only after the Parquet object holding them is
    written, so committed == end offset means the lake holds all of it. Returns records per topic.
    """
    bootstrap = kafka.endpoints["bootstrap"]
    topics = [naming.topic_name(namespace, pipeline, s) for s in streams]
    ends = topic_end_offsets(bootstrap, topics)
    group = f"connect-{naming.connector_name(namespace, pipeline)}"
    deadline = time.monotonic() + timeout
    while True:
        done = committed_offsets(bootstrap, group, list(ends))
        behind = {tp: end - done.get(tp, 0) for tp, end in ends.items() if done.get(tp, 0) < end}
        if not behind:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the lake sink is still behind after {timeout:.0f}s: {behind}")
        time.sleep(1.0)
    per_topic: dict[str, int] = {}
    for (topic, _), end in ends.items():
        per_topic[topic] = per_topic.get(topic, 0) + end
    return per_topic


def lake_rows(minio: ServiceRecord, bucket: str, prefix: str) -> dict[str, int]:
    """Rows per topic in the lake, from the Parquet footers (no data read)."""
    from io import BytesIO

    import pyarrow.parquet as pq

    client = minio_client(minio)
    rows: dict[str, int] = {}
    for obj in client.list_objects(bucket, prefix=f"{prefix}/raw/", recursive=True):
        if not obj.object_name.endswith(".parquet"):
            continue
        topic = obj.object_name.removeprefix(f"{prefix}/raw/").split("/", 1)[0]
        # The footer is at the end: read the last 64 KiB and fall back to the whole object if needed.
        body = client.get_object(bucket, obj.object_name).read()
        rows[topic] = rows.get(topic, 0) + pq.ParquetFile(BytesIO(body)).metadata.num_rows
    return rows


def load_interval() -> dict[str, str]:
    """The lake DAG's interval for the demo: everything written so far (objects' write time)."""
    end = datetime.now(UTC) + timedelta(minutes=1)
    return {"interval_start": (end - timedelta(days=1)).isoformat(), "interval_end": end.isoformat()}


def run_dag(dag_id: str, conf: dict[str, Any] | None = None) -> str:
    """Run one DAG from dags/ in this process with dag.test() (the process owning chDB); its state."""
    from airflow.dag_processing.dagbag import DagBag

    from fraudlake.local.stack.paths import REPO_ROOT

    bag = DagBag(REPO_ROOT / "dags" / f"{dag_id}.py")
    if bag.import_errors:
        raise RuntimeError(f"DAG {dag_id} failed to import: {bag.import_errors}")
    run = bag.dags[dag_id].test(run_conf=conf or {})
    state = str(getattr(run, "state", "unknown"))
    if state != "success":
        raise RuntimeError(f"DAG {dag_id} ended {state}; its task logs are above and in the Airflow UI")
    return state
