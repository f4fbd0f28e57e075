"""`fraudlake scorer run --pipeline NAMESPACE/NAME`: score a pipeline's transactions topic in real time."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import typer

from fraudlake.pipeline.naming import topic_name
from fraudlake.pipeline.spec import SEED_RULES, Rule

# The engine (Quix Streams, numpy, XGBoost) loads only when `scorer run` runs: every image's
# `fraudlake` CLI registers this group, and the operator's has none of those packages.
if TYPE_CHECKING:
    from fraudlake.ml.registry import ModelRegistry
    from fraudlake.stream.engine import ScorerTopics
    from fraudlake.stream.metrics import ScorerMetrics

scorer_app = typer.Typer(help="The stream scorer: decide every transaction of a pipeline's topic.")
log = logging.getLogger("fraudlake.stream")


def pipeline_topics(pipeline: str) -> ScorerTopics:
    """The topics of `NAMESPACE/NAME` the scorer reads and writes."""
    from fraudlake.stream.engine import ScorerTopics

    namespace, _, name = pipeline.partition("/")
    if not namespace or not name:
        raise typer.BadParameter("expected NAMESPACE/NAME", param_hint="--pipeline")
    return ScorerTopics(*(topic_name(namespace, name, s) for s in ("transactions", "decisions", "alerts")),
                        topic_name(namespace, name, "deadletter"))  # fmt: skip


def model_registry(uri: str) -> tuple[ModelRegistry, str]:
    """The registry at `s3://bucket/prefix` (credentials from FRAUDLAKE_S3_*) or a local directory."""
    from fraudlake.ml.registry import LocalStore, MinioStore, ModelRegistry, ModelStoreSettings

    parts = urlsplit(uri)
    if parts.scheme == "s3":
        prefix = parts.path.strip("/") or "models"
        store = MinioStore(ModelStoreSettings(lake_bucket=parts.netloc))
        return ModelRegistry(store, prefix, f"s3://{parts.netloc}"), uri
    root = Path(parts.path if parts.scheme == "file" else uri).resolve()
    return ModelRegistry(LocalStore(root.parent), root.name, f"file://{root.parent}"), f"file://{root}"


def parse_rules(text: str | None) -> tuple[Rule, ...]:
    """Rules as the FraudPipeline spec writes them (a JSON list, camelCase); none given: the seed rules."""
    if not text:
        return SEED_RULES
    return tuple(Rule.model_validate(rule) for rule in json.loads(text))


@scorer_app.command("run")
def run(
    pipeline: str = typer.Option(..., help="The FraudPipeline as NAMESPACE/NAME: its topics are scored."),
    bootstrap_servers: str = typer.Option(
        ..., envvar="FRAUDLAKE_KAFKA_BOOTSTRAP", help="Kafka bootstrap servers, host:port[,host:port]."
    ),
    model_uri: str = typer.Option(
        ...,
        envvar="FRAUDLAKE_MODEL_URI",
        help="Model registry: s3://bucket/prefix (FRAUDLAKE_S3_ENDPOINT/_ACCESS_KEY/_SECRET_KEY) or a "
        "directory; the champion is served and followed.",
    ),
    rules: str | None = typer.Option(
        None,
        envvar="FRAUDLAKE_SCORER_RULES",
        help="The pipeline's spec.rules as a JSON list (camelCase); unset: the seed rules.",
    ),
    group: str | None = typer.Option(
        None, envvar="FRAUDLAKE_SCORER_GROUP", help="Consumer group; default fraudlake-scorer.NAMESPACE.NAME."
    ),
    state_dir: str = typer.Option(
        "/tmp/fraudlake-scorer",  # noqa: S108 - the pod's emptyDir; restored from changelogs
        envvar="FRAUDLAKE_SCORER_STATE_DIR",
        help="RocksDB state directory (rebuilt from changelog topics when empty).",
    ),
    commit_interval: float = typer.Option(
        0.1, help="Seconds between checkpoints (Kafka transactions): bounds decision visibility latency."
    ),
    commit_every: int = typer.Option(1000, help="Messages after which a checkpoint closes early."),
    session_timeout_ms: int = typer.Option(
        10_000, help="Kafka session timeout: how soon a dead replica's partitions move to the others."
    ),
    model_poll_seconds: float = typer.Option(15.0, help="How often the champion pointer is re-read."),
    reasons: str = typer.Option("all", help="Which decisions carry reasons: all, flagged or none."),
    metrics_port: int = typer.Option(
        0, envvar="FRAUDLAKE_SCORER_METRICS_PORT", help="Serve Prometheus /metrics on this port (0: off)."
    ),
    model_wait_seconds: float = typer.Option(120.0, help="How long to wait for the first model at start."),
    clickhouse_dsn: str | None = typer.Option(
        None,
        envvar="FRAUDLAKE_CLICKHOUSE_DSN",
        help="Load decisions and alerts into ClickHouse (http(s)://user:password@host:port); unset: no load.",
    ),
    clickhouse_database: str | None = typer.Option(
        None, envvar="FRAUDLAKE_CLICKHOUSE_DATABASE", help="The pipeline database (spec.clickhouse.database)."
    ),
) -> None:
    """Consume the pipeline's transactions topic in a consumer group and publish one decision per
    transaction to its decisions topic (exactly once), alerts to its alerts topic and unreadable
    messages to its deadletter topic. Replicas share partitions; stop with SIGTERM."""
    from fraudlake.scoring.bundle import ModelWatcher
    from fraudlake.stream.engine import CardScorer, build_application
    from fraudlake.stream.loader import ClickHouseLoader, clickhouse_insert
    from fraudlake.stream.metrics import ScorerMetrics

    _json_logs()
    topics = pipeline_topics(pipeline)
    registry, source = model_registry(model_uri)
    metrics = ScorerMetrics()
    watcher = ModelWatcher(lambda: registry, source, model_poll_seconds, on_change=_show_model(metrics))
    watcher.start()
    if not watcher.wait_loaded(model_wait_seconds):
        watcher.stop()
        raise typer.Exit(f"no model loaded from {source}: {watcher.last_error}")
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, registry=metrics.registry)
    namespace, _, name = pipeline.partition("/")
    scorer = CardScorer(lambda: watcher.current, parse_rules(rules), metrics, reasons)  # type: ignore[arg-type]
    app = build_application(
        bootstrap_servers,
        group or f"fraudlake-scorer.{namespace}.{name}",
        topics,
        scorer,
        state_dir,
        commit_interval,
        commit_every,
        session_timeout_ms=session_timeout_ms,
    )
    loader = None
    if clickhouse_dsn:
        if not clickhouse_database:
            raise typer.BadParameter("needed with --clickhouse-dsn", param_hint="--clickhouse-database")
        loader = ClickHouseLoader(
            bootstrap_servers,
            f"fraudlake-scorer-loader.{namespace}.{name}",
            topics.decisions,
            topics.alerts,
            clickhouse_insert(clickhouse_dsn, clickhouse_database),
        )
        loader.start()
    log.info("scorer starting", extra={"pipeline": pipeline, "topics": vars(topics), "model": source})
    try:
        app.run()
    finally:
        watcher.stop()
        if loader is not None:
            loader.stop()


def _show_model(metrics: ScorerMetrics):
    def on_change(bundle) -> None:
        metrics.model_info.clear()
        metrics.model_info.labels(bundle.version).set(1)

    return on_change


def _json_logs() -> None:
    from fraudlake.api.logs import JsonFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
