"""ProduceRun without a broker: however a run ends, queued records are delivered and checkpointed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from fraudlake.producer import produce_run
from fraudlake.producer.delivery import Checkpoint
from fraudlake.producer.kafka_producer import ProducerSettings
from fraudlake.producer.produce_run import ProduceRun
from fraudlake.producer.sources import Source

pytestmark = pytest.mark.unit


class QueueingProducer:
    """Holds every message until flush(), as librdkafka does with a long linger: only a flush
    delivers what is queued when the run stops."""

    def __init__(self) -> None:
        self.queued: list[Callable[[Any, Any], None]] = []
        self.delivered = 0

    def produce(
        self, topic: str, value: Any, key: str, on_delivery: Callable[[Any, Any], None], headers: Any = None
    ) -> None:
        self.queued.append(on_delivery)

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        for callback in self.queued:
            callback(None, None)
        self.delivered += len(self.queued)
        self.queued = []
        return 0

    def __len__(self) -> int:
        return len(self.queued)


class SourceBrokeError(RuntimeError):
    pass


def test_an_error_mid_run_still_flushes_and_saves_the_checkpoint(
    generated: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    producer = QueueingProducer()
    monkeypatch.setattr(produce_run, "make_producer", lambda settings, on_error=None: producer)
    good = generated.table.slice(0, 1_200)

    def transactions() -> Iterator[pa.Table]:
        yield good
        raise SourceBrokeError("the CSV disappeared")

    source = Source({"kind": "test"}, generated.generator.users, generated.generator.cards, transactions)
    state = tmp_path / "state.json"
    run = ProduceRun(ProducerSettings("127.0.0.1:9", chunk_records=500), {"transactions": "t"}, source,
                     state_file=state)  # fmt: skip

    with pytest.raises(SourceBrokeError):
        run.run()

    assert producer.delivered == good.num_rows, "what was queued was flushed, not dropped"
    saved = Checkpoint.load(state)
    assert saved.delivered_through == {"transactions": good.num_rows}
    assert saved.complete is False
