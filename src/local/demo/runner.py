"""`fraudlake demo`: the platform end to end on the local stack, stage by stage.

1. stack     start Kafka, Connect, MinIO, kube-apiserver, Airflow, Chroma, Prometheus; chDB opens here
2. pipeline  the bank's users and cards into PostgreSQL; the operator reconciles
             operator/examples/pipeline-local.yaml, with the bank as a CDC source, until Ready
3. produce   synthetic users, cards and transactions to the pipeline's topics
4. lake      the S3 sink connector lands everything in MinIO as Parquet
5. airflow   lake_to_clickhouse, train_model, index_to_chroma run for real (dag.test())
6. serve     the scoring API and the UI; live transactions scored; a summary; Ctrl-C stops all
7. stream    the stream scorer decides live transactions from the topic; decisions and alerts reach
             ClickHouse; a card blocked in the bank's database meanwhile is declined (Debezium)
8. loop      one analyst loop: a scripted analyst works the top cases, the model is retrained with the
             labels and shadowed on further live transactions, the shadow gate decides (analyst_loop.py)
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from fraudlake.local.demo import analyst_loop, bank, produce, serve, stream_stage
from fraudlake.local.demo.platform import ControlPlane, local_manifests, pipeline_of
from fraudlake.local.demo.stages import StageTimer, library_output_to, sigterm_as_interrupt, uninterrupted
from fraudlake.local.demo.summary import print_summary, write_summary
from fraudlake.local.roundtrip import harness
from fraudlake.local.roundtrip.harness import LocalLake
from fraudlake.local.stack import manager
from fraudlake.local.stack.service import ServiceRecord, StackContext


@dataclass
class DemoOptions:
    stack_dir: Path
    rows: int = 200_000
    seed: int = 42
    clean: bool = False
    serve: bool = True
    live: int = 200
    # Live transactions sent to the topic for the stream scorer to decide (and the summary to measure):
    # at the demo's fraud rate, 2,000 hold frauds on several cards.
    stream: int = 2000
    # Further live transactions scored with the retrained challenger in shadow (the analyst loop).
    shadow: int = 2000
    keep_stack: bool = False  # leave the services running when the demo ends
    days: int = 180  # event-time span of the generated history, ending today (= train_model lookback)
    # Above the real 0.12%: the demo's small bank then has frauds on tens of cards in the validation
    # and test periods, so the model's thresholds and metrics mean something.
    fraud_rate: float = 0.004
    ready_timeout: float = 120.0  # seconds stage 2 waits for the FraudPipeline to be Ready
    fail_at: str = ""  # a stage to fail on purpose after its work (stages.FAIL_AT_ENV; tests)


@dataclass
class DemoResult:
    produced: dict[str, int] = field(default_factory=dict)
    in_lake: dict[str, int] = field(default_factory=dict)
    in_clickhouse: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    live_decisions: dict[str, int] = field(default_factory=dict)
    stream: dict[str, Any] = field(default_factory=dict)
    bank: dict[str, int] = field(default_factory=dict)  # users and cards written to the bank's database
    loop: dict[str, Any] = field(default_factory=dict)  # the analyst loop: labels, retrain, shadow, gate
    durations: dict[str, float] = field(default_factory=dict)


STREAMS = ("users", "cards", "transactions")


def run_demo(options: DemoOptions, console: Console) -> DemoResult:
    """Run every stage, print the summary, serve until Ctrl-C (with `serve`), then stop the stack.

    However it ends (a failed stage, Ctrl-C, SIGTERM), the stack stops with it, unless `keep_stack`.
    Libraries' output goes to `<stack dir>/logs/demo.log`; `console` must write to the terminal
    itself (`DemoConsole(file=sys.stdout)`), as it is the one thing that still does.
    """
    ctx = StackContext(options.stack_dir, console)
    if options.clean and options.stack_dir.exists():
        manager.down(ctx)
        shutil.rmtree(options.stack_dir)
    with library_output_to(ctx.log("demo")), sigterm_as_interrupt():
        try:
            return _run_stages(options, ctx)
        finally:
            if not options.keep_stack:
                with uninterrupted(console, "stopping the local stack"):
                    console.print("stopping the local stack …")
                    manager.down(ctx)


def _run_stages(options: DemoOptions, ctx: StackContext) -> DemoResult:
    console = ctx.console
    demo_log = str(ctx.log("demo"))
    timer = StageTimer(console, fail_at=options.fail_at)
    result = DemoResult(durations=timer.durations)

    with timer.stage("1. stack", "local stack", str(ctx.logs_dir)):
        records = manager.up(ctx)
        _use_stack_clickhouse(records["clickhouse"].endpoints["dsn"])

    docs = bank.with_bank_source(local_manifests(records), records["postgres"])
    pipeline = pipeline_of(docs)
    namespace, name = pipeline["metadata"]["namespace"], pipeline["metadata"]["name"]
    lake = harness.manifest_lake(pipeline, records)
    users = produce.demo_users(options.rows, options.days)  # the first users of the generator's world
    # The operator lives from stage 2 to the end; starting it is part of stage 2 (it may fail too).
    with contextlib.ExitStack() as control_plane:
        with timer.stage("2. pipeline", "FraudPipeline operator", demo_log):
            control = control_plane.enter_context(ControlPlane(records, ctx.stack_dir))
            harness.create_bucket(lake.store())
            # Before the connector exists: Debezium's snapshot carries the whole bank.
            result.bank = bank.load_bank(records["postgres"].credentials["dsn"], users)
            console.print(
                f"bank database: {result.bank['users']:,} users, {result.bank['cards']:,} cards (PostgreSQL)"
            )
            control.apply(docs)
            ready = control.wait_ready(namespace, name, options.ready_timeout)
            console.print(
                f"FraudPipeline {namespace}/{name}: Ready "
                f"(topics {ready['status'].get('topicsReady')}, tables {ready['status'].get('tablesReady')})"
            )

        with timer.stage("3. produce", "producer (fraudlake produce)", str(ctx.log("producer"))):
            produce.produce(
                records["kafka"],
                namespace,
                name,
                options.rows,
                options.seed,
                options.days,
                ctx.log("producer"),
                ctx.data_dir("producer"),
                options.fraud_rate,
            )

        with timer.stage("4. lake", "Kafka Connect S3 Parquet sink", records["connect"].log):
            harness.wait_for_sink(lake, timeout=600)
            result.produced = harness.topic_records(lake, STREAMS)
            result.in_lake = harness.lake_rows(lake, STREAMS)

        with timer.stage("5. airflow: lake_to_clickhouse", "Airflow DAG lake_to_clickhouse", demo_log):
            _prepare_airflow(records, lake)
            # Every object written within a day: this run's, or a resumed run's (--resume skips producing).
            a_day = harness.interval_around(datetime.now(UTC) - timedelta(days=1))
            harness.run_lake_dag(lake, a_day).raise_for_state()
            result.in_clickhouse = _clickhouse_counts(records, pipeline)

        with timer.stage("6. airflow: train_model", "Airflow DAG train_model", demo_log):
            harness.run_dag("train_model").raise_for_state()
            result.metrics = _champion_metrics(records, pipeline)

        with timer.stage("7. airflow: index_to_chroma", "Airflow DAG index_to_chroma", demo_log):
            harness.run_dag("index_to_chroma").raise_for_state()

        with timer.stage("8. serve", "scoring API / UI", str(ctx.log("ui"))):
            serving = serve.start_serving(ctx, records, pipeline)
        try:
            with timer.stage("9. live scoring", "scoring API", "this terminal"):
                result.live_decisions = dict(
                    serve.score_live(serving, options.live, options.seed, options.fraud_rate, users)
                )
            with timer.stage(
                "10. stream scoring", "stream scorer (fraudlake scorer run)", str(ctx.log("scorer"))
            ):
                # The scorer reads the card statuses the topic holds at start: the whole snapshot.
                bank.wait_for_snapshot(
                    records["kafka"].endpoints["bootstrap"], bank.cards_topic(pipeline), result.bank["cards"]
                )
                streaming = stream_stage.start_stream_scoring(ctx, records, pipeline)
                control_plane.callback(streaming.stop)  # on every way out, before the operator stops
                # Another seed than the API's live transactions: other transactions, other ids.
                block = bank.CardBlock(records["postgres"].credentials["dsn"], options.stream)
                result.stream = stream_stage.score_live_stream(
                    streaming, options.stream, users, options.seed + 2, options.fraud_rate, block
                )
            with timer.stage(
                "11. analyst loop", "cases, train_candidate, stream scorer, shadow gate", demo_log
            ):
                result.loop = analyst_loop.run_analyst_loop(
                    streaming,
                    lake,
                    _model_job(records, pipeline),
                    ctx.log("scorer"),
                    users,
                    # Neither the API's nor the stream's transactions. Fraud comes in bursts: in the e2e
                    # test's world this seed's batch holds 11 frauds, seed + 4's none.
                    options.seed + 5,
                    options.fraud_rate,
                    options.shadow,
                )
            airflow = records["airflow"]
            result.urls = {
                "Scoring API": f"{serving.api_url}/docs   (X-API-Key: {serving.api_key})",
                "Analyst UI": serving.ui_url,
                "Airflow UI": f"{airflow.endpoints['url']}   (user {airflow.credentials['username']}, "
                f"password {airflow.credentials['password']})",
                "MinIO console": f"{records['minio'].endpoints.get('console', '')}",
                "kubeconfig": f"{records['kube'].endpoints['kubeconfig']}   (kubectl get fp -A)",
                "Prometheus": prometheus_url(records["prometheus"]),
            }
            print_summary(console, result, options)
            summary = write_summary(result, options.stack_dir)
            console.print(f"[dim]summary as JSON: {summary}[/]")
            if options.serve:
                streaming.keep_streaming(users, options.seed + 3, options.fraud_rate)
                console.print(
                    f"[bold]Serving; live transactions stream at {stream_stage.LIVE_RATE:.0f}/s. "
                    "Press Ctrl-C to stop everything.[/]"
                )
                serve.wait_for_interrupt()
        finally:
            serving.stop()
    return result


def prometheus_url(prometheus: ServiceRecord) -> str:
    """Where to look at the stack's Prometheus: its HTTP API (it is built without web UI pages)."""
    url = prometheus.endpoints["url"]
    return f"{url}/api/v1/targets   (HTTP API, e.g. {url}/api/v1/query?query=up; charts in the UI's Live tab)"


