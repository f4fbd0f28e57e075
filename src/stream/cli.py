"""`fraudlake scorer run --pipeline NAMESPACE/NAME`: score a pipeline's transactions topic in real time."""

from __future__ import annotations

import json
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import typer

from fraudlake.pipeline import scorer_env as env
from fraudlake.pipeline.naming import CARDS_TABLE, topic_name
from fraudlake.pipeline.spec import MODEL_REF, SEED_RULES, Rule

# The engine (Quix Streams, numpy, XGBoost) loads only when `scorer run` runs: every image's
# `fraudlake` CLI registers this group, and the operator's has none of those packages.
if TYPE_CHECKING:
    from fraudlake.api.feed import CardStatusFeed
    from fraudlake.ml.artifact import FraudModel
    from fraudlake.ml.registry import ModelRegistry
    from fraudlake.stream.engine import ScorerTopics
    from fraudlake.stream.metrics import ScorerMetrics

scorer_app = typer.Typer(help="The stream scorer: decide every transaction of a pipeline's topic.")
log = logging.getLogger("fraudlake.stream")
CHAMPION = "champion"
DEFAULT_STATE_DIR = "/tmp/fraudlake-scorer"  # noqa: S108 - the pod's emptyDir; restored from changelogs
_MODEL_REF = re.compile(MODEL_REF)


def pipeline_topics(pipeline: str) -> ScorerTopics:
    """The topics of `NAMESPACE/NAME` the scorer reads and writes."""
    from fraudlake.stream.engine import ScorerTopics

    namespace, _, name = pipeline.partition("/")
    if not namespace or not name:
        raise typer.BadParameter("expected NAMESPACE/NAME", param_hint="--pipeline")
    streams = ("transactions", "decisions", "alerts", "deadletter")
    return ScorerTopics(**{stream: topic_name(namespace, name, stream) for stream in streams})


def model_registry(uri: str, s3_endpoint: str | None = None) -> tuple[ModelRegistry, str]:
    """The registry at `s3://bucket/prefix` (at `s3_endpoint`, else AWS S3; credentials from
    FRAUDLAKE_S3_ACCESS_KEY/_SECRET_KEY, else the AWS chain) or a local directory."""
    from fraudlake.ml.registry import LocalStore, MinioStore, ModelRegistry, ModelStoreSettings

    parts = urlsplit(uri)
    if parts.scheme == "s3":
        prefix = parts.path.strip("/") or "models"
        settings = ModelStoreSettings(lake_bucket=parts.netloc)
        if s3_endpoint:
            settings = settings.model_copy(update={"s3_endpoint": s3_endpoint})
        store = MinioStore(settings)
        return ModelRegistry(store, prefix, f"s3://{parts.netloc}"), uri
    root = Path(parts.path if parts.scheme == "file" else uri).resolve()
    return ModelRegistry(LocalStore(root.parent), root.name, f"file://{root.parent}"), f"file://{root}"


def parse_rules(text: str | None) -> tuple[Rule, ...]:
    """Rules as the FraudPipeline spec writes them (a JSON list, camelCase); none given: the seed rules."""
    if not text:
        return SEED_RULES
    return tuple(Rule.model_validate(rule) for rule in json.loads(text))


@dataclass(frozen=True)
class ModelChoice:
    """Which model the scorer serves and the threshold overrides laid over it (spec.scoring)."""

    model: str = CHAMPION
    review: float | None = None
    decline: float | None = None

    def apply(self, model: FraudModel) -> FraudModel:
        """The loaded model with the overrides in place of its own thresholds (decisions follow them)."""
        overrides = {k: v for k, v in (("review", self.review), ("decline", self.decline)) if v is not None}
        if overrides:
            model.thresholds = {**model.thresholds, **overrides}
            if model.thresholds["decline"] <= model.thresholds["review"]:
                log.warning(
                    "decline threshold at or below the review threshold: nothing goes to review",
                    extra={"model_version": model.version, "thresholds": model.thresholds},
                )
        return model


