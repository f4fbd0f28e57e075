"""Helpers of the stream scorer's tests and benchmark: topics, messages, committed reads, scorer processes.

Imported by tests/integration/test_stream_*.py and bench/stream.py (they put this folder on sys.path).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from fraudlake.pipeline.naming import topic_name

NAMESPACE = "it"


def unique_pipeline(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(30)


def transaction_message(txn: Mapping[str, Any]) -> tuple[str, bytes]:
    """(card key, JSON value) of a transaction as the producer writes it: event_ts in epoch ms."""
    ts = datetime.fromisoformat(str(txn["event_ts"]).replace("Z", "+00:00"))
    body = dict(txn, event_ts=round(ts.timestamp() * 1000))
    return str(txn["card_id"]), json.dumps(body).encode()


def produce(bootstrap: str, topic: str, messages: Iterable[tuple[str | None, bytes]]) -> list[int]:
    """Produce in order and wait for every delivery; the partition each message went to."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    partitions: dict[int, int] = {}

    def delivered(index: int) -> Any:
        def report(error: Any, message: Any) -> None:
            assert error is None, error
            partitions[index] = message.partition()

        return report

    for index, (key, value) in enumerate(messages):
        while True:
            try:
                producer.produce(
                    topic,
                    key=None if key is None else key.encode(),
                    value=value,
                    on_delivery=delivered(index),
                )
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0
    return [partitions[i] for i in range(len(partitions))]


def read_committed(
    bootstrap: str, topic: str, expected: int, timeout: float = 120, settle: float = 2.0
) -> list[dict[str, Any]]:
    """Every committed record of `topic` (JSON values), read from the start with isolation read_committed.

    Reads until `expected` records arrived and nothing more came for `settle` seconds (so duplicates
    would be seen), or until `timeout`.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records: list[dict[str, Any]] = []
    deadline, quiet_since = time.monotonic() + timeout, time.monotonic()
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                if len(records) >= expected and time.monotonic() - quiet_since > settle:
                    break
                continue
            records.append(json.loads(msg.value()) | {"_partition": msg.partition(), "_offset": msg.offset()})
            quiet_since = time.monotonic()
    finally:
        consumer.close()
    return records


def committed_count(bootstrap: str, topic: str) -> int:
    """How many committed records `topic` holds now (read_committed end offsets minus markers is not
    exact, so this reads them)."""
    return len(read_committed(bootstrap, topic, expected=0, timeout=30, settle=1.0))


@dataclass
class ScorerProcess:
    """One `fraudlake scorer run` replica in its own process group (so a kill takes it all)."""

    bootstrap: str
    pipeline: str
    model_dir: Path
    workdir: Path
    name: str = "scorer"
    extra: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ScorerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable, "-m", "fraudlake.cli", "scorer", "run",
            "--pipeline", f"{NAMESPACE}/{self.pipeline}",
            "--bootstrap-servers", self.bootstrap,
            "--model-uri", str(self.model_dir),
            "--state-dir", str(self.workdir / f"state-{self.name}"),
            *self.extra,
        ]  # fmt: skip
        log = (self.workdir / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}, start_new_session=True
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye to the group."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        path = self.workdir / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def group_assignment(bootstrap: str, group: str) -> dict[str, set[int]]:
    """Member id → assigned partitions of a consumer group, as the broker reports it now."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    description = admin.describe_consumer_groups([group])[group].result(30)
    return {m.member_id: {tp.partition for tp in m.assignment.topic_partitions} for m in description.members}


def topics_of(pipeline: str) -> dict[str, str]:
    return {
        s: topic_name(NAMESPACE, pipeline, s) for s in ("transactions", "decisions", "alerts", "deadletter")
    }


def wait_for(what: str, check: Any, timeout: float, scorers: Sequence[ScorerProcess] = ()) -> None:
    """Poll `check()` until true; fail with the scorers' logs when it never is or a scorer died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        for scorer in scorers:
            assert scorer.alive(), f"{scorer.name} died:\n{scorer.log_text()[-3000:]}"
        time.sleep(0.2)
    logs = "\n".join(s.log_text()[-2000:] for s in scorers)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def end_offsets(bootstrap: str, topic: str) -> int:
    """Sum of the topic's high watermarks (committed or not, markers included): a cheap progress probe."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return 0
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in meta.partitions
        )
    finally:
        consumer.close()
