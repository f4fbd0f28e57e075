"""Optional outputs written off the request path: scores to ClickHouse `predictions`, flagged
transactions to the pipeline's `alerts` topic.

A request only enqueues (non-blocking); one background thread per sink drains its bounded queue in
batches. When a queue is full the item is dropped and counted (`fraudlake_api_sink_dropped_total`):
scoring latency never waits on ClickHouse or Kafka.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import SpanKind

from fraudlake.api.metrics import ApiMetrics
from fraudlake.common import tracing
from fraudlake.common.background import BackgroundThread
from fraudlake.scoring.bundle import ModelBundle
from fraudlake.scoring.core import Scored, shadow_scores

log = logging.getLogger("fraudlake.api.sinks")
PREDICTION_COLUMNS = (
    "txn_id",
    "card_id",
    "user_id",
    "merchant_id",
    "event_ts",
    "model_version",
    "score",
    "decision",
    "reasons",
    "role",
)
_SEVERITY = {"decline": "high", "review": "medium"}


class BackgroundWriter(BackgroundThread):
    """A bounded queue drained in batches by one background thread calling `write_batch`.

    `stop()` writes what is queued before the thread ends (within `join_timeout`).
    """

    def __init__(
        self,
        name: str,
        write_batch: Callable[[list[Any]], None],
        metrics: ApiMetrics,
        queue_size: int = 10_000,
        batch_size: int = 500,
    ):
        self.name, self.write_batch, self.metrics, self.batch_size = name, write_batch, metrics, batch_size
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        super().__init__(f"sink-{name}")

    def submit(self, item: Any) -> bool:
        """Enqueue without waiting; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.metrics.sink_dropped.labels(self.name).inc()
            return False
        return True

    def _run(self) -> None:
        while not (self._stop.is_set() and self._queue.empty()):
            try:
                batch = [self._queue.get(timeout=0.2)]
            except queue.Empty:
                continue
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.write_batch(batch)
            except Exception:
                self.metrics.sink_dropped.labels(self.name).inc(len(batch))
                log.exception(
                    "sink write failed; batch dropped", extra={"sink": self.name, "rows": len(batch)}
                )


def shadow_prediction_rows(challenger: ModelBundle, scored: Scored) -> list[tuple[Any, ...]]:
    """The challenger's verdicts on what the champion scored, as `predictions` rows of role shadow (none
    when it reads another feature configuration)."""
    shadow = shadow_scores(challenger, scored)
    if shadow is None:
        return []
    return [
        (rec["txn_id"], rec["card_id"], rec["user_id"], rec["merchant_id"], _utc(rec["event_ms"]),
         shadow.model_version, score, decision, "[]", "shadow")
        for rec, score, decision in zip(scored.records, shadow.scores, shadow.decisions, strict=True)
    ]  # fmt: skip


def prediction_rows(scored: Scored, model_version: str) -> list[tuple[Any, ...]]:
    """Rows for `predictions` in PREDICTION_COLUMNS order."""
    rows = []
    for result, rec in zip(scored.results, scored.records, strict=True):
        reasons = json.dumps([r.model_dump() for r in result.reasons])
        rows.append(
            (
                result.txn_id,
                rec["card_id"],
                rec["user_id"],
                rec["merchant_id"],
                _utc(rec["event_ms"]),
                model_version,
                result.score,
                result.decision,
                reasons,
                "champion",
            )
        )
    return rows


def alert_messages(scored: Scored, model_version: str) -> list[tuple[str, bytes]]:
    """(key, JSON value) per flagged transaction, shaped like the `alerts` table."""
    out = []
    for result, rec in zip(scored.results, scored.records, strict=True):
        if result.decision == "approve" and not result.rules_fired:
            continue
        stopped = next((hit for hit in result.rules_fired if hit.type == "CardStatus"), None)
        if stopped is not None:  # declined because the bank stopped the card, whatever the score
            source = f"rule:{stopped.rule}"
            verdict = f"{stopped.message}: declined (model {model_version} score {result.score:.3f})"
        else:
            source = "model" if result.decision != "approve" else f"rule:{result.rules_fired[0].rule}"
            verdict = f"model {model_version}: {result.decision} at score {result.score:.3f}"
        alert_id = hashlib.sha256(f"{result.txn_id}/{model_version}".encode()).hexdigest()[:32]
        others = (hit for hit in result.rules_fired if hit is not stopped)
        message = "; ".join([verdict, *(f"{hit.rule}: {hit.message}" for hit in others)])
        body = {
            "alert_id": alert_id,
            "txn_id": result.txn_id,
            "card_id": rec["card_id"],
            "user_id": rec["user_id"],
            "merchant_id": rec["merchant_id"],
            "event_ts": rec["event_ms"],
            "source": source,
            "score": result.score,
            "severity": _SEVERITY.get(result.decision, "low"),
            "status": "open",
            "message": message,
            "rules": [hit.rule for hit in result.rules_fired],
            "reasons": [r.model_dump() for r in result.reasons],
        }
        out.append((rec["card_id"], json.dumps(body).encode()))
    return out


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def clickhouse_predictions_writer(dsn: str, database: str) -> Callable[[list[Sequence[Any]]], None]:
    """A batch writer inserting prediction rows into `<database>.predictions`."""
    from fraudlake.clickhouse.client import connect

    client = connect(dsn, database)

    def write(rows: list[Sequence[Any]]) -> None:
        client.insert("predictions", rows, column_names=list(PREDICTION_COLUMNS), database=database)

    return write


def kafka_alerts_writer(bootstrap: str, topic: str) -> tuple[Callable[[list[tuple[str, bytes]]], None], Any]:
    """A batch writer producing alert messages to `topic` (idempotent, acks=all), and its producer."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 20,
        }
    )

    def write(messages: list[tuple[str, bytes]]) -> None:
        # Runs on the sink's thread, after the response: one span per batch, its context in the headers.
        with tracing.tracer().start_as_current_span("produce alerts", kind=SpanKind.PRODUCER):
            headers = tracing.inject_headers() if tracing.tracing_enabled() else None
            for key, value in messages:
                producer.produce(topic, key=key.encode(), value=value, headers=headers)
        producer.poll(0)
        producer.flush(10)

    return write, producer
