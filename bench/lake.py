"""Lake benchmark: the lake_to_clickhouse DAG's load rate vs a bare INSERT … SELECT FROM s3(), and
produce → queryable latency at the default flush settings.

Throughput: the producer sends --rows transactions, the Kafka Connect S3 sink writes them to MinIO
(spec-default object size), then each run loads the same objects into a fresh database twice:
once with a bare ``INSERT INTO … SELECT … FROM s3('…/*.parquet')`` (the reference: ClickHouse
alone, no checks, no ledger) and once with the DAG (``dag.test()`` in this process: listing,
ledger, data-quality checks, exactly-once filter, verification). The order alternates between
runs so drift in machine load hits both; medians are reported with ratios. The DAG's rate is given
three ways: its load task alone, its three tasks together, and the whole ``dag.test()`` wall time
(which adds Airflow's own run bookkeeping). Goal: DAG tasks ≥ 0.7 × bare.

Latency: a pipeline with the spec's default flush settings (objects of up to 10,000 records, flush
interval 60 s); --latency-rows transactions are produced and the DAG is run as soon as the sink has
committed them; reported from the start of producing to rows queryable in ClickHouse, with the
parts (produce, sink flush, DAG).

    uv run python bench/lake.py                            # throw-away local stack
    uv run python bench/lake.py --stack-dir .fraudlake/stack --rows 500000 --runs 3

Writes bench/results/lake.json (and a timestamped copy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fraudlake.clickhouse.client import connect
from fraudlake.clickhouse.migrations import SchemaParams, apply_schema, render_statements
from fraudlake.lake.runtime import Interval
from fraudlake.lake.targets import TARGETS
from fraudlake.local.roundtrip import harness
from fraudlake.local.roundtrip.harness import LocalLake
from fraudlake.local.stack import manager
from fraudlake.local.stack.service import StackContext

RESULTS = Path(__file__).resolve().parent / "results"


def with_database(lake: LocalLake, database: str) -> LocalLake:
    """The same lake loaded into another (fresh) database."""
    clickhouse = lake.spec.clickhouse.model_copy(update={"database": database})
    return LocalLake(
        lake.namespace, lake.pipeline, lake.spec.model_copy(update={"clickhouse": clickhouse}), lake.services
    )


def fresh_database(lake: LocalLake, kind: str, run: int) -> LocalLake:
    target = with_database(lake, f"bench_{kind}_{run}_{uuid.uuid4().hex[:6]}")
    apply_schema(connect(lake.dsn), render_statements(SchemaParams(target.database)))
    return target


def bare_load(lake: LocalLake) -> float:
    """Seconds for ClickHouse alone to load every transactions object of the lake (one glob insert)."""
    target = TARGETS["transactions"]
    store = lake.store()
    glob = store.object_url(f"{store.prefix}/raw/{lake.topic('transactions')}/*.parquet")
    client = connect(lake.dsn)
    started = time.perf_counter()
    client.command(
        f"INSERT INTO {lake.database}.transactions ({', '.join(target.columns())}) "
        f"SELECT {', '.join(target.select_expressions())} FROM {store.s3_table_function(glob)}",
        settings={"use_structure_from_insertion_table_in_table_functions": 0},
    )
    return time.perf_counter() - started


def rows_in(lake: LocalLake) -> int:
    return int(connect(lake.dsn).query(f"SELECT count() FROM {lake.database}.transactions").result_rows[0][0])


def bench_throughput(services: dict, rows: int, runs: int, seed: int) -> dict:
    lake = harness.local_lake(services, f"bench-{uuid.uuid4().hex[:6]}")
    harness.provision(lake)
    source, transactions = harness.generate(rows, seed)
    started = datetime.now(UTC)
    produced = harness.produce(lake, source, transactions, streams=("transactions",))
    flush_seconds = harness.wait_for_sink(lake, timeout=1800)
    harness.stop_sink(lake)
    interval = harness.interval_around(started)
    objects = len(lake.store().list_objects([lake.topic("transactions")], interval.start, interval.end))
    # The first dag.test() of a process pays once for Airflow's in-process API set-up: warm it up.
    before = Interval(started - timedelta(seconds=2), started - timedelta(seconds=1))  # holds no objects
    harness.run_lake_dag(fresh_database(lake, "warmup", 0), before)

    bare, load_task, dag_tasks, dag_wall = [], [], [], []
    for run in range(runs):
        for kind in ("bare", "dag") if run % 2 == 0 else ("dag", "bare"):
            target = fresh_database(lake, kind, run)
            if kind == "bare":
                bare.append(rows / bare_load(target))
            else:
                outcome = harness.run_lake_dag(target, interval)
                if outcome.state != "success":
                    raise SystemExit(f"DAG run failed: {outcome.task_states}")
                load_task.append(rows / outcome.task_seconds["load_objects"])
                dag_tasks.append(rows / sum(outcome.task_seconds.values()))
                dag_wall.append(rows / outcome.seconds)
            loaded = rows_in(target)
            if loaded != len(produced.txn_ids):
                raise SystemExit(f"{kind} run {run} loaded {loaded} rows, produced {len(produced.txn_ids)}")
    reference = statistics.median(bare)
    return {
        "rows": rows,
        "objects": objects,
        "runs": runs,
        "sink_flush_seconds": flush_seconds,
        "bare_rows_per_s": bare,
        "dag_load_task_rows_per_s": load_task,
        "dag_tasks_rows_per_s": dag_tasks,
        "dag_test_wall_rows_per_s": dag_wall,
        "median_bare_rows_per_s": reference,
        "median_dag_load_task_rows_per_s": statistics.median(load_task),
        "median_dag_tasks_rows_per_s": statistics.median(dag_tasks),
        "median_dag_test_wall_rows_per_s": statistics.median(dag_wall),
        "ratio_load_task_vs_bare": statistics.median(load_task) / reference,
        "ratio_dag_tasks_vs_bare": statistics.median(dag_tasks) / reference,
        "ratio_dag_test_wall_vs_bare": statistics.median(dag_wall) / reference,
        "goal_ratio_dag_tasks": 0.7,
    }


def bench_latency(services: dict, rows: int, runs: int, seed: int) -> dict:
    """Produce → queryable with the spec's default flush settings (one fresh pipeline per run)."""
    source, transactions = harness.generate(rows * runs, seed)
    samples = []
    for run in range(runs):
        lake = harness.local_lake(services, f"bench-lat-{uuid.uuid4().hex[:6]}")
        harness.provision(lake)
        time.sleep(5)  # let the new connector's task start before the clock runs
        started, clock = datetime.now(UTC), time.perf_counter()
        produced = harness.produce(lake, source, transactions.slice(run * rows, rows), ("transactions",))
        acked = time.perf_counter()
        harness.wait_for_sink(lake, timeout=600)
        flushed = time.perf_counter()
        outcome = harness.run_lake_dag(lake, harness.interval_around(started))
        queryable = time.perf_counter()
        harness.stop_sink(lake)
        comparison = harness.compare(lake, produced.txn_ids)
        if outcome.state != "success" or not comparison.exact:
            raise SystemExit(f"latency run {run}: {outcome.task_states} {comparison}")
        samples.append(
            {
                "produce_s": acked - clock,
                "sink_flush_s": flushed - acked,
                "dag_s": queryable - flushed,
                "total_s": queryable - clock,
            }
        )
    return {
        "rows_per_run": rows,
        "runs": runs,
        "flush": {"maxRecords": 10_000, "intervalSeconds": 60, "worker offset.flush.interval.ms": 5000},
        "samples": samples,
        "median_total_s": statistics.median(s["total_s"] for s in samples),
        "median_sink_flush_s": statistics.median(s["sink_flush_s"] for s in samples),
        "median_dag_s": statistics.median(s["dag_s"] for s in samples),
    }


