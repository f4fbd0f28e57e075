"""One producer run: users, cards, then transactions to the pipeline's topics, with a resumable
checkpoint, a clean flush on Ctrl-C/SIGTERM and an exit code that says whether everything arrived.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from fraudlake.producer.delivery import Checkpoint, DeliveryTracker, StreamProgress
from fraudlake.producer.encoders import make_encoder
from fraudlake.producer.kafka_producer import (
    Pacing,
    ProducerError,
    ProducerSettings,
    StopRequested,
    TopicWriter,
    make_producer,
)
from fraudlake.producer.sources import Source
from fraudlake.schemas import ALL_RECORDS

STREAM_ORDER = ("users", "cards", "transactions")  # reference data first: consumers can join at once
_SAVE_EVERY_S = 0.5
EXIT_OK, EXIT_UNDELIVERED, EXIT_INTERRUPTED = 0, 1, 130


class Reporter(Protocol):
    def update(self, stream: str, progress: StreamProgress, total: int | None) -> None: ...


@dataclass
class RunResult:
    streams: dict[str, StreamProgress]
    checkpoint: Checkpoint
    interrupted: bool
    elapsed: float
    broker_errors: list[str] = field(default_factory=list)

    @property
    def undelivered(self) -> int:
        return sum(p.failed for p in self.streams.values())

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_UNDELIVERED if self.undelivered or not self.checkpoint.complete else EXIT_OK


class ProduceRun:
    def __init__(
        self,
        settings: ProducerSettings,
        topics: dict[str, str],
        source: Source,
        *,
        state_file: Path | None = None,
        resume: bool = False,
        value_format: str = "connect-json",
        schema_registry: str | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        unknown = set(topics) - set(STREAM_ORDER)
        if unknown:
            raise ProducerError(f"cannot produce stream(s) {', '.join(sorted(unknown))}")
        self.settings, self.topics, self.source = settings, topics, source
        self.state_file, self.reporter = state_file, reporter
        self.encoders = {
            s: make_encoder(value_format, ALL_RECORDS[s], t, schema_registry) for s, t in topics.items()
        }
        self.checkpoint = self._initial_checkpoint(resume)
        self.trackers = {s: DeliveryTracker(self.checkpoint.delivered_through.get(s, 0)) for s in topics}
        self._start = dict(self.checkpoint.delivered_through)
        self._broker_errors: list[str] = []
        self._last_save = 0.0
        self._stop = threading.Event()

    def request_stop(self) -> bool:
        """Ask the run to stop at the next safe point and flush; False if it was already asked."""
        asked = self._stop.is_set()
        self._stop.set()
        return not asked

    def _initial_checkpoint(self, resume: bool) -> Checkpoint:
        fresh = Checkpoint(source=self.source.fingerprint)
        if not resume:
            return fresh
        if self.state_file is None or not self.state_file.exists():
            raise ProducerError(
                f"--resume needs the state file of the earlier run ({self.state_file} not found)"
            )
        saved = Checkpoint.load(self.state_file)
        if saved.source != self.source.fingerprint:
            raise ProducerError(f"{self.state_file} belongs to another source: {saved.source}")
        return saved

    def run(self) -> RunResult:
        started = time.monotonic()
        producer = make_producer(self.settings, on_error=lambda err: self._broker_errors.append(str(err)))
        pacing = Pacing.from_settings(self.settings)
        interrupted = finished = False
        try:
            for stream in (s for s in STREAM_ORDER if s in self.topics):
                # Pacing shapes the transaction stream; reference data goes at full speed.
                writer = TopicWriter(
                    producer,
                    self.topics[stream],
                    ALL_RECORDS[stream],
                    self.trackers[stream],
                    pacing if stream == "transactions" else Pacing(),
                    self.settings.chunk_records,
                    self.encoders[stream],
                )
                writer.on_chunk = functools.partial(self._after_chunk, stream)
                writer.stop_requested = self._stop.is_set
                self._send_stream(stream, writer)
            finished = True
        except (StopRequested, KeyboardInterrupt):
            interrupted = True
        finally:
            # However the run ends (an error in the source or an encoder included), what is queued
            # is delivered and the checkpoint says so: a --resume neither loses nor repeats records.
            self._drain(producer)
            self.checkpoint.complete = finished and not any(t.progress.failed for t in self.trackers.values())
            self._save(force=True)
        return RunResult(
            {s: t.progress for s, t in self.trackers.items()},
            self.checkpoint,
            interrupted,
            time.monotonic() - started,
            self._broker_errors,
        )

    def _tables(self, stream: str) -> Iterator[pa.Table]:
        if stream == "users":
            return iter([self.source.users])
        if stream == "cards":
            return iter([self.source.cards])
        return self.source.open_transactions()

    def _send_stream(self, stream: str, writer: TopicWriter) -> None:
        """Send the stream's records from the checkpoint on (earlier ones are already in Kafka)."""
        resume_at = self.trackers[stream].checkpoint
        seq = 0
        for table in self._tables(stream):
            end = seq + table.num_rows
            if end > resume_at:
                skip = max(0, resume_at - seq)
                writer.send(table.slice(skip), seq + skip)
            seq = end

    def _drain(self, producer: Any) -> None:
        """Flush what is queued (Ctrl-C included); a second Ctrl-C gives up waiting."""
        try:
            remaining = producer.flush(self.settings.delivery_timeout_ms / 1000 + 5)
        except KeyboardInterrupt:
            remaining = len(producer)
        for stream, tracker in self.trackers.items():
            tracker.settle()
            if remaining:
                tracker.abandon_unacknowledged()
            self._report(stream)

    def _after_chunk(self, stream: str) -> None:
        self._report(stream)
        self._save()

    def _report(self, stream: str) -> None:
        if self.reporter is not None:
            total = (
                self.source.total_transactions if stream == "transactions" else self._reference_rows(stream)
            )
            remaining = None if total is None else total - self._start.get(stream, 0)
            self.reporter.update(stream, self.trackers[stream].progress, remaining)

    def _reference_rows(self, stream: str) -> int:
        return (self.source.users if stream == "users" else self.source.cards).num_rows

    def _save(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.state_file is None or (not force and now - self._last_save < _SAVE_EVERY_S):
            return
        self.checkpoint.delivered_through = {s: t.checkpoint for s, t in self.trackers.items()}
        self.checkpoint.save(self.state_file)
        self._last_save = now