class ServedRegistry:
    """The registry as the scorer sees it: the champion pointer, or the pinned version as if it were the
    champion, and every model loaded with the pipeline's threshold overrides."""

    def __init__(self, registry: ModelRegistry, choice: ModelChoice) -> None:
        self.registry, self.choice = registry, choice

    def champion(self) -> dict[str, Any] | None:
        if self.choice.model == CHAMPION:
            return self.registry.champion()
        return {"version": self.choice.model}

    def challenger(self) -> dict[str, Any] | None:
        return self.registry.challenger()

    def load(self, version: str) -> FraudModel:
        return self.choice.apply(self.registry.load(version))


@dataclass(frozen=True)
class ScorerConfig:
    """Everything `scorer run` was told, from its options or the environment the operator sets."""

    pipeline: str
    bootstrap_servers: str
    model_uri: str
    s3_endpoint: str | None = None
    choice: ModelChoice = ModelChoice()
    rules: tuple[Rule, ...] = SEED_RULES
    group: str | None = None
    state_dir: str = DEFAULT_STATE_DIR
    commit_interval: float = 0.1
    commit_every: int = 1000
    session_timeout_ms: int = 10_000
    model_poll_seconds: float = 15.0
    reasons: str = "flagged"
    metrics_port: int = 0
    model_wait_seconds: float = 120.0
    clickhouse_dsn: str | None = None
    clickhouse_database: str | None = None
    otlp_endpoint: str | None = None
    cdc_topics: tuple[str, ...] = ()
    card_status_wait_seconds: float = 60.0
    shadow: bool = True


def _threshold(value: float | None) -> float | None:
    if value is not None and not 0 < value < 1:
        raise typer.BadParameter(f"{value} is not a probability strictly between 0 and 1")
    return value


