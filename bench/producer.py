"""Producer benchmark: generator rows/s, and our Kafka producer vs Kafka's own ProducerPerformance.

Both producers send the same records to the same local broker with the same settings (acks=all,
idempotence, compression, linger, batch size): ProducerPerformance replays our encoded messages
from a payload file, so record size and compressibility are identical. Runs alternate (ours,
reference, ours, …) so drift in machine load hits both; medians are reported with the ratio.

    uv run python bench/producer.py                     # starts a throw-away local Kafka
    uv run python bench/producer.py --bootstrap HOST:PORT --records 500000 --runs 5

Writes bench/results/producer.json (and a timestamped copy). Goals: generator ≥ 500k rows/s,
our records/s ≥ 0.7 × ProducerPerformance's.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow as pa

from fraudlake.producer.delivery import DeliveryTracker
from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator
from fraudlake.producer.kafka_producer import (
    Pacing,
    ProducerSettings,
    TopicWriter,
    ensure_topics,
    make_producer,
)
from fraudlake.schemas import TRANSACTIONS
from fraudlake.schemas.envelope import JsonEncoder

RESULTS = Path(__file__).resolve().parent / "results"
BENCH_KEY = b"benchmark-only-token-key-000000"
_PERF_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")


def bench_generator(rows: int, runs: int) -> dict:
    """Rows/s of `chunks()` (the population is built once per run, outside the timing)."""
    rates, cpu = [], []
    for run in range(runs):
        generator = TransactionGenerator(GeneratorConfig(seed=run, rows=rows), token_key=BENCH_KEY)
        wall, started_cpu = time.perf_counter(), time.process_time()
        produced = sum(chunk.num_rows for chunk in generator.chunks())
        rates.append(produced / (time.perf_counter() - wall))
        cpu.append(produced / (time.process_time() - started_cpu))
    return {
        "rows": rows,
        "runs": runs,
        "rows_per_s": rates,
        "median_rows_per_s": statistics.median(rates),
        "median_rows_per_cpu_s": statistics.median(cpu),
    }


def run_ours(bootstrap: str, tables: list[pa.Table], settings: ProducerSettings, partitions: int) -> dict:
    topic = f"bench.ours.{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic], partitions)
    producer = make_producer(settings)
    tracker = DeliveryTracker()
    writer = TopicWriter(
        producer, topic, TRANSACTIONS, tracker, Pacing(), settings.chunk_records, JsonEncoder(TRANSACTIONS)
    )
    started = time.perf_counter()
    seq = 0
    for table in tables:
        writer.send(table, seq)
        seq += table.num_rows
    producer.flush(120)
    tracker.settle()
    elapsed = time.perf_counter() - started
    progress = tracker.progress
    assert progress.delivered == seq, progress
    assert progress.failed == 0, progress
    return {
        "records": seq,
        "seconds": elapsed,
        "records_per_s": seq / elapsed,
        "mb_per_s": progress.bytes / elapsed / 1e6,
        "avg_record_bytes": progress.bytes / seq,
    }


def run_reference(
    bootstrap: str, records: int, payload_file: Path, settings: ProducerSettings, partitions: int
) -> dict:
    from fraudlake.local.stack.services.kafka import kafka_java_command

    topic = f"bench.ref.{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [topic], partitions)
    props = [
        f"bootstrap.servers={bootstrap}",
        "acks=all",
        "enable.idempotence=true",
        f"compression.type={settings.compression}",
        f"linger.ms={settings.linger_ms}",
        f"batch.size={settings.batch_bytes}",
        "max.in.flight.requests.per.connection=5",
    ]
    argv = kafka_java_command(
        "org.apache.kafka.tools.ProducerPerformance",
        [
            "--topic",
            topic,
            "--num-records",
            str(records),
            "--throughput",
            "-1",
            "--payload-file",
            str(payload_file),
            "--payload-delimiter",
            "\n",
            "--producer-props",
            *props,
        ],
        heap="512m",
    )
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=900).stdout
    sent, rate, mbps = _PERF_LINE.findall(out)[-1]
    return {"records": int(sent), "records_per_s": float(rate), "mb_per_s": float(mbps)}


def bench_kafka(bootstrap: str, records: int, runs: int, compression: str, partitions: int) -> dict:
    generator = TransactionGenerator(GeneratorConfig(seed=99, rows=records), token_key=BENCH_KEY)
    tables = list(generator.chunks())
    payloads = JsonEncoder(TRANSACTIONS).encode(tables[0])[:10_000]
    with tempfile.TemporaryDirectory() as tmp:
        payload_file = Path(tmp) / "payloads.txt"
        payload_file.write_text("\n".join(payloads))  # JSON escapes newlines: one message per line
        settings = ProducerSettings(bootstrap=bootstrap, compression=compression)
        ours, reference = [], []
        for run in range(runs):
            ours.append(run_ours(bootstrap, tables, settings, partitions))
            reference.append(run_reference(bootstrap, records, payload_file, settings, partitions))
            print(
                f"run {run + 1}/{runs}: ours {ours[-1]['records_per_s']:,.0f} rec/s, "
                f"ProducerPerformance {reference[-1]['records_per_s']:,.0f} rec/s",
                flush=True,
            )
    med = {
        name: statistics.median(r["records_per_s"] for r in results)
        for name, results in (("ours", ours), ("reference", reference))
    }
    med_mb = {
        name: statistics.median(r["mb_per_s"] for r in results)
        for name, results in (("ours", ours), ("reference", reference))
    }
    return {
        "records": records,
        "runs": runs,
        "compression": compression,
        "partitions": partitions,
        "acks": "all",
        "idempotence": True,
        "linger_ms": settings.linger_ms,
        "batch_bytes": settings.batch_bytes,
        "avg_record_bytes": statistics.median(r["avg_record_bytes"] for r in ours),
        "ours": ours,
        "producer_performance": reference,
        "median_records_per_s": med,
        "median_mb_per_s": med_mb,
        "ratio_records_per_s": med["ours"] / med["reference"],
    }


def _local_kafka(stack_dir: Path) -> str:
    from fraudlake.local.stack import manager
    from fraudlake.local.stack.service import StackContext

    return manager.up(StackContext(stack_dir), ["kafka"])["kafka"].endpoints["bootstrap"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", help="an existing broker (default: start a throw-away local Kafka)")
    parser.add_argument("--generator-rows", type=int, default=2_000_000)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compression", default="lz4", choices=["lz4", "zstd"])
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--skip-kafka", action="store_true", help="only the generator")
    args = parser.parse_args()

    result: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    result["generator"] = bench_generator(args.generator_rows, args.runs)
    print(
        f"generator: {result['generator']['median_rows_per_s']:,.0f} rows/s "
        f"(median of {args.runs}; {result['generator']['median_rows_per_cpu_s']:,.0f} rows per CPU-second)"
    )
    if not args.skip_kafka:
        with tempfile.TemporaryDirectory(prefix="fraudlake-bench-") as stack_dir:
            try:
                bootstrap = args.bootstrap or _local_kafka(Path(stack_dir))
                result["kafka"] = bench_kafka(
                    bootstrap, args.records, args.runs, args.compression, args.partitions
                )
            finally:
                if not args.bootstrap:
                    from fraudlake.local.stack import manager
                    from fraudlake.local.stack.service import StackContext

                    manager.down(StackContext(Path(stack_dir)))
        kafka = result["kafka"]
        rps, mbps = kafka["median_records_per_s"], kafka["median_mb_per_s"]
        print(
            f"producer ({kafka['avg_record_bytes']:.0f}-byte records, acks=all, {args.compression}): "
            f"ours {rps['ours']:,.0f} rec/s {mbps['ours']:.1f} MB/s; "
            f"ProducerPerformance {rps['reference']:,.0f} rec/s {mbps['reference']:.1f} MB/s; "
            f"ratio {kafka['ratio_records_per_s']:.2f} (goal >= 0.7)"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2)
    (RESULTS / "producer.json").write_text(text)
    (RESULTS / f"producer-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text)
    print(f"results: {RESULTS / 'producer.json'}")


if __name__ == "__main__":
    main()
