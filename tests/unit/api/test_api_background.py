"""The API's background threads (sinks, feed, model watcher) share `BackgroundThread`: a sink's queue is
bounded and counts what it drops, `stop()` writes what is queued, and any of them stops cleanly."""

from __future__ import annotations

import threading

import pytest

from fraudlake.api.feed import TransactionFeed
from fraudlake.api.metrics import ApiMetrics
from fraudlake.api.sinks import BackgroundWriter
from fraudlake.common.background import BackgroundThread
from fraudlake.ml.registry import MemoryStore, ModelRegistry
from fraudlake.scoring.bundle import ModelWatcher

pytestmark = pytest.mark.unit


def dropped(metrics: ApiMetrics, sink: str) -> float:
    return metrics.registry.get_sample_value("fraudlake_api_sink_dropped_total", {"sink": sink}) or 0.0


def test_a_full_sink_queue_drops_and_counts_instead_of_blocking() -> None:
    metrics = ApiMetrics()
    writer = BackgroundWriter("predictions", lambda batch: None, metrics, queue_size=2)
    assert [writer.submit(n) for n in range(3)] == [True, True, False]
    assert dropped(metrics, "predictions") == 1


def test_stop_writes_everything_queued_in_bounded_batches() -> None:
    batches: list[list[int]] = []
    writer = BackgroundWriter("alerts", batches.append, ApiMetrics(), queue_size=100, batch_size=3)
    for n in range(10):
        writer.submit(n)
    writer.start()
    writer.stop()
    assert [n for batch in batches for n in batch] == list(range(10))
    assert max(len(batch) for batch in batches) <= 3
    assert not writer._thread.is_alive()


def test_a_failed_write_drops_and_counts_its_batch_and_the_writer_goes_on() -> None:
    metrics, written = ApiMetrics(), []
    first_failed = threading.Event()

    def write(batch: list[int]) -> None:
        if not first_failed.is_set():
            first_failed.set()
            raise ConnectionError("ClickHouse is down")
        written.extend(batch)

    writer = BackgroundWriter("predictions", write, metrics, batch_size=2)
    writer.submit(1)
    writer.submit(2)
    writer.start()
    assert first_failed.wait(10)
    writer.submit(3)
    writer.stop()
    assert dropped(metrics, "predictions") == 2
    assert written == [3]


@pytest.mark.parametrize(
    "make",
    [
        lambda: BackgroundWriter("predictions", lambda batch: None, ApiMetrics()),
        lambda: TransactionFeed("127.0.0.1:1", "transactions", lambda record: None),
        lambda: ModelWatcher(lambda: ModelRegistry(MemoryStore(), "models"), "memory", 3600),
    ],
)
def test_every_api_thread_is_a_background_thread_that_stops_started_or_not(make) -> None:
    never_started, started = make(), make()
    assert isinstance(started, BackgroundThread)
    never_started.stop()  # an app whose start-up failed still stops cleanly
    started.start()
    started.stop()
    started.stop()  # a second stop (the lifespan after a test's own stop) is harmless
    assert not started._thread.is_alive()