def summary(result: dict) -> str:
    throughput, latency = result["throughput"], result["latency"]
    dag, bare = throughput["median_dag_tasks_rows_per_s"], throughput["median_bare_rows_per_s"]
    return (
        f"DAG tasks {dag:,.0f} rows/s vs bare INSERT … s3() {bare:,.0f} rows/s: ratio "
        f"{throughput['ratio_dag_tasks_vs_bare']:.2f} (goal ≥ 0.7); produce → queryable median "
        f"{latency['median_total_s']:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--stack-dir", type=Path, help="use (and keep) this local stack; default: a temporary one"
    )
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-rows", type=int, default=1_000)
    parser.add_argument("--latency-runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    temporary = args.stack_dir is None
    ctx = StackContext(args.stack_dir or Path(tempfile.mkdtemp(prefix="fraudlake-bench-lake-")))
    try:
        services = manager.up(ctx, list(harness.SERVICES))
        result: dict = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "throughput": bench_throughput(services, args.rows, args.runs, args.seed),
            "latency": bench_latency(services, args.latency_rows, args.latency_runs, args.seed + 1),
        }
    finally:
        if temporary:
            manager.down(ctx)
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(result, indent=2)
    (RESULTS / "lake.json").write_text(text + "\n")
    (RESULTS / f"lake-{datetime.now(UTC):%Y%m%dT%H%M%S}.json").write_text(text + "\n")
    print(text)
    print(summary(result))


if __name__ == "__main__":
    main()