@scorer_app.command("run")
def run(
    pipeline: str = typer.Option(..., help="The FraudPipeline as NAMESPACE/NAME: its topics are scored."),
    bootstrap_servers: str = typer.Option(
        ..., envvar=env.KAFKA_BOOTSTRAP, help="Kafka bootstrap servers, host:port[,host:port]."
    ),
    model_uri: str = typer.Option(
        ...,
        envvar=env.MODEL_URI,
        help="Model registry: s3://bucket/prefix (FRAUDLAKE_S3_ACCESS_KEY/_SECRET_KEY, or the AWS chain) or "
        "a directory.",
    ),
    s3_endpoint: str | None = typer.Option(
        None, envvar=env.S3_ENDPOINT, help="S3-compatible endpoint of an s3:// registry (MinIO); unset: AWS."
    ),
    model: str = typer.Option(
        CHAMPION,
        envvar=env.MODEL,
        help="Model to serve: 'champion' (followed as it is promoted) or a pinned version.",
    ),
    review_threshold: float | None = typer.Option(
        None,
        envvar=env.REVIEW_THRESHOLD,
        callback=_threshold,
        help="Fraud probability from which a transaction goes to review; unset: the model's own.",
    ),
    decline_threshold: float | None = typer.Option(
        None,
        envvar=env.DECLINE_THRESHOLD,
        callback=_threshold,
        help="Fraud probability from which a transaction is declined; unset: the model's own.",
    ),
    rules: str | None = typer.Option(
        None,
        envvar=env.RULES,
        help="The pipeline's spec.rules as a JSON list (camelCase); unset: the seed rules.",
    ),
    group: str | None = typer.Option(
        None, envvar=env.GROUP, help="Consumer group; default fraudlake-scorer.NAMESPACE.NAME."
    ),
    state_dir: str = typer.Option(
        DEFAULT_STATE_DIR,
        envvar=env.STATE_DIR,
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
    reasons: str = typer.Option(
        "flagged",
        help="Which decisions carry reasons: flagged (review/decline: what analysts open), all or none. "
        "Explaining every approval costs about a third of the scorer's time.",
    ),
    metrics_port: int = typer.Option(
        0, envvar=env.METRICS_PORT, help="Serve Prometheus /metrics on this port (0: off)."
    ),
    model_wait_seconds: float = typer.Option(120.0, help="How long to wait for the first model at start."),
    clickhouse_dsn: str | None = typer.Option(
        None,
        envvar=env.CLICKHOUSE_DSN,
        help="Load decisions and alerts into ClickHouse (http(s)://user:password@host:port); unset: no load.",
    ),
    clickhouse_database: str | None = typer.Option(
        None, envvar=env.CLICKHOUSE_DATABASE, help="The pipeline database (spec.clickhouse.database)."
    ),
    otlp_endpoint: str | None = typer.Option(
        None,
        envvar=env.OTLP_ENDPOINT,
        help="Send traces to this OpenTelemetry collector (OTLP/HTTP, http://host:4318); unset: no tracing.",
    ),
    cdc_topics: str | None = typer.Option(
        None,
        envvar=env.CDC_TOPICS,
        help="Comma-separated CDC topics of the bank's tables (Debezium, <prefix>.<schema>.<table>): a card "
        "its cards table shows blocked, replaced or deleted is declined whatever its score; with "
        "--clickhouse-dsn the cards and users tables are loaded into ClickHouse. Unset: neither.",
    ),
    card_status_wait_seconds: float = typer.Option(
        60.0, help="How long to wait at start for the card statuses to be read before scoring anyway."
    ),
    shadow: bool = typer.Option(
        True,
        help="Score the registry's challenger (challenger.json) in shadow beside the champion: its verdicts "
        "are recorded with each decision (shadow_*), never acted on.",
    ),
) -> None:
    """Consume the pipeline's transactions topic in a consumer group and publish one decision per
    transaction to its decisions topic (exactly once), alerts to its alerts topic and unreadable
    messages to its deadletter topic. Replicas share partitions; stop with SIGTERM.

    In Kubernetes every setting but --pipeline comes from the environment the operator's Deployment
    sets (fraudlake.pipeline.scorer_env)."""
    if not _MODEL_REF.fullmatch(model):
        raise typer.BadParameter("expected 'champion' or a version name", param_hint="--model")
    namespace, _, name = pipeline.partition("/")
    try:  # a malformed NAMESPACE/NAME fails here, before anything starts
        topic_name(namespace, name, "transactions")
    except ValueError as exc:
        raise typer.BadParameter(f"expected NAMESPACE/NAME: {exc}", param_hint="--pipeline") from exc
    if clickhouse_dsn and not clickhouse_database:
        raise typer.BadParameter("needed with --clickhouse-dsn", param_hint="--clickhouse-database")
    if otlp_endpoint and not otlp_endpoint.startswith(("http://", "https://")):
        raise typer.BadParameter("expected an http(s) URL", param_hint="--otlp-endpoint")
    try:
        parsed_rules = parse_rules(rules)
    except (ValueError, TypeError) as exc:
        raise typer.BadParameter(f"not a JSON list of rules: {exc}", param_hint="--rules") from exc
    serve(
        ScorerConfig(
            pipeline=pipeline,
            bootstrap_servers=bootstrap_servers,
            model_uri=model_uri,
            s3_endpoint=s3_endpoint,
            choice=ModelChoice(model, review_threshold, decline_threshold),
            rules=parsed_rules,
            group=group,
            state_dir=state_dir,
            commit_interval=commit_interval,
            commit_every=commit_every,
            session_timeout_ms=session_timeout_ms,
            model_poll_seconds=model_poll_seconds,
            reasons=reasons,
            metrics_port=metrics_port,
            model_wait_seconds=model_wait_seconds,
            clickhouse_dsn=clickhouse_dsn,
            clickhouse_database=clickhouse_database,
            otlp_endpoint=otlp_endpoint,
            cdc_topics=tuple(t.strip() for t in (cdc_topics or "").split(",") if t.strip()),
            card_status_wait_seconds=card_status_wait_seconds,
            shadow=shadow,
        )
    )


def serve(config: ScorerConfig) -> None:
    """Run the scorer until SIGTERM."""
    from fraudlake.common import tracing
    from fraudlake.scoring.bundle import ModelWatcher
    from fraudlake.stream.engine import CardScorer, build_application
    from fraudlake.stream.loader import (
        ClickHouseLoader,
        change_targets,
        clickhouse_insert,
        decision_targets,
        load_state_recorder,
    )
    from fraudlake.stream.metrics import ScorerMetrics

    _json_logs()
    tracing.configure_tracing("fraudlake-scorer", config.otlp_endpoint)
    pipeline = config.pipeline
    topics = pipeline_topics(pipeline)
    registry, source = model_registry(config.model_uri, config.s3_endpoint)
    served = cast("ModelRegistry", ServedRegistry(registry, config.choice))
    if config.choice.model != CHAMPION:
        source = f"{source} (pinned {config.choice.model})"
    metrics = ScorerMetrics()
    watcher = ModelWatcher(lambda: served, source, config.model_poll_seconds, on_change=_show_model(metrics))
    watcher.start()
    if not watcher.wait_loaded(config.model_wait_seconds):
        watcher.stop()
        # On stderr for a person and in the JSON log for the pod's log collector; exit 1 restarts the pod.
        typer.echo(f"no model loaded from {source}: {watcher.last_error}", err=True)
        log.error("no model loaded", extra={"model": source, "error": watcher.last_error})
        raise typer.Exit(1)
    if config.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(config.metrics_port, registry=metrics.registry)
    namespace, _, name = pipeline.partition("/")
    cards_topics = [t for t in config.cdc_topics if t.rpartition(".")[2] == CARDS_TABLE]
    card_status = _card_status(config.bootstrap_servers, cards_topics, config) if cards_topics else None
    if card_status is not None:
        metrics.stopped_cards.set_function(card_status.book.stopped_count)
    challenger = None
    if config.shadow:
        challenger = ModelWatcher(
            lambda: served,
            f"{source} (challenger)",
            config.model_poll_seconds,
            pointer=lambda registry: registry.challenger(),
            optional=True,
        )
        challenger.start()
    scorer = CardScorer(
        lambda: watcher.current,
        config.rules,
        metrics,
        config.reasons,  # type: ignore[arg-type]
        card_status=card_status.book if card_status else None,
        current_challenger=(lambda: challenger.current) if challenger else (lambda: None),
    )
    app = build_application(
        config.bootstrap_servers,
        config.group or f"fraudlake-scorer.{namespace}.{name}",
        topics,
        scorer,
        config.state_dir,
        config.commit_interval,
        config.commit_every,
        session_timeout_ms=config.session_timeout_ms,
    )
    loaders = []
    if config.clickhouse_dsn:
        insert = clickhouse_insert(config.clickhouse_dsn, config.clickhouse_database or "")
        group = f"fraudlake-scorer-loader.{namespace}.{name}"
        loaders.append(
            ClickHouseLoader(
                config.bootstrap_servers, group, decision_targets(topics.decisions, topics.alerts), insert
            )
        )
        if config.cdc_topics:
            # Their own group (a change ClickHouse cannot follow stops only them) and client (a session
            # runs one query at a time); a few changes a second at most: a short wait keeps latency low.
            cdc_insert = clickhouse_insert(config.clickhouse_dsn, config.clickhouse_database or "")
            loaders.append(
                ClickHouseLoader(
                    config.bootstrap_servers,
                    f"{group}.cdc",
                    change_targets(config.cdc_topics),
                    cdc_insert,
                    "cdc-loader",
                    batch_wait_seconds=0.1,
                    on_state=load_state_recorder(cdc_insert, "cdc-loader"),
                )
            )
        for loader in loaders:
            metrics.loader_failing.labels(loader.name).set_function(loader.failing)
            loader.start()
    log.info(
        "scorer starting",
        extra={"pipeline": pipeline, "topics": vars(topics), "model": source, "choice": vars(config.choice)},
    )
    try:
        app.run()
    finally:
        watcher.stop()
        for thread in (*loaders, card_status, challenger):
            if thread is not None:
                thread.stop()
        tracing.shutdown_tracing()


def _card_status(bootstrap: str, topics: list[str], config: ScorerConfig) -> CardStatusFeed:
    """The card status feed, started, once it has read what the topics hold (or after the wait: then
    scoring starts anyway, and a card stopped before is declined as soon as its change is read)."""
    from fraudlake.api.feed import CardStatusFeed
    from fraudlake.scoring.card_status import CardStatusBook

    feed = CardStatusFeed(bootstrap, topics, CardStatusBook())
    feed.start()
    if not feed.caught_up.wait(config.card_status_wait_seconds):
        log.warning(
            "card statuses not read in time; scoring starts without all of them",
            extra={"topics": topics, "seconds": config.card_status_wait_seconds},
        )
    return feed


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
