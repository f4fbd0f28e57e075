"""Delivery accounting and the resume checkpoint.

Records are produced in chunks that cover a contiguous range of the source's sequence numbers.
Every message of a chunk shares one `ChunkAck` as its delivery callback, which costs one attribute
update per message instead of a closure. The checkpoint is the end of the longest prefix of
chunks whose every message was acknowledged by the broker (acks=all): everything below it is
durably in Kafka. A killed producer may have delivered a little more than its checkpoint says;
resuming from the checkpoint re-sends that tail (at-least-once; `txn_id` deduplicates downstream)
and can never skip a record that was not delivered.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class ChunkAck:
    """Delivery callback shared by the messages of one chunk [start, end)."""

    __slots__ = ("end", "failed", "first_error", "pending", "start")

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end
        self.pending = end - start
        self.failed = 0
        self.first_error: str | None = None

    def __call__(self, err: Any, _msg: Any) -> None:
        # Failure first: if anything interrupts this callback midway, the chunk stays pending and
        # is counted as undelivered, never as delivered.
        if err is not None:
            self.failed += 1
            if self.first_error is None:
                self.first_error = str(err)
        self.pending -= 1


@dataclass
class StreamProgress:
    """What one stream (topic) has done so far in this run."""

    produced: int = 0
    delivered: int = 0
    failed: int = 0
    bytes: int = 0
    first_error: str | None = None
    started_at: float | None = None  # monotonic time of the first produce in this run
    last_at: float | None = None  # … and of the latest chunk

    @property
    def seconds(self) -> float:
        return max((self.last_at or 0.0) - (self.started_at or 0.0), 1e-6)


class DeliveryTracker:
    """Chunks in flight for one stream, in sequence order; computes the contiguous checkpoint."""

    def __init__(self, start: int = 0) -> None:
        self.checkpoint = start  # every record with sequence < checkpoint is delivered
        self.progress = StreamProgress()
        self._in_flight: deque[ChunkAck] = deque()
        self._blocked = False  # a failed chunk: the checkpoint can never pass it in this run

    def open_chunk(self, start: int, end: int) -> ChunkAck:
        ack = ChunkAck(start, end)
        self._in_flight.append(ack)
        return ack

    def settle(self) -> None:
        """Fold acknowledged chunks into the counters and advance the checkpoint."""
        while self._in_flight and self._in_flight[0].pending == 0:
            ack = self._in_flight.popleft()
            self.progress.delivered += (ack.end - ack.start) - ack.failed
            self.progress.failed += ack.failed
            if ack.failed:
                self._blocked = True
                self.progress.first_error = self.progress.first_error or ack.first_error
            elif not self._blocked:
                self.checkpoint = ack.end

    @property
    def outstanding(self) -> int:
        return sum(ack.pending for ack in self._in_flight)

    def abandon_unacknowledged(self) -> None:
        """After a final flush that timed out: count what never got a delivery report as failed."""
        self.settle()
        for ack in self._in_flight:
            self.progress.delivered += (ack.end - ack.start) - ack.pending - ack.failed
            self.progress.failed += ack.pending + ack.failed
            self.progress.first_error = self.progress.first_error or ack.first_error or "no delivery report"
        if self._in_flight:
            self._blocked = True
        self._in_flight.clear()


@dataclass
class Checkpoint:
    """The producer's state file: which source, and how far each stream is durably delivered."""

    source: dict[str, Any]
    delivered_through: dict[str, int] = field(default_factory=dict)  # stream → first undelivered sequence
    complete: bool = False
    updated_at: float = 0.0

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        """Write atomically (temp file + fsync + rename): a kill never leaves half a checkpoint."""
        self.updated_at = time.time()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w") as fh:
            json.dump(asdict(self), fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