def _use_stack_clickhouse(dsn: str) -> None:
    """Open the stack's chDB here, first: this process is its one owner for the whole demo."""
    from fraudlake.clickhouse.client import connect

    connect(dsn).command("SELECT 1")


def _prepare_airflow(records: dict[str, Any], lake: LocalLake) -> None:
    """dag.test() here against the stack's Airflow, with the pipeline's lake and Chroma index."""
    import os

    from fraudlake.agent.airflow_tasks import airflow_environment as index_environment

    os.environ.update(index_environment(lake.database, records["chroma"].endpoints["url"]))
    harness.prepare_airflow(lake)


def _clickhouse_counts(records: dict[str, Any], pipeline: dict[str, Any]) -> dict[str, int]:
    from fraudlake.clickhouse.client import connect

    database = pipeline["spec"]["clickhouse"]["database"]
    client = connect(records["clickhouse"].endpoints["dsn"])
    return {
        table: int(client.query(f"SELECT count() FROM {database}.{table} FINAL").result_rows[0][0])
        for table in ("users", "cards", "transactions")
    }


def _model_job(records: dict[str, Any], pipeline: dict[str, Any]) -> Any:
    """train_model's job on this stack (its defaults, as stage 6 runs it): the pipeline's ClickHouse
    database and the model registry in the stack's MinIO."""
    from fraudlake.ml.registry import ModelStoreSettings
    from fraudlake.ml.runtime import ModelJob

    minio = records["minio"]
    store = ModelStoreSettings(
        s3_endpoint=minio.endpoints["url"],
        s3_access_key=minio.credentials["access_key"],
        s3_secret_key=minio.credentials["secret_key"],
        lake_bucket=pipeline["spec"]["lake"]["bucket"],
    )
    return ModelJob(pipeline["spec"]["clickhouse"]["database"], records["clickhouse"].endpoints["dsn"], store)


def _champion_metrics(records: dict[str, Any], pipeline: dict[str, Any]) -> dict[str, Any]:
    """Test-split metrics of the champion model: the seeds' rule, XGBoost, XGBoost + graph."""
    champion = _model_job(records, pipeline).registry().load_champion()
    if champion is None:
        raise RuntimeError("train_model finished but no champion model is in the registry")
    return {"version": champion.metrics.get("version", ""), **champion.metrics["test"]}
