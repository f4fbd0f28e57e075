"""The demo's stream-scoring stage: live transactions decided by the stream scorer, seconds after they happen.

    live producer ──> <pipeline>.transactions ──> `fraudlake scorer run` (child process)
                                                    ├─> <pipeline>.decisions ─┐ ClickHouseLoader (a thread of
                                                    └─> <pipeline>.alerts ────┘ this process) ─> ClickHouse

The scorer is a stack-marked child process with its own log, as in Kubernetes it is its own Deployment.
It loads decisions and alerts into ClickHouse itself elsewhere; here the demo process owns the chDB engine
(one engine per process), so the same loader runs on a thread of this process with the demo's client.
The scorer's consumer group starts at the end of the transactions topic: the history was the training
data; the stream scorer decides what happens from now on.

With the bank's CDC topics (`bank.py`), the scorer also reads the cards' statuses (the operator's
`FRAUDLAKE_SCORER_CDC_TOPICS`), and a second loader thread here loads the bank's users and cards into
ClickHouse, as the scorer's own change loader does elsewhere.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fraudlake.common.background import BackgroundThread
from fraudlake.local.demo import bank
from fraudlake.local.stack.process import free_port, stop_process_group, wait_until
from fraudlake.local.stack.service import ScrapeJob, ServiceRecord, StackContext
from fraudlake.local.stack.services.prometheus import publish_targets, withdraw_targets
from fraudlake.pipeline import scorer_env as scorer_env_names

FLAGGED = ("review", "decline")
LIVE_RATE = 100.0  # transactions per second: a modest, steady stream a person can watch arrive
DECISION_WAIT_SECONDS = 120.0  # after the last live transaction, for its decision to reach ClickHouse
SCORER_JOB = "fraudlake-scorer"  # the stream scorer's job in the stack's Prometheus


@dataclass
class LiveTransactions(BackgroundThread):
    """Fresh transactions of the demo bank (from today or `first_day`, at its fraud rate, fraud already
    flowing: the generator's warm-up) sent to the pipeline's transactions topic at `rate` per second, as the
    producer sends them (connect-json, keyed by card). `count` None: until stopped.

    `labels` holds the generator's ground truth (txn_id → is_fraud) of what is sent, to check decisions by.
    """

    bootstrap: str
    topic: str
    users: int
    seed: int
    fraud_rate: float
    rate: float = LIVE_RATE
    count: int | None = None
    labels: dict[str, bool] = field(default_factory=dict)
    block: bank.CardBlock | None = None  # sees every table before it is sent and the count sent so far
    first_day: date | None = None  # of their event times; None: today

    def __post_init__(self) -> None:
        super().__init__("live-transactions")

    def _run(self) -> None:
        from fraudlake.producer.kafka_producer import StopRequested

        try:
            self.send()
        except StopRequested:
            return

    def send(self) -> None:
        """Generate and send (in the calling thread) until `count` are delivered or a stop is asked."""
        from fraudlake.producer.delivery import DeliveryTracker
        from fraudlake.producer.encoders import make_encoder
        from fraudlake.producer.fraud_config import FraudConfig
        from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator
        from fraudlake.producer.kafka_producer import Pacing, ProducerSettings, TopicWriter, make_producer
        from fraudlake.schemas.records import TRANSACTIONS

        config = GeneratorConfig(
            seed=self.seed,
            start=self.first_day or datetime.now(UTC).date(),
            rows=self.count,
            users=self.users,
            fraud=FraudConfig(rate=self.fraud_rate),
        )
        settings = ProducerSettings(self.bootstrap, linger_ms=5, rate=self.rate)
        producer = make_producer(settings)
        encoder = make_encoder("connect-json", TRANSACTIONS, self.topic)
        writer = TopicWriter(
            producer,
            self.topic,
            TRANSACTIONS,
            DeliveryTracker(),
            Pacing.from_settings(settings),
            500,
            encoder,
        )
        writer.stop_requested = self._stop.is_set
        if self.block is not None:
            block = self.block
            writer.on_chunk = lambda: block.sent(writer.tracker.progress.produced)
        sent = 0
        try:
            for table in TransactionGenerator(config).chunks():
                self.labels.update(
                    zip(table["txn_id"].to_pylist(), table["is_fraud"].to_pylist(), strict=True)
                )
                if self.block is not None:
                    self.block.table(table, sent)
                writer.send(table, sent)
                sent += table.num_rows
        finally:
            producer.flush(30)


@dataclass
class StreamScoring:
    """The running scorer process and the loader thread; `stop()` ends both, whatever state they are in."""

    scorer_pid: int
    loader: BackgroundThread
    bank_loader: BackgroundThread | None
    bootstrap: str
    transactions_topic: str
    clickhouse_dsn: str
    database: str
    stack_dir: Path
    background: LiveTransactions | None = None

    def stop(self) -> None:
        if self.background is not None:
            self.background.stop()
        withdraw_targets(self.stack_dir, "scorer")
        stop_process_group(self.scorer_pid)
        self.loader.stop()
        if self.bank_loader is not None:
            self.bank_loader.stop()

    def keep_streaming(self, users: int, seed: int, fraud_rate: float) -> None:
        """Live transactions at the demo's rate until `stop()` (while the demo serves)."""
        self.background = LiveTransactions(self.bootstrap, self.transactions_topic, users, seed, fraud_rate)
        self.background.start()


def start_stream_scoring(
    ctx: StackContext, records: dict[str, ServiceRecord], pipeline: dict[str, Any]
) -> StreamScoring:
    """Start the scorer for `pipeline` with the champion from the stack's MinIO registry, wait until it
    consumes, then load its decisions and alerts into ClickHouse from this process."""
    from fraudlake.stream.cli import pipeline_topics
    from fraudlake.stream.loader import ClickHouseLoader, change_targets, clickhouse_insert, decision_targets

    namespace, name = pipeline["metadata"]["namespace"], pipeline["metadata"]["name"]
    bootstrap, database = records["kafka"].endpoints["bootstrap"], pipeline["spec"]["clickhouse"]["database"]
    topics = pipeline_topics(f"{namespace}/{name}")
    group = f"fraudlake-scorer.{namespace}.{name}"
    start_group_at_end(bootstrap, group, topics.transactions)
    cdc_topics = bank.cdc_topics(pipeline)
    log = ctx.log("scorer")
    metrics_port = free_port()
    argv = [sys.executable, "-m", "fraudlake.cli", "scorer", "run", "--pipeline", f"{namespace}/{name}",
            "--group", group, "--state-dir", str(ctx.data_dir("scorer")),
            "--model-poll-seconds", "5", "--metrics-port", str(metrics_port)]  # fmt: skip
    pid = ctx.spawn("scorer", argv, log, scorer_environment(records, pipeline))
    scrape = ScrapeJob(SCORER_JOB, (f"127.0.0.1:{metrics_port}",), labels={"pipeline": f"{namespace}/{name}"})
    publish_targets(ctx.stack_dir, "scorer", [scrape])
    loader = ClickHouseLoader(
        bootstrap,
        f"fraudlake-demo-loader.{namespace}.{name}",
        decision_targets(topics.decisions, topics.alerts),
        clickhouse_insert(records["clickhouse"].endpoints["dsn"], database),  # this process's chDB
    )
    dsn = records["clickhouse"].endpoints["dsn"]
    bank_loader = None
    if cdc_topics:
        bank_loader = ClickHouseLoader(
            bootstrap,
            f"fraudlake-demo-cdc-loader.{namespace}.{name}",
            change_targets(cdc_topics),
            clickhouse_insert(dsn, database),
            name="cdc-loader",
        )
    scoring = StreamScoring(
        pid, loader, bank_loader, bootstrap, topics.transactions, dsn, database, ctx.stack_dir
    )
    try:
        consumes = group_probe(bootstrap, group)
        wait_until("scorer", consumes, pid, log, 180, "to consume its topic")
        # After the scorer joined: its output topics exist now (it creates them), so the loader's
        # subscription finds them at once.
        loader.start()
        if bank_loader is not None:
            bank_loader.start()
    except BaseException:
        scoring.stop()
        raise
    return scoring


def scorer_environment(records: dict[str, ServiceRecord], pipeline: dict[str, Any]) -> dict[str, str]:
    """The scorer's FRAUDLAKE_* settings for this stack (what the operator's Deployment sets in EKS)."""
    minio, spec = records["minio"], pipeline["spec"]
    return {
        "FRAUDLAKE_KAFKA_BOOTSTRAP": records["kafka"].endpoints["bootstrap"],
        "FRAUDLAKE_MODEL_URI": f"s3://{spec['lake']['bucket']}/models",
        "FRAUDLAKE_S3_ENDPOINT": minio.endpoints["url"],
        "FRAUDLAKE_S3_ACCESS_KEY": minio.credentials["access_key"],
        "FRAUDLAKE_S3_SECRET_KEY": minio.credentials["secret_key"],
        "FRAUDLAKE_SCORER_RULES": json.dumps(spec["rules"]) if spec.get("rules") else "",  # none: seed rules
        # Empty: the scorer must not open ClickHouse (this process owns chDB; its loader runs here). The
        # API's settings put the DSN into this process's environment, which children inherit.
        "FRAUDLAKE_CLICKHOUSE_DSN": "",
        # The CDC topics the operator's Deployment gives the scorer (none without spec.sources).
        scorer_env_names.CDC_TOPICS: ",".join(bank.cdc_topics(pipeline)),
    }


def start_group_at_end(bootstrap: str, group: str, topic: str) -> None:
    """Commit `group`'s offsets at the end of every partition of `topic`."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ends = [
            TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1])
            for p in partitions
        ]
        consumer.commit(offsets=ends, asynchronous=False)
    finally:
        consumer.close()


def group_probe(bootstrap: str, group: str) -> Callable[[], bool]:
    """A check whether `group` is stable with partitions assigned (the scorer polls its topic).

    One admin client for all the checks: each new one would leave librdkafka notices on the terminal.
    """
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})

    def consumes() -> bool:
        description = admin.describe_consumer_groups([group])[group].result(timeout=10)
        return description.state == ConsumerGroupState.STABLE and any(
            member.assignment.topic_partitions for member in description.members
        )

    return consumes


def score_live_stream(
    scoring: StreamScoring,
    count: int,
    users: int,
    seed: int,
    fraud_rate: float,
    block: bank.CardBlock | None = None,
) -> dict[str, Any]:
    """Send `count` live transactions, wait for each one's decision in ClickHouse, and measure them.

    With `block`, one card is blocked in the bank's database on the way (`bank.CardBlock`) and the
    summary's `card_block` says what the scorer made of its later transactions."""
    from fraudlake.clickhouse.client import connect

    clickhouse = connect(scoring.clickhouse_dsn)
    live = LiveTransactions(
        scoring.bootstrap, scoring.transactions_topic, users, seed, fraud_rate, count=count, block=block
    )
    since = datetime.now(UTC)
    live.send()
    decisions = _wait_for_decisions(clickhouse, scoring.database, live.labels, since)
    summary = stream_summary(
        live.labels, decisions, _alerted(clickhouse, scoring.database, live.labels, since)
    )
    if block is not None and block.blocked_at is not None:
        summary["card_block"] = bank.block_outcome(clickhouse, scoring.database, block)
    return summary


def _wait_for_decisions(
    clickhouse: Any, database: str, labels: dict[str, bool], since: datetime
) -> dict[str, tuple[str, int]]:
    """txn_id → (decision, produce-to-decision ms) of the live transactions, once all are in ClickHouse
    (or what is there after DECISION_WAIT_SECONDS: the summary then shows the shortfall)."""
    deadline = time.monotonic() + DECISION_WAIT_SECONDS
    while True:
        rows = clickhouse.query(
            "SELECT txn_id, decision, dateDiff('millisecond', produced_at, decided_at) "
            f"FROM {database}.decisions FINAL WHERE decided_at >= {_datetime64(since)}"
        ).result_rows
        decided = {txn_id: (decision, int(ms)) for txn_id, decision, ms in rows if txn_id in labels}
        if len(decided) >= len(labels) or time.monotonic() > deadline:
            return decided
        time.sleep(1)


def _alerted(clickhouse: Any, database: str, labels: dict[str, bool], since: datetime) -> set[str]:
    rows = clickhouse.query(
        f"SELECT DISTINCT txn_id FROM {database}.alerts FINAL WHERE created_at >= {_datetime64(since)}"
    ).result_rows
    return {txn_id for (txn_id,) in rows if txn_id in labels}


def _datetime64(moment: datetime) -> str:
    return f"toDateTime64({moment.timestamp():.3f}, 3, 'UTC')"


def stream_summary(
    labels: dict[str, bool], decisions: dict[str, tuple[str, int]], alerted: set[str]
) -> dict[str, Any]:
    """What the stream did with the live transactions: decisions per class, frauds caught (review or
    decline) and missed (approved or never decided), alerts, and produce → decision latency."""
    frauds = [txn_id for txn_id, is_fraud in labels.items() if is_fraud]
    caught = sum(decisions.get(txn_id, ("",))[0] in FLAGGED for txn_id in frauds)
    latencies = np.array([ms for _, ms in decisions.values()], dtype=float)
    return {
        "transactions": len(labels),
        "decided": len(decisions),
        "decisions": dict(Counter(decision for decision, _ in decisions.values())),
        "frauds": len(frauds),
        "frauds_caught": caught,
        "frauds_missed": len(frauds) - caught,
        "alerts": len(alerted),
        "latency_ms": {
            "p50": float(np.percentile(latencies, 50)) if latencies.size else None,
            "p99": float(np.percentile(latencies, 99)) if latencies.size else None,
        },
    }
