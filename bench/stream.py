"""Stream scorer benchmark: throughput and latency through Kafka, in-process batch scoring, state memory.

- Throughput: N transactions produced up front to a 4-partition topic; one `fraudlake scorer run`
  process (Quix Streams, exactly-once) decides them; transactions/s over the committed decisions'
  timestamps (read_committed). References, same broker, same run: a bare confluent-kafka consume →
  produce pass-through in Kafka transactions (batches of 1,000), the physical limit; and the engine's
  own pass-through (the scorer's Quix set-up forwarding each message unchanged), its ceiling. Goal
  ≥ 10,000 tx/s and ratio ≥ 0.5 against the bare pass-through.
- Latency: transactions produced at a fixed rate (2,000 tx/s), the scorer checkpointing every 20 ms
  (`--commit-interval`); produce timestamp → the decision's arrival at a read_committed reader.
  Goal p50 ≤ 20 ms, p99 ≤ 100 ms.
- Batch: `score_transactions` of 10,000 transactions in one call (features + model + reasons for
  flagged rows), against XGBoost `inplace_predict` of the same 10,000 ready rows. Goal ≥ 200,000 tx/s.
- Shadow: what scoring a challenger in shadow beside the champion costs (goal ≤ 1.3× the single-model
  cost). In process: `CardScorer.decide` on checkpoints of 1,000 messages with and without a challenger,
  alternating. Through Kafka: two scorer processes, one with the registry's challenger and one with
  `--no-shadow`, each deciding its own copy of the same transactions; ratio of their rates.
- Memory: RSS of a fresh process holding what a scorer holds (model, engine, scoring core) and its
  online state (`ServingState`) for 1,000,000 cards. Goal ≤ 1 GB.

Medians of `--runs` runs; the load average is recorded. Starts its own Kafka (the local stack) in a
temporary folder. Writes bench/results/stream.json (and a timestamped copy).

    uv run python bench/stream.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DEFAULT_PARTS = "batch,throughput,latency,shadow,memory"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "unit" / "stream"))


def _model(workdir: Path) -> tuple[dict[str, bytes], Any, Path]:
    from model_kit import BENCH, trained_model

    from fraudlake.ml.registry import LocalStore, ModelRegistry

    files, frame = trained_model(BENCH)
    ModelRegistry(LocalStore(workdir / "lake"), "models").publish(files)
    return files, frame, workdir / "lake" / "models"


def _messages(frame: Any, count: int) -> list[tuple[str, bytes]]:
    from model_kit import frame_records
    from stream_kit import transaction_message

    records = frame_records(frame, max(0, len(frame) - count))
    while len(records) < count:  # more than the frame holds: repeat it under new ids
        records += [r | {"txn_id": f"{r['txn_id']}-{len(records)}"} for r in records[: count - len(records)]]
    return [transaction_message(r) for r in records]


def _committed_rate(bootstrap: str, topic: str, expected: int, timeout: float) -> tuple[float, int]:
    """(records/s, count) of the committed records a read_committed reader finds in `topic`.

    The rate is measured on the records' timestamps, first to last: `topic` is created with
    LogAppendTime (`_output_topic`), so each is the broker's clock when the record arrived, the
    writer's pace whatever the reader's. (Timing the reader would measure how fast it drains a topic
    already written; producers' CreateTime may be copied from the input, as Quix does.)
    """
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"b-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    seen, first, last, deadline = 0, float("inf"), 0.0, time.monotonic() + timeout
    try:
        while seen < expected and time.monotonic() < deadline:
            stamps = [m.timestamp()[1] for m in consumer.consume(1000, 0.5) if not m.error()]
            if stamps:
                first, last, seen = min(first, *stamps), max(last, *stamps), seen + len(stamps)
    finally:
        consumer.close()
    return ((seen - 1) * 1000 / (last - first) if last > first else 0.0), seen


def _output_topic(bootstrap: str, topic: str, partitions: int = 4) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = NewTopic(topic, partitions, 1, config={"message.timestamp.type": "LogAppendTime"})
    for future in admin.create_topics([new]).values():
        future.result(30)


def _engine_passthrough(bootstrap: str, source: str, target: str, state_dir: str) -> None:
    """The engine's own ceiling: the scorer's Quix set-up (exactly-once, a stateful step per message,
    the same checkpoints) forwarding each message unchanged. Runs until SIGTERM."""
    from quixstreams import Application

    app = Application(
        broker_address=bootstrap,
        consumer_group=f"qpt-{uuid.uuid4().hex}",
        processing_guarantee="exactly-once",
        commit_interval=0.1,
        commit_every=1000,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        loglevel=None,
    )
    topic_in = app.topic(source, key_deserializer="str", value_deserializer="bytes")
    topic_out = app.topic(target, key_serializer="str", value_serializer="bytes")
    app.dataframe(topic_in).apply(lambda value, state: value, stateful=True).to_topic(topic_out)
    app.run()


def _passthrough(bootstrap: str, source: str, target: str, expected: int) -> None:
    """The reference: consume → produce in Kafka transactions of up to 1,000 messages, then stop."""
    from confluent_kafka import Consumer, Producer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"pt-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"pt-{uuid.uuid4().hex}", "linger.ms": 5}
    )
    producer.init_transactions()
    consumer.subscribe([source])
    moved = 0
    while moved < expected:
        batch = [m for m in consumer.consume(1000, 0.5) if not m.error()]
        if not batch:
            continue
        producer.begin_transaction()
        for m in batch:
            producer.produce(target, key=m.key(), value=m.value())
        producer.send_offsets_to_transaction(
            consumer.position(consumer.assignment()), consumer.consumer_group_metadata()
        )
        producer.commit_transaction()
        moved += len(batch)
    consumer.close()


def bench_throughput(
    bootstrap: str, frame: Any, model_dir: Path, workdir: Path, count: int
) -> dict[str, Any]:
    from stream_kit import ScorerProcess, create_topic, produce, topics_of

    messages = _messages(frame, count)
    pipeline = f"bench-{uuid.uuid4().hex[:8]}"
    topics = topics_of(pipeline)
    create_topic(bootstrap, topics["transactions"], 4)
    produce(bootstrap, topics["transactions"], messages)
    reference_target = f"{topics['transactions']}.passthrough"
    _output_topic(bootstrap, reference_target)
    thread = threading.Thread(
        target=_passthrough, args=(bootstrap, topics["transactions"], reference_target, count)
    )
    thread.start()
    reference, _ = _committed_rate(bootstrap, reference_target, count, 300)
    thread.join()
    engine_target = f"{topics['transactions']}.engine"
    _output_topic(bootstrap, engine_target)
    engine = multiprocessing.get_context("fork").Process(
        target=_engine_passthrough,
        args=(bootstrap, topics["transactions"], engine_target, str(workdir / f"qpt-{pipeline}")),
    )
    engine.start()
    try:
        engine_rate, _ = _committed_rate(bootstrap, engine_target, count, 600)
    finally:
        engine.terminate()
        engine.join(30)
    _output_topic(bootstrap, topics["decisions"])
    scorer = ScorerProcess(bootstrap, pipeline, model_dir, workdir, f"tp-{pipeline}").start()
    try:
        rate, seen = _committed_rate(bootstrap, topics["decisions"], count, 600)
    finally:
        scorer.stop()
    return {
        "scorer_tx_per_s": rate,
        "decided": seen,
        "passthrough_tx_per_s": reference,
        "ratio": rate / reference if reference else 0.0,
        "engine_passthrough_tx_per_s": engine_rate,
        "ratio_to_engine": rate / engine_rate if engine_rate else 0.0,
    }


def bench_latency(
    bootstrap: str,
    frame: Any,
    model_dir: Path,
    workdir: Path,
    rate: int,
    seconds: int,
    commit_interval: float,
) -> dict:
    from confluent_kafka import Consumer, Producer
    from stream_kit import ScorerProcess, create_topic, topics_of

    pipeline = f"lat-{uuid.uuid4().hex[:8]}"
    topics = topics_of(pipeline)
    create_topic(bootstrap, topics["transactions"], 4)
    extra = ("--commit-interval", str(commit_interval))
    scorer = ScorerProcess(bootstrap, pipeline, model_dir, workdir, f"lat-{pipeline}", extra).start()
    messages = _messages(frame, rate * seconds + 200)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "enable.idempotence": True})
    for key, value in messages[:200]:  # warm-up: the scorer joins, creates its topics, loads its state
        producer.produce(topics["transactions"], key=key.encode(), value=value)
    producer.flush(30)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"l-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topics["decisions"]])
    warm = 0
    while warm < 200:
        warm += len([m for m in consumer.consume(500, 1.0) if not m.error()])
    latencies: list[float] = []
    to_decision: list[float] = []  # produced → decided by the scorer (before its commit and the read)
    done = threading.Event()

    def read() -> None:
        while not done.is_set() or len(latencies) < rate * seconds:
            for m in consumer.consume(1000, 0.2):
                if not m.error():
                    decision = json.loads(m.value())
                    latencies.append(time.time() * 1000 - decision["produced_ms"])
                    to_decision.append(decision["decided_ms"] - decision["produced_ms"])
            if done.is_set() and time.monotonic() > stop_by:
                break

    stop_by = time.monotonic() + seconds + 60
    reader = threading.Thread(target=read)
    reader.start()
    start = time.monotonic()
    for i, (key, value) in enumerate(messages[200:]):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        producer.produce(topics["transactions"], key=key.encode(), value=value)
        producer.poll(0)
    producer.flush(30)
    done.set()
    reader.join()
    consumer.close()
    scorer.stop()
    ms = np.asarray(latencies)
    return {
        "rate": rate,
        "commit_interval_s": commit_interval,
        "decisions": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "decided_p50_ms": float(np.percentile(to_decision, 50)),
        "decided_p99_ms": float(np.percentile(to_decision, 99)),
    }


def bench_batch(files: dict[str, bytes], frame: Any, rows: int = 10_000) -> dict[str, Any]:
    import xgboost as xgb
    from model_kit import frame_records

    from fraudlake.ml.artifact import FraudModel
    from fraudlake.pipeline.spec import SEED_RULES
    from fraudlake.scoring.bundle import ModelBundle
    from fraudlake.scoring.core import score_transactions
    from fraudlake.scoring.models import TransactionIn
    from fraudlake.scoring.state import ServingState

    bundle = ModelBundle.load(FraudModel(files), "bench")
    txns = [TransactionIn.model_validate(r) for r in frame_records(frame, len(frame) - rows)]
    state = ServingState(bundle.model.feature_config, SEED_RULES)
    started = time.perf_counter()
    score_transactions(bundle, state, txns, "flagged")
    scoring = time.perf_counter() - started
    x = np.random.default_rng(0).random((rows, bundle.feature_count), dtype=np.float32)
    started = time.perf_counter()
    bundle.model.booster.inplace_predict(x, validate_features=False)
    predict = time.perf_counter() - started
    del xgb
    return {
        "rows": rows,
        "score_transactions_tx_per_s": rows / scoring,
        "inplace_predict_tx_per_s": rows / predict,
        "ratio_to_inplace_predict": predict / scoring,
    }


def _with_challenger(files: dict[str, bytes], workdir: Path) -> Path:
    """A registry holding the champion and, in shadow, the same trees under another version with another
    review threshold (the shadow path's cost does not depend on what the trees say)."""
    from model_kit import new_version

    from fraudlake.ml.registry import LocalStore, ModelRegistry

    registry = ModelRegistry(LocalStore(workdir / "lake-shadow"), "models")
    registry.publish(files)
    registry.set_challenger(registry.upload(new_version(files, "challenger", review=0.2)), "bench")
    return workdir / "lake-shadow" / "models"


def bench_shadow_batch(
    files: dict[str, bytes], frame: Any, count: int = 10_000, every: int = 1_000, rounds: int = 5
) -> dict[str, Any]:
    """Seconds to decide `count` messages in checkpoints of `every`, without and with a challenger,
    alternating for `rounds` rounds (medians); and, inside the shadowed runs, the share of the time spent
    on the challenger (immune to the machine's load drifting between runs)."""
    from model_kit import new_version

    from fraudlake.ml.artifact import FraudModel
    from fraudlake.pipeline.spec import SEED_RULES
    from fraudlake.scoring.bundle import ModelBundle
    from fraudlake.stream import engine
    from fraudlake.stream.engine import CardScorer
    from fraudlake.stream.metrics import ScorerMetrics

    champion = ModelBundle.load(FraudModel(files), "bench")
    challenger = ModelBundle.load(FraudModel(new_version(files, "challenger", review=0.2)), "bench")
    messages = _messages(frame, count)
    engine.message_context = lambda: type("Context", (), {"partition": 0, "offset": 0})  # type: ignore[assignment]

    class Store(dict):
        def set(self, key: str, value: Any) -> None:
            self[key] = value

    def run(shadow: bool) -> tuple[float, float]:
        """(total seconds, seconds in the challenger's part)."""
        scorer = CardScorer(
            lambda: champion,
            SEED_RULES,
            ScorerMetrics(),
            reasons="flagged",
            current_challenger=(lambda: challenger) if shadow else (lambda: None),
        )
        in_shadow = 0.0
        score_shadow = scorer._shadow

        def timed(*args: Any) -> Any:
            nonlocal in_shadow
            started = time.perf_counter()
            try:
                return score_shadow(*args)
            finally:
                in_shadow += time.perf_counter() - started

        scorer._shadow = timed  # type: ignore[method-assign]
        stores: dict[str, Store] = {}
        started = time.perf_counter()
        for first in range(0, len(messages), every):
            batch = [
                scorer.prepare(value, key, 0, None, stores.setdefault(key, Store()))
                for key, value in messages[first : first + every]
            ]
            scorer.decide(batch)
        return time.perf_counter() - started, in_shadow

    run(False)  # warm-up
    single, shadowed, parts = [], [], []
    for _ in range(rounds):
        single.append(run(False)[0])
        total, in_shadow = run(True)
        shadowed.append(total)
        parts.append(total / (total - in_shadow))
    return {
        "messages": len(messages),
        "single_tx_per_s": len(messages) / statistics.median(single),
        "shadow_tx_per_s": len(messages) / statistics.median(shadowed),
        "cost_ratio": statistics.median(shadowed) / statistics.median(single),
        "cost_ratio_within_run": statistics.median(parts),
    }


def bench_shadow_throughput(
    bootstrap: str, frame: Any, model_dir: Path, shadow_dir: Path, workdir: Path, count: int
) -> dict[str, Any]:
    """Committed decisions per second of a scorer with a challenger in shadow and of one without."""
    from stream_kit import ScorerProcess, create_topic, produce, topics_of

    messages = _messages(frame, count)
    rates = {}
    for name, models, extra in (("single", model_dir, ("--no-shadow",)), ("shadow", shadow_dir, ())):
        pipeline = f"bench-{name}-{uuid.uuid4().hex[:8]}"
        topics = topics_of(pipeline)
        create_topic(bootstrap, topics["transactions"], 4)
        produce(bootstrap, topics["transactions"], messages)
        _output_topic(bootstrap, topics["decisions"])
        scorer = ScorerProcess(bootstrap, pipeline, models, workdir, f"sh-{pipeline}", extra).start()
        try:
            rates[name], _ = _committed_rate(bootstrap, topics["decisions"], count, 600)
        finally:
            scorer.stop()
    return {
        "single_tx_per_s": rates["single"],
        "shadow_tx_per_s": rates["shadow"],
        "cost_ratio": rates["single"] / rates["shadow"] if rates["shadow"] else 0.0,
    }


def bench_memory(model_dir: Path, cards: int) -> dict[str, Any]:
    """RSS of a fresh process holding what a scorer holds (the served model loaded, the engine and
    scoring core imported), before and after feeding `cards` cards one transaction each into the
    scorer's online state (`ServingState`): the scorer's footprint, not this benchmark's."""
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(model_dir), str(cards)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


_MEMORY_PROBE = """
import json, sys

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

import fraudlake.stream.engine  # what the scorer imports
from fraudlake.ml.registry import LocalStore, ModelRegistry
from fraudlake.pipeline.spec import SEED_RULES
from fraudlake.scoring.bundle import ModelBundle
from fraudlake.scoring.state import ServingState

model_dir, cards = sys.argv[1], int(sys.argv[2])
registry = ModelRegistry(LocalStore(model_dir.rsplit("/", 1)[0]), model_dir.rsplit("/", 1)[1])
bundle = ModelBundle.load(registry.load(registry.champion()["version"]), "bench")
before = rss_mb()
state = ServingState(bundle.model.feature_config, SEED_RULES)
t0 = 1_546_300_800_000
for i in range(cards):
    state.observe({
        "txn_id": f"t{i}", "event_ms": t0 + i, "card_id": f"{i % 400_000}-{i}", "user_id": str(i % 400_000),
        "merchant_id": str(i % 50_000), "amount": 12.5, "mcc": 5411, "merchant_state": "CA",
        "use_chip": "Chip Transaction", "errors": None,
    })
after = rss_mb()
print(json.dumps({"cards": cards, "rss_mb_before": before, "rss_mb_after": after, "state_mb": after-before}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=100_000, help="transactions per throughput run")
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument(
        "--commit-interval",
        type=float,
        default=0.02,
        help="The scorer's checkpoint interval in the latency runs: decisions become visible per checkpoint.",
    )
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--parts", default=DEFAULT_PARTS)
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    from fraudlake.local.stack import manager
    from fraudlake.local.stack.service import StackContext

    load_before = os.getloadavg()
    result: dict[str, Any] = {
        "goals": {
            "throughput_tx_per_s": 10_000,
            "ratio": 0.5,
            "p50_ms": 20,
            "p99_ms": 100,
            "batch_tx_per_s": 200_000,
            "rss_mb": 1024,
            "shadow_cost_ratio": 1.3,
        }
    }
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        workdir = Path(tmp)
        files, frame, model_dir = _model(workdir)
        if "batch" in parts:
            runs = [bench_batch(files, frame) for _ in range(args.runs)]
            result["batch"] = _median(runs)
            print("batch", json.dumps(result["batch"]), flush=True)
        if "shadow" in parts:
            runs = [bench_shadow_batch(files, frame) for _ in range(args.runs)]
            result["shadow_batch"] = _median(runs) | {"runs": runs}
            print("shadow_batch", json.dumps(result["shadow_batch"]), flush=True)
        if parts & {"throughput", "latency", "shadow"}:
            ctx = StackContext(workdir / "stack")
            try:
                bootstrap = manager.up(ctx, ["kafka"])["kafka"].endpoints["bootstrap"]
                if "throughput" in parts:
                    runs = [
                        bench_throughput(bootstrap, frame, model_dir, workdir, args.count)
                        for _ in range(args.runs)
                    ]
                    result["throughput"] = _median(runs) | {"runs": runs}
                    print("throughput", json.dumps(result["throughput"]), flush=True)
                if "latency" in parts:
                    runs = [
                        bench_latency(
                            bootstrap,
                            frame,
                            model_dir,
                            workdir,
                            args.rate,
                            args.seconds,
                            args.commit_interval,
                        )
                        for _ in range(args.runs)
                    ]
                    result["latency"] = _median(runs) | {"runs": runs}
                    print("latency", json.dumps(result["latency"]), flush=True)
                if "shadow" in parts:
                    shadow_dir = _with_challenger(files, workdir)
                    runs = [
                        bench_shadow_throughput(bootstrap, frame, model_dir, shadow_dir, workdir, args.count)
                        for _ in range(args.runs)
                    ]
                    result["shadow_throughput"] = _median(runs) | {"runs": runs}
                    print("shadow_throughput", json.dumps(result["shadow_throughput"]), flush=True)
            finally:
                manager.down(ctx)
        if "memory" in parts:
            result["memory"] = bench_memory(model_dir, args.cards)
            print("memory", json.dumps(result["memory"]), flush=True)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    # A run of some parts only goes to its own file: stream.json stays one whole run.
    name = "stream" if parts == set(DEFAULT_PARTS.split(",")) else "stream-" + "-".join(sorted(parts))
    (RESULTS / f"{name}.json").write_text(text)
    (RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(text)
    print(text)


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        k: statistics.median(r[k] for r in runs) for k, v in runs[0].items() if isinstance(v, int | float)
    }


if __name__ == "__main__":
    main()
